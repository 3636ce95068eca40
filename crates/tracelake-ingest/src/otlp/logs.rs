//! OTLP log records onto the span model: Claude Code's events (prompts, API requests and
//! errors, tool results, permission decisions, …) become the same rows its session logs
//! give, keyed by the same entity ids (so the two sources merge); any other record becomes
//! an `event` span, lossless in `attributes`.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use prost::Message;
use serde_json::{Map, Value};
use tracelake_model::{Decision, PricingTable, Span, SpanKind, Status};

use super::attrs::{Attrs, hex, object, to_json};
use super::traces::{decision, ended_after, micros, price, set_files};
use super::{Mapped, ResourceCtx};
use crate::claude_code::identity;
use crate::codex::identity as codex_identity;
use crate::ids;

fn body_text(r: &LogRecord) -> Option<String> {
    r.body.as_ref().map(|b| match to_json(b) {
        Value::String(s) => s,
        other => other.to_string(),
    })
}

/// Maps one log record.
pub fn map_log(
    ctx: &ResourceCtx,
    scope: Option<&InstrumentationScope>,
    r: &LogRecord,
    request: &str,
    pricing: &PricingTable,
) -> Mapped {
    let a = Attrs(&r.attributes);
    let time_nanos = if r.time_unix_nano > 0 {
        r.time_unix_nano
    } else {
        r.observed_time_unix_nano
    };
    let body = body_text(r);
    let event_name = a
        .str(&["event.name"])
        .or_else(|| (!r.event_name.is_empty()).then(|| r.event_name.clone()));
    let is_claude = scope.is_some_and(|s| s.name.starts_with("com.anthropic.claude_code"))
        || body
            .as_deref()
            .is_some_and(|b| b.starts_with("claude_code."))
        || ctx.agent.as_deref() == Some("claude-code");
    let session = a
        .str(&["session.id", "gen_ai.conversation.id", "conversation.id"])
        .or_else(|| (!r.trace_id.is_empty()).then(|| hex(&r.trace_id)))
        .unwrap_or_else(|| "unknown".to_string());
    let content_key = ids::once_key(&["otel-log", &hex(&r.encode_to_vec())]);
    let mut s = Span::new(
        hex(&content_key[..8]),
        session.clone(),
        "otlp",
        SpanKind::Event,
        micros(time_nanos),
    );
    s.trace_id = (!r.trace_id.is_empty()).then(|| hex(&r.trace_id));
    s.parent_span_id = (!r.span_id.is_empty()).then(|| hex(&r.span_id));
    s.source_ref = Some(request.to_string());
    s.status = Status::Ok;
    s.user_id = a.str(&["user.id"]).or_else(|| ctx.user_id.clone());
    s.service_name = ctx.service_name.clone();
    s.host = ctx.host.clone();
    s.agent = ctx.agent.clone();
    s.agent_version = ctx.agent_version.clone();
    s.resource_attributes = Some(ctx.resource_json.clone());
    let mut attrs: Map<String, Value> = object(&r.attributes);
    if let Some(b) = &body {
        attrs.insert("otel.body".into(), b.clone().into());
    }
    if !r.severity_text.is_empty() {
        attrs.insert("otel.severity_text".into(), r.severity_text.clone().into());
    }
    if r.severity_number != 0 {
        attrs.insert("otel.severity_number".into(), r.severity_number.into());
    }
    if let Some(scope) = scope {
        attrs.insert("otel.scope.name".into(), scope.name.clone().into());
    }
    s.attributes = Some(crate::json::object_text(&attrs));
    if event_name
        .as_deref()
        .is_some_and(|n| n.starts_with("codex."))
        && let Some(mapped) = codex_event(&mut s, &a, event_name.as_deref().unwrap_or(""), pricing)
    {
        return mapped;
    }
    if !is_claude {
        s.name = event_name.or_else(|| body.as_ref().map(|b| b.chars().take(100).collect()));
        s.output_text = body;
        if r.severity_number >= 17 {
            s.status = Status::Error;
            s.error_message = s.output_text.clone();
        }
        return Mapped::Span(s, None);
    }
    claude_code_event(s, &a, event_name, &session, content_key, pricing)
}

