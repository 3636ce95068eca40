#![allow(missing_docs)] // decode views; the fields are the source format's (formats.md)
//! Decoding Claude Code session records (one JSON object per line) into borrowed views:
//! only the fields the mapping reads are parsed; large content stays raw JSON until needed,
//! and unknown fields and record types are skipped, never errors.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

/// The envelope every record shares, plus the per-type fields the mapping reads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record<'a> {
    #[serde(rename = "type", borrow)]
    pub ty: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub subtype: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub session_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub timestamp: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub uuid: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub cwd: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub version: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub git_branch: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub prompt_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub request_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub request_ref: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub user_type: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub entrypoint: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub permission_mode: Option<Cow<'a, str>>,
    pub is_meta: Option<bool>,
    pub is_compact_summary: Option<bool>,
    pub is_api_error_message: Option<bool>,
    #[serde(rename = "costUSD")]
    pub cost_usd: Option<f64>,
    #[serde(borrow)]
    pub message: Option<&'a RawValue>,
    #[serde(borrow)]
    pub tool_use_result: Option<&'a RawValue>,
    #[serde(borrow)]
    pub permission_decision: Option<&'a RawValue>,
    #[serde(borrow)]
    pub tool_denial_kind: Option<Cow<'a, str>>,
    /// `summary` records.
    #[serde(borrow)]
    pub summary: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub leaf_uuid: Option<Cow<'a, str>>,
    /// `system` records' text.
    #[serde(borrow)]
    pub content: Option<&'a RawValue>,
    /// `system` compact boundaries.
    #[serde(borrow)]
    pub compact_metadata: Option<&'a RawValue>,
    /// `api-request` records.
    #[serde(borrow)]
    pub id: Option<Cow<'a, str>>,
    /// `cost-state` records.
    #[serde(rename = "totalCostUSD")]
    pub total_cost_usd: Option<f64>,
}

/// An API message (`message` of user and assistant records).
#[derive(Debug, Deserialize)]
pub struct Message<'a> {
    #[serde(borrow)]
    pub id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub model: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub content: Option<&'a RawValue>,
    #[serde(borrow)]
    pub stop_reason: Option<Cow<'a, str>>,
    pub usage: Option<Usage>,
}

/// Token usage of one API response.
#[derive(Debug, Default, Clone, Copy, Deserialize, PartialEq, Eq)]
pub struct Usage {
    #[serde(default)]
    pub input_tokens: i64,
    #[serde(default)]
    pub output_tokens: i64,
    #[serde(default)]
    pub cache_creation_input_tokens: i64,
    #[serde(default)]
    pub cache_read_input_tokens: i64,
    pub cache_creation: Option<CacheCreation>,
    pub output_tokens_details: Option<OutputDetails>,
}

/// Split of cache writes by lifetime.
#[derive(Debug, Default, Clone, Copy, Deserialize, PartialEq, Eq)]
pub struct CacheCreation {
    #[serde(default)]
    pub ephemeral_5m_input_tokens: i64,
    #[serde(default)]
    pub ephemeral_1h_input_tokens: i64,
}

/// Output token detail.
#[derive(Debug, Default, Clone, Copy, Deserialize, PartialEq, Eq)]
pub struct OutputDetails {
    pub thinking_tokens: Option<i64>,
}

/// One content block (flat: only the fields of its type are set).
#[derive(Debug, Deserialize)]
pub struct Block<'a> {
    #[serde(rename = "type", borrow)]
    pub ty: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub text: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub thinking: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub input: Option<&'a RawValue>,
    #[serde(borrow)]
    pub tool_use_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub content: Option<&'a RawValue>,
    pub is_error: Option<bool>,
}

