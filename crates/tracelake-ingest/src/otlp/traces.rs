//! OTLP spans onto the span model, by convention: Claude Code's own spans, the OpenTelemetry
//! GenAI semantic conventions (current and older attribute names), OpenInference (Phoenix) and
//! OpenLLMetry (Traceloop). Whatever a convention does not map stays in `attributes`.

use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::trace::v1::Span as OtlpSpan;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use serde_json::{Map, Value};
use tracelake_model::{Decision, PricingTable, Span, SpanKind, Status, TokenUsage};

use super::attrs::{Attrs, entry, hex, object, to_json};
use super::messages::messages_of;
use super::{Mapped, ResourceCtx};
use crate::claude_code::identity;
use crate::codex::identity as codex_identity;
use crate::ids;

/// Nanoseconds since the epoch → microseconds.
pub fn micros(nanos: u64) -> i64 {
    (nanos / 1000) as i64
}

/// A base span for an OTLP span: ids, times, status, resource, everything in `attributes`.
fn base(
    ctx: &ResourceCtx,
    scope: Option<&InstrumentationScope>,
    s: &OtlpSpan,
    request: &str,
) -> (Span, Map<String, Value>) {
    let trace_id = hex(&s.trace_id);
    let span_id = hex(&s.span_id);
    let a = Attrs(&s.attributes);
    let session = a
        .str(&[
            "gen_ai.conversation.id",
            "session.id",
            "traceloop.association.properties.session_id",
            "traceloop.association.properties.conversation_id",
            "conversation.id",
        ])
        .unwrap_or_else(|| trace_id.clone());
    let start = micros(s.start_time_unix_nano);
    let mut out = Span::new(span_id, session, "otlp", SpanKind::Event, start);
    out.trace_id = Some(trace_id);
    out.parent_span_id = (!s.parent_span_id.is_empty()).then(|| hex(&s.parent_span_id));
    out.source_ref = Some(request.to_string());
    out.name = Some(s.name.clone());
    if s.end_time_unix_nano >= s.start_time_unix_nano && s.end_time_unix_nano > 0 {
        out.end_time = Some(micros(s.end_time_unix_nano));
    }
    let (status, message) = match &s.status {
        Some(st) if st.code == StatusCode::Error as i32 => {
            (Status::Error, Some(st.message.clone()))
        }
        Some(st) if st.code == StatusCode::Ok as i32 => (Status::Ok, None),
        _ => (Status::Unset, None),
    };
    out.status = status;
    if status == Status::Error {
        out.error_message = message
            .filter(|m| !m.is_empty())
            .or_else(|| a.str(&["error.type", "exception.message"]));
    }
    out.user_id = a
        .str(&[
            "user.id",
            "enduser.id",
            "traceloop.association.properties.user_id",
        ])
        .or_else(|| ctx.user_id.clone());
    out.service_name = ctx.service_name.clone();
    out.host = ctx.host.clone();
    out.agent = ctx.agent.clone();
    out.agent_version = ctx.agent_version.clone();
    out.resource_attributes = Some(ctx.resource_json.clone());
    // Text attributes are left out here: most spans carry them in their text columns, and
    // cloning a prompt into a JSON tree only to drop it cost ~3 % of the collector's CPU.
    // The spans that keep them in `attributes` add them back with [`with_text`].
    let mut attrs: Map<String, Value> = s
        .attributes
        .iter()
        .filter(|kv| !is_text_key(&kv.key))
        .map(entry)
        .collect();
    if !s.events.is_empty() {
        attrs.insert(
            "otel.events".into(),
            Value::Array(
                s.events
                    .iter()
                    .map(|e| {
                        let mut m = Map::new();
                        m.insert("name".into(), e.name.clone().into());
                        m.insert("time_unix_nano".into(), e.time_unix_nano.to_string().into());
                        m.insert("attributes".into(), Value::Object(object(&e.attributes)));
                        Value::Object(m)
                    })
                    .collect(),
            ),
        );
    }
    if !s.links.is_empty() {
        attrs.insert(
            "otel.links".into(),
            Value::Array(
                s.links
                    .iter()
                    .map(|l| serde_json::json!({"trace_id": hex(&l.trace_id), "span_id": hex(&l.span_id)}))
                    .collect(),
            ),
        );
    }
    attrs.insert("otel.span_kind".into(), s.kind.into());
    if let Some(scope) = scope {
        attrs.insert("otel.scope.name".into(), scope.name.clone().into());
        if !scope.version.is_empty() {
            attrs.insert("otel.scope.version".into(), scope.version.clone().into());
        }
    }
    (out, attrs)
}

