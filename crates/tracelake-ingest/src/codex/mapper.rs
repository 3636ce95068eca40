//! Mapping Codex rollout records onto the span model, one file at a time.
//!
//! A rollout is read in order; what the mapping needs across lines (the session, the turn and
//! task in progress, the model, the running token totals, tool calls waiting for their
//! output) is a [`Carry`] committed with the file's offset, so an incremental import
//! continues exactly where the last one stopped.
//!
//! - session: `session_meta` (id, cwd, CLI version, git branch, originator);
//! - task: each user prompt (`response_item` user message, `event_msg` `user_message` or
//!   `item_completed` `UserMessage`: one row however many of them say it); injected context
//!   (`<environment_context>`, AGENTS.md) becomes a `context` event;
//! - llm: one row per `token_count` event's `last_token_usage` (a repeated event with the
//!   same running totals is the same call, ADR 0005); the model comes from the event, else
//!   `turn_context` / `thread_settings_applied`; input is stored without the cached tokens,
//!   which are counted once, as cache reads; reasoning tokens are kept apart (and stay part of
//!   the output tokens, as billed);
//! - tool: `function_call` / `custom_tool_call` / `local_shell_call` joined with its
//!   `*_output` by `call_id` (command, exit status from `exec_command_end`, `item_completed`
//!   or the output's own header, output text, duration); `web_search_call` on its own;
//! - event: agent messages, reasoning summaries, turn completions, aborted turns (as
//!   `interrupted`), errors, compactions.
//!
//! Everything else lands only in `raw` (every line does, mapped or not).

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use tracelake_model::{PricingTable, RawRecord, Result, Span, SpanKind, Status, TokenUsage};

use super::identity;
use super::record::{
    Action, Compacted, EventMsg, Item, PayloadType, Record, ResponseItem, SessionMeta,
    ThreadSettingsApplied, TokenCount, TokenUsageRecord, TurnContext, Usage, duration_ms,
    exit_code_in_output, parse_time, parts_text, tool_output,
};
use crate::jsonl::SpanQueue;
use crate::sink::{OnceFilter, RowSink};
use crate::stats::ImportStats;

/// The source name of every row this importer writes (and the `agent`).
pub const SOURCE: &str = "codex";

const MICROS_PER_DAY: i64 = 86_400 * 1_000_000;

/// How long a tool call may wait for its output before it is written without one.
pub const ORPHAN_TOOL_AFTER_MICROS: i64 = 3_600 * 1_000_000;

/// A tool call seen without its output yet.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PendingTool {
    /// `call_id`.
    pub call_id: String,
    /// Tool name (`exec_command`, `shell`, `apply_patch`, …).
    pub name: String,
    /// Arguments, JSON text.
    pub input: String,
    /// The shell command, for shell tools.
    pub command: Option<String>,
    /// Files a patch adds, updates or deletes.
    pub files_written: Vec<String>,
    /// When it was asked for (µs).
    pub start: i64,
    /// The model call that asked for it.
    pub llm_span: Option<String>,
    /// Its task.
    pub task_id: Option<String>,
    /// Its parent span.
    pub parent: Option<String>,
    /// Where the call was.
    pub source_ref: String,
    /// Exit code reported before the output (`exec_command_end`, `item_completed`).
    pub exit_code: Option<i64>,
    /// Execution time Codex measured, ms.
    pub exec_ms: Option<i64>,
    /// Reported as failed before the output (`patch_apply_end` with `success: false`).
    pub failed: bool,
}

/// A `token_usage_record` waiting for its `token_count` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NextCall {
    /// The response id.
    pub response_id: Option<String>,
    /// The response's usage.
    pub usage: Usage,
}

/// What the mapping of one rollout carries from one line (and one import) to the next.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Carry {
    /// The rollout's session.
    pub session_id: Option<String>,
    /// Whether the session span was considered.
    pub started: bool,
    /// Time of the last record with a timestamp.
    pub last_time: Option<i64>,
    /// Working directory.
    pub cwd: Option<String>,
    /// CLI version.
    pub version: Option<String>,
    /// Git branch.
    pub git_branch: Option<String>,
    /// Current model.
    pub model: Option<String>,
    /// Current turn.
    pub turn_id: Option<String>,
    /// When the current turn started.
    pub turn_start: Option<i64>,
    /// Span id of the task (user prompt) in progress.
    pub task_id: Option<String>,
    /// When the next model call started (the last prompt, model call or tool output).
    pub call_start: Option<i64>,
    /// The session's running token totals after the last model call.
    pub totals: Option<Usage>,
    /// A response's usage seen ahead of its `token_count`.
    pub next_call: Option<NextCall>,
    /// Agent message text since the last model call (its output).
    pub output_text: String,
    /// Reasoning summary text since the last model call.
    pub reasoning_text: String,
    /// Tool calls asked for since the last model call.
    pub tool_ids: Vec<String>,
    /// Identities of messages seen since the last model call (Codex writes a message as a
    /// `response_item` and again as an event).
    pub seen: Vec<String>,
    /// Tool calls waiting for their output.
    pub pending_tools: Vec<PendingTool>,
}

