//! Mapping Claude Code records onto the span model, one file at a time.
//!
//! A file is read in order; the mapper keeps what the mapping needs across lines (the task a
//! prompt started, the model call whose fragments are still arriving, tool calls waiting for
//! their results) in a [`Carry`] that is committed with the file's offset, so an incremental
//! import continues exactly where the last one stopped.
//!
//! - session: one span per session id, the first time the main transcript is seen;
//! - task: each typed user prompt (not tool results, meta or injected messages);
//! - llm: one span per billed response, keyed by (`message.id`, `requestId`): Claude Code
//!   writes a response as several records, one per content block, with the same usage;
//! - tool: a `tool_use` block joined with the `tool_result` of the same id (duration, error,
//!   exit code, files, command), plus a permission span for the decision recorded on it;
//! - agent: one span per subagent transcript, parented to the Agent call that spawned it;
//! - event: compaction, summaries, interruptions, API errors, cost-state, injected messages.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tracelake_model::{
    Decision, PricingTable, RawRecord, Result, Span, SpanKind, Status, TokenUsage,
};

use super::identity;
use super::record::{
    AgentMeta, Block, Content, Message, PermissionDecision, Record, ToolUseResult, Usage,
    parse_content, parse_time, tool_result_text,
};
use crate::jsonl::SpanQueue;
use crate::sink::{OnceFilter, RowSink};
use crate::stats::ImportStats;

/// The source name of every row this importer writes.
pub const SOURCE: &str = "claude-code";

/// How long a tool call may wait for its result before it is written without one.
pub const ORPHAN_TOOL_AFTER_MICROS: i64 = 3_600 * 1_000_000;

/// A tool call seen without its result yet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingTool {
    /// `tool_use.id`.
    pub id: String,
    /// Tool name.
    pub name: String,
    /// Arguments, JSON text.
    pub input: String,
    /// When it was asked for (µs).
    pub start: i64,
    /// The model call that asked for it.
    pub llm_span: Option<String>,
    /// Its task.
    pub task_id: Option<String>,
    /// Its parent span.
    pub parent: Option<String>,
    /// Where the `tool_use` was.
    pub source_ref: String,
}

/// An Agent tool call in this file, for linking the subagent's transcript to the task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentCall {
    /// The Agent call's `tool_use.id` (the subagent's `toolUseId`).
    pub tool_use_id: String,
    /// The task it belongs to.
    pub task_id: Option<String>,
}

/// What the mapping of one file carries from one line (and one import) to the next.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Carry {
    /// The file's session.
    pub session_id: Option<String>,
    /// Span id of the task (user prompt) in progress.
    pub task_id: Option<String>,
    /// Time of the last record with a timestamp.
    pub last_time: Option<i64>,
    /// Whether the session (or subagent) span was considered.
    pub started: bool,
    /// Tool calls waiting for their results.
    pub pending_tools: Vec<PendingTool>,
    /// Agent tool calls, for linking subagent transcripts to their task.
    pub agent_calls: Vec<AgentCall>,
    /// Last working directory seen.
    pub cwd: Option<String>,
    /// Last agent version seen.
    pub version: Option<String>,
    /// Last git branch seen.
    pub git_branch: Option<String>,
}

/// A subagent transcript's link to its parent session.
#[derive(Debug, Clone, Default)]
pub struct SubagentLink {
    /// The subagent's id.
    pub agent_id: String,
    /// Its `.meta.json`.
    pub meta: AgentMeta,
    /// The parent's task that spawned the subagent, when known.
    pub parent_task: Option<String>,
}

struct LlmInProgress {
    key_id: String,
    key: [u8; 16],
    span: Span,
    text: String,
    thinking: String,
    tool_ids: Vec<String>,
}

/// Maps the records of one file.
pub struct FileMapper<'p> {
    pricing: &'p PricingTable,
    file: String,
    file_session: Option<String>,
    subagent: Option<SubagentLink>,
    pub carry: Carry,
    llm: Option<LlmInProgress>,
    request_times: HashMap<String, i64>,
    /// Why the record being mapped could not be mapped (kept on its raw row).
    issue: Option<String>,
    /// Spans mapped and not yet offered to the sink, with their emit-once keys.
    out: SpanQueue,
}

fn text_of(content: &Option<Content<'_>>) -> String {
    match content {
        Some(Content::Text(t)) => t.to_string(),
        Some(Content::Blocks(blocks)) => {
            let mut out = String::new();
            for b in blocks {
                if b.ty.as_deref() == Some("text")
                    && let Some(t) = &b.text
                {
                    if !out.is_empty() {
                        out.push('\n');
                    }
                    out.push_str(t);
                }
            }
            out
        }
        None => String::new(),
    }
}

