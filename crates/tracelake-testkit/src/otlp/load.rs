//! The load generator: realistic GenAI spans (agent → chat → tool traces with message text,
//! token usage and tool calls, in the current OpenTelemetry GenAI conventions) and, mixed in,
//! Claude Code's log events, sent over real OTLP at a requested rate or flat out by a number
//! of concurrent exporters. Reports throughput and acknowledgement latency percentiles, and
//! can log what was acknowledged so a test can check the lake against it.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span};
use prost::Message;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use tracelake_ingest::otlp::attrs::hex;
use tracelake_ingest::otlp::decode::Request;

use super::client::{OtlpClient, Transport};

/// What to send.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    /// Transport.
    pub transport: Transport,
    /// `http://host:port` of the matching listener.
    pub endpoint: String,
    /// Target spans per second over all exporters; `None` sends flat out.
    pub rate: Option<u64>,
    /// How long to send.
    pub duration: Duration,
    /// Spans per request.
    pub batch: usize,
    /// Concurrent exporters.
    pub concurrency: usize,
    /// Approximate encoded size of one span.
    pub span_bytes: usize,
    /// Every Nth request of an exporter is a batch of Claude Code events instead of spans.
    pub events_every: Option<u64>,
    /// gzip bodies.
    pub gzip: bool,
    /// Seed of the text generator (ids are always unique).
    pub seed: u64,
    /// Append one JSON line per acknowledged request here.
    pub ack_log: Option<PathBuf>,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest.
    pub max: f64,
}

/// What happened.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    /// The transport (`grpc`, `http/protobuf`, `http/json`).
    pub transport: &'static str,
    /// Wall time of the run.
    pub seconds: f64,
    /// Requests sent.
    pub requests_sent: u64,
    /// Requests the collector acknowledged.
    pub requests_acked: u64,
    /// Spans in acknowledged requests.
    pub spans_acked: u64,
    /// Log events in acknowledged requests.
    pub events_acked: u64,
    /// Protobuf bytes of acknowledged requests (before gzip).
    pub bytes_sent: u64,
    /// Rejections with a retry hint (429/503, RESOURCE_EXHAUSTED/UNAVAILABLE).
    pub rejected_retryable: u64,
    /// Other rejections.
    pub rejected_other: u64,
    /// Connection errors (refused, reset, timed out).
    pub transport_errors: u64,
    /// Acknowledged spans per second.
    pub spans_per_second: f64,
    /// Acknowledged protobuf megabytes per second.
    pub mb_per_second: f64,
    /// Acknowledgement latency of accepted requests.
    pub latency_ms: Latency,
}

/// One line of the acknowledgement log.
#[derive(Debug, Serialize, serde::Deserialize)]
pub struct Acked {
    /// `traces` or `logs`.
    pub signal: String,
    /// Trace ids (hex) of a traces request; their spans are `spans` in all.
    #[serde(default)]
    pub trace_ids: Vec<String>,
    /// The session id every event of a logs request carries.
    #[serde(default)]
    pub session_id: Option<String>,
    /// Items in the request.
    pub items: u64,
}

/// A traces request as the load generator sends it: `spans` GenAI spans of about
/// `span_bytes` each, from `seed` (for benches of the collector's stages).
pub fn traces_request(seed: u64, spans: usize, span_bytes: usize) -> Request {
    let mut generator = Generator::new(seed, span_bytes);
    let mut req = generator.traces_template(spans);
    generator.renew(&mut req);
    Request::Traces(req)
}

/// Distinct requests each load worker cycles through.
const TEMPLATES: usize = 16;

#[derive(Default)]
struct WorkerResult {
    sent: u64,
    acked: u64,
    spans: u64,
    events: u64,
    bytes: u64,
    retryable: u64,
    other: u64,
    errors: u64,
    latencies_us: Vec<u32>,
}