/// Attributes whose content a mapped span carries in its text columns (flattened) and `raw`
/// carries verbatim: not repeated in `attributes`, which would double every prompt.
const TEXT_KEYS: &[&str] = &[
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
    "gen_ai.prompt",
    "gen_ai.completion",
    "input.value",
    "output.value",
    "traceloop.entity.input",
    "traceloop.entity.output",
];
const TEXT_PREFIXES: &[&str] = &[
    "llm.input_messages.",
    "llm.output_messages.",
    "gen_ai.prompt.",
    "gen_ai.completion.",
];

fn is_text_key(key: &str) -> bool {
    TEXT_KEYS.contains(&key) || TEXT_PREFIXES.iter().any(|p| key.starts_with(p))
}

/// `attrs` (from [`base`]) with `s`'s text attributes put back, as JSON: for the spans whose
/// text columns do not carry them.
fn with_text(mut attrs: Map<String, Value>, s: &OtlpSpan) -> String {
    attrs.extend(
        s.attributes
            .iter()
            .filter(|kv| is_text_key(&kv.key))
            .map(entry),
    );
    crate::json::object_text(&attrs)
}

/// Token usage with the conventions' names. `input` is made uncached: GenAI and OpenAI-style
/// prompt counts include cached tokens, our `input_tokens` does not.
fn usage(a: &Attrs<'_>, s: &mut Span, includes_cache: bool) {
    let input = a.int(&[
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.prompt_tokens",
        "llm.token_count.prompt",
        "llm.usage.prompt_tokens",
    ]);
    let output = a.int(&[
        "gen_ai.usage.output_tokens",
        "gen_ai.usage.completion_tokens",
        "llm.token_count.completion",
        "llm.usage.completion_tokens",
    ]);
    let cache_read = a.int(&[
        "gen_ai.usage.cache_read.input_tokens",
        "gen_ai.usage.cache_read_input_tokens",
        "llm.token_count.prompt_details.cache_read",
        "gen_ai.usage.input_tokens_details.cached_tokens",
    ]);
    let cache_write = a.int(&[
        "gen_ai.usage.cache_creation.input_tokens",
        "gen_ai.usage.cache_creation_input_tokens",
        "llm.token_count.prompt_details.cache_write",
    ]);
    let reasoning = a.int(&[
        "gen_ai.usage.reasoning.output_tokens",
        "gen_ai.usage.reasoning_tokens",
        "llm.token_count.completion_details.reasoning",
        "llm.usage.reasoning_tokens",
    ]);
    if input.is_none() && output.is_none() {
        return;
    }
    let cached = cache_read.unwrap_or(0) + cache_write.unwrap_or(0);
    s.input_tokens = input.map(|i| {
        if includes_cache && i >= cached {
            i - cached
        } else {
            i
        }
    });
    s.output_tokens = output;
    s.cache_read_tokens = cache_read;
    s.cache_write_tokens = cache_write;
    s.reasoning_tokens = reasoning;
}

/// A permission decision as Claude Code (`accept`/`reject`) and Codex (`approved`/`denied`)
/// spell it.
pub(crate) fn decision(d: &str) -> Option<Decision> {
    match d {
        "accept" | "allow" | "approved" | "approved_for_session" => Some(Decision::Allow),
        "reject" | "deny" | "denied" | "abort" => Some(Decision::Deny),
        "ask" => Some(Decision::Ask),
        _ => None,
    }
}

/// A span that ended at its start time and took `ms` (events are logged when a thing ends).
pub(crate) fn ended_after(s: &mut Span, ms: Option<i64>) {
    if let Some(ms) = ms {
        let end = s.start_time;
        s.start_time = end - ms * 1000;
        s.end_time = Some(end);
    }
}

/// Our cost of a model call from its tokens (`w1h`: the cache writes at the 1-hour rate).
pub(crate) fn price(s: &mut Span, pricing: &PricingTable, w1h: i64) {
    let Some(model) = s.model.as_deref() else {
        return;
    };
    if s.input_tokens.is_none() && s.output_tokens.is_none() {
        return;
    }
    let write = s.cache_write_tokens.unwrap_or(0);
    s.cost_usd = pricing.cost(
        model,
        TokenUsage {
            input: s.input_tokens.unwrap_or(0),
            output: s.output_tokens.unwrap_or(0),
            cache_read: s.cache_read_tokens.unwrap_or(0),
            cache_write_5m: write - w1h.min(write),
            cache_write_1h: w1h.min(write),
        },
    );
}

