//! The identities of Codex's entities, shared by every source that sees them (rollout files,
//! OTLP events), so a tool call is one row whichever way it arrived. Every id is scoped by the
//! session (Codex's call ids and turn ids are unique only within one).
//!
//! A model call has no id of its own in a `token_count` event: it is identified by the
//! session's running token totals after it (ADR 0005), which makes a repeated `token_count`
//! and a copied rollout map to the same row.

use crate::ids::{Identity, identity};

/// A session (`session_meta.id`, OTLP `conversation.id`).
pub fn session(session_id: &str) -> Identity {
    identity(&["codex-session", session_id])
}

/// A task: a user prompt, by its turn (or, without turn ids, the totals before it) and text.
pub fn task(session_id: &str, turn: &str, text: &str) -> Identity {
    identity(&["codex-task", session_id, turn, text])
}

/// A model call, by the session's running totals after it (`Usage::key`).
pub fn llm(session_id: &str, totals_after: &str) -> Identity {
    identity(&["codex-llm", session_id, totals_after])
}

/// A tool call (`call_id`).
pub fn tool(session_id: &str, call_id: &str) -> Identity {
    identity(&["codex-tool", session_id, call_id])
}

/// The approval decision on a tool call.
pub fn permission(session_id: &str, call_id: &str) -> Identity {
    identity(&["codex-permission", session_id, call_id])
}

/// Any other record, by a key unique to it within the session and its kind of event.
pub fn event(session_id: &str, key: &str, name: &str) -> Identity {
    identity(&["codex-event", session_id, key, name])
}
