//! Decoding Codex rollout records (`{"timestamp", "type", "payload"}`, one per line) into
//! borrowed views. The envelope is decoded first; a payload is decoded only for the record
//! types the mapping reads, into a small struct per type, so an unknown type or an unknown
//! field of a known type is never an error.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// The envelope every rollout line shares.
#[derive(Debug, Deserialize)]
pub struct Record<'a> {
    #[serde(borrow)]
    pub timestamp: Option<Cow<'a, str>>,
    #[serde(rename = "type", borrow)]
    pub ty: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub payload: Option<&'a RawValue>,
}

/// Just the `type` of a payload (`response_item`, `event_msg`).
#[derive(Debug, Deserialize)]
pub struct PayloadType<'a> {
    #[serde(rename = "type", borrow)]
    pub ty: Option<Cow<'a, str>>,
}

/// `session_meta`.
#[derive(Debug, Deserialize)]
pub struct SessionMeta<'a> {
    #[serde(borrow)]
    pub id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub session_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub cwd: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub cli_version: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub originator: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub source: Option<&'a RawValue>,
    #[serde(borrow)]
    pub model_provider: Option<Cow<'a, str>>,
    pub git: Option<GitInfo>,
}

/// `session_meta.git`.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct GitInfo {
    pub commit_hash: Option<String>,
    pub branch: Option<String>,
    pub repository_url: Option<String>,
}

/// `turn_context`.
#[derive(Debug, Deserialize)]
pub struct TurnContext<'a> {
    #[serde(borrow)]
    pub turn_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub cwd: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub model: Option<Cow<'a, str>>,
}

/// `event_msg` of type `thread_settings_applied`.
#[derive(Debug, Deserialize)]
pub struct ThreadSettingsApplied {
    pub thread_settings: Option<ThreadSettings>,
}

/// `thread_settings_applied.thread_settings`.
#[derive(Debug, Deserialize)]
pub struct ThreadSettings {
    pub model: Option<String>,
    pub cwd: Option<String>,
}

/// A `response_item` (flat: only the fields of its `type` are set).
#[derive(Debug, Deserialize)]
pub struct ResponseItem<'a> {
    #[serde(borrow)]
    pub id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub role: Option<Cow<'a, str>>,
    /// `message` content parts; `reasoning` raw content.
    #[serde(borrow)]
    pub content: Option<&'a RawValue>,
    /// `reasoning` summary parts.
    #[serde(borrow)]
    pub summary: Option<&'a RawValue>,
    #[serde(borrow)]
    pub name: Option<Cow<'a, str>>,
    /// `function_call` arguments (JSON text).
    #[serde(borrow)]
    pub arguments: Option<Cow<'a, str>>,
    /// `custom_tool_call` input (free text, e.g. a patch).
    #[serde(borrow)]
    pub input: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub call_id: Option<Cow<'a, str>>,
    /// `*_output`: a string, content parts, or `{content, success}`.
    #[serde(borrow)]
    pub output: Option<&'a RawValue>,
    /// `local_shell_call` / `web_search_call` action.
    #[serde(borrow)]
    pub action: Option<&'a RawValue>,
    #[serde(borrow)]
    pub status: Option<Cow<'a, str>>,
}

/// One content part of a message (`input_text`, `output_text`, `text`, …).
#[derive(Debug, Deserialize)]
pub struct ContentPart<'a> {
    #[serde(rename = "type", borrow)]
    pub ty: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub text: Option<Cow<'a, str>>,
}

/// `local_shell_call.action` and `web_search_call.action`.
#[derive(Debug, Default, Deserialize)]
pub struct Action {
    pub command: Option<Vec<String>>,
    pub query: Option<String>,
    pub url: Option<String>,
}

/// Token counts as Codex writes them (`input_tokens` includes the cached ones,
/// `output_tokens` the reasoning ones).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub struct Usage {
    #[serde(default)]
    pub input_tokens: i64,
    #[serde(default)]
    pub cached_input_tokens: i64,
    #[serde(default)]
    pub cache_write_input_tokens: i64,
    #[serde(default)]
    pub output_tokens: i64,
    #[serde(default)]
    pub reasoning_output_tokens: i64,
    #[serde(default)]
    pub total_tokens: i64,
}

impl Usage {
    /// `self - earlier`, field by field (a call's usage from two running totals).
    pub fn minus(&self, earlier: &Usage) -> Usage {
        Usage {
            input_tokens: self.input_tokens - earlier.input_tokens,
            cached_input_tokens: self.cached_input_tokens - earlier.cached_input_tokens,
            cache_write_input_tokens: self.cache_write_input_tokens
                - earlier.cache_write_input_tokens,
            output_tokens: self.output_tokens - earlier.output_tokens,
            reasoning_output_tokens: self.reasoning_output_tokens - earlier.reasoning_output_tokens,
            total_tokens: self.total_tokens - earlier.total_tokens,
        }
    }