/// Claude Code's OTel events (`claude_code.*`, formats.md §2).
fn claude_code_event(
    mut s: Span,
    a: &Attrs<'_>,
    event_name: Option<String>,
    session: &str,
    content_key: [u8; 16],
    pricing: &PricingTable,
) -> Mapped {
    s.agent = Some("claude-code".to_string());
    let name = event_name
        .unwrap_or_default()
        .trim_start_matches("claude_code.")
        .to_string();
    if let Some(ts) = a.str(&["event.timestamp"])
        && let Ok(t) = chrono::DateTime::parse_from_rfc3339(&ts)
    {
        s.start_time = t.timestamp_micros();
    }
    let prompt = a.str(&["prompt.id"]);
    let task = prompt
        .as_deref()
        .map(|p| identity::task(Some(p), p).span_id);
    s.task_id = task.clone();
    s.parent_span_id = task.or_else(|| Some(identity::session(session).span_id));
    match name.as_str() {
        "user_prompt" => {
            let id = identity::task(prompt.as_deref(), &hex(&content_key));
            s.span_id = id.span_id.clone();
            s.kind = SpanKind::Task;
            s.name = Some("prompt".into());
            s.task_id = Some(id.span_id);
            s.parent_span_id = Some(identity::session(session).span_id);
            s.input_text = a.str(&["prompt", "prompt_text"]);
            Mapped::Span(s, Some(id.key))
        }
        "api_request" => {
            let request = a.str(&["request_id"]);
            let id = identity::llm(request.as_deref(), &hex(&content_key));
            s.span_id = id.span_id;
            s.kind = SpanKind::Llm;
            s.provider = Some("anthropic".into());
            s.model = a.str(&["model"]);
            s.name = s.model.clone();
            s.input_tokens = a.int(&["input_tokens"]);
            s.output_tokens = a.int(&["output_tokens"]);
            s.cache_read_tokens = a.int(&["cache_read_tokens"]);
            s.cache_write_tokens = a.int(&["cache_creation_tokens"]);
            s.ttft_ms = a.int(&["ttft_ms"]);
            s.source_cost_usd = a.float(&["cost_usd"]);
            ended_after(&mut s, a.int(&["duration_ms"]));
            price(
                &mut s,
                pricing,
                a.int(&["cache_creation_1h_tokens"]).unwrap_or(0),
            );
            Mapped::Span(s, Some(id.key))
        }
        "tool_result" => {
            let Some(use_id) = a.str(&["tool_use_id"]) else {
                s.name = Some(name);
                return Mapped::Span(s, Some(content_key));
            };
            let id = identity::tool(&use_id);
            s.span_id = id.span_id;
            s.kind = SpanKind::Tool;
            let tool = a.str(&["tool_name"]).unwrap_or_default();
            s.name = Some(tool.clone());
            s.tool_name = Some(tool.clone());
            s.tool_call_id = Some(use_id);
            s.tool_input = a.str(&["tool_input", "tool_parameters"]);
            let ok = a.bool(&["success"]).unwrap_or(true);
            s.is_error = Some(!ok);
            s.status = if ok { Status::Ok } else { Status::Error };
            if !ok {
                s.error_message = a.str(&["error", "error_type"]);
            }
            let input: Value = s
                .tool_input
                .as_deref()
                .and_then(|t| serde_json::from_str(t).ok())
                .unwrap_or_default();
            s.command = input
                .get("command")
                .and_then(Value::as_str)
                .map(str::to_string);
            let path = input
                .get("file_path")
                .or_else(|| input.get("notebook_path"))
                .and_then(Value::as_str)
                .map(str::to_string);
            set_files(&mut s, &tool, path);
            ended_after(&mut s, a.int(&["duration_ms"]));
            Mapped::Span(s, Some(id.key))
        }
        "tool_decision" => {
            let Some(use_id) = a.str(&["tool_use_id"]) else {
                s.name = Some(name);
                return Mapped::Span(s, Some(content_key));
            };
            let id = identity::permission(&use_id);
            s.span_id = id.span_id;
            s.kind = SpanKind::Permission;
            s.tool_name = a.str(&["tool_name"]);
            s.name = s.tool_name.clone();
            s.tool_call_id = Some(use_id.clone());
            s.parent_span_id = Some(identity::tool(&use_id).span_id);
            s.decision = a.str(&["decision"]).as_deref().and_then(decision);
            s.decision_source = a.str(&["source"]);
            s.rule = a.str(&["permission_mode"]);
            if s.decision == Some(Decision::Deny) {
                s.status = Status::Error;
            }
            Mapped::Span(s, Some(id.key))
        }
        "api_error" => {
            s.name = Some("api_error".into());
            s.status = Status::Error;
            s.model = a.str(&["model"]);
            s.error_message = a.str(&["error"]);
            ended_after(&mut s, a.int(&["duration_ms"]));
            Mapped::Span(s, Some(content_key))
        }
        "assistant_response" => {
            s.name = Some("assistant_response".into());
            s.output_text = a.str(&["response"]);
            s.model = a.str(&["model"]);
            Mapped::Span(s, Some(content_key))
        }
        _ => {
            s.name = Some(name);
            Mapped::Span(s, Some(content_key))
        }
    }
}