/// What kind of user message a prompt-shaped message is.
fn classify_prompt(text: &str, record: &Record<'_>) -> Option<&'static str> {
    let t = text.trim_start();
    if record.is_compact_summary == Some(true) {
        Some("compact_summary")
    } else if t.starts_with("[Request interrupted by user") {
        Some("interrupted")
    } else if record.is_meta == Some(true) {
        Some("meta")
    } else if t.starts_with("<task-notification>") {
        Some("task_notification")
    } else if t.starts_with("<local-command-stdout>") || t.starts_with("<local-command-stderr>") {
        Some("command_output")
    } else if t.starts_with("<system-reminder>") {
        Some("system_reminder")
    } else {
        None
    }
}

#[derive(Deserialize, Default)]
struct ToolInputFields<'a> {
    #[serde(borrow)]
    file_path: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    notebook_path: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    command: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    cmd: Option<std::borrow::Cow<'a, str>>,
}

/// "Exit code 2\n…" or "Error: Exit code 2\n…" → 2.
fn exit_code_from_output(text: &str) -> Option<i32> {
    let t = text.trim_start();
    let t = t.strip_prefix("Error: ").unwrap_or(t);
    let rest = t.strip_prefix("Exit code ")?;
    let digits: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '-')
        .collect();
    digits.parse().ok()
}