/// Runs the load and reports.
pub async fn run(spec: LoadSpec) -> Result<LoadReport> {
    let ack_log = match &spec.ack_log {
        Some(p) => Some(Arc::new(std::sync::Mutex::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .with_context(|| format!("opening {}", p.display()))?,
        ))),
        None => None,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..spec.concurrency.max(1) {
        let spec = spec.clone();
        let stop = stop.clone();
        let ack_log = ack_log.clone();
        workers.push(tokio::spawn(async move {
            worker(w as u64, spec, stop, ack_log).await
        }));
    }
    tokio::time::sleep(spec.duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut total = WorkerResult::default();
    for w in workers {
        let r = w.await.context("a load worker panicked")??;
        total.sent += r.sent;
        total.acked += r.acked;
        total.spans += r.spans;
        total.events += r.events;
        total.bytes += r.bytes;
        total.retryable += r.retryable;
        total.other += r.other;
        total.errors += r.errors;
        total.latencies_us.extend(r.latencies_us);
    }
    let seconds = started.elapsed().as_secs_f64();
    total.latencies_us.sort_unstable();
    let pct = |q: f64| -> f64 {
        let l = &total.latencies_us;
        if l.is_empty() {
            return 0.0;
        }
        let i = ((l.len() as f64 - 1.0) * q).round() as usize;
        f64::from(l[i.min(l.len() - 1)]) / 1000.0
    };
    Ok(LoadReport {
        transport: spec.transport.name(),
        seconds,
        requests_sent: total.sent,
        requests_acked: total.acked,
        spans_acked: total.spans,
        events_acked: total.events,
        bytes_sent: total.bytes,
        rejected_retryable: total.retryable,
        rejected_other: total.other,
        transport_errors: total.errors,
        spans_per_second: total.spans as f64 / seconds,
        mb_per_second: total.bytes as f64 / seconds / 1e6,
        latency_ms: Latency {
            p50: pct(0.50),
            p90: pct(0.90),
            p99: pct(0.99),
            max: pct(1.0),
        },
    })
}

async fn worker(
    id: u64,
    spec: LoadSpec,
    stop: Arc<AtomicBool>,
    ack_log: Option<Arc<std::sync::Mutex<std::fs::File>>>,
) -> Result<WorkerResult> {
    let mut r = WorkerResult::default();
    let mut generator = Generator::new(spec.seed.wrapping_add(id), spec.span_bytes);
    // Generating a request's text cost the generator about as much CPU as the collector
    // spent receiving it, on the same cores: each worker builds a few requests once and
    // sends them again and again with fresh ids and times (16 per worker: the text repeats
    // only megabytes apart, farther than any Parquet page or zstd window reaches). Each is
    // encoded once and renewed in its protobuf bytes (ids and times keep their width), so
    // sending one costs the transport, not an encoding: encoding was two fifths of the
    // generator's CPU, which shares the 2 cores with the collector it measures.
    let mut templates: Vec<EncodedTraces> = Vec::with_capacity(TEMPLATES);
    for _ in 0..TEMPLATES {
        templates.push(generator.encoded_template(spec.batch)?);
    }
    let mut client = loop {
        match OtlpClient::connect(spec.transport, &spec.endpoint, spec.gzip).await {
            Ok(c) => break c,
            Err(_) if !stop.load(Ordering::Relaxed) => {
                r.errors += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(_) => return Ok(r),
        }
    };
    let interval = spec.rate.map(|rate| {
        let per_worker = (rate as f64 / spec.concurrency.max(1) as f64).max(1.0);
        Duration::from_secs_f64(spec.batch as f64 / per_worker)
    });
    let mut next = Instant::now();
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        if let Some(iv) = interval {
            let now = Instant::now();
            if next > now {
                tokio::time::sleep(next - now).await;
            }
            next += iv;
        }
        n += 1;
        let events =
            matches!(spec.events_every, Some(every) if every > 0 && n.is_multiple_of(every));
        let t;
        let (sent, acked, size) = if events {
            let (req, acked) = generator.claude_events();
            let size = req.encoded_len() as u64;
            t = Instant::now();
            (client.send_owned(req).await, acked, size)
        } else {
            let template = &mut templates[n as usize % TEMPLATES];
            // Unique again once the previous call has finished with it: no copy.
            let acked = generator.renew_encoded(template);
            let size = template.bytes.len() as u64;
            t = Instant::now();
            (
                client.send_traces_encoded(template.bytes.clone()).await,
                acked,
                size,
            )
        };
        r.sent += 1;
        match sent {
            Ok(reply) if reply.ok() => {
                r.latencies_us
                    .push(t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                r.acked += 1;
                r.bytes += size;
                if acked.signal == "traces" {
                    r.spans += acked.items;
                } else {
                    r.events += acked.items;
                }
                if let Some(log) = &ack_log {
                    let line = serde_json::to_string(&acked)?;
                    let mut f = log
                        .lock()
                        .map_err(|_| anyhow::anyhow!("ack log poisoned"))?;
                    writeln!(f, "{line}").context("writing the ack log")?;
                }
            }
            Ok(reply) if reply.retry_hint => {
                r.retryable += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Ok(_) => r.other += 1,
            Err(_) => {
                r.errors += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
                if let Ok(c) = OtlpClient::connect(spec.transport, &spec.endpoint, spec.gzip).await
                {
                    client = c;
                }
            }
        }
    }
    Ok(r)
}

const WORDS: &[&str] = &[
    "the",
    "function",
    "returns",
    "error",
    "file",
    "test",
    "build",
    "fix",
    "value",
    "request",
    "token",
    "model",
    "agent",
    "tool",
    "output",
    "input",
    "read",
    "write",
    "check",
    "parse",
    "config",
    "module",
    "import",
    "failed",
    "passed",
    "cargo",
    "python",
    "src/main.rs",
    "lib.rs",
    "handler",
    "retry",
    "timeout",
    "query",
    "table",
    "row",
    "column",
    "index",
    "cache",
    "update",
    "delete",
    "commit",
    "branch",
    "merge",
    "diff",
    "patch",
    "line",
    "null",
];

struct Generator {
    rng: ChaCha8Rng,
    text: String,
    span_bytes: usize,
}

fn kv(key: &str, v: Value) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

fn s(key: &str, v: impl Into<String>) -> KeyValue {
    kv(key, Value::StringValue(v.into()))
}

fn i(key: &str, v: i64) -> KeyValue {
    kv(key, Value::IntValue(v))
}

/// A GenAI messages attribute with one text message: `[{"role":…,"parts":[{"type":"text",
/// "content":…}]…}]` (`extra` is appended to the message object), without building a JSON
/// tree for every span.
fn messages(role: &str, content: String, extra: &str) -> String {
    let content = serde_json::Value::String(content);
    format!(r#"[{{"role":"{role}","parts":[{{"type":"text","content":{content}}}]{extra}}}]"#)
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Overwrites `to` with `from`, reusing its buffer.
fn set_bytes(to: &mut Vec<u8>, from: &[u8]) {
    to.clear();
    to.extend_from_slice(from);
}

fn uuid_like() -> String {
    let b: [u8; 16] = rand::random();
    let h = hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// A traces request encoded once, and where in its bytes each span's ids, times and
/// id-valued attributes are, so it is renewed without encoding it again.
struct EncodedTraces {
    bytes: Arc<Vec<u8>>,
    spans: Vec<SpanSlots>,
}

/// Byte offsets of one span's renewed fields in [`EncodedTraces::bytes`].
struct SpanSlots {
    root: bool,
    trace_id: usize,
    span_id: usize,
    parent: Option<usize>,
    start: usize,
    end: usize,
    conversation: Option<usize>,
    /// Where the hex after `call_` / `chatcmpl-` starts.
    call_id: Option<usize>,
    response_id: Option<usize>,
}

/// The one place `needle` occurs in `hay`, if it occurs exactly once.
fn find_once(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let mut found = hay
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i);
    let first = found.next()?;
    found.next().is_none().then_some(first)
}

impl EncodedTraces {
    /// Encodes `req` (renewed once, so its ids are random and distinct) and finds its slots:
    /// each span's own encoding, found in order in the request's, holds each renewed value
    /// exactly once. `None` if a value is not found exactly once (a coincidence of random
    /// bytes; the caller renews and tries again).
    fn new(req: &ExportTraceServiceRequest) -> Option<Self> {
        let bytes = req.encode_to_vec();
        let mut spans = Vec::new();
        let mut cursor = 0;
        for span in req
            .resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|ss| &ss.spans)
        {
            let own = span.encode_to_vec();
            // The next span's encoding follows a few bytes after the previous one (its
            // random ids make it unique): the first match from there.
            let at = cursor
                + bytes[cursor..]
                    .windows(own.len())
                    .position(|w| w == own.as_slice())?;
            cursor = at + own.len();
            let slot = |value: &[u8]| find_once(&own, value).map(|i| at + i);
            let attr = |key: &str, prefix: &str| -> Option<Option<usize>> {
                let Some(value) = span.attributes.iter().find(|kv| kv.key == key) else {
                    return Some(None);
                };
                match value.value.as_ref().and_then(|v| v.value.as_ref()) {
                    Some(Value::StringValue(v)) => {
                        slot(v.as_bytes()).map(|i| Some(i + prefix.len()))
                    }
                    _ => None,
                }
            };
            let root = span.parent_span_id.is_empty();
            spans.push(SpanSlots {
                root,
                trace_id: slot(&span.trace_id)?,
                span_id: slot(&span.span_id)?,
                parent: if root {
                    None
                } else {
                    Some(slot(&span.parent_span_id)?)
                },
                start: slot(&span.start_time_unix_nano.to_le_bytes())?,
                end: slot(&span.end_time_unix_nano.to_le_bytes())?,
                conversation: attr("gen_ai.conversation.id", "")?,
                call_id: attr("gen_ai.tool.call.id", "call_")?,
                response_id: attr("gen_ai.response.id", "chatcmpl-")?,
            });
        }
        Some(Self {
            bytes: Arc::new(bytes),
            spans,
        })
    }
}

fn read_u64(bytes: &[u8], at: usize) -> u64 {
    let mut le = [0u8; 8];
    le.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(le)
}

impl Generator {
    fn new(seed: u64, span_bytes: usize) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut text = String::with_capacity(1 << 20);
        while text.len() < (1 << 20) {
            text.push_str(WORDS[rng.random_range(0..WORDS.len())]);
            text.push(if rng.random_range(0..12) == 0 {
                '\n'
            } else {
                ' '
            });
        }
        Self {
            rng,
            text,
            span_bytes,
        }
    }

    fn words(&mut self, len: usize) -> String {
        let len = len.min(self.text.len() - 1);
        let start = self.rng.random_range(0..self.text.len() - len);
        self.text[start..start + len].to_string()
    }

    /// Gives a request (from [`Generator::traces_template`], or renewed before) new trace,
    /// span and conversation ids, the ids derived from them, and times from now. Every id
    /// keeps its width, so the encoded size does not change.
    fn renew(&mut self, req: &mut ExportTraceServiceRequest) -> Acked {
        let mut trace_ids = Vec::new();
        let mut items = 0;
        let mut trace_id = Vec::new();
        let mut root_id = Vec::new();
        let mut conversation = String::new();
        let mut shift = None;
        for rs in &mut req.resource_spans {
            for ss in &mut rs.scope_spans {
                for span in &mut ss.spans {
                    items += 1;
                    let t0 = *shift.get_or_insert_with(|| {
                        now_nanos().saturating_sub(span.start_time_unix_nano)
                    });
                    span.start_time_unix_nano += t0;
                    span.end_time_unix_nano += t0;
                    let id: [u8; 8] = rand::random();
                    set_bytes(&mut span.span_id, &id);
                    // A template lists each trace's root first, then its children.
                    if span.parent_span_id.is_empty() {
                        let t: [u8; 16] = rand::random();
                        set_bytes(&mut trace_id, &t);
                        trace_ids.push(hex(&t));
                        set_bytes(&mut root_id, &id);
                        conversation = uuid_like();
                    } else {
                        set_bytes(&mut span.parent_span_id, &root_id);
                    }
                    set_bytes(&mut span.trace_id, &trace_id);
                    for kv in &mut span.attributes {
                        let fresh = match kv.key.as_str() {
                            "gen_ai.conversation.id" => conversation.clone(),
                            "gen_ai.tool.call.id" => format!("call_{}", hex(&id)),
                            "gen_ai.response.id" => format!("chatcmpl-{}", hex(&id)),
                            _ => continue,
                        };
                        kv.value = Some(AnyValue {
                            value: Some(Value::StringValue(fresh)),
                        });
                    }
                }
            }
        }
        Acked {
            signal: "traces".into(),
            trace_ids,
            session_id: None,
            items,
        }
    }

    /// A traces request from [`Generator::traces_template`], renewed once and encoded.
    fn encoded_template(&mut self, batch: usize) -> Result<EncodedTraces> {
        let mut req = self.traces_template(batch);
        for _ in 0..8 {
            self.renew(&mut req);
            if let Some(encoded) = EncodedTraces::new(&req) {
                return Ok(encoded);
            }
        }
        anyhow::bail!("cannot locate the renewed fields of a generated request")
    }

    /// [`Generator::renew`] on the encoded request: the same new ids, conversation ids and
    /// times, written over the old ones in its bytes.
    fn renew_encoded(&mut self, t: &mut EncodedTraces) -> Acked {
        let bytes = Arc::make_mut(&mut t.bytes);
        let mut trace_ids = Vec::new();
        let mut trace_id = [0u8; 16];
        let mut root_id = [0u8; 8];
        let mut conversation = String::new();
        let mut shift = None;
        for slot in &t.spans {
            let (start, end) = (read_u64(bytes, slot.start), read_u64(bytes, slot.end));
            let t0 = *shift.get_or_insert_with(|| now_nanos().saturating_sub(start));
            bytes[slot.start..slot.start + 8].copy_from_slice(&(start + t0).to_le_bytes());
            bytes[slot.end..slot.end + 8].copy_from_slice(&(end + t0).to_le_bytes());
            let id: [u8; 8] = rand::random();
            bytes[slot.span_id..slot.span_id + 8].copy_from_slice(&id);
            if slot.root {
                trace_id = rand::random();
                trace_ids.push(hex(&trace_id));
                root_id = id;
                conversation = uuid_like();
            } else if let Some(parent) = slot.parent {
                bytes[parent..parent + 8].copy_from_slice(&root_id);
            }
            bytes[slot.trace_id..slot.trace_id + 16].copy_from_slice(&trace_id);
            if let Some(at) = slot.conversation {
                bytes[at..at + conversation.len()].copy_from_slice(conversation.as_bytes());
            }
            for at in [slot.call_id, slot.response_id].into_iter().flatten() {
                bytes[at..at + 16].copy_from_slice(hex(&id).as_bytes());
            }
        }
        Acked {
            signal: "traces".into(),
            trace_ids,
            session_id: None,
            items: t.spans.len() as u64,
        }
    }

    /// A traces request of `batch` spans, in traces of up to ten: an `invoke_agent` root,
    /// `chat` calls and `execute_tool` calls under it. Its ids are sent only after
    /// [`Generator::renew`].
    fn traces_template(&mut self, batch: usize) -> ExportTraceServiceRequest {
        let mut spans = Vec::with_capacity(batch);
        let body = self.span_bytes.saturating_sub(450).max(16);
        let t0 = now_nanos();
        while spans.len() < batch {
            let trace_id: [u8; 16] = rand::random();
            let root_id: [u8; 8] = rand::random();
            let conversation = uuid_like();
            let in_trace = (batch - spans.len()).min(10);
            spans.push(Span {
                trace_id: trace_id.to_vec(),
                span_id: root_id.to_vec(),
                name: "invoke_agent support-bot".into(),
                kind: span::SpanKind::Internal as i32,
                start_time_unix_nano: t0,
                end_time_unix_nano: t0 + 9_000_000_000,
                attributes: vec![
                    s("gen_ai.operation.name", "invoke_agent"),
                    s("gen_ai.agent.name", "support-bot"),
                    s("gen_ai.conversation.id", conversation.clone()),
                    s("gen_ai.input.messages", self.words(body / 2)),
                ],
                status: Some(Status::default()),
                ..Default::default()
            });
            for k in 1..in_trace {
                let id: [u8; 8] = rand::random();
                let start = t0 + k as u64 * 700_000_000;
                let mut span = Span {
                    trace_id: trace_id.to_vec(),
                    span_id: id.to_vec(),
                    parent_span_id: root_id.to_vec(),
                    kind: span::SpanKind::Client as i32,
                    start_time_unix_nano: start,
                    end_time_unix_nano: start + 650_000_000,
                    status: Some(Status::default()),
                    ..Default::default()
                };
                if k % 3 == 0 {
                    let tool = ["read_file", "run_command", "search"][k % 3];
                    span.name = format!("execute_tool {tool}");
                    span.kind = span::SpanKind::Internal as i32;
                    span.attributes = vec![
                        s("gen_ai.operation.name", "execute_tool"),
                        s("gen_ai.tool.name", tool),
                        s("gen_ai.tool.call.id", format!("call_{}", hex(&id))),
                        s("gen_ai.conversation.id", conversation.clone()),
                        s(
                            "gen_ai.tool.call.arguments",
                            format!("{{\"path\":\"{}\"}}", self.words(40).replace('"', "")),
                        ),
                        s("gen_ai.tool.call.result", self.words(body / 2)),
                    ];
                } else {
                    let model = ["gpt-4o-mini", "gpt-4.1", "claude-sonnet-4-5"][k % 3];
                    let prompt = self.words(body * 3 / 4);
                    let answer = self.words(body / 4);
                    span.name = format!("chat {model}");
                    span.attributes = vec![
                        s("gen_ai.operation.name", "chat"),
                        s("gen_ai.provider.name", "openai"),
                        s("gen_ai.request.model", model),
                        s("gen_ai.response.model", model),
                        s("gen_ai.response.id", format!("chatcmpl-{}", hex(&id))),
                        s("gen_ai.conversation.id", conversation.clone()),
                        i(
                            "gen_ai.usage.input_tokens",
                            self.rng.random_range(200..20_000),
                        ),
                        i(
                            "gen_ai.usage.output_tokens",
                            self.rng.random_range(10..2_000),
                        ),
                        i(
                            "gen_ai.usage.cache_read.input_tokens",
                            self.rng.random_range(0..10_000),
                        ),
                        s("gen_ai.input.messages", messages("user", prompt, "")),
                        s(
                            "gen_ai.output.messages",
                            messages("assistant", answer, r#","finish_reason":"stop""#),
                        ),
                    ];
                }
                spans.push(span);
            }
        }
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![
                        s("service.name", "loadgen-agent"),
                        s("service.version", "1.0.0"),
                        s("deployment.environment.name", "bench"),
                    ],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "opentelemetry.instrumentation.openai_v2".into(),
                        version: "2.1b0".into(),
                        ..Default::default()
                    }),
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    /// One Claude Code prompt as its log events: `user_prompt`, then for each of three model
    /// calls an `api_request`, a `tool_decision` and a `tool_result`. Every event carries the
    /// same new session id; ids are fresh, so every event is new to the lake.
    fn claude_events(&mut self) -> (Request, Acked) {
        let session = uuid_like();
        let prompt = uuid_like();
        let t0 = now_nanos();
        let mut seq = 0i64;
        let mut records = Vec::new();
        let mut event = |name: &str, mut attrs: Vec<KeyValue>| {
            seq += 1;
            let mut a = vec![
                s("session.id", session.clone()),
                s("event.name", name),
                s("event.timestamp", chrono_like(t0 + seq as u64 * 1_000_000)),
                i("event.sequence", seq),
                s("prompt.id", prompt.clone()),
            ];
            a.append(&mut attrs);
            records.push(LogRecord {
                time_unix_nano: t0 + seq as u64 * 1_000_000,
                observed_time_unix_nano: t0 + seq as u64 * 1_000_000,
                body: Some(AnyValue {
                    value: Some(Value::StringValue(format!("claude_code.{name}"))),
                }),
                attributes: a,
                ..Default::default()
            });
        };
        let text = self.words(self.span_bytes / 2);
        event(
            "user_prompt",
            vec![s("prompt", text), i("prompt_length", 300)],
        );
        for k in 0..3 {
            let req_id = format!("req_{}", hex(&rand::random::<[u8; 12]>()));
            let tool_id = format!("toolu_{}", hex(&rand::random::<[u8; 12]>()));
            event(
                "api_request",
                vec![
                    s("model", "claude-sonnet-4-5"),
                    i("input_tokens", 1000 + k),
                    i("output_tokens", 200 + k),
                    i("cache_read_tokens", 5000),
                    i("cache_creation_tokens", 100),
                    kv("cost_usd", Value::DoubleValue(0.0123)),
                    i("duration_ms", 1500),
                    s("request_id", req_id.clone()),
                ],
            );
            event(
                "tool_decision",
                vec![
                    s("tool_name", "Bash"),
                    s("tool_use_id", tool_id.clone()),
                    s("decision", "accept"),
                    s("source", "config"),
                    s("request_id", req_id.clone()),
                ],
            );
            event(
                "tool_result",
                vec![
                    s("tool_name", "Bash"),
                    s("tool_use_id", tool_id),
                    s("success", "true"),
                    i("duration_ms", 80),
                    s("tool_input", "{\"command\":\"cargo test\"}"),
                    s("request_id", req_id),
                ],
            );
        }
        let items = records.len() as u64;
        let req = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(Resource {
                    attributes: vec![
                        s("service.name", "claude-code"),
                        s("service.version", "2.1.328"),
                    ],
                    ..Default::default()
                }),
                scope_logs: vec![ScopeLogs {
                    scope: Some(InstrumentationScope {
                        name: "com.anthropic.claude_code.events".into(),
                        version: "2.1.328".into(),
                        ..Default::default()
                    }),
                    log_records: records,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        (
            Request::Logs(req),
            Acked {
                signal: "logs".into(),
                trace_ids: Vec::new(),
                session_id: Some(session),
                items,
            },
        )
    }
}

fn chrono_like(nanos: u64) -> String {
    chrono::DateTime::from_timestamp_nanos(nanos as i64)
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_of_a_template_have_their_own_ids_and_the_same_text() {
        let mut g = Generator::new(1, 2000);
        let template = g.traces_template(25);
        // The same request renewed in place, twice.
        let mut req = template.clone();
        let acked_a = g.renew(&mut req);
        let a = req.clone();
        let acked_b = g.renew(&mut req);
        assert_renewed(&template, &a, &acked_a, &req, &acked_b);
    }

    #[test]
    fn copies_of_an_encoded_template_are_renewed_as_the_decoded_ones() {
        let mut g = Generator::new(2, 2000);
        // As a load worker does: encoded once, renewed in its bytes, twice.
        let mut encoded = g.encoded_template(25).unwrap();
        let decode =
            |bytes: &[u8]| ExportTraceServiceRequest::decode(bytes).expect("still protobuf");
        let template = decode(&encoded.bytes);
        let acked_a = g.renew_encoded(&mut encoded);
        let a = decode(&encoded.bytes);
        let acked_b = g.renew_encoded(&mut encoded);
        let b = decode(&encoded.bytes);
        assert_renewed(&template, &a, &acked_a, &b, &acked_b);
        let now = now_nanos();
        let first = &a.resource_spans[0].scope_spans[0].spans[0];
        assert!(
            first.start_time_unix_nano.abs_diff(now) < 60_000_000_000,
            "times are shifted to now"
        );
    }

    fn assert_renewed(
        template: &ExportTraceServiceRequest,
        a: &ExportTraceServiceRequest,
        acked_a: &Acked,
        b: &ExportTraceServiceRequest,
        acked_b: &Acked,
    ) {
        assert_eq!(
            a.encoded_len(),
            template.encoded_len(),
            "ids keep their width"
        );
        assert_eq!(
            b.encoded_len(),
            template.encoded_len(),
            "ids keep their width"
        );
        let spans = |r: &ExportTraceServiceRequest| -> Vec<Span> {
            r.resource_spans[0].scope_spans[0].spans.clone()
        };
        let (t, a, b) = (spans(template), spans(a), spans(b));
        assert_eq!((a.len(), acked_a.items), (25, 25));
        assert_eq!(acked_a.trace_ids.len(), 3, "traces of up to ten spans");
        let attr = |s: &Span, key: &str| {
            s.attributes
                .iter()
                .find(|kv| kv.key == key)
                .and_then(|kv| kv.value.clone())
        };
        let mut ids = std::collections::HashSet::new();
        for ((t, a), b) in t.iter().zip(&a).zip(&b) {
            assert!(ids.insert(a.span_id.clone()) && ids.insert(b.span_id.clone()));
            assert_ne!(a.trace_id, b.trace_id);
            assert_eq!((&a.name, a.kind), (&t.name, t.kind));
            assert_eq!(
                a.end_time_unix_nano - a.start_time_unix_nano,
                t.end_time_unix_nano - t.start_time_unix_nano
            );
            assert!(a.start_time_unix_nano >= t.start_time_unix_nano);
            for key in ["gen_ai.input.messages", "gen_ai.tool.call.result"] {
                assert_eq!(attr(a, key), attr(t, key), "{key}");
            }
            for key in ["gen_ai.tool.call.id", "gen_ai.response.id"] {
                if attr(t, key).is_some() {
                    assert_ne!(attr(a, key), attr(t, key), "{key}");
                    assert_ne!(attr(a, key), attr(b, key), "{key}");
                }
            }
            assert_ne!(
                attr(a, "gen_ai.conversation.id"),
                attr(b, "gen_ai.conversation.id")
            );
        }
        // Children point at their own trace's root, which shares their conversation.
        for s in a.iter().filter(|s| !s.parent_span_id.is_empty()) {
            let root = a
                .iter()
                .find(|r| r.span_id == s.parent_span_id)
                .expect("the parent is in the request");
            assert_eq!(root.trace_id, s.trace_id);
            assert_eq!(
                attr(root, "gen_ai.conversation.id"),
                attr(s, "gen_ai.conversation.id")
            );
        }
        let listed: Vec<String> = a
            .iter()
            .filter(|s| s.parent_span_id.is_empty())
            .map(|s| hex(&s.trace_id))
            .collect();
        assert_eq!(listed, acked_a.trace_ids);
        assert_ne!(acked_a.trace_ids, acked_b.trace_ids);
    }

    #[test]
    fn messages_are_the_genai_json_with_the_content_escaped() {
        let content = "say \"hi\"\nthen a \\ and a tab\t";
        let expected = serde_json::json!([{
            "role": "assistant",
            "parts": [{"type": "text", "content": content}],
            "finish_reason": "stop",
        }]);
        let got = messages(
            "assistant",
            content.to_string(),
            r#","finish_reason":"stop""#,
        );
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&got).unwrap(),
            expected
        );
        let plain = messages("user", content.to_string(), "");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&plain).unwrap(),
            serde_json::json!([{"role": "user", "parts": [{"type": "text", "content": content}]}])
        );
    }
}