/// Input and output message lines by (trace id, span id).
pub type SpanMessages = std::collections::HashMap<(String, String), (Vec<String>, Vec<String>)>;

/// The messages of GenAI content events (`gen_ai.{system,user,assistant,tool}.message`,
/// `gen_ai.choice`; OpenTelemetry's openai-v2 instrumentation in its default mode) by the span
/// they belong to: `(trace id, span id) -> (input lines, output lines)`. The committer puts
/// them into that model call's `input_text`/`output_text` when both arrive in one segment.
pub fn genai_messages(req: &ExportLogsServiceRequest, into: &mut SpanMessages) {
    for rl in &req.resource_logs {
        for sl in &rl.scope_logs {
            for r in &sl.log_records {
                if r.trace_id.is_empty() || r.span_id.is_empty() {
                    continue;
                }
                let name = if r.event_name.is_empty() {
                    Attrs(&r.attributes)
                        .str(&["event.name"])
                        .unwrap_or_default()
                } else {
                    r.event_name.clone()
                };
                let Some(body) = r.body.as_ref().map(to_json) else {
                    continue;
                };
                let (output, message) = if name == "gen_ai.choice" {
                    let mut m = body.get("message").cloned().unwrap_or(Value::Null);
                    if let Value::Object(o) = &mut m {
                        o.entry("role").or_insert_with(|| "assistant".into());
                    }
                    (true, m)
                } else if let Some(role) = name
                    .strip_prefix("gen_ai.")
                    .and_then(|n| n.strip_suffix(".message"))
                {
                    let mut m = body.clone();
                    if let Value::Object(o) = &mut m {
                        o.entry("role").or_insert_with(|| role.into());
                    }
                    (false, m)
                } else {
                    continue;
                };
                let Some(text) = super::messages::messages_text(&message) else {
                    continue;
                };
                let entry = into.entry((hex(&r.trace_id), hex(&r.span_id))).or_default();
                if output {
                    entry.1.push(text);
                } else {
                    entry.0.push(text);
                }
            }
        }
    }
}