    /// `self + other`, field by field.
    pub fn plus(&self, other: &Usage) -> Usage {
        Usage {
            input_tokens: self.input_tokens + other.input_tokens,
            cached_input_tokens: self.cached_input_tokens + other.cached_input_tokens,
            cache_write_input_tokens: self.cache_write_input_tokens
                + other.cache_write_input_tokens,
            output_tokens: self.output_tokens + other.output_tokens,
            reasoning_output_tokens: self.reasoning_output_tokens + other.reasoning_output_tokens,
            total_tokens: self.total_tokens + other.total_tokens,
        }
    }

    /// A stable text form (part of a model call's identity).
    pub fn key(&self) -> String {
        format!(
            "{}/{}/{}/{}/{}/{}",
            self.input_tokens,
            self.cached_input_tokens,
            self.cache_write_input_tokens,
            self.output_tokens,
            self.reasoning_output_tokens,
            self.total_tokens
        )
    }
}

/// `event_msg` of type `token_count`.
#[derive(Debug, Deserialize)]
pub struct TokenCount<'a> {
    /// Null when the event only carries rate limits.
    #[serde(borrow)]
    pub info: Option<TokenInfo<'a>>,
}

/// `token_count.info`.
#[derive(Debug, Deserialize)]
pub struct TokenInfo<'a> {
    pub total_token_usage: Option<Usage>,
    pub last_token_usage: Option<Usage>,
    #[serde(borrow)]
    pub model: Option<Cow<'a, str>>,
    pub model_context_window: Option<i64>,
}

/// `token_usage_record` (Codex 0.169): one response's usage with its id.
#[derive(Debug, Deserialize)]
pub struct TokenUsageRecord<'a> {
    #[serde(borrow)]
    pub response_id: Option<Cow<'a, str>>,
    pub usage: Option<Usage>,
    pub thread_token_usage: Option<Usage>,
}

/// The `event_msg` types the mapping reads besides token counts (flat: only the fields of
/// its type are set).
#[derive(Debug, Deserialize)]
pub struct EventMsg<'a> {
    #[serde(borrow)]
    pub turn_id: Option<Cow<'a, str>>,
    /// `user_message`, `agent_message`, `error`, `warning`.
    #[serde(borrow)]
    pub message: Option<Cow<'a, str>>,
    /// `agent_reasoning`.
    #[serde(borrow)]
    pub text: Option<Cow<'a, str>>,
    /// `exec_command_end`, `patch_apply_end`, `mcp_tool_call_end`.
    #[serde(borrow)]
    pub call_id: Option<Cow<'a, str>>,
    pub exit_code: Option<i64>,
    #[serde(borrow)]
    pub duration: Option<&'a RawValue>,
    pub success: Option<bool>,
    /// `task_complete`.
    pub duration_ms: Option<i64>,
    pub time_to_first_token_ms: Option<i64>,
    /// `turn_aborted`.
    #[serde(borrow)]
    pub reason: Option<Cow<'a, str>>,
    /// `item_completed`.
    #[serde(borrow)]
    pub item: Option<&'a RawValue>,
}

/// `item_completed.item` (flat).
#[derive(Debug, Deserialize)]
pub struct Item<'a> {
    #[serde(rename = "type", borrow)]
    pub ty: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub content: Option<&'a RawValue>,
    pub exit_code: Option<i64>,
    #[serde(borrow)]
    pub duration: Option<&'a RawValue>,
    #[serde(borrow)]
    pub status: Option<Cow<'a, str>>,
}

/// `compacted`.
#[derive(Debug, Deserialize)]
pub struct Compacted<'a> {
    #[serde(borrow)]
    pub message: Option<Cow<'a, str>>,
}

/// The text of message content parts, joined by newlines (a plain string is its own text).
pub fn parts_text(raw: Option<&RawValue>) -> Option<String> {
    let raw = raw?;
    let text = raw.get();
    match text.as_bytes().first() {
        Some(b'"') => serde_json::from_str::<String>(text).ok(),
        Some(b'[') => {
            let parts: Vec<ContentPart<'_>> = serde_json::from_str(text).ok()?;
            let mut out = String::new();
            for p in parts {
                let piece = match (&p.text, p.ty.as_deref()) {
                    (Some(t), _) => t.to_string(),
                    (None, Some(ty)) if ty.contains("image") => "[image]".to_string(),
                    _ => continue,
                };
                if !out.is_empty() {
                    out.push('\n');
                }
                out.push_str(&piece);
            }
            Some(out)
        }
        _ => None,
    }
}

