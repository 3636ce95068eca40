//! The identities of Claude Code's entities, shared by every source that sees them (session
//! logs, OTLP spans, OTLP events), so one model call, tool call, prompt or decision is one row
//! whichever way it arrived: a row's span id and emit-once key derive from the entity's own
//! id, never from the record that carried it.

pub use crate::ids::Identity;
use crate::ids::identity as of;

/// A session.
pub fn session(session_id: &str) -> Identity {
    of(&["cc-session", session_id])
}

/// A task: the user prompt (`promptId` in the logs, `prompt.id` in OTLP events), else the
/// record that carried it.
pub fn task(prompt_id: Option<&str>, fallback: &str) -> Identity {
    match prompt_id {
        Some(p) if !p.is_empty() => of(&["cc-task", p]),
        _ => of(&["cc-task-record", fallback]),
    }
}

/// A model call: the API request id (`requestId`, `request_id`), else the message id.
pub fn llm(request_id: Option<&str>, message_id: &str) -> Identity {
    match request_id {
        Some(r) if !r.is_empty() => of(&["cc-llm", r]),
        _ => of(&["cc-llm-message", message_id]),
    }
}

/// A tool call (`tool_use.id`, `tool_use_id`).
pub fn tool(tool_use_id: &str) -> Identity {
    of(&["cc-tool", tool_use_id])
}

/// The permission decision on a tool call.
pub fn permission(tool_use_id: &str) -> Identity {
    of(&["cc-permission", tool_use_id])
}

/// A subagent run.
pub fn agent(agent_id: &str) -> Identity {
    of(&["cc-agent", agent_id])
}

/// Any other record, by a key unique to it and its kind of event.
pub fn event(record_key: &str, name: &str) -> Identity {
    of(&["cc-event", record_key, name])
}
