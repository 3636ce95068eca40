//! The OpenTelemetry source: OTLP/gRPC and OTLP/HTTP receivers (protobuf and JSON, gzip), a
//! write-ahead log that makes every acknowledged request durable before the answer, and a
//! committer that turns WAL segments into lake rows in batches, exactly once.
//!
//! Shape shared with every source: [`decode`] decodes, [`traces`], [`logs`] and [`metrics`]
//! map to the span model, and the committer writes through the shared
//! [`RowSink`](crate::sink::RowSink).

pub mod attrs;
pub mod collector;
pub mod committer;
pub mod decode;
pub mod grpc;
pub mod http;
pub mod json;
pub mod logs;
pub mod mask;
mod messages;
pub mod metrics;
pub mod traces;
mod walk;

use opentelemetry_proto::tonic::resource::v1::Resource;
use tracelake_model::{MetricPoint, PricingTable, Span};

use self::attrs::{Attrs, object};
pub use self::collector::{Collector, CollectorConfig, CollectorStats, Rejection};
pub use self::decode::{Encoding, Request, Signal};

/// What a resource says about everything under it.
#[derive(Debug, Clone, Default)]
pub struct ResourceCtx {
    /// `service.name`.
    pub service_name: Option<String>,
    /// The agent product, when the service is one we know (claude-code, codex).
    pub agent: Option<String>,
    /// `service.version` of a known agent.
    pub agent_version: Option<String>,
    /// `host.name`.
    pub host: Option<String>,
    /// `user.id` on the resource.
    pub user_id: Option<String>,
    /// Every resource attribute, as JSON.
    pub resource_json: String,
}

impl ResourceCtx {
    /// The context of a resource.
    pub fn of(resource: Option<&Resource>) -> Self {
        let empty = Vec::new();
        let kvs = resource.map_or(&empty, |r| &r.attributes);
        let a = Attrs(kvs);
        let service_name = a.str(&["service.name"]);
        let agent = match service_name.as_deref() {
            Some("claude-code") => Some("claude-code".to_string()),
            Some(s) if s.starts_with("codex") => Some("codex".to_string()),
            _ => None,
        };
        Self {
            agent_version: agent.as_ref().and_then(|_| a.str(&["service.version"])),
            agent,
            service_name,
            host: a.str(&["host.name"]),
            user_id: a.str(&["user.id", "enduser.id"]),
            resource_json: crate::json::object_text(&object(kvs)),
        }
    }
}

/// A mapped row: a span (with its emit-once key, when its identity can arrive more than
/// once) or a metric point.
#[derive(Debug, Clone, PartialEq)]
#[expect(
    clippy::large_enum_variant,
    reason = "spans are nearly every row; boxing them would allocate once more per span"
)]
pub enum Mapped {
    /// A span.
    Span(Span, Option<[u8; 16]>),
    /// A metric data point.
    Metric(MetricPoint),
}

/// Spans of a trace that name no session of their own (a chat call under an agent span that
/// carries `gen_ai.conversation.id`) join the session another span of the same trace in the
/// request names.
fn share_sessions(rows: &mut [Mapped]) {
    let mut by_trace: std::collections::HashMap<String, String> = Default::default();
    for m in rows.iter() {
        if let Mapped::Span(s, _) = m
            && let Some(t) = &s.trace_id
            && &s.session_id != t
        {
            by_trace
                .entry(t.clone())
                .or_insert_with(|| s.session_id.clone());
        }
    }
    if by_trace.is_empty() {
        return;
    }
    for m in rows.iter_mut() {
        if let Mapped::Span(s, _) = m
            && let Some(t) = &s.trace_id
            && &s.session_id == t
            && let Some(session) = by_trace.get(t)
        {
            s.session_id = session.clone();
        }
    }
}