fn first_chars(text: &str, n: usize) -> String {
    match text.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

fn decision_of(text: &str) -> Option<Decision> {
    match text {
        "accept" | "allow" | "approved" | "allowed" => Some(Decision::Allow),
        "reject" | "deny" | "denied" | "rejected" | "block" => Some(Decision::Deny),
        "ask" | "prompt" => Some(Decision::Ask),
        _ => None,
    }
}

impl<'p> FileMapper<'p> {
    /// A mapper for `file` (its path as shown in `source_ref`), continuing from `carry`.
    pub fn new(
        pricing: &'p PricingTable,
        file: String,
        file_session: Option<String>,
        subagent: Option<SubagentLink>,
        carry: Carry,
    ) -> Self {
        Self {
            pricing,
            file,
            file_session,
            subagent,
            carry,
            llm: None,
            request_times: HashMap::new(),
            issue: None,
            out: SpanQueue::default(),
        }
    }

    fn session_span_id(session: &str) -> String {
        identity::session(session).span_id
    }

    fn agent_span_id(&self) -> Option<String> {
        self.subagent
            .as_ref()
            .map(|s| identity::agent(&s.agent_id).span_id)
    }

    /// The parent of spans under the current task (or the agent, in a subagent file).
    fn work_parent(&self, session: &str) -> String {
        if let Some(agent) = self.agent_span_id() {
            return agent;
        }
        self.carry
            .task_id
            .clone()
            .unwrap_or_else(|| Self::session_span_id(session))
    }

    fn work_task(&self) -> Option<String> {
        match &self.subagent {
            Some(link) => link.parent_task.clone(),
            None => self.carry.task_id.clone(),
        }
    }

    fn base_span(&self, id: String, session: &str, kind: SpanKind, start: i64, line: u64) -> Span {
        let mut s = Span::new(id, session, SOURCE, kind, start);
        s.trace_id = Some(crate::ids::trace_id(&["cc-trace", session]));
        s.source_ref = Some(format!("{}:{line}", self.file));
        s.agent = Some(SOURCE.to_string());
        s.agent_version = self.carry.version.clone();
        s.project = self.carry.cwd.clone();
        s.git_branch = self.carry.git_branch.clone();
        s.agent_id = self.subagent.as_ref().map(|a| a.agent_id.clone());
        s
    }

    /// Maps one line. Returns whether the line was malformed (the reason was reported).
    pub fn map_line(
        &mut self,
        line: &str,
        line_no: u64,
        offset: u64,
        sink: &mut RowSink,
        once: &mut dyn OnceFilter,
        stats: &mut ImportStats,
    ) -> Result<()> {
        let source_ref = format!("{}:{line_no}", self.file);
        let record: Record<'_> = match serde_json::from_str::<Record<'_>>(line) {
            Ok(r) => r,
            Err(e) => {
                let reason = match serde_json::from_str::<serde_json::Value>(line) {
                    Err(e) if e.is_eof() => format!("truncated JSON ({e})"),
                    Err(e) => format!("invalid JSON ({e})"),
                    Ok(serde_json::Value::Object(_)) => format!("unexpected record shape ({e})"),
                    Ok(_) => "a JSON value that is not an object".to_string(),
                };
                return self.malformed(line, line_no, offset, &source_ref, reason, sink, stats);
            }
        };
        let time = record.timestamp.as_deref().and_then(parse_time);
        if let Some(t) = time {
            self.carry.last_time = Some(t);
        }
        let session: Option<String> = record
            .session_id
            .as_deref()
            .map(str::to_string)
            .or_else(|| self.carry.session_id.clone())
            .or_else(|| self.file_session.clone());
        if let Some(s) = &session
            && self.carry.session_id.is_none()
        {
            self.carry.session_id = Some(s.clone());
        }
        if let Some(cwd) = &record.cwd {
            self.carry.cwd = Some(cwd.to_string());
        }
        if let Some(v) = &record.version {
            self.carry.version = Some(v.to_string());
        }
        if let Some(b) = &record.git_branch {
            self.carry.git_branch = Some(b.to_string());
        }
        let ty = record.ty.as_deref().unwrap_or("");
        stats.count_record(ty);
        let raw = RawRecord {
            source: SOURCE.to_string(),
            source_ref: source_ref.clone(),
            file: Some(self.file.clone()),
            line: Some(line_no as i64),
            byte_offset: Some(offset as i64),
            session_id: session.clone(),
            record_type: record.ty.as_deref().map(str::to_string),
            event_time: time
                .or(self.carry.last_time)
                .unwrap_or_else(|| sink.ingested_at()),
            record: line.to_string(),
            parse_error: None,
        };
        let mapped = matches!(
            ty,
            "user" | "assistant" | "system" | "summary" | "cost-state"
        );
        if !mapped {
            if ty == "api-request"
                && let (Some(id), Some(t)) = (&record.id, time)
            {
                self.request_times.insert(id.to_string(), t);
            }
            return self.push_raw(raw, sink);
        }
        let Some(session) = session else {
            self.reject(stats, line_no, format!("{ty} record without a session id"));
            return self.push_raw(raw, sink);
        };
        // Bookkeeping records (summary, cost-state) carry no timestamp: they happened after
        // the record before them.
        let fallback = if matches!(ty, "user" | "assistant") {
            None
        } else {
            self.carry.last_time
        };
        let Some(time) = time.or(fallback) else {
            self.reject(
                stats,
                line_no,
                format!("{ty} record without a valid timestamp"),
            );
            return self.push_raw(raw, sink);
        };
        self.ensure_started(&session, time, line_no, stats)?;
        match ty {
            "assistant" => self.assistant(&record, &session, time, line_no, stats)?,
            "user" => {
                self.finish_llm();
                self.user(&record, &session, time, line_no, stats)?
            }
            other => {
                self.finish_llm();
                self.event_record(other, &record, &session, time, line_no)?
            }
        }
        self.drain(sink, once, stats)?;
        self.push_raw(raw, sink)
    }

    /// Pushes a line's raw row, with the reason it could not be mapped, if any.
    fn push_raw(&mut self, mut raw: RawRecord, sink: &mut RowSink) -> Result<()> {
        raw.parse_error = self.issue.take();
        sink.push_raw(raw)
    }

    /// Records that the current line could not be mapped (it is still kept in `raw`).
    fn reject(&mut self, stats: &mut ImportStats, line_no: u64, reason: String) {
        stats.malformed(format!(
            "{}:{line_no}: {reason}; kept in raw only",
            self.file
        ));
        self.issue = Some(reason);
    }

    #[allow(clippy::too_many_arguments)]
    fn malformed(
        &mut self,
        line: &str,
        line_no: u64,
        offset: u64,
        source_ref: &str,
        reason: String,
        sink: &mut RowSink,
        stats: &mut ImportStats,
    ) -> Result<()> {
        stats.malformed(format!("{source_ref}: {reason}"));
        sink.push_raw(RawRecord {
            source: SOURCE.to_string(),
            source_ref: source_ref.to_string(),
            file: Some(self.file.clone()),
            line: Some(line_no as i64),
            byte_offset: Some(offset as i64),
            session_id: self
                .carry
                .session_id
                .clone()
                .or_else(|| self.file_session.clone()),
            record_type: None,
            event_time: self.carry.last_time.unwrap_or_else(|| sink.ingested_at()),
            record: line.to_string(),
            parse_error: Some(reason),
        })
    }

    /// The session span (main transcript) or agent span (subagent transcript), once.
    fn ensure_started(
        &mut self,
        session: &str,
        time: i64,
        line_no: u64,
        stats: &mut ImportStats,
    ) -> Result<()> {
        if self.carry.started {
            return Ok(());
        }
        self.carry.started = true;
        stats.sessions.insert(session.to_string());
        match self.subagent.clone() {
            None => {
                let mut s = self.base_span(
                    Self::session_span_id(session),
                    session,
                    SpanKind::Session,
                    time,
                    line_no,
                );
                s.name = Some("session".to_string());
                s.status = Status::Ok;
                self.emit(s, identity::session(session).key)
            }
            Some(link) => {
                let id = self.agent_span_id().unwrap_or_default();
                let mut s = self.base_span(id, session, SpanKind::Agent, time, line_no);
                s.name = Some(
                    link.meta
                        .agent_type
                        .clone()
                        .unwrap_or_else(|| "subagent".into()),
                );
                s.parent_span_id = Some(match &link.meta.tool_use_id {
                    Some(t) => identity::tool(t).span_id,
                    None => Self::session_span_id(session),
                });
                s.task_id = link.parent_task.clone();
                s.tool_call_id = link.meta.tool_use_id.clone();
                s.model = link.meta.model.clone();
                s.input_text = link.meta.description.clone();
                s.status = Status::Ok;
                s.attributes = serde_json::to_string(&link.meta).ok();
                self.emit(s, identity::agent(&link.agent_id).key)
            }
        }
    }

    /// Queues a span; [`FileMapper::drain`] offers it to the sink once per `key`.
    fn emit(&mut self, span: Span, key: [u8; 16]) -> Result<()> {
        self.out.push(span, key);
        Ok(())
    }

    /// Writes the queued spans whose keys the lake has not seen (a copied record or a
    /// re-read fragment never doubles a row), counting what was written.
    pub fn drain(
        &mut self,
        sink: &mut RowSink,
        once: &mut dyn OnceFilter,
        stats: &mut ImportStats,
    ) -> Result<()> {
        self.out.drain(sink, once, stats)
    }

    #[allow(clippy::too_many_arguments)]
    fn assistant(
        &mut self,
        record: &Record<'_>,
        session: &str,
        time: i64,
        line_no: u64,
        stats: &mut ImportStats,
    ) -> Result<()> {
        let Some(raw_message) = record.message else {
            self.reject(
                stats,
                line_no,
                "assistant record without a message".to_string(),
            );
            return Ok(());
        };
        let message: Message<'_> = match serde_json::from_str(raw_message.get()) {
            Ok(m) => m,
            Err(e) => {
                self.reject(
                    stats,
                    line_no,
                    format!("assistant message unreadable ({e})"),
                );
                return Ok(());
            }
        };
        let model = message.model.as_deref().unwrap_or("");
        if record.is_api_error_message == Some(true) || model == "<synthetic>" {
            self.finish_llm();
            let content = parse_content(message.content);
            let event_key = record_key(record, session, line_no);
            let event = identity::event(&event_key, "api_error");
            let id = event.span_id.clone();
            let mut s = self.base_span(id, session, SpanKind::Event, time, line_no);
            s.name = Some(
                if record.is_api_error_message == Some(true) {
                    "api_error"
                } else {
                    "synthetic_message"
                }
                .to_string(),
            );
            s.status = if record.is_api_error_message == Some(true) {
                Status::Error
            } else {
                Status::Ok
            };
            let text = text_of(&content);
            if s.status == Status::Error {
                s.error_message = Some(first_chars(&text, 500));
            }
            s.output_text = Some(text);
            s.parent_span_id = Some(self.work_parent(session));
            s.task_id = self.work_task();
            return self.emit(s, event.key);
        }
        let message_id = message
            .id
            .as_deref()
            .or(record.uuid.as_deref())
            .unwrap_or("")
            .to_string();
        let request_id = record.request_id.as_deref().unwrap_or("").to_string();
        let llm_id = identity::llm(Some(&request_id), &message_id);
        let key_id = llm_id.span_id.clone();
        let same = self.llm.as_ref().is_some_and(|l| l.key_id == key_id);
        if !same {
            self.finish_llm();
            let start = record
                .request_ref
                .as_deref()
                .and_then(|r| self.request_times.get(r).copied())
                .filter(|t| *t <= time)
                .unwrap_or(time);
            let mut s = self.base_span(key_id.clone(), session, SpanKind::Llm, start, line_no);
            s.name = Some(model.to_string());
            s.model = Some(model.to_string());
            s.provider = Some("anthropic".to_string());
            s.status = Status::Ok;
            s.stop_reason = message.stop_reason.as_deref().map(str::to_string);
            s.parent_span_id = Some(self.work_parent(session));
            s.task_id = self.work_task();
            s.end_time = Some(time);
            s.source_cost_usd = record.cost_usd;
            let usage = message.usage.unwrap_or_default();
            self.apply_usage(&mut s, model, &usage);
            let mut attrs = serde_json::Map::new();
            attrs.insert("message_id".into(), message_id.clone().into());
            if !request_id.is_empty() {
                attrs.insert("request_id".into(), request_id.clone().into());
            }
            if let Some(u) = &record.uuid {
                attrs.insert("uuid".into(), u.to_string().into());
            }
            if let Some(p) = &record.prompt_id {
                attrs.insert("prompt_id".into(), p.to_string().into());
            }
            if let Some(cc) = usage.cache_creation {
                attrs.insert(
                    "cache_write_5m_tokens".into(),
                    cc.ephemeral_5m_input_tokens.into(),
                );
                attrs.insert(
                    "cache_write_1h_tokens".into(),
                    cc.ephemeral_1h_input_tokens.into(),
                );
            }
            attrs.insert("pricing_version".into(), self.pricing.version().into());
            s.attributes = Some(crate::json::object_text(&attrs));
            self.llm = Some(LlmInProgress {
                key_id,
                key: llm_id.key,
                span: s,
                text: String::new(),
                thinking: String::new(),
                tool_ids: Vec::new(),
            });
        }
        let Some(llm) = self.llm.as_mut() else {
            return Ok(());
        };
        llm.span.end_time = Some(time.max(llm.span.end_time.unwrap_or(time)));
        if let Some(stop) = &message.stop_reason {
            llm.span.stop_reason = Some(stop.to_string());
        }
        let llm_span = llm.span.span_id.clone();
        let mut new_tools = Vec::new();
        if let Some(Content::Blocks(blocks)) = parse_content(message.content) {
            for b in blocks {
                match b.ty.as_deref() {
                    Some("text") => append_part(&mut llm.text, b.text.as_deref()),
                    Some("thinking") => append_part(&mut llm.thinking, b.thinking.as_deref()),
                    Some("tool_use") => {
                        if let Some(id) = b.id.as_deref() {
                            llm.tool_ids.push(id.to_string());
                            new_tools
                                .push(tool_from_block(&b, time, &llm_span, &self.file, line_no));
                        }
                    }
                    _ => {}
                }
            }
        } else if let Some(Content::Text(t)) = parse_content(message.content) {
            append_part(&mut llm.text, Some(&t));
        }
        let parent = self.work_parent(session);
        let task = self.work_task();
        for mut tool in new_tools {
            tool.parent = Some(parent.clone());
            tool.task_id = task.clone();
            if tool.name == "Agent" || tool.name == "Task" {
                self.carry.agent_calls.push(AgentCall {
                    tool_use_id: tool.id.clone(),
                    task_id: task.clone(),
                });
            }
            self.carry.pending_tools.retain(|p| p.id != tool.id);
            self.carry.pending_tools.push(tool);
        }
        Ok(())
    }

    fn apply_usage(&self, s: &mut Span, model: &str, usage: &Usage) {
        let (w5, w1) = match usage.cache_creation {
            Some(cc)
                if cc.ephemeral_5m_input_tokens + cc.ephemeral_1h_input_tokens
                    == usage.cache_creation_input_tokens =>
            {
                (cc.ephemeral_5m_input_tokens, cc.ephemeral_1h_input_tokens)
            }
            _ => (usage.cache_creation_input_tokens, 0),
        };
        s.input_tokens = Some(usage.input_tokens);
        s.output_tokens = Some(usage.output_tokens);
        s.cache_read_tokens = Some(usage.cache_read_input_tokens);
        s.cache_write_tokens = Some(usage.cache_creation_input_tokens);
        s.reasoning_tokens = usage.output_tokens_details.and_then(|d| d.thinking_tokens);
        s.cost_usd = self.pricing.cost(
            model,
            TokenUsage {
                input: usage.input_tokens,
                output: usage.output_tokens,
                cache_read: usage.cache_read_input_tokens,
                cache_write_5m: w5,
                cache_write_1h: w1,
            },
        );
    }

    /// Emits the model call whose fragments were being collected, if any.
    pub fn finish_llm(&mut self) {
        let Some(llm) = self.llm.take() else {
            return;
        };
        let mut s = llm.span;
        if !llm.text.is_empty() {
            s.output_text = Some(llm.text);
        }
        if !llm.thinking.is_empty() || !llm.tool_ids.is_empty() {
            let mut attrs: serde_json::Map<String, serde_json::Value> = s
                .attributes
                .as_deref()
                .and_then(|a| serde_json::from_str(a).ok())
                .unwrap_or_default();
            if !llm.thinking.is_empty() {
                attrs.insert("thinking".into(), llm.thinking.into());
            }
            if !llm.tool_ids.is_empty() {
                attrs.insert("tool_use_ids".into(), llm.tool_ids.into());
            }
            s.attributes = Some(crate::json::object_text(&attrs));
        }
        self.out.push(s, llm.key);
    }

    fn user(
        &mut self,
        record: &Record<'_>,
        session: &str,
        time: i64,
        line_no: u64,
        stats: &mut ImportStats,
    ) -> Result<()> {
        let Some(raw_message) = record.message else {
            self.reject(stats, line_no, "user record without a message".to_string());
            return Ok(());
        };
        let message: Message<'_> = match serde_json::from_str(raw_message.get()) {
            Ok(m) => m,
            Err(_) => {
                self.reject(
                    stats,
                    line_no,
                    "user record whose message is not an object".to_string(),
                );
                return Ok(());
            }
        };
        let content = parse_content(message.content);
        let results: Vec<&Block<'_>> = match &content {
            Some(Content::Blocks(blocks)) => blocks
                .iter()
                .filter(|b| b.ty.as_deref() == Some("tool_result"))
                .collect(),
            _ => Vec::new(),
        };
        if !results.is_empty() {
            for b in results {
                self.tool_result(record, b, session, time, line_no)?;
            }
            // Text beside tool results (interruptions) becomes an event.
            let text = text_of(&content);
            if !text.trim().is_empty() {
                let kind = classify_prompt(&text, record).unwrap_or("user_note");
                self.user_event(kind, text, record, session, time, line_no)?;
            }
            return Ok(());
        }
        let text = text_of(&content);
        if content.is_none() {
            self.reject(
                stats,
                line_no,
                "user message content of unknown shape".to_string(),
            );
            return Ok(());
        }
        if let Some(kind) = classify_prompt(&text, record) {
            return self.user_event(kind, text, record, session, time, line_no);
        }
        if self.subagent.is_some() {
            // A subagent's prompt: part of the parent's task, recorded as an event.
            return self.user_event("agent_prompt", text, record, session, time, line_no);
        }
        let task_key = record_key(record, session, line_no);
        let task = identity::task(record.prompt_id.as_deref(), &task_key);
        let id = task.span_id.clone();
        let mut s = self.base_span(id.clone(), session, SpanKind::Task, time, line_no);
        s.name = Some("prompt".to_string());
        s.status = Status::Ok;
        s.parent_span_id = Some(Self::session_span_id(session));
        s.task_id = Some(id.clone());
        s.input_text = Some(text);
        let mut attrs = serde_json::Map::new();
        for (k, v) in [
            ("uuid", &record.uuid),
            ("prompt_id", &record.prompt_id),
            ("permission_mode", &record.permission_mode),
            ("entrypoint", &record.entrypoint),
            ("user_type", &record.user_type),
        ] {
            if let Some(v) = v {
                attrs.insert(k.into(), v.to_string().into());
            }
        }
        s.attributes = Some(crate::json::object_text(&attrs));
        self.carry.task_id = Some(id);
        self.emit(s, task.key)
    }

    #[allow(clippy::too_many_arguments)]
    fn user_event(
        &mut self,
        kind: &str,
        text: String,
        record: &Record<'_>,
        session: &str,
        time: i64,
        line_no: u64,
    ) -> Result<()> {
        let key = record_key(record, session, line_no);
        let mut s = self.base_span(
            identity::event(&key, kind).span_id,
            session,
            SpanKind::Event,
            time,
            line_no,
        );
        s.name = Some(kind.to_string());
        s.status = Status::Ok;
        s.parent_span_id = Some(self.work_parent(session));
        s.task_id = self.work_task();
        s.input_text = Some(text);
        self.emit(s, identity::event(&key, kind).key)
    }

    #[allow(clippy::too_many_arguments)]
    fn tool_result(
        &mut self,
        record: &Record<'_>,
        block: &Block<'_>,
        session: &str,
        time: i64,
        line_no: u64,
    ) -> Result<()> {
        let Some(use_id) = block.tool_use_id.as_deref() else {
            return Ok(());
        };
        let pending = match self.carry.pending_tools.iter().position(|p| p.id == use_id) {
            Some(i) => self.carry.pending_tools.remove(i),
            None => PendingTool {
                id: use_id.to_string(),
                name: String::new(),
                input: String::new(),
                start: time,
                llm_span: None,
                task_id: self.work_task(),
                parent: Some(self.work_parent(session)),
                source_ref: format!("{}:{line_no}", self.file),
            },
        };
        let output = tool_result_text(block.content);
        let detail: ToolUseResult = record
            .tool_use_result
            .filter(|r| r.get().starts_with('{'))
            .and_then(|r| serde_json::from_str(r.get()).ok())
            .unwrap_or_default();
        let is_error = block.is_error.unwrap_or(false);
        let interrupted = detail.interrupted == Some(true);
        let mut s = self.base_span(
            identity::tool(use_id).span_id,
            session,
            SpanKind::Tool,
            pending.start,
            line_no,
        );
        s.source_ref = Some(pending.source_ref.clone());
        s.end_time = Some(time.max(pending.start));
        s.name = Some(if pending.name.is_empty() {
            "tool".to_string()
        } else {
            pending.name.clone()
        });
        s.tool_name = (!pending.name.is_empty()).then(|| pending.name.clone());
        s.tool_call_id = Some(use_id.to_string());
        s.parent_span_id = pending.parent.clone();
        s.task_id = pending.task_id.clone();
        s.caused_by = pending.llm_span.clone();
        s.is_error = Some(is_error || interrupted);
        s.status = if is_error || interrupted {
            Status::Error
        } else {
            Status::Ok
        };
        if is_error {
            s.error_message = Some(first_chars(&output, 500));
        } else if interrupted {
            s.error_message = Some("interrupted by the user".to_string());
        }
        let fields: ToolInputFields<'_> = serde_json::from_str(&pending.input).unwrap_or_default();
        let path = fields
            .file_path
            .or(fields.notebook_path)
            .map(|p| p.to_string());
        match pending.name.as_str() {
            "Read" | "NotebookRead" => s.files_read.extend(path),
            "Write" | "Edit" | "MultiEdit" | "NotebookEdit" => s.files_written.extend(path),
            _ => {}
        }
        if let Some(cmd) = fields.command.or(fields.cmd) {
            s.command = Some(cmd.to_string());
            s.exit_code = detail.exit_code.or(if interrupted {
                None
            } else if is_error {
                exit_code_from_output(&output)
            } else {
                Some(0)
            });
        }
        if !pending.input.is_empty() {
            s.tool_input = Some(pending.input.clone());
        }
        s.tool_output = Some(output);
        let decision: Option<PermissionDecision<'_>> = record
            .permission_decision
            .and_then(|r| serde_json::from_str(r.get()).ok());
        if let Some(d) = &decision {
            s.decision = d.decision.as_deref().and_then(decision_of);
            s.decision_source = d.source.as_deref().map(str::to_string);
            s.rule = d
                .rule_source
                .as_deref()
                .or(d.reason_type.as_deref())
                .or(d.reason_code.as_deref())
                .map(str::to_string);
        }
        let permission = decision.as_ref().map(|d| {
            let mut p = self.base_span(
                identity::permission(use_id).span_id,
                session,
                SpanKind::Permission,
                time,
                line_no,
            );
            p.name = s.tool_name.clone();
            p.tool_name = s.tool_name.clone();
            p.tool_call_id = Some(use_id.to_string());
            p.parent_span_id = Some(s.span_id.clone());
            p.task_id = s.task_id.clone();
            p.decision = s.decision;
            p.decision_source = s.decision_source.clone();
            p.rule = s.rule.clone();
            p.status = if s.decision == Some(Decision::Deny) {
                Status::Error
            } else {
                Status::Ok
            };
            if p.status == Status::Error {
                p.error_message =
                    Some(first_chars(&s.tool_output.clone().unwrap_or_default(), 500));
            }
            let mut attrs = serde_json::Map::new();
            if let Some(raw) = record.permission_decision
                && let Ok(v) = serde_json::from_str::<serde_json::Value>(raw.get())
            {
                attrs.insert("permission_decision".into(), v);
            }
            if let Some(k) = &record.tool_denial_kind {
                attrs.insert("tool_denial_kind".into(), k.to_string().into());
            }
            if let Some(d) = &d.decision {
                attrs.insert("source_decision".into(), d.to_string().into());
            }
            p.attributes = Some(crate::json::object_text(&attrs));
            p
        });
        self.emit(s, identity::tool(use_id).key)?;
        if let Some(p) = permission {
            self.emit(p, identity::permission(use_id).key)?;
        }
        Ok(())
    }

    fn event_record(
        &mut self,
        ty: &str,
        record: &Record<'_>,
        session: &str,
        time: i64,
        line_no: u64,
    ) -> Result<()> {
        let key = record_key(record, session, line_no);
        let mut s = self.base_span(
            identity::event(&key, ty).span_id,
            session,
            SpanKind::Event,
            time,
            line_no,
        );
        s.status = Status::Ok;
        s.parent_span_id = Some(self.work_parent(session));
        s.task_id = self.work_task();
        match ty {
            "system" => {
                let subtype = record.subtype.as_deref().unwrap_or("message");
                s.name = Some(if subtype == "compact_boundary" {
                    "compact".to_string()
                } else {
                    format!("system:{subtype}")
                });
                s.output_text = record.content.map(|c| tool_result_text(Some(c)));
                s.attributes = record
                    .compact_metadata
                    .map(|m| format!("{{\"compact_metadata\":{}}}", m.get()));
            }
            "summary" => {
                s.name = Some("summary".to_string());
                s.output_text = record.summary.as_deref().map(str::to_string);
                s.attributes = record
                    .leaf_uuid
                    .as_deref()
                    .map(|l| serde_json::json!({ "leaf_uuid": l }).to_string());
            }
            "cost-state" => {
                s.name = Some("cost-state".to_string());
                s.source_cost_usd = record.total_cost_usd;
            }
            _ => s.name = Some(ty.to_string()),
        }
        self.emit(s, identity::event(&key, ty).key)
    }

    /// Writes tool calls that waited longer than [`ORPHAN_TOOL_AFTER_MICROS`] without a result.
    pub fn flush_orphans(&mut self, now: i64) -> Result<()> {
        let session = self
            .carry
            .session_id
            .clone()
            .or_else(|| self.file_session.clone())
            .unwrap_or_default();
        let (old, keep): (Vec<PendingTool>, Vec<PendingTool>) =
            std::mem::take(&mut self.carry.pending_tools)
                .into_iter()
                .partition(|p| now - p.start > ORPHAN_TOOL_AFTER_MICROS);
        self.carry.pending_tools = keep;
        for p in old {
            let line: u64 = p
                .source_ref
                .rsplit(':')
                .next()
                .and_then(|l| l.parse().ok())
                .unwrap_or(0);
            let mut s = self.base_span(
                identity::tool(&p.id).span_id,
                &session,
                SpanKind::Tool,
                p.start,
                line,
            );
            s.source_ref = Some(p.source_ref.clone());
            s.name = Some(p.name.clone());
            s.tool_name = Some(p.name.clone());
            s.tool_call_id = Some(p.id.clone());
            s.parent_span_id = p.parent.clone();
            s.task_id = p.task_id.clone();
            s.caused_by = p.llm_span.clone();
            s.tool_input = Some(p.input.clone());
            s.status = Status::Unset;
            s.error_message = Some("no tool_result was recorded for this call".to_string());
            self.emit(s, identity::tool(&p.id).key)?;
        }
        Ok(())
    }
}