/// `prefix.N.suffix` attributes (OpenInference `llm.input_messages.N.message.content`,
/// OpenLLMetry `gen_ai.prompt.N.content`) as `role: text` lines.
fn indexed_messages(
    a: &Attrs<'_>,
    prefix: &str,
    role_suffix: &str,
    content_suffix: &str,
) -> Option<String> {
    // message index -> (role, content, tool call index -> (name, arguments))
    type Calls = std::collections::BTreeMap<u32, (String, String)>;
    let mut rows: std::collections::BTreeMap<u32, (String, String, Calls)> = Default::default();
    for (rest, v) in a.with_prefix(prefix) {
        let Some((idx, field)) = rest.split_once('.') else {
            continue;
        };
        let Ok(i) = idx.parse::<u32>() else {
            continue;
        };
        let text = match to_json(v) {
            Value::String(s) => s,
            other => other.to_string(),
        };
        let row = rows.entry(i).or_default();
        if field == role_suffix {
            row.0 = text;
        } else if field == content_suffix {
            row.1 = text;
        } else if let Some((_, call)) = field.split_once("tool_calls.")
            && let Some((j, what)) = call.split_once('.')
            && let Ok(j) = j.parse::<u32>()
        {
            // OpenLLMetry `tool_calls.J.name`/`.arguments`, OpenInference
            // `message.tool_calls.J.tool_call.function.name`/`.arguments`.
            let entry = row.2.entry(j).or_default();
            if what.ends_with("name") {
                entry.0 = text;
            } else if what.ends_with("arguments") {
                entry.1 = text;
            }
        }
    }
    let lines: Vec<String> = rows
        .into_values()
        .map(|(r, mut c, calls)| {
            for (name, args) in calls.into_values().filter(|(n, _)| !n.is_empty()) {
                if !c.is_empty() {
                    c.push('\n');
                }
                c.push_str(&format!("[tool call {name}({args})]"));
            }
            (r, c)
        })
        .filter(|(_, c)| !c.is_empty())
        .map(|(r, c)| if r.is_empty() { c } else { format!("{r}: {c}") })
        .collect();
    (!lines.is_empty()).then(|| lines.join("\n"))
}

/// Messages carried as span events (older GenAI instrumentations).
fn event_messages(s: &OtlpSpan, names: &[&str]) -> Option<String> {
    let mut out = Vec::new();
    for e in &s.events {
        if !names.iter().any(|n| e.name == *n) {
            continue;
        }
        let a = Attrs(&e.attributes);
        let role = e
            .name
            .trim_start_matches("gen_ai.")
            .trim_end_matches(".message");
        if let Some(c) = a.str(&["content", "gen_ai.event.content", "message"]) {
            out.push(format!("{role}: {c}"));
        } else if let Some(body) = a.get(&["message", "body"])
            && let Some(t) = messages_of(body)
        {
            out.push(t);
        }
    }
    (!out.is_empty()).then(|| out.join("\n"))
}

/// Files a Claude Code tool read or wrote, by tool name.
pub(crate) fn set_files(s: &mut Span, tool: &str, path: Option<String>) {
    match tool {
        "Read" | "NotebookRead" => s.files_read.extend(path),
        "Write" | "Edit" | "MultiEdit" | "NotebookEdit" => s.files_written.extend(path),
        _ => {}
    }
}