/// Maps the records of one rollout file.
pub struct FileMapper {
    pricing: &'static PricingTable,
    file: String,
    file_session: Option<String>,
    /// The carry-over state.
    pub carry: Carry,
    /// Why the record being mapped could not be mapped (kept on its raw row).
    issue: Option<String>,
    out: SpanQueue,
}

/// The session id in a rollout's file name (`rollout-<timestamp>-<uuid>.jsonl`).
pub fn session_from_file_name(stem: &str) -> Option<String> {
    let tail = stem.get(stem.len().checked_sub(36)?..)?;
    let is_uuid = tail.len() == 36
        && tail.chars().enumerate().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        });
    is_uuid.then(|| tail.to_string())
}

/// A shell command from tool arguments: `cmd` (unified exec) or `command` (a string, or an
/// argv whose `bash -lc SCRIPT` form is shown as the script).
fn command_of(args: &Value) -> Option<String> {
    match args.get("cmd").or_else(|| args.get("command"))? {
        Value::String(c) => Some(c.clone()),
        Value::Array(parts) => {
            let argv: Vec<&str> = parts.iter().filter_map(Value::as_str).collect();
            Some(argv_command(&argv))
        }
        _ => None,
    }
}

fn argv_command(argv: &[&str]) -> String {
    match argv {
        [shell, flag, script]
            if (shell.ends_with("bash") || shell.ends_with("sh") || shell.ends_with("zsh"))
                && (*flag == "-lc" || *flag == "-c") =>
        {
            (*script).to_string()
        }
        _ => argv.join(" "),
    }
}

/// The files an `apply_patch` patch touches (`*** Add File: p`, `*** Update File: p`,
/// `*** Delete File: p`, `*** Move to: p`).
fn patch_files(patch: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in patch.lines() {
        for marker in [
            "*** Add File: ",
            "*** Update File: ",
            "*** Delete File: ",
            "*** Move to: ",
        ] {
            if let Some(p) = line.strip_prefix(marker) {
                let p = p.trim().to_string();
                if !p.is_empty() && !out.contains(&p) {
                    out.push(p);
                }
            }
        }
    }
    out
}

/// Injected context in a user-role message: its kind, or None for a typed prompt.
fn context_kind(text: &str) -> Option<String> {
    let t = text.trim_start();
    if t.starts_with("# AGENTS.md instructions") {
        return Some("agents_md".to_string());
    }
    let rest = t.strip_prefix('<')?;
    let end = rest.find('>')?;
    let tag = rest.get(..end)?;
    let tag = tag.split_whitespace().next().unwrap_or(tag);
    (!tag.is_empty()
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
    .then(|| tag.to_string())
}

fn first_chars(text: &str, n: usize) -> String {
    match text.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", text.get(..i).unwrap_or(text)),
        None => text.to_string(),
    }
}

fn digest(text: &str) -> String {
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(text.as_bytes()))
}

fn append(buf: &mut String, text: &str) {
    if !buf.is_empty() {
        buf.push('\n');
    }
    buf.push_str(text);
}

impl FileMapper {
    /// A mapper for `file` (its path as shown in `source_ref`), continuing from `carry`;
    /// `file_session` is the session id in the file's name, used until `session_meta` says.
    pub fn new(
        pricing: &'static PricingTable,
        file: String,
        file_session: Option<String>,
        carry: Carry,
    ) -> Self {
        Self {
            pricing,
            file,
            file_session,
            carry,
            issue: None,
            out: SpanQueue::default(),
        }
    }

    fn session(&self) -> Option<String> {
        self.carry
            .session_id
            .clone()
            .or_else(|| self.file_session.clone())
    }

    fn session_span_id(session: &str) -> String {
        identity::session(session).span_id
    }

    /// The parent of spans under the current task.
    fn work_parent(&self, session: &str) -> String {
        self.carry
            .task_id
            .clone()
            .unwrap_or_else(|| Self::session_span_id(session))
    }

    /// The running totals as text (part of identities of things between two model calls).
    fn totals_key(&self) -> String {
        self.carry.totals.unwrap_or_default().key()
    }

    fn base_span(&self, id: String, session: &str, kind: SpanKind, start: i64, line: u64) -> Span {
        let mut s = Span::new(id, session, SOURCE, kind, start);
        s.trace_id = Some(crate::ids::trace_id(&["codex-trace", session]));
        s.source_ref = Some(format!("{}:{line}", self.file));
        s.agent = Some(SOURCE.to_string());
        s.agent_version = self.carry.version.clone();
        s.project = self.carry.cwd.clone();
        s.git_branch = self.carry.git_branch.clone();
        s.status = Status::Ok;
        s
    }