/// A tool output's text: a string, content parts, `{"content": …}`, or (older rollouts) a
/// JSON text `{"output": …, "metadata": {"exit_code", "duration_seconds"}}`. Returns the text
/// and, when the output says so, the exit code and duration in ms.
pub fn tool_output(raw: Option<&RawValue>) -> (String, Option<i64>, Option<i64>) {
    let Some(raw) = raw else {
        return (String::new(), None, None);
    };
    #[derive(Deserialize)]
    struct Wrapped {
        output: Option<String>,
        content: Option<Box<RawValue>>,
        metadata: Option<Meta>,
    }
    #[derive(Deserialize)]
    struct Meta {
        exit_code: Option<i64>,
        duration_seconds: Option<f64>,
    }
    let from_wrapped = |w: Wrapped| {
        let meta = w.metadata;
        let text = w
            .output
            .or_else(|| parts_text(w.content.as_deref()))
            .unwrap_or_default();
        (
            text,
            meta.as_ref().and_then(|m| m.exit_code),
            meta.and_then(|m| m.duration_seconds)
                .map(|s| (s * 1000.0).round() as i64),
        )
    };
    match raw.get().as_bytes().first() {
        Some(b'"') => {
            let text: String = serde_json::from_str(raw.get()).unwrap_or_default();
            if text.starts_with('{')
                && let Ok(w) = serde_json::from_str::<Wrapped>(&text)
                && (w.output.is_some() || w.content.is_some())
            {
                return from_wrapped(w);
            }
            (text, None, None)
        }
        Some(b'{') => match serde_json::from_str::<Wrapped>(raw.get()) {
            Ok(w) => from_wrapped(w),
            Err(_) => (raw.get().to_string(), None, None),
        },
        Some(b'[') => (parts_text(Some(raw)).unwrap_or_default(), None, None),
        _ => (raw.get().to_string(), None, None),
    }
}

/// The exit code Codex's unified exec writes at the head of a command's output
/// (`Process exited with code 2`), or an older `Exit code: 2`.
pub fn exit_code_in_output(text: &str) -> Option<i64> {
    for marker in ["Process exited with code ", "Exit code: "] {
        let head = text.get(..text.len().min(512)).unwrap_or(text);
        if let Some(i) = head.find(marker) {
            let rest = head.get(i + marker.len()..)?;
            let digits: String = rest
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '-')
                .collect();
            return digits.parse().ok();
        }
    }
    None
}

/// A duration as Codex writes it: `{"secs", "nanos"}`, a number of seconds, or `"1.5s"`.
pub fn duration_ms(raw: Option<&RawValue>) -> Option<i64> {
    #[derive(Deserialize)]
    struct SecsNanos {
        secs: i64,
        #[serde(default)]
        nanos: i64,
    }
    let text = raw?.get();
    if let Ok(d) = serde_json::from_str::<SecsNanos>(text) {
        return Some(d.secs * 1000 + d.nanos / 1_000_000);
    }
    if let Ok(s) = serde_json::from_str::<f64>(text) {
        return Some((s * 1000.0).round() as i64);
    }
    None
}

/// RFC 3339 timestamp → microseconds since the epoch.
pub fn parse_time(ts: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(ts)
        .ok()
        .map(|t| t.timestamp_micros())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_outputs_of_every_generation() {
        let raw: Box<RawValue> = serde_json::from_str(
            r#""Chunk ID: 1b78ba\nWall time: 0.0000 seconds\nProcess exited with code 2\nOriginal token count: 13\nOutput:\nsh: 0: cannot open""#,
        )
        .unwrap();
        let (text, code, _) = tool_output(Some(&raw));
        assert_eq!(code, None);
        assert_eq!(exit_code_in_output(&text), Some(2));
        let raw: Box<RawValue> = serde_json::from_str(
            r#""{\"output\":\"ok\\n\",\"metadata\":{\"exit_code\":1,\"duration_seconds\":0.25}}""#,
        )
        .unwrap();
        assert_eq!(
            tool_output(Some(&raw)),
            ("ok\n".to_string(), Some(1), Some(250))
        );
        let raw: Box<RawValue> =
            serde_json::from_str(r#"[{"type":"input_text","text":"a"},{"type":"input_image"}]"#)
                .unwrap();
        assert_eq!(tool_output(Some(&raw)).0, "a\n[image]");
    }

    #[test]
    fn durations_and_usage_arithmetic() {
        let raw: Box<RawValue> = serde_json::from_str(r#"{"secs":2,"nanos":500000000}"#).unwrap();
        assert_eq!(duration_ms(Some(&raw)), Some(2500));
        let a = Usage {
            input_tokens: 10,
            cached_input_tokens: 4,
            output_tokens: 3,
            total_tokens: 13,
            ..Usage::default()
        };
        assert_eq!(a.plus(&a).minus(&a), a);
        assert_eq!(a.key(), "10/4/0/3/0/13");
    }
}