/// Maps one OTLP span.
pub fn map_span(
    ctx: &ResourceCtx,
    scope: Option<&InstrumentationScope>,
    s: &OtlpSpan,
    request: &str,
    pricing: &PricingTable,
) -> Mapped {
    let a = Attrs(&s.attributes);
    let (mut out, attrs) = base(ctx, scope, s, request);
    if s.name.starts_with("claude_code.") || ctx.agent.as_deref() == Some("claude-code") {
        out.attributes = Some(with_text(attrs, s));
        return claude_code_span(out, s, &a, pricing);
    }
    if ctx.agent.as_deref() == Some("codex") {
        // Codex names its conversation `thread_id` on the spans outside a turn.
        if out.trace_id.as_deref() == Some(out.session_id.as_str())
            && let Some(thread) = a.str(&["thread_id"])
        {
            out.session_id = thread;
        }
        if let Some(call) = a.str(&["call_id"])
            && a.get(&["codex.tool.phase", "tool_source"]).is_some()
        {
            out.attributes = Some(with_text(attrs, s));
            return codex_tool_span(out, &a, call);
        }
    }
    let oi_kind = a.str(&["openinference.span.kind"]);
    let tl_kind = a.str(&["traceloop.span.kind"]);
    let op = a.str(&["gen_ai.operation.name"]);
    let llm_request_type = a.str(&["llm.request.type"]);
    let kind = match (op.as_deref(), oi_kind.as_deref(), tl_kind.as_deref()) {
        (
            Some("chat" | "text_completion" | "generate_content" | "embeddings" | "completion"),
            _,
            _,
        ) => SpanKind::Llm,
        (Some("execute_tool"), _, _) => SpanKind::Tool,
        (Some("invoke_agent" | "create_agent"), _, _) => SpanKind::Agent,
        (_, Some("LLM" | "EMBEDDING"), _) => SpanKind::Llm,
        (_, Some("TOOL"), _) => SpanKind::Tool,
        (_, Some("AGENT"), _) => SpanKind::Agent,
        (_, _, Some("tool")) => SpanKind::Tool,
        (_, _, Some("agent")) => SpanKind::Agent,
        _ if llm_request_type.is_some() => SpanKind::Llm,
        _ if a.get(&["mcp.method.name"]).is_some() => SpanKind::Mcp,
        _ if a
            .get(&[
                "gen_ai.request.model",
                "gen_ai.response.model",
                "llm.model_name",
            ])
            .is_some() =>
        {
            SpanKind::Llm
        }
        _ => SpanKind::Event,
    };
    out.kind = kind;
    out.provider = a.str(&[
        "gen_ai.provider.name",
        "gen_ai.system",
        "llm.provider",
        "llm.system",
    ]);
    out.model = a.str(&[
        "gen_ai.response.model",
        "gen_ai.request.model",
        "llm.model_name",
        "llm.response.model",
        "llm.request.model",
    ]);
    out.stop_reason = a.str(&[
        "gen_ai.response.finish_reasons",
        "llm.response.finish_reason",
        "llm.finish_reason",
        "gen_ai.completion.0.finish_reason",
    ]);
    if let Some(c) = a
        .str(&["session.id"])
        .filter(|_| out.session_id == hex(&s.trace_id))
    {
        out.session_id = c;
    }
    match kind {
        SpanKind::Llm => {
            usage(&a, &mut out, true);
            price(&mut out, pricing, 0);
            out.input_text = a
                .get(&["gen_ai.input.messages"])
                .and_then(messages_of)
                .or_else(|| {
                    indexed_messages(&a, "llm.input_messages.", "message.role", "message.content")
                })
                .or_else(|| indexed_messages(&a, "gen_ai.prompt.", "role", "content"))
                .or_else(|| {
                    event_messages(
                        s,
                        &[
                            "gen_ai.system.message",
                            "gen_ai.user.message",
                            "gen_ai.assistant.message",
                            "gen_ai.tool.message",
                        ],
                    )
                })
                .or_else(|| a.str(&["input.value", "traceloop.entity.input", "gen_ai.prompt"]));
            out.output_text = a
                .get(&["gen_ai.output.messages"])
                .and_then(messages_of)
                .or_else(|| {
                    indexed_messages(
                        &a,
                        "llm.output_messages.",
                        "message.role",
                        "message.content",
                    )
                })
                .or_else(|| indexed_messages(&a, "gen_ai.completion.", "role", "content"))
                .or_else(|| event_messages(s, &["gen_ai.choice"]))
                .or_else(|| {
                    a.str(&[
                        "output.value",
                        "traceloop.entity.output",
                        "gen_ai.completion",
                    ])
                });
            if let Some(m) = &out.model {
                out.name = Some(m.clone());
            }
        }
        SpanKind::Tool | SpanKind::Mcp => {
            out.tool_name = a.str(&["gen_ai.tool.name", "tool.name", "traceloop.entity.name"]);
            out.tool_call_id = a.str(&[
                "gen_ai.tool.call.id",
                "tool_call.id",
                "tool.call_id",
                "tool.id",
            ]);
            // OpenInference's `tool.parameters` is the tool's schema, not the call's input:
            // it stays in `attributes`.
            out.tool_input = a.str(&[
                "gen_ai.tool.call.arguments",
                "input.value",
                "traceloop.entity.input",
            ]);
            out.tool_output = a.str(&[
                "gen_ai.tool.call.result",
                "output.value",
                "traceloop.entity.output",
            ]);
            out.is_error = Some(out.status == Status::Error);
        }
        SpanKind::Agent => {
            out.input_text = a.str(&["input.value", "traceloop.entity.input"]);
            out.output_text = a.str(&["output.value", "traceloop.entity.output"]);
            out.agent_id = a.str(&["gen_ai.agent.id"]);
            if let Some(n) = a.str(&["gen_ai.agent.name"]) {
                out.name = Some(n);
            }
        }
        _ => {
            out.input_text = a.str(&["input.value", "traceloop.entity.input"]);
            out.output_text = a.str(&["output.value", "traceloop.entity.output"]);
        }
    }
    out.attributes = Some(if out.kind == SpanKind::Event {
        with_text(attrs, s)
    } else {
        crate::json::object_text(&attrs)
    });
    // Generic spans keep their OpenTelemetry identity; a resent request maps to the same
    // span id, and is not checked for duplicates (see ADR 0004).
    Mapped::Span(out, None)
}