    /// An event span under the current task.
    #[expect(
        clippy::too_many_arguments,
        reason = "the parts of one event row, all needed"
    )]
    fn event(
        &mut self,
        name: &str,
        key: &str,
        session: &str,
        time: i64,
        line_no: u64,
        input: Option<String>,
        output: Option<String>,
    ) -> Span {
        let id = identity::event(session, key, name);
        let mut s = self.base_span(id.span_id, session, SpanKind::Event, time, line_no);
        s.name = Some(name.to_string());
        s.parent_span_id = Some(self.work_parent(session));
        s.task_id = self.carry.task_id.clone();
        s.input_text = input;
        s.output_text = output;
        s
    }

    fn emit(&mut self, span: Span, key: [u8; 16]) {
        self.out.push(span, key);
    }

    fn emit_event(&mut self, span: Span, key: &str) {
        let name = span.name.clone().unwrap_or_default();
        let session = span.session_id.clone();
        self.emit(span, identity::event(&session, key, &name).key);
    }

    /// Writes the queued spans the lake has not seen, counting what was written.
    pub fn drain(
        &mut self,
        sink: &mut RowSink,
        once: &mut dyn OnceFilter,
        stats: &mut ImportStats,
    ) -> Result<()> {
        self.out.drain(sink, once, stats)
    }

    /// Records that the current line could not be mapped (it is still kept in `raw`).
    fn reject(&mut self, stats: &mut ImportStats, line_no: u64, reason: String) {
        stats.malformed(format!(
            "{}:{line_no}: {reason}; kept in raw only",
            self.file
        ));
        self.issue = Some(reason);
    }

    /// Decodes a payload, or rejects the line.
    fn payload<'a, T: Deserialize<'a>>(
        &mut self,
        raw: Option<&'a RawValue>,
        what: &str,
        stats: &mut ImportStats,
        line_no: u64,
    ) -> Option<T> {
        let Some(raw) = raw else {
            self.reject(stats, line_no, format!("{what} record without a payload"));
            return None;
        };
        match serde_json::from_str(raw.get()) {
            Ok(p) => Some(p),
            Err(e) => {
                self.reject(stats, line_no, format!("{what} payload unreadable ({e})"));
                None
            }
        }
    }

    /// Maps one line.
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
                let reason = match serde_json::from_str::<Value>(line) {
                    Err(e) if e.is_eof() => format!("truncated JSON ({e})"),
                    Err(e) => format!("invalid JSON ({e})"),
                    Ok(Value::Object(_)) => format!("unexpected record shape ({e})"),
                    Ok(_) => "a JSON value that is not an object".to_string(),
                };
                stats.malformed(format!("{source_ref}: {reason}"));
                return sink.push_raw(RawRecord {
                    source: SOURCE.to_string(),
                    source_ref,
                    file: Some(self.file.clone()),
                    line: Some(line_no as i64),
                    byte_offset: Some(offset as i64),
                    session_id: self.session(),
                    record_type: None,
                    event_time: self.carry.last_time.unwrap_or_else(|| sink.ingested_at()),
                    record: line.to_string(),
                    parse_error: Some(reason),
                });
            }
        };
        let ts = record.timestamp.as_deref().unwrap_or("").to_string();
        let time = parse_time(&ts);
        if let Some(t) = time {
            self.carry.last_time = Some(t);
        }
        let ty = record.ty.as_deref().unwrap_or("").to_string();
        let sub = match ty.as_str() {
            "response_item" | "event_msg" => record
                .payload
                .and_then(|p| serde_json::from_str::<PayloadType<'_>>(p.get()).ok())
                .and_then(|p| p.ty.map(|t| t.into_owned())),
            _ => None,
        };
        match &sub {
            Some(s) => stats.count_record(&format!("{ty}:{s}")),
            None => stats.count_record(&ty),
        }
        if ty == "session_meta"
            && self.carry.session_id.is_none()
            && let Some(meta) = record
                .payload
                .and_then(|p| serde_json::from_str::<SessionMeta<'_>>(p.get()).ok())
            && let Some(id) = meta.id.or(meta.session_id)
        {
            self.carry.session_id = Some(id.into_owned());
        }
        let session = self.session();
        let raw = RawRecord {
            source: SOURCE.to_string(),
            source_ref,
            file: Some(self.file.clone()),
            line: Some(line_no as i64),
            byte_offset: Some(offset as i64),
            session_id: session.clone(),
            record_type: Some(match &sub {
                Some(s) => format!("{ty}:{s}"),
                None => ty.clone(),
            })
            .filter(|t| !t.is_empty()),
            event_time: time
                .or(self.carry.last_time)
                .unwrap_or_else(|| sink.ingested_at()),
            record: line.to_string(),
            parse_error: None,
        };
        let mapped = matches!(
            (ty.as_str(), sub.as_deref()),
            (
                "session_meta" | "turn_context" | "token_usage_record" | "compacted",
                _
            ) | (
                "response_item",
                Some(
                    "message"
                        | "reasoning"
                        | "function_call"
                        | "custom_tool_call"
                        | "local_shell_call"
                        | "web_search_call"
                        | "function_call_output"
                        | "custom_tool_call_output"
                )
            ) | (
                "event_msg",
                Some(
                    "token_count"
                        | "user_message"
                        | "agent_message"
                        | "agent_reasoning"
                        | "exec_command_end"
                        | "patch_apply_end"
                        | "task_started"
                        | "task_complete"
                        | "turn_aborted"
                        | "error"
                        | "thread_settings_applied"
                        | "item_completed"
                )
            )
        );
        if !mapped {
            return self.push_raw(raw, sink);
        }
        let Some(session) = session else {
            self.reject(stats, line_no, format!("{ty} record without a session id"));
            return self.push_raw(raw, sink);
        };
        let Some(time) = time.or(self.carry.last_time) else {
            self.reject(
                stats,
                line_no,
                format!("{ty} record without a valid timestamp"),
            );
            return self.push_raw(raw, sink);
        };
        let payload = record.payload;
        match (ty.as_str(), sub.as_deref()) {
            ("session_meta", _) => self.session_meta(payload, &session, time, line_no, stats),
            ("turn_context", _) => {
                if let Some(tc) = self.payload::<TurnContext<'_>>(payload, &ty, stats, line_no) {
                    if let Some(m) = tc.model {
                        self.carry.model = Some(m.into_owned());
                    }
                    if let Some(c) = tc.cwd {
                        self.carry.cwd = Some(c.into_owned());
                    }
                    if let Some(t) = tc.turn_id {
                        self.carry.turn_id = Some(t.into_owned());
                    }
                }
            }
            ("token_usage_record", _) => self.usage_record(payload, &session, stats, line_no),
            ("compacted", _) => {
                if let Some(c) = self.payload::<Compacted<'_>>(payload, &ty, stats, line_no) {
                    self.ensure_started(&session, time, line_no, stats);
                    let span = self.event(
                        "compact",
                        &ts,
                        &session,
                        time,
                        line_no,
                        None,
                        c.message.map(|m| m.into_owned()),
                    );
                    self.emit_event(span, &ts);
                }
            }
            ("response_item", Some(kind)) => {
                if let Some(item) = self.payload::<ResponseItem<'_>>(payload, kind, stats, line_no)
                {
                    self.ensure_started(&session, time, line_no, stats);
                    self.response_item(kind, &item, &session, time, line_no, stats);
                }
            }
            ("event_msg", Some("token_count")) => {
                if let Some(tc) =
                    self.payload::<TokenCount<'_>>(payload, "token_count", stats, line_no)
                {
                    self.ensure_started(&session, time, line_no, stats);
                    self.token_count(&tc, &session, time, line_no);
                }
            }
            ("event_msg", Some("thread_settings_applied")) => {
                if let Some(t) = self.payload::<ThreadSettingsApplied>(
                    payload,
                    "thread_settings_applied",
                    stats,
                    line_no,
                ) && let Some(settings) = t.thread_settings
                {
                    if let Some(m) = settings.model {
                        self.carry.model = Some(m);
                    }
                    if let Some(c) = settings.cwd {
                        self.carry.cwd = Some(c);
                    }
                }
            }
            ("event_msg", Some(kind)) => {
                if let Some(ev) = self.payload::<EventMsg<'_>>(payload, kind, stats, line_no) {
                    self.ensure_started(&session, time, line_no, stats);
                    self.event_msg(kind, &ev, &ts, &session, time, line_no, stats);
                }
            }
            _ => {}
        }
        self.drain(sink, once, stats)?;
        self.push_raw(raw, sink)
    }

    fn push_raw(&mut self, mut raw: RawRecord, sink: &mut RowSink) -> Result<()> {
        raw.parse_error = self.issue.take();
        sink.push_raw(raw)
    }

    /// The session span, once (with what `session_meta` says when it comes first, as it
    /// does in every rollout the CLI writes).
    fn ensure_started(&mut self, session: &str, time: i64, line_no: u64, stats: &mut ImportStats) {
        if self.carry.started {
            return;
        }
        self.carry.started = true;
        stats.sessions.insert(session.to_string());
        let id = identity::session(session);
        let mut s = self.base_span(id.span_id, session, SpanKind::Session, time, line_no);
        s.name = Some("session".to_string());
        self.emit(s, id.key);
    }

    fn session_meta(
        &mut self,
        payload: Option<&RawValue>,
        session: &str,
        time: i64,
        line_no: u64,
        stats: &mut ImportStats,
    ) {
        let Some(meta) = self.payload::<SessionMeta<'_>>(payload, "session_meta", stats, line_no)
        else {
            return;
        };
        let id_here = meta.id.as_deref().or(meta.session_id.as_deref());
        if self.carry.started || id_here.is_some_and(|i| i != session) {
            // A later session_meta (a resumed or forked rollout repeats its origin's): kept
            // in raw.
            return;
        }
        if let Some(c) = &meta.cwd {
            self.carry.cwd = Some(c.to_string());
        }
        if let Some(v) = &meta.cli_version {
            self.carry.version = Some(v.to_string());
        }
        if let Some(b) = meta.git.as_ref().and_then(|g| g.branch.clone()) {
            self.carry.git_branch = Some(b);
        }
        self.carry.started = true;
        stats.sessions.insert(session.to_string());
        let id = identity::session(session);
        let mut s = self.base_span(id.span_id, session, SpanKind::Session, time, line_no);
        s.name = Some("session".to_string());
        s.provider = meta.model_provider.as_deref().map(str::to_string);
        let mut attrs = Map::new();
        if let Some(o) = &meta.originator {
            attrs.insert("originator".into(), o.to_string().into());
        }
        if let Some(src) = meta
            .source
            .and_then(|r| serde_json::from_str::<Value>(r.get()).ok())
        {
            attrs.insert("source".into(), src);
        }
        if let Some(p) = &meta.model_provider {
            attrs.insert("model_provider".into(), p.to_string().into());
        }
        if let Some(g) = &meta.git
            && let Ok(v) = serde_json::to_value(g)
        {
            attrs.insert("git".into(), v);
        }
        s.attributes = Some(crate::json::object_text(&attrs));
        self.emit(s, id.key);
    }

    fn response_item(
        &mut self,
        kind: &str,
        item: &ResponseItem<'_>,
        session: &str,
        time: i64,
        line_no: u64,
        stats: &mut ImportStats,
    ) {
        match kind {
            "message" => {
                let text = parts_text(item.content).unwrap_or_default();
                match item.role.as_deref() {
                    Some("user") => self.prompt(text, session, time, line_no),
                    Some("assistant") => self.agent_message(text, session, time, line_no),
                    // developer / system instructions: raw only.
                    _ => {}
                }
            }
            "reasoning" => {
                let mut text = parts_text(item.summary).unwrap_or_default();
                if let Some(content) = parts_text(item.content) {
                    append(&mut text, &content);
                }
                self.reasoning(text, session, time, line_no);
            }
            "function_call" | "custom_tool_call" | "local_shell_call" => {
                let Some(call_id) = item.call_id.as_deref().or(item.id.as_deref()) else {
                    self.reject(stats, line_no, format!("{kind} without a call_id"));
                    return;
                };
                let mut tool = PendingTool {
                    call_id: call_id.to_string(),
                    name: item.name.as_deref().unwrap_or(kind).to_string(),
                    start: time,
                    task_id: self.carry.task_id.clone(),
                    parent: Some(self.work_parent(session)),
                    source_ref: format!("{}:{line_no}", self.file),
                    ..PendingTool::default()
                };
                match kind {
                    "function_call" => {
                        let args = item.arguments.as_deref().unwrap_or("");
                        tool.input = args.to_string();
                        let v: Value = serde_json::from_str(args).unwrap_or_default();
                        tool.command = command_of(&v);
                        if let Some(patch) = v.get("input").and_then(Value::as_str) {
                            tool.files_written = patch_files(patch);
                        }
                    }
                    "custom_tool_call" => {
                        let input = item.input.as_deref().unwrap_or("");
                        tool.input = Value::String(input.to_string()).to_string();
                        tool.files_written = patch_files(input);
                    }
                    _ => {
                        tool.name = "local_shell".to_string();
                        if let Some(a) = item.action {
                            tool.input = a.get().to_string();
                            let action: Action = serde_json::from_str(a.get()).unwrap_or_default();
                            if let Some(argv) = action.command {
                                let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
                                tool.command = Some(argv_command(&argv));
                            }
                        }
                    }
                }
                self.carry.tool_ids.push(tool.call_id.clone());
                self.carry
                    .pending_tools
                    .retain(|p| p.call_id != tool.call_id);
                self.carry.pending_tools.push(tool);
            }
            "web_search_call" => {
                let action: Action = item
                    .action
                    .and_then(|a| serde_json::from_str(a.get()).ok())
                    .unwrap_or_default();
                let key = item.id.as_deref().map(str::to_string).unwrap_or_else(|| {
                    format!(
                        "{}:{}",
                        self.totals_key(),
                        digest(item.action.map(RawValue::get).unwrap_or(""))
                    )
                });
                let id = identity::tool(session, &key);
                let mut s = self.base_span(id.span_id, session, SpanKind::Tool, time, line_no);
                s.name = Some("web_search".to_string());
                s.tool_name = Some("web_search".to_string());
                s.tool_call_id = item.id.as_deref().map(str::to_string);
                s.tool_input = item.action.map(|a| a.get().to_string());
                s.input_text = action.query.or(action.url);
                s.parent_span_id = Some(self.work_parent(session));
                s.task_id = self.carry.task_id.clone();
                s.end_time = Some(time);
                if item.status.as_deref() == Some("failed") {
                    s.status = Status::Error;
                    s.is_error = Some(true);
                } else {
                    s.is_error = Some(false);
                }
                self.emit(s, id.key);
            }
            // function_call_output, custom_tool_call_output
            _ => {
                let Some(call_id) = item.call_id.as_deref() else {
                    self.reject(stats, line_no, format!("{kind} without a call_id"));
                    return;
                };
                self.tool_output(call_id, item.output, session, time, line_no);
            }
        }
    }

    /// A user-role message: a prompt (a task), or injected context (an event).
    fn prompt(&mut self, text: String, session: &str, time: i64, line_no: u64) {
        if let Some(kind) = context_kind(&text) {
            let key = format!("{}:{}", self.totals_key(), digest(&text));
            let mut span = self.event("context", &key, session, time, line_no, Some(text), None);
            span.attributes = Some(serde_json::json!({ "context": kind }).to_string());
            self.emit_event(span, &key);
            return;
        }
        let turn = self
            .carry
            .turn_id
            .clone()
            .unwrap_or_else(|| format!("before:{}", self.totals_key()));
        let id = identity::task(session, &turn, &text);
        if self.carry.task_id.as_deref() == Some(id.span_id.as_str()) {
            return; // the same prompt again (an event repeating the message)
        }
        let mut s = self.base_span(id.span_id.clone(), session, SpanKind::Task, time, line_no);
        s.name = Some("prompt".to_string());
        s.parent_span_id = Some(Self::session_span_id(session));
        s.task_id = Some(id.span_id.clone());
        s.input_text = Some(text);
        if let Some(t) = &self.carry.turn_id {
            s.attributes = Some(serde_json::json!({ "turn_id": t }).to_string());
        }
        self.carry.task_id = Some(id.span_id);
        self.carry.call_start = Some(time);
        self.emit(s, id.key);
    }

    /// Whether a message of this kind and text was already seen since the last model call.
    fn seen_before(&mut self, kind: &str, text: &str) -> Option<String> {
        let key = format!("{}:{kind}:{}", self.totals_key(), digest(text));
        if self.carry.seen.contains(&key) {
            return None;
        }
        self.carry.seen.push(key.clone());
        Some(key)
    }

    fn agent_message(&mut self, text: String, session: &str, time: i64, line_no: u64) {
        if text.is_empty() {
            return;
        }
        let Some(key) = self.seen_before("agent_message", &text) else {
            return;
        };
        append(&mut self.carry.output_text, &text);
        let span = self.event(
            "agent_message",
            &key,
            session,
            time,
            line_no,
            None,
            Some(text),
        );
        self.emit_event(span, &key);
    }

    fn reasoning(&mut self, text: String, session: &str, time: i64, line_no: u64) {
        if text.trim().is_empty() {
            return; // encrypted reasoning only: raw
        }
        let Some(key) = self.seen_before("reasoning", &text) else {
            return;
        };
        append(&mut self.carry.reasoning_text, &text);
        let span = self.event("reasoning", &key, session, time, line_no, None, Some(text));
        self.emit_event(span, &key);
    }

    /// Joins a tool call with its output and writes it.
    fn tool_output(
        &mut self,
        call_id: &str,
        output: Option<&RawValue>,
        session: &str,
        time: i64,
        line_no: u64,
    ) {
        let pending = match self
            .carry
            .pending_tools
            .iter()
            .position(|p| p.call_id == call_id)
        {
            Some(i) => self.carry.pending_tools.remove(i),
            None => PendingTool {
                call_id: call_id.to_string(),
                start: time,
                task_id: self.carry.task_id.clone(),
                parent: Some(self.work_parent(session)),
                source_ref: format!("{}:{line_no}", self.file),
                ..PendingTool::default()
            },
        };
        let (text, meta_exit, meta_ms) = tool_output(output);
        let id = identity::tool(session, call_id);
        let mut s = self.base_span(id.span_id, session, SpanKind::Tool, pending.start, line_no);
        s.source_ref = Some(pending.source_ref.clone());
        s.end_time = Some(time.max(pending.start));
        s.name = Some(if pending.name.is_empty() {
            "tool".to_string()
        } else {
            pending.name.clone()
        });
        s.tool_name = (!pending.name.is_empty()).then(|| pending.name.clone());
        s.tool_call_id = Some(call_id.to_string());
        s.parent_span_id = pending.parent.clone();
        s.task_id = pending.task_id.clone();
        s.caused_by = pending.llm_span.clone();
        s.files_written = pending.files_written.clone();
        let exit = pending.exit_code.or(meta_exit).or_else(|| {
            pending
                .command
                .as_ref()
                .and_then(|_| exit_code_in_output(&text))
        });
        if pending.command.is_some() {
            s.command = pending.command.clone();
        }
        s.exit_code = exit.and_then(|c| i32::try_from(c).ok());
        let failed = pending.failed || exit.is_some_and(|c| c != 0);
        s.is_error = Some(failed);
        if failed {
            s.status = Status::Error;
            s.error_message = Some(first_chars(&text, 500));
        }
        if !pending.input.is_empty() {
            s.tool_input = Some(pending.input.clone());
        }
        if let Some(ms) = pending.exec_ms.or(meta_ms) {
            s.attributes = Some(serde_json::json!({ "exec_duration_ms": ms }).to_string());
        }
        s.tool_output = Some(text);
        self.carry.call_start = Some(time);
        self.emit(s, id.key);
    }

    /// A response's usage ahead of its `token_count` (Codex 0.169): links the tool calls it
    /// asked for to the model call they will belong to.
    fn usage_record(
        &mut self,
        payload: Option<&RawValue>,
        session: &str,
        stats: &mut ImportStats,
        line_no: u64,
    ) {
        let Some(r) =
            self.payload::<TokenUsageRecord<'_>>(payload, "token_usage_record", stats, line_no)
        else {
            return;
        };
        let Some(usage) = r.usage else {
            return;
        };
        let after = r
            .thread_token_usage
            .unwrap_or_else(|| self.carry.totals.unwrap_or_default().plus(&usage));
        let llm = identity::llm(session, &after.key()).span_id;
        for p in &mut self.carry.pending_tools {
            if p.llm_span.is_none() {
                p.llm_span = Some(llm.clone());
            }
        }
        self.carry.next_call = Some(NextCall {
            response_id: r.response_id.map(|s| s.into_owned()),
            usage,
        });
    }

    /// One model call per `token_count` with new running totals.
    fn token_count(&mut self, tc: &TokenCount<'_>, session: &str, time: i64, line_no: u64) {
        let Some(info) = &tc.info else {
            return; // rate limits only
        };
        let before = self.carry.totals.unwrap_or_default();
        if info.total_token_usage.is_some() && info.total_token_usage == self.carry.totals {
            return; // the same totals again: a repeated event, not a new call
        }
        let last = match (info.last_token_usage, info.total_token_usage) {
            (Some(l), _) => l,
            (None, Some(t)) => t.minus(&before),
            (None, None) => return,
        };
        let after = info.total_token_usage.unwrap_or_else(|| before.plus(&last));
        if last == Usage::default() {
            self.carry.totals = Some(after);
            return;
        }
        let id = identity::llm(session, &after.key());
        let model = info
            .model
            .as_deref()
            .map(str::to_string)
            .or_else(|| self.carry.model.clone());
        // The call ran from the last prompt, tool output or call before it until this event;
        // it is billed (and reported) on the UTC day it completed, as Codex and ccusage count
        // it, so a call across midnight starts at midnight.
        let day_start = time - time.rem_euclid(MICROS_PER_DAY);
        let start = self
            .carry
            .call_start
            .filter(|t| *t <= time)
            .unwrap_or(time)
            .max(day_start);
        let mut s = self.base_span(id.span_id.clone(), session, SpanKind::Llm, start, line_no);
        s.end_time = Some(time);
        s.name = model.clone();
        s.model = model.clone();
        s.provider = Some("openai".to_string());
        s.parent_span_id = Some(self.work_parent(session));
        s.task_id = self.carry.task_id.clone();
        let cached = last.cached_input_tokens.clamp(0, last.input_tokens.max(0));
        let input = last.input_tokens - cached;
        s.input_tokens = Some(input);
        s.cache_read_tokens = Some(cached);
        s.cache_write_tokens = Some(last.cache_write_input_tokens);
        s.output_tokens = Some(last.output_tokens);
        s.reasoning_tokens = Some(last.reasoning_output_tokens);
        s.cost_usd = model.as_deref().and_then(|m| {
            self.pricing.cost(
                m,
                TokenUsage {
                    input,
                    output: last.output_tokens,
                    cache_read: cached,
                    cache_write_5m: last.cache_write_input_tokens,
                    cache_write_1h: 0,
                },
            )
        });
        let carry = &mut self.carry;
        if !carry.output_text.is_empty() {
            s.output_text = Some(std::mem::take(&mut carry.output_text));
        }
        let mut attrs = Map::new();
        if let Some(next) = carry.next_call.take()
            && next.usage == last
            && let Some(r) = next.response_id
        {
            attrs.insert("response_id".into(), r.into());
        }
        if let Some(t) = &carry.turn_id {
            attrs.insert("turn_id".into(), t.clone().into());
        }
        if !carry.tool_ids.is_empty() {
            attrs.insert(
                "tool_call_ids".into(),
                std::mem::take(&mut carry.tool_ids).into(),
            );
        }
        if !carry.reasoning_text.is_empty() {
            attrs.insert(
                "reasoning".into(),
                std::mem::take(&mut carry.reasoning_text).into(),
            );
        }
        attrs.insert("codex_input_tokens".into(), last.input_tokens.into());
        attrs.insert("total_tokens".into(), last.total_tokens.into());
        if let Some(w) = info.model_context_window {
            attrs.insert("model_context_window".into(), w.into());
        }
        attrs.insert("pricing_version".into(), self.pricing.version().into());
        s.attributes = Some(crate::json::object_text(&attrs));
        for p in &mut carry.pending_tools {
            if p.llm_span.is_none() {
                p.llm_span = Some(id.span_id.clone());
            }
        }
        carry.totals = Some(after);
        carry.call_start = Some(time);
        carry.seen.clear();
        self.emit(s, id.key);
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one event record's parts, all needed"
    )]
    fn event_msg(
        &mut self,
        kind: &str,
        ev: &EventMsg<'_>,
        ts: &str,
        session: &str,
        time: i64,
        line_no: u64,
        stats: &mut ImportStats,
    ) {
        match kind {
            "user_message" => {
                let text = ev.message.as_deref().unwrap_or("").to_string();
                self.prompt(text, session, time, line_no);
            }
            "agent_message" => {
                let text = ev.message.as_deref().unwrap_or("").to_string();
                self.agent_message(text, session, time, line_no);
            }
            "agent_reasoning" => {
                let text = ev.text.as_deref().unwrap_or("").to_string();
                self.reasoning(text, session, time, line_no);
            }
            "exec_command_end" | "patch_apply_end" => {
                if let Some(call) = &ev.call_id {
                    self.exec_result(
                        call,
                        ev.exit_code,
                        duration_ms(ev.duration),
                        ev.success == Some(false),
                    );
                }
            }
            "task_started" => {
                if let Some(t) = &ev.turn_id {
                    self.carry.turn_id = Some(t.to_string());
                }
                self.carry.turn_start = Some(time);
                self.carry.call_start = Some(time);
            }
            "task_complete" => {
                let key = ev
                    .turn_id
                    .as_deref()
                    .map(str::to_string)
                    .unwrap_or_else(|| ts.to_string());
                let start = self.carry.turn_start.filter(|t| *t <= time).unwrap_or(time);
                let mut span =
                    self.event("task_complete", &key, session, start, line_no, None, None);
                span.end_time = Some(time);
                let mut attrs = Map::new();
                if let Some(d) = ev.duration_ms {
                    attrs.insert("duration_ms".into(), d.into());
                }
                if let Some(t) = ev.time_to_first_token_ms {
                    attrs.insert("time_to_first_token_ms".into(), t.into());
                }
                if let Some(t) = &ev.turn_id {
                    attrs.insert("turn_id".into(), t.to_string().into());
                }
                span.attributes = Some(crate::json::object_text(&attrs));
                self.emit_event(span, &key);
            }
            "turn_aborted" => {
                let mut span = self.event("interrupted", ts, session, time, line_no, None, None);
                span.status = Status::Error;
                span.error_message = Some(format!(
                    "turn aborted ({})",
                    ev.reason.as_deref().unwrap_or("unknown reason")
                ));
                self.emit_event(span, ts);
            }
            "error" => {
                let mut span = self.event("error", ts, session, time, line_no, None, None);
                span.status = Status::Error;
                span.error_message = ev.message.as_deref().map(str::to_string);
                self.emit_event(span, ts);
            }
            "item_completed" => {
                let Some(raw) = ev.item else {
                    return;
                };
                let item: Item<'_> = match serde_json::from_str(raw.get()) {
                    Ok(i) => i,
                    Err(e) => {
                        self.reject(
                            stats,
                            line_no,
                            format!("item_completed item unreadable ({e})"),
                        );
                        return;
                    }
                };
                let text = || parts_text(item.content).unwrap_or_default();
                match item.ty.as_deref() {
                    Some("UserMessage") => self.prompt(text(), session, time, line_no),
                    Some("AgentMessage") => self.agent_message(text(), session, time, line_no),
                    Some("CommandExecution") => {
                        if let Some(id) = &item.id {
                            self.exec_result(
                                id,
                                item.exit_code,
                                duration_ms(item.duration),
                                item.status.as_deref() == Some("failed")
                                    && item.exit_code.is_none(),
                            );
                        }
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }

    /// What Codex reported about a command before its output arrived.
    fn exec_result(&mut self, call_id: &str, exit: Option<i64>, ms: Option<i64>, failed: bool) {
        if let Some(p) = self
            .carry
            .pending_tools
            .iter_mut()
            .find(|p| p.call_id == call_id)
        {
            p.exit_code = exit.or(p.exit_code);
            p.exec_ms = ms.or(p.exec_ms);
            p.failed |= failed;
        }
    }

    /// Writes tool calls that waited longer than [`ORPHAN_TOOL_AFTER_MICROS`] for their output.
    pub fn flush_orphans(&mut self, now: i64) {
        let Some(session) = self.session() else {
            return;
        };
        let (old, keep): (Vec<PendingTool>, Vec<PendingTool>) =
            std::mem::take(&mut self.carry.pending_tools)
                .into_iter()
                .partition(|p| now - p.start > ORPHAN_TOOL_AFTER_MICROS);
        self.carry.pending_tools = keep;
        for p in old {
            let id = identity::tool(&session, &p.call_id);
            let mut s = self.base_span(id.span_id, &session, SpanKind::Tool, p.start, 0);
            s.source_ref = Some(p.source_ref.clone());
            s.name = Some(p.name.clone());
            s.tool_name = Some(p.name.clone());
            s.tool_call_id = Some(p.call_id.clone());
            s.parent_span_id = p.parent.clone();
            s.task_id = p.task_id.clone();
            s.caused_by = p.llm_span.clone();
            s.tool_input = Some(p.input.clone());
            s.command = p.command.clone();
            s.status = Status::Unset;
            s.error_message = Some("no output was recorded for this call".to_string());
            self.emit(s, id.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_come_from_rollout_file_names() {
        assert_eq!(
            session_from_file_name(
                "rollout-2026-11-22T16-37-23-01a2041e-9886-7690-9eb6-4afd13e89bd1"
            )
            .as_deref(),
            Some("01a2041e-9886-7690-9eb6-4afd13e89bd1")
        );
        assert_eq!(session_from_file_name("session-alpha"), None);
    }

    #[test]
    fn commands_patches_and_context() {
        let v: Value = serde_json::from_str(r#"{"command":["bash","-lc","ls -la"]}"#).unwrap();
        assert_eq!(command_of(&v).as_deref(), Some("ls -la"));
        let v: Value = serde_json::from_str(r#"{"cmd":"cat x"}"#).unwrap();
        assert_eq!(command_of(&v).as_deref(), Some("cat x"));
        assert_eq!(
            patch_files(
                "*** Begin Patch\n*** Update File: src/a.py\n@@\n*** Add File: b.txt\n*** End Patch"
            ),
            vec!["src/a.py", "b.txt"]
        );
        assert_eq!(
            context_kind("<environment_context>\n  <cwd>/x</cwd>").as_deref(),
            Some("environment_context")
        );
        assert_eq!(context_kind("Fix the bug <please>"), None);
        assert_eq!(context_kind("<= is not a tag>"), None);
    }
}