/// Codex's OTel events (`[otel]` in its config.toml; testdata/codex-otlp/README.md): the
/// prompt, each response's usage (`codex.sse_event` of kind `response.completed` that carries
/// token counts), tool results and tool decisions. Other Codex events stay `event` rows.
/// Returns None for those. Tool calls and decisions carry the ids and emit-once keys the
/// rollout importer gives them (`codex::identity`), so a call seen both ways is one row.
fn codex_event(s: &mut Span, a: &Attrs<'_>, name: &str, pricing: &PricingTable) -> Option<Mapped> {
    let mut key = None;
    s.agent = Some("codex".to_string());
    s.model = a.str(&["model"]);
    if let Some(ts) = a.str(&["event.timestamp"])
        && let Ok(t) = chrono::DateTime::parse_from_rfc3339(&ts)
    {
        s.start_time = t.timestamp_micros();
    }
    match name {
        "codex.user_prompt" => {
            s.kind = SpanKind::Task;
            s.name = Some("prompt".into());
            s.input_text = a.str(&["prompt"]);
            s.task_id = Some(s.span_id.clone());
        }
        "codex.sse_event" => {
            // Each `response.completed` is logged twice; only the record with usage counts.
            let input = a.int(&["input_token_count"])?;
            if a.str(&["event.kind"]).as_deref() != Some("response.completed") {
                return None;
            }
            let cached = a.int(&["cached_token_count"]).unwrap_or(0);
            s.kind = SpanKind::Llm;
            s.provider = Some("openai".into());
            s.name = s.model.clone();
            // Codex's input count includes cached tokens; ours does not.
            s.input_tokens = Some(input - cached.min(input));
            s.cache_read_tokens = Some(cached);
            s.cache_write_tokens = a.int(&["cache_write_token_count"]);
            s.output_tokens = a.int(&["output_token_count"]);
            s.reasoning_tokens = a.int(&["reasoning_token_count"]);
            s.ttft_ms = a.int(&["ttft_ms"]);
            s.status = Status::Ok;
            ended_after(s, a.int(&["duration_ms"]));
            price(s, pricing, 0);
        }
        "codex.tool_result" => {
            let call = a.str(&["call_id"]);
            if let Some(c) = &call {
                let id = codex_identity::tool(&s.session_id, c);
                s.span_id = id.span_id;
                key = Some(id.key);
            }
            s.kind = SpanKind::Tool;
            s.tool_name = a.str(&["tool_name"]);
            s.name = s.tool_name.clone();
            s.tool_call_id = call;
            s.tool_input = a.str(&["arguments"]);
            s.tool_output = a.str(&["output"]);
            s.command = s
                .tool_input
                .as_deref()
                .and_then(|t| serde_json::from_str::<Value>(t).ok())
                .and_then(|v| match v.get("cmd").or_else(|| v.get("command")) {
                    Some(Value::String(c)) => Some(c.clone()),
                    Some(Value::Array(parts)) => Some(
                        parts
                            .iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(" "),
                    ),
                    _ => None,
                });
            // `success` is true even when the command failed: the exit code is in the output.
            s.exit_code = s.tool_output.as_deref().and_then(|o| {
                let rest = &o[o.find("exited with code ")? + "exited with code ".len()..];
                rest.split(|c: char| !c.is_ascii_digit() && c != '-')
                    .next()?
                    .parse()
                    .ok()
            });
            let failed = a.bool(&["success"]) == Some(false) || s.exit_code.is_some_and(|c| c != 0);
            s.is_error = Some(failed);
            s.status = if failed { Status::Error } else { Status::Ok };
            ended_after(s, a.int(&["duration_ms"]));
        }
        "codex.tool_decision" => {
            let call = a.str(&["call_id"]);
            if let Some(c) = &call {
                let id = codex_identity::permission(&s.session_id, c);
                s.span_id = id.span_id;
                key = Some(id.key);
                s.parent_span_id = Some(codex_identity::tool(&s.session_id, c).span_id);
            }
            s.kind = SpanKind::Permission;
            s.tool_name = a.str(&["tool_name"]);
            s.name = s.tool_name.clone();
            s.tool_call_id = call;
            s.decision = a.str(&["decision"]).as_deref().and_then(decision);
            s.decision_source = a.str(&["source"]);
        }
        _ => return None,
    }
    Some(Mapped::Span(s.clone(), key))
}