/// The source's identity of a record: its `uuid`, else its session and line (records without
/// a uuid, like `cost-state` and `summary`, are still stable across re-reads of the file).
fn record_key(record: &Record<'_>, session: &str, line_no: u64) -> String {
    record
        .uuid
        .as_deref()
        .map(str::to_string)
        .unwrap_or_else(|| format!("{session}:{line_no}"))
}

fn append_part(buf: &mut String, part: Option<&str>) {
    if let Some(p) = part {
        if !buf.is_empty() {
            buf.push('\n');
        }
        buf.push_str(p);
    }
}

fn tool_from_block(
    b: &Block<'_>,
    time: i64,
    llm_span: &str,
    file: &str,
    line_no: u64,
) -> PendingTool {
    PendingTool {
        id: b.id.as_deref().unwrap_or_default().to_string(),
        name: b.name.as_deref().unwrap_or_default().to_string(),
        input: b
            .input
            .map(|i: &RawValue| i.get().to_string())
            .unwrap_or_default(),
        start: time,
        llm_span: Some(llm_span.to_string()),
        task_id: None,
        parent: None,
        source_ref: format!("{file}:{line_no}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_parse_from_claude_error_text() {
        assert_eq!(
            exit_code_from_output("Exit code 2\nsh: 0: cannot open"),
            Some(2)
        );
        assert_eq!(
            exit_code_from_output("Error: Exit code 127\nnot found"),
            Some(127)
        );
        assert_eq!(exit_code_from_output("permission denied"), None);
    }

    #[test]
    fn prompts_are_classified() {
        let r: Record<'_> = serde_json::from_str(r#"{"type":"user"}"#).unwrap();
        assert_eq!(
            classify_prompt("[Request interrupted by user for tool use]", &r),
            Some("interrupted")
        );
        assert_eq!(
            classify_prompt("<task-notification>x", &r),
            Some("task_notification")
        );
        assert_eq!(classify_prompt("fix the bug", &r), None);
        let meta: Record<'_> = serde_json::from_str(r#"{"type":"user","isMeta":true}"#).unwrap();
        assert_eq!(classify_prompt("Caveat: ...", &meta), Some("meta"));
    }

    #[test]
    fn decisions_map() {
        assert_eq!(decision_of("accept"), Some(Decision::Allow));
        assert_eq!(decision_of("reject"), Some(Decision::Deny));
        assert_eq!(decision_of("weird"), None);
    }
}