/// Message content: a plain string (a typed prompt) or a list of blocks.
pub enum Content<'a> {
    /// A plain string.
    Text(Cow<'a, str>),
    /// Content blocks.
    Blocks(Vec<Block<'a>>),
}

/// Parses message content; `None` when absent or of an unknown shape.
pub fn parse_content<'a>(raw: Option<&'a RawValue>) -> Option<Content<'a>> {
    let raw = raw?;
    let text = raw.get();
    match text.as_bytes().first() {
        Some(b'"') => serde_json::from_str::<Cow<'a, str>>(text)
            .ok()
            .map(Content::Text),
        Some(b'[') => serde_json::from_str::<Vec<Block<'a>>>(text)
            .ok()
            .map(Content::Blocks),
        _ => None,
    }
}

/// The text of tool-result content: a string, or the text of its blocks joined by newlines
/// (images become `[image]`).
pub fn tool_result_text(raw: Option<&RawValue>) -> String {
    match parse_content(raw) {
        Some(Content::Text(t)) => t.into_owned(),
        Some(Content::Blocks(blocks)) => {
            let mut out = String::new();
            for b in blocks {
                let piece = match b.ty.as_deref() {
                    Some("text") => b.text.as_deref().unwrap_or("").to_string(),
                    Some("image") => "[image]".to_string(),
                    Some(other) => format!("[{other}]"),
                    None => continue,
                };
                if !out.is_empty() {
                    out.push('\n');
                }
                out.push_str(&piece);
            }
            out
        }
        None => raw.map(|r| r.get().to_string()).unwrap_or_default(),
    }
}

/// Permission decision recorded on a tool result.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PermissionDecision<'a> {
    #[serde(borrow)]
    pub decision: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub source: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub reason_type: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub rule_source: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub reason_code: Option<Cow<'a, str>>,
}

/// The fields of `toolUseResult` the mapping reads.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolUseResult {
    pub interrupted: Option<bool>,
    pub exit_code: Option<i32>,
}

/// Subagent metadata (`agent-<id>.meta.json`).
#[derive(Debug, Default, Clone, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AgentMeta {
    pub agent_type: Option<String>,
    pub description: Option<String>,
    pub tool_use_id: Option<String>,
    pub parent_agent_id: Option<String>,
    pub model: Option<String>,
    pub spawn_depth: Option<i64>,
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
    fn decodes_an_assistant_fragment() {
        let line = r#"{"type":"assistant","sessionId":"s1","timestamp":"2026-11-22T15:56:06.938Z","requestId":"req_1","message":{"id":"msg_1","model":"claude-sonnet-4-5-20250929","content":[{"type":"tool_use","id":"toolu_1","name":"Bash","input":{"command":"ls"}}],"stop_reason":"tool_use","usage":{"input_tokens":10,"output_tokens":2,"cache_creation_input_tokens":3,"cache_read_input_tokens":4,"cache_creation":{"ephemeral_5m_input_tokens":3,"ephemeral_1h_input_tokens":0}}},"unknownField":{"deep":[1,2,3]}}"#;
        let r: Record<'_> = serde_json::from_str(line).unwrap();
        assert_eq!(r.ty.as_deref(), Some("assistant"));
        let m: Message<'_> = serde_json::from_str(r.message.unwrap().get()).unwrap();
        assert_eq!(m.usage.unwrap().cache_read_input_tokens, 4);
        let Some(Content::Blocks(blocks)) = parse_content(m.content) else {
            panic!("blocks")
        };
        assert_eq!(blocks[0].name.as_deref(), Some("Bash"));
        assert_eq!(blocks[0].input.unwrap().get(), r#"{"command":"ls"}"#);
        assert_eq!(
            parse_time("2026-11-22T15:56:06.938Z"),
            Some(1_795_362_966_938_000)
        );
    }

    #[test]
    fn tool_result_text_joins_blocks() {
        let raw: Box<RawValue> = serde_json::from_str(
            r#"[{"type":"text","text":"a"},{"type":"image"},{"type":"text","text":"b"}]"#,
        )
        .unwrap();
        assert_eq!(tool_result_text(Some(&raw)), "a\n[image]\nb");
        let raw: Box<RawValue> = serde_json::from_str(r#""plain\nout""#).unwrap();
        assert_eq!(tool_result_text(Some(&raw)), "plain\nout");
    }
}