/// Claude Code's own spans (`CLAUDE_CODE_ENHANCED_TELEMETRY_BETA=1`).
fn claude_code_span(mut out: Span, s: &OtlpSpan, a: &Attrs<'_>, pricing: &PricingTable) -> Mapped {
    out.agent = Some("claude-code".to_string());
    let otel_id = out.span_id.clone();
    let key_of_otel = ids::once_key(&["otel", out.trace_id.as_deref().unwrap_or(""), &otel_id]);
    let short = s.name.trim_start_matches("claude_code.").to_string();
    match short.as_str() {
        "llm_request" => {
            let request = a.str(&["request_id", "gen_ai.response.id"]);
            let id = identity::llm(request.as_deref(), &otel_id);
            out.span_id = id.span_id;
            out.kind = SpanKind::Llm;
            out.provider = Some("anthropic".into());
            out.model = a.str(&["model", "gen_ai.request.model"]);
            out.name = out.model.clone();
            out.input_tokens = a.int(&["input_tokens"]);
            out.output_tokens = a.int(&["output_tokens"]);
            out.cache_read_tokens = a.int(&["cache_read_tokens"]);
            out.cache_write_tokens = a.int(&["cache_creation_tokens"]);
            out.ttft_ms = a.int(&["ttft_ms"]);
            out.stop_reason = a.str(&["stop_reason", "gen_ai.response.finish_reasons"]);
            if a.bool(&["success"]) == Some(false) {
                out.status = Status::Error;
            } else if out.status == Status::Unset {
                out.status = Status::Ok;
            }
            price(
                &mut out,
                pricing,
                a.int(&["cache_creation_1h_tokens"]).unwrap_or(0),
            );
            Mapped::Span(out, Some(id.key))
        }
        "tool" => {
            let Some(use_id) = a.str(&["tool_use_id", "gen_ai.tool.call.id"]) else {
                return Mapped::Span(out, Some(key_of_otel));
            };
            let id = identity::tool(&use_id);
            out.span_id = id.span_id;
            out.kind = SpanKind::Tool;
            let tool = a
                .str(&["tool_name", "gen_ai.tool.name"])
                .unwrap_or_default();
            out.name = Some(tool.clone());
            out.tool_name = Some(tool.clone());
            out.tool_call_id = Some(use_id);
            out.command = a.str(&["full_command"]);
            set_files(&mut out, &tool, a.str(&["file_path"]));
            if out.status == Status::Unset {
                out.status = Status::Ok;
            }
            out.is_error = Some(out.status == Status::Error);
            Mapped::Span(out, Some(id.key))
        }
        "interaction" => {
            out.name = Some("interaction".into());
            out.input_text = a.str(&["user_prompt"]);
            Mapped::Span(out, Some(key_of_otel))
        }
        "tool.blocked_on_user" => {
            out.name = Some(short);
            out.decision = a.str(&["decision"]).as_deref().and_then(decision);
            out.decision_source = a.str(&["source"]);
            Mapped::Span(out, Some(key_of_otel))
        }
        _ => {
            out.name = Some(short);
            if a.bool(&["success"]) == Some(false) {
                out.status = Status::Error;
                out.error_message = a.str(&["error", "error.type"]);
            }
            Mapped::Span(out, Some(key_of_otel))
        }
    }
}

/// A Codex tool call's span (`exec_command` and the like, with `call_id`): the same entity as
/// its `codex.tool_result` event and its rollout's function call, so the views merge into one
/// row; the span brings the trace, its parent and the exact start and end.
fn codex_tool_span(mut out: Span, a: &Attrs<'_>, call: String) -> Mapped {
    let id = codex_identity::tool(&out.session_id, &call);
    out.span_id = id.span_id;
    out.kind = SpanKind::Tool;
    out.agent = Some("codex".to_string());
    out.tool_name = a.str(&["tool_name"]).or_else(|| out.name.clone());
    out.name = out.tool_name.clone();
    out.tool_call_id = Some(call);
    if a.bool(&["aborted"]) == Some(true) {
        out.status = Status::Error;
        out.error_message = Some("aborted".into());
    }
    if out.status == Status::Error {
        out.is_error = Some(true);
    }
    Mapped::Span(out, Some(id.key))
}