/// Maps every item of a request; `request` names it in `source_ref`.
pub fn map_request(req: &Request, request: &str, pricing: &PricingTable) -> Vec<Mapped> {
    let mut out = Vec::new();
    match req {
        Request::Traces(r) => {
            for rs in &r.resource_spans {
                let ctx = ResourceCtx::of(rs.resource.as_ref());
                for ss in &rs.scope_spans {
                    for s in &ss.spans {
                        out.push(traces::map_span(
                            &ctx,
                            ss.scope.as_ref(),
                            s,
                            request,
                            pricing,
                        ));
                    }
                }
            }
            share_sessions(&mut out);
        }
        Request::Logs(r) => {
            for rl in &r.resource_logs {
                let ctx = ResourceCtx::of(rl.resource.as_ref());
                for sl in &rl.scope_logs {
                    for l in &sl.log_records {
                        out.push(logs::map_log(&ctx, sl.scope.as_ref(), l, request, pricing));
                    }
                }
            }
        }
        Request::Metrics(r) => {
            let mut points = Vec::new();
            for rm in &r.resource_metrics {
                let ctx = ResourceCtx::of(rm.resource.as_ref());
                for sm in &rm.scope_metrics {
                    for m in &sm.metrics {
                        metrics::map_metric(&ctx, m, request, &mut points);
                    }
                }
            }
            out.extend(points.into_iter().map(Mapped::Metric));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracelake_model::SpanKind;

    fn sample(name: &str) -> Request {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../testdata/claude-code-otlp/happy")
            .join(name);
        let signal = if name.contains("traces") {
            Signal::Traces
        } else if name.contains("logs") {
            Signal::Logs
        } else {
            Signal::Metrics
        };
        decode::decode(signal, Encoding::Json, &std::fs::read(path).unwrap()).unwrap()
    }

    fn spans(rows: &[Mapped]) -> Vec<&Span> {
        rows.iter()
            .filter_map(|m| match m {
                Mapped::Span(s, _) => Some(s),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn claude_code_events_map_to_its_entities() {
        let pricing = PricingTable::embedded();
        let mut rows = map_request(&sample("00001-v1_logs.json"), "r1", pricing);
        rows.extend(map_request(&sample("00002-v1_logs.json"), "r2", pricing));
        let s = spans(&rows);
        let llm: Vec<_> = s.iter().filter(|s| s.kind == SpanKind::Llm).collect();
        assert_eq!(llm.len(), 5);
        assert!(
            llm.iter()
                .all(|l| l.session_id == "9bb336ca-b56d-4b73-a183-015587119ec2")
        );
        // Our cost equals Claude Code's own for every request.
        for l in &llm {
            assert!(
                (l.cost_usd.unwrap() - l.source_cost_usd.unwrap()).abs() < 1e-12,
                "{l:?}"
            );
        }
        let first = llm.iter().find(|l| l.input_tokens == Some(1789)).unwrap();
        // The same identity the session-log importer gives the same request.
        assert_eq!(
            first.span_id,
            crate::claude_code::identity::llm(Some("req_28bff01fa7e4000000"), "").span_id
        );
        let tasks: Vec<_> = s.iter().filter(|s| s.kind == SpanKind::Task).collect();
        assert_eq!(tasks.len(), 1);
        assert_eq!(
            tasks[0].input_text.as_deref(),
            Some("Look at the files here and fix the bug in src/calc.py")
        );
        let tools: Vec<_> = s.iter().filter(|s| s.kind == SpanKind::Tool).collect();
        assert_eq!(tools.len(), 4);
        assert!(tools.iter().any(|t| t.command.as_deref() == Some("ls -la")));
        assert!(
            tools
                .iter()
                .any(|t| t.files_written == vec!["/home/dev/happy/src/calc.py".to_string()])
        );
        let decisions: Vec<_> = s
            .iter()
            .filter(|s| s.kind == SpanKind::Permission)
            .collect();
        assert_eq!(decisions.len(), 4);
        assert!(
            decisions
                .iter()
                .all(|d| d.decision == Some(tracelake_model::Decision::Allow))
        );
    }

    #[test]
    fn claude_code_spans_share_identities_with_its_events() {
        let pricing = PricingTable::embedded();
        let rows = map_request(&sample("00004-v1_traces.json"), "t", pricing);
        let s = spans(&rows);
        let llm: Vec<_> = s.iter().filter(|s| s.kind == SpanKind::Llm).collect();
        assert_eq!(llm.len(), 5);
        assert!(
            llm.iter()
                .all(|l| l.ttft_ms.is_some() && l.cost_usd.is_some())
        );
        let tools: Vec<_> = s.iter().filter(|s| s.kind == SpanKind::Tool).collect();
        assert_eq!(tools.len(), 4);
        let mut logs = map_request(&sample("00001-v1_logs.json"), "l", pricing);
        logs.extend(map_request(&sample("00002-v1_logs.json"), "l2", pricing));
        let event_ids: std::collections::HashSet<_> =
            spans(&logs).iter().map(|s| s.span_id.clone()).collect();
        for t in tools {
            assert!(
                event_ids.contains(&t.span_id),
                "tool {} keyed like its event",
                t.span_id
            );
        }
    }

    #[test]
    fn metrics_become_points() {
        let rows = map_request(
            &sample("00000-v1_metrics.json"),
            "m",
            PricingTable::embedded(),
        );
        let points: Vec<_> = rows
            .iter()
            .filter_map(|m| match m {
                Mapped::Metric(p) => Some(p),
                _ => None,
            })
            .collect();
        assert!(!points.is_empty());
        assert!(
            points
                .iter()
                .all(|p| p.service_name.as_deref() == Some("claude-code"))
        );
    }
}
