//! One session, simulated and written: the main transcript, its subagent transcripts (with
//! `.meta.json`), and possibly a resumed continuation file. Owns the record layouts (key order
//! and fields as Claude Code 2.1.328 writes them), the conversation state that drives token
//! usage (context growth, prompt-cache hits and misses, compaction), the scenario mix (tool
//! errors, retry loops, permission rejections, interruptions, subagents, old-style records)
//! and the per-session ground truth, which is exact even when lines are made malformed.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::ids::{self, DAY_MS};
use super::json::JsonBuf;
use super::statics::{self, Statics, Variant};
use super::text::{self, ProjectText, Tx, chance, idx, lognormal, pick, zidx};
use super::truth::{DailyMap, MalformedLine, SessionTruth, Totals, Usage, price_of};

/// The Claude Code version every record claims.
pub(crate) const VERSION: &str = "2.1.328";

pub(crate) const SONNET: &str = "claude-sonnet-4-5-20250929";
pub(crate) const HAIKU: &str = "claude-haiku-4-5-20251001";
pub(crate) const OPUS: &str = "claude-opus-4-1-20250805";
/// A model with no price anywhere: its cost must come out as unknown.
pub(crate) const EXPERIMENTAL: &str = "claude-experimental-x";

const CONTEXT_LIMIT: u64 = 155_000;

/// A project as sessions see it.
pub(crate) struct ProjectCtx {
    pub(crate) text: ProjectText,
    /// `-home-dev-proj-N`.
    pub(crate) encoded: String,
    pub(crate) mcp_set: usize,
}

/// What every session task shares (read-only, except the byte counter).
pub(crate) struct CorpusCtx<'a> {
    pub(crate) statics: &'a Statics,
    pub(crate) projects: &'a [ProjectCtx],
    pub(crate) out_dir: &'a Path,
    pub(crate) malformed_every: Option<u64>,
    pub(crate) bytes_written: &'a AtomicU64,
}

/// A session decided by the planner before any session is generated.
#[derive(Debug, Clone)]
pub(crate) struct SessionPlan {
    pub(crate) seed: u64,
    pub(crate) project: usize,
    pub(crate) start_ms: i64,
    pub(crate) target_bytes: u64,
    pub(crate) session_id: String,
}

/// What one session task produced.
#[derive(Debug, Default)]
pub(crate) struct SessionResult {
    pub(crate) daily: DailyMap,
    pub(crate) totals: Totals,
    pub(crate) malformed: Vec<MalformedLine>,
    pub(crate) sessions: Vec<SessionTruth>,
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// One output transcript.
struct Sink {
    rel: String,
    path: PathBuf,
    w: BufWriter<File>,
    line: u64,
    bytes: u64,
    /// Decides which lines are malformed; independent of the content RNG so that turning
    /// malformed lines on changes nothing else.
    phase: u64,
}

impl Sink {
    fn create(out_dir: &Path, rel: String, phase_seed: u64) -> Result<Self> {
        let path = out_dir.join(&rel);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let f = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Self {
            rel,
            path,
            w: BufWriter::with_capacity(256 * 1024, f),
            line: 0,
            bytes: 0,
            phase: splitmix(phase_seed),
        })
    }

    /// Writes one line; returns whether it was written intact (not malformed).
    fn write_line(
        &mut self,
        line: &[u8],
        every: Option<u64>,
        malformed: &mut Vec<MalformedLine>,
        counter: &AtomicU64,
    ) -> Result<bool> {
        self.line += 1;
        let bad = every.is_some_and(|n| n > 0 && (self.line + self.phase % n).is_multiple_of(n));
        let body = if bad {
            malformed.push(MalformedLine {
                file: self.rel.clone(),
                line: self.line,
            });
            &line[..truncation_point(line, splitmix(self.phase ^ self.line))]
        } else {
            line
        };
        self.w
            .write_all(body)
            .and_then(|()| self.w.write_all(b"\n"))
            .with_context(|| format!("writing {}", self.path.display()))?;
        let n = body.len() as u64 + 1;
        self.bytes += n;
        counter.fetch_add(n, Ordering::Relaxed);
        Ok(!bad)
    }

    fn finish(mut self) -> Result<(String, u64, u64)> {
        self.w
            .flush()
            .with_context(|| format!("writing {}", self.path.display()))?;
        Ok((self.rel, self.line, self.bytes))
    }
}

/// Where to cut a line so that what is left is invalid JSON (a strict prefix of an object
/// never parses) and still valid UTF-8.
fn truncation_point(line: &[u8], h: u64) -> usize {
    if line.len() < 3 {
        return line.len().saturating_sub(1).max(1).min(line.len());
    }
    let lo = (line.len() / 5).clamp(1, line.len() - 1);
    let hi = line.len() - 1;
    let mut cut = lo + (h % (hi - lo + 1) as u64) as usize;
    while cut > 1 && (line[cut] & 0xC0) == 0x80 {
        cut -= 1;
    }
    cut
}

/// Per-task truth accumulation.
#[derive(Default)]
struct Acc {
    daily: DailyMap,
    counted: HashSet<(String, String)>,
    tool_ids: HashSet<String>,
    error_ids: HashSet<String>,
    malformed: Vec<MalformedLine>,
    totals: Totals,
}

/// Per-session-file counters that end up in `SessionTruth`.
#[derive(Default, Clone)]
struct FileStats {
    responses: u64,
    tool_calls: u64,
    tool_errors: u64,
    subagents: u64,
    retry_loops: u64,
    rejections: u64,
    interruptions: u64,
    compactions: u64,
    bytes_subagents: u64,
}

/// Per-model usage as Claude Code's `cost-state` reports it.
#[derive(Default, Clone, Copy)]
struct ModelTotals {
    usage: Usage,
    thinking: u64,
}

/// The state of one conversation thread (main session or a subagent).
struct Convo {
    sink: Sink,
    session_id: String,
    agent_id: Option<String>,
    agent_type: Option<&'static str>,
    depth: u32,
    /// `,"userType":…,"gitBranch":"…"}`: the envelope tail every transcript record ends with.
    env_tail: Vec<u8>,
    parent: Option<String>,
    prompt_id: String,
    last_prompt: String,
    model: &'static str,
    variant: (usize, usize),
    sdk: bool,
    cwd: String,
    branch: String,
    // token state
    ctx_tokens: u64,
    cached_tokens: u64,
    last_req_ms: Option<i64>,
    cache_1h: bool,
    pending: Usage,
    pending_request: Option<String>,
    last_request: Option<String>,
    keep: u64,
    // bookkeeping
    tools_used: Vec<String>,
    shape_written: bool,
    tools_snapshot_written: bool,
    turn_index: u64,
    model_totals: BTreeMap<&'static str, ModelTotals>,
    api_ms: i64,
    tool_ms: i64,
    lines_added: u64,
    lines_removed: u64,
    start_ms: i64,
    first_ts: Option<i64>,
    last_ts: i64,
    todos: Vec<Todo>,
    recent: Option<VecDeque<Vec<u8>>>,
    stats: FileStats,
    last_day: i64,
}

impl Convo {
    fn is_sub(&self) -> bool {
        self.agent_id.is_some()
    }
}

enum Block {
    Thinking(String, String),
    Text(String),
    ToolUse(PlannedTool),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ok,
    Error,
    RejectUser,
    RejectConfig,
    Interrupt,
}

enum Action {
    Bash {
        cmd: String,
        out_len: usize,
    },
    Read {
        path: String,
        lines: usize,
        start: u64,
    },
    Edit {
        path: String,
        old: String,
        new: String,
        original: String,
    },
    Write {
        path: String,
        content: String,
    },
    Grep {
        content_mode: bool,
        n: usize,
    },
    Glob {
        n: usize,
    },
    Todo {
        old: Vec<Todo>,
        new: Vec<Todo>,
    },
    WebFetch {
        url: String,
    },
    Mcp,
    Agent {
        agent_type: &'static str,
        description: String,
        prompt: String,
        background: bool,
        model: &'static str,
    },
}

struct PlannedTool {
    id: String,
    name: String,
    input: Vec<u8>,
    action: Action,
    outcome: Outcome,
}

/// A finished tool call, ready to be written as a `tool_result` user record.
struct ToolResult {
    /// Serialized `content` value (a string or a block list).
    content: Vec<u8>,
    is_error: Option<bool>,
    /// Serialized `toolUseResult` value.
    tur: Option<Vec<u8>>,
    sandboxed: Option<bool>,
    decision: &'static str,
    denial_kind: Option<&'static str>,
    duration_ms: i64,
    /// Approximate tokens the result adds to the context.
    tokens: u64,
    /// Plain text for the request blob.
    blob_text: String,
}

/// The result of a subagent run, reported back to the parent.
struct SubOutcome {
    agent_id: String,
    report: String,
    total_tokens: u64,
    tool_uses: u64,
    duration_ms: i64,
    usage: Usage,
    model_totals: BTreeMap<&'static str, ModelTotals>,
    end_ms: i64,
}

struct Notification {
    tool_use_id: String,
    sub: SubOutcome,
    description: String,
}

const ACCEPT_SDK: &str =
    r#"{"decision":"accept","source":"config","reasonType":"rule","ruleSource":"cliArg"}"#;
const ACCEPT_LOCAL: &str =
    r#"{"decision":"accept","source":"config","reasonType":"rule","ruleSource":"localSettings"}"#;
const ACCEPT_USER: &str = r#"{"decision":"accept","source":"user","reasonType":"user_temporary"}"#;
const REJECT_CONFIG: &str = r#"{"decision":"reject","source":"config","reasonCode":"unknown"}"#;
const REJECT_USER: &str = r#"{"decision":"reject","source":"user","reasonType":"user_reject"}"#;

const USER_REJECT_TEXT: &str = "The user doesn't want to proceed with this tool use. The tool use was rejected (eg. if it was a file edit, the new_string was NOT written to the file). STOP what you are doing and wait for the user to tell you how to proceed.";
const INTERRUPT: &str = "[Request interrupted by user]";
const INTERRUPT_TOOL: &str = "[Request interrupted by user for tool use]";

/// One todo-list item.
#[derive(Clone)]
struct Todo {
    content: String,
    active_form: String,
    status: &'static str,
}

const TODO_VERBS: &[(&str, &str)] = &[
    ("Fix", "Fixing"),
    ("Add", "Adding"),
    ("Update", "Updating"),
    ("Run", "Running"),
    ("Refactor", "Refactoring"),
    ("Write", "Writing"),
    ("Review", "Reviewing"),
    ("Remove", "Removing"),
    ("Check", "Checking"),
];

/// Writes a todo list as Claude Code stores it (`content`, `status`, `activeForm`).
fn write_todos(b: &mut JsonBuf, todos: &[Todo]) {
    b.raw("[");
    for (i, t) in todos.iter().enumerate() {
        if i > 0 {
            b.raw(",");
        }
        b.raw(r#"{"content":"#)
            .str(&t.content)
            .raw(r#","status":"#)
            .str(t.status)
            .raw(r#","activeForm":"#)
            .str(&t.active_form)
            .raw("}");
    }
    b.raw("]");
}

/// The `description` the model gives a shell command.
fn describe_command(cmd: &str) -> &'static str {
    const KINDS: &[(&str, &str)] = &[
        ("git status", "Show working tree status"),
        ("git log", "Show recent commits"),
        ("git diff", "Show changes"),
        ("ls", "List files"),
        ("rg ", "Search the code"),
        ("grep", "Search the code"),
        ("head", "Show the start of the file"),
        ("tail", "Show the end of the log"),
        ("wc", "Count lines"),
        ("find", "Find files"),
        ("docker", "Check running containers"),
        ("./scripts", "Run the script"),
        ("cargo clippy", "Run clippy"),
        ("ruff", "Lint the code"),
        ("mypy", "Type-check the code"),
        ("npm run lint", "Lint the code"),
        ("go vet", "Vet the code"),
        ("tsc", "Type-check the project"),
    ];
    for (prefix, d) in KINDS {
        if cmd.starts_with(prefix) || (prefix.len() > 4 && cmd.contains(prefix)) {
            return d;
        }
    }
    if cmd.contains("test") {
        "Run tests"
    } else if cmd.contains("build") || cmd.contains("check") {
        "Build the project"
    } else {
        "Run command"
    }
}

fn model_identity(model: &str) -> (&'static str, &'static str) {
    match model {
        SONNET => ("Sonnet 4.5", "January 2025"),
        HAIKU => ("Haiku 4.5", "February 2025"),
        OPUS => ("Opus 4.1", "January 2025"),
        _ => ("Claude Experimental", "June 2026"),
    }
}

/// The generator of one session task.
struct Gen<'a> {
    rng: ChaCha8Rng,
    cx: &'a CorpusCtx<'a>,
    proj: &'a ProjectCtx,
    seed: u64,
    now: i64,
    buf: JsonBuf,
    acc: Acc,
    /// Bytes written by this task so far (all files).
    bytes: u64,
    target: u64,
    files: u64,
    notifications: Vec<Notification>,
    force_compact: bool,
    synthetic_left: bool,
}

/// Runs one planned session and returns its truth.
pub(crate) fn run_session(plan: &SessionPlan, cx: &CorpusCtx<'_>) -> Result<SessionResult> {
    let proj = &cx.projects[plan.project];
    let mut rng = ChaCha8Rng::seed_from_u64(plan.seed);
    let resume = plan.target_bytes > 300_000 && chance(&mut rng, 0.04);
    let force_compact = chance(&mut rng, 0.06);
    let synthetic = chance(&mut rng, 0.02);
    let mut g = Gen {
        rng,
        cx,
        proj,
        seed: plan.seed,
        now: plan.start_ms,
        buf: JsonBuf::with_capacity(64 * 1024),
        acc: Acc::default(),
        bytes: 0,
        target: if resume {
            plan.target_bytes * 6 / 10
        } else {
            plan.target_bytes
        },
        files: 0,
        notifications: Vec::new(),
        force_compact,
        synthetic_left: synthetic,
    };
    let mut c = g.new_main(&plan.session_id, plan.target_bytes, resume)?;
    g.main_session(&mut c, true)?;
    let recent = c.recent.take();
    let first = g.close_main(c, None)?;
    let mut sessions = vec![first];
    if let Some(recent) = recent {
        g.target = plan.target_bytes;
        g.now += 60_000 + lognormal(&mut g.rng, 3_600_000.0, 1.0) as i64;
        let new_id = ids::uuid_v4(&mut g.rng);
        let mut c2 = g.new_main(&new_id, plan.target_bytes, false)?;
        g.copy_resumed(&mut c2, &plan.session_id, &recent)?;
        g.main_session(&mut c2, false)?;
        sessions.push(g.close_main(c2, Some(plan.session_id.clone()))?);
        g.acc.totals.resumed_sessions += 1;
    }
    let mut acc = g.acc;
    acc.totals.tool_calls = acc.tool_ids.len() as u64;
    acc.totals.tool_errors = acc.error_ids.len() as u64;
    acc.totals.sessions = sessions.len() as u64;
    acc.totals.malformed_lines = acc.malformed.len() as u64;
    Ok(SessionResult {
        daily: acc.daily,
        totals: acc.totals,
        malformed: acc.malformed,
        sessions,
    })
}

impl<'a> Gen<'a> {
    fn tx(&self) -> Tx<'a> {
        Tx {
            p: &self.proj.text,
            now_ms: self.now,
        }
    }

    fn tick(&mut self, lo: i64, hi: i64) -> i64 {
        self.now += self.rng.random_range(lo..hi);
        self.now
    }

    fn remaining(&self) -> u64 {
        self.target.saturating_sub(self.bytes)
    }

    fn variant(&self, c: &Convo) -> &'a Variant {
        let row = if c.is_sub() {
            &self.cx.statics.sub
        } else {
            &self.cx.statics.main
        };
        &row[c.variant.0][c.variant.1]
    }

    fn env_tail(&self, session_id: &str, sdk: bool, cwd: &str, branch: &str) -> Vec<u8> {
        let mut b = JsonBuf::with_capacity(256);
        b.raw(r#","userType":"external","entrypoint":"#)
            .str(if sdk { "sdk-cli" } else { "cli" })
            .raw(r#","cwd":"#)
            .str(cwd)
            .raw(r#","sessionId":"#)
            .str(session_id)
            .raw(r#","version":""#)
            .raw(VERSION)
            .raw(r#"","gitBranch":"#)
            .str(branch)
            .raw("}");
        b.b
    }

    fn new_main(&mut self, session_id: &str, planned: u64, keep_recent: bool) -> Result<Convo> {
        let rng = &mut self.rng;
        let model = match idx(rng, 100) {
            0..=76 => SONNET,
            77..=87 => OPUS,
            88..=96 => HAIKU,
            _ => EXPERIMENTAL,
        };
        let sdk = chance(rng, 0.3);
        let lean = planned < 220_000 || chance(rng, 0.15);
        let p = &self.proj.text;
        let branch = if chance(rng, 0.7) {
            p.branches[0].clone()
        } else {
            p.branches[idx(rng, p.branches.len())].clone()
        };
        let cache_1h = chance(rng, 0.2);
        let rel = format!("projects/{}/{}.jsonl", self.proj.encoded, session_id);
        self.files += 1;
        let sink = Sink::create(self.cx.out_dir, rel, self.seed ^ self.files.rotate_left(40))?;
        let cwd = p.cwd.clone();
        let env_tail = self.env_tail(session_id, sdk, &cwd, &branch);
        Ok(Convo {
            sink,
            session_id: session_id.to_string(),
            agent_id: None,
            agent_type: None,
            depth: 0,
            env_tail,
            parent: None,
            prompt_id: String::new(),
            last_prompt: String::new(),
            model,
            variant: (usize::from(lean), self.proj.mcp_set),
            sdk,
            cwd,
            branch,
            ctx_tokens: 0,
            cached_tokens: 0,
            last_req_ms: None,
            cache_1h,
            pending: Usage::default(),
            pending_request: None,
            last_request: None,
            keep: 0,
            tools_used: Vec::new(),
            shape_written: false,
            tools_snapshot_written: false,
            turn_index: 0,
            model_totals: BTreeMap::new(),
            api_ms: 0,
            tool_ms: 0,
            lines_added: 0,
            lines_removed: 0,
            start_ms: self.now,
            first_ts: None,
            last_ts: self.now,
            todos: Vec::new(),
            recent: keep_recent.then(VecDeque::new),
            stats: FileStats::default(),
            last_day: self.now.div_euclid(DAY_MS),
        })
    }

    // ----------------------------------------------------------------------------------
    // Writing
    // ----------------------------------------------------------------------------------

    /// Writes the line in `self.buf` to `c`'s transcript; returns whether it is intact.
    fn emit(&mut self, c: &mut Convo, ts: Option<i64>) -> Result<bool> {
        let intact = c.sink.write_line(
            &self.buf.b,
            self.cx.malformed_every,
            &mut self.acc.malformed,
            self.cx.bytes_written,
        )?;
        // The budget counts the line as generated, so that truncating malformed lines
        // changes nothing else in the output.
        self.bytes += self.buf.b.len() as u64 + 1;
        if let Some(t) = ts {
            c.first_ts.get_or_insert(t);
            c.last_ts = c.last_ts.max(t);
        }
        if let Some(r) = c.recent.as_mut()
            && ts.is_some()
        {
            r.push_back(self.buf.b.clone());
            if r.len() > 48 {
                r.pop_front();
            }
        }
        Ok(intact)
    }

    /// `{"parentUuid":…,"isSidechain":…` plus `"promptId"` (user records) and `"agentId"`.
    fn head(&mut self, c: &Convo, prompt_id: bool) {
        self.buf.clear();
        self.buf
            .raw(r#"{"parentUuid":"#)
            .opt_str(c.parent.as_deref())
            .raw(r#","isSidechain":"#)
            .bool(c.is_sub());
        if prompt_id {
            self.buf.raw(r#","promptId":"#).str(&c.prompt_id);
        }
        if let Some(a) = &c.agent_id {
            self.buf.raw(r#","agentId":"#).str(a);
        }
    }

    fn uuid_ts(&mut self, uuid: &str, ts: i64) {
        self.buf
            .raw(r#","uuid":"#)
            .str(uuid)
            .raw(r#","timestamp":"#)
            .ts(ts);
    }

    fn queue_op(&mut self, c: &mut Convo, enqueue: bool, content: &str) -> Result<()> {
        let ts = self.tick(1, 4);
        self.buf.clear();
        self.buf
            .raw(r#"{"type":"queue-operation","operation":"#)
            .str(if enqueue { "enqueue" } else { "dequeue" })
            .raw(r#","timestamp":"#)
            .ts(ts)
            .raw(r#","sessionId":"#)
            .str(&c.session_id);
        if enqueue {
            self.buf.raw(r#","content":"#).str(content);
        }
        self.buf.raw("}");
        self.emit(c, None)?;
        Ok(())
    }

    fn simple(&mut self, c: &mut Convo, kind: &str) -> Result<()> {
        self.buf.clear();
        match kind {
            "atis-latch" => {
                self.buf
                    .raw(r#"{"type":"atis-latch","atis":"","sessionId":"#)
                    .str(&c.session_id)
                    .raw("}");
            }
            "last-prompt" => {
                let leaf = c.parent.clone().unwrap_or_default();
                self.buf
                    .raw(r#"{"type":"last-prompt","lastPrompt":"#)
                    .str(&c.last_prompt)
                    .raw(r#","leafUuid":"#)
                    .str(&leaf)
                    .raw(r#","sessionId":"#)
                    .str(&c.session_id)
                    .raw("}");
            }
            _ => {
                self.buf
                    .raw(r#"{"type":"tools-used","tools":"#)
                    .str_array(&c.tools_used)
                    .raw(r#","sessionId":"#)
                    .str(&c.session_id)
                    .raw("}");
            }
        }
        self.emit(c, None)?;
        Ok(())
    }

    /// A user prompt (string content). `origin` marks task notifications.
    fn user_prompt(&mut self, c: &mut Convo, text: &str, notification: bool) -> Result<()> {
        let ts = self.tick(60, 300);
        let uuid = ids::uuid_v4(&mut self.rng);
        self.head(c, true);
        self.buf
            .raw(r#","type":"user","message":{"role":"user","content":"#)
            .str(text)
            .raw("}");
        self.uuid_ts(&uuid, ts);
        if !c.is_sub() {
            c.turn_index += 1;
            self.buf.raw(r#","permissionMode":"#).str(if c.sdk {
                "default"
            } else if chance(&mut self.rng, 0.2) {
                "acceptEdits"
            } else {
                "default"
            });
            if notification {
                self.buf
                    .raw(r#","origin":{"kind":"task-notification","producer":"session-task","runId":"#)
                    .str(&ids::hex_n(&mut self.rng, 9))
                    .raw(r#"},"promptSource":"system","turnOrigin":"task_notification""#);
            } else if c.sdk {
                self.buf.raw(r#","promptSource":"sdk","turnOrigin":"sdk""#);
            } else {
                self.buf
                    .raw(r#","promptSource":"user","turnOrigin":"user""#);
            }
            self.buf
                .raw(r#","turnPosition":{"promptIndex":0,"turnIndex":"#)
                .u64(c.turn_index)
                .raw("}");
            if notification {
                self.buf.raw(r#","queueSkipAttachments":true"#);
            }
        }
        self.buf.raw_bytes(&c.env_tail);
        self.emit(c, Some(ts))?;
        c.parent = Some(uuid);
        c.ctx_tokens += (text.len() / 4) as u64 + 8;
        Ok(())
    }

    /// A user record whose content is one text block (interruptions).
    fn user_text_block(&mut self, c: &mut Convo, text: &str) -> Result<()> {
        let ts = self.tick(200, 4000);
        let uuid = ids::uuid_v4(&mut self.rng);
        self.head(c, true);
        self.buf
            .raw(r#","type":"user","message":{"role":"user","content":[{"type":"text","text":"#)
            .str(text)
            .raw("}]}");
        self.uuid_ts(&uuid, ts);
        self.buf.raw_bytes(&c.env_tail);
        self.emit(c, Some(ts))?;
        c.parent = Some(uuid);
        c.stats.interruptions += 1;
        self.acc.totals.interruptions += 1;
        Ok(())
    }

    /// An attachment record. `body` is the serialized `attachment` object.
    fn attachment(
        &mut self,
        c: &mut Convo,
        body: &[u8],
        rendered: Option<&str>,
        role: &str,
        beside: bool,
    ) -> Result<()> {
        let ts = self.tick(0, 3);
        let uuid = ids::uuid_v4(&mut self.rng);
        self.head(c, false);
        self.buf
            .raw(r#","attachment":"#)
            .raw_bytes(body)
            .raw(r#","type":"attachment""#);
        self.uuid_ts(&uuid, ts);
        if let Some(r) = rendered {
            self.buf
                .raw(r#","rendered":[{"content":"#)
                .str(r)
                .raw(r#"}],"renderedRole":"#)
                .str(role);
            if beside {
                self.buf.raw(r#","renderedBesideToolResult":true"#);
            }
        }
        self.buf.raw_bytes(&c.env_tail);
        self.emit(c, Some(ts))?;
        c.parent = Some(uuid);
        if let Some(r) = rendered {
            c.ctx_tokens += (r.len() / 4) as u64;
        }
        Ok(())
    }

    fn snapshot(&mut self, c: &mut Convo, with_tools: bool) -> Result<()> {
        let v = self.variant(c);
        let mut body = Vec::with_capacity(v.snapshot_tools_head.len() + 256);
        if with_tools {
            body.extend_from_slice(&v.snapshot_tools_head);
            let prefix = if c.sdk {
                statics::CLI_PREFIX_SDK
            } else {
                statics::CLI_PREFIX_CLI
            };
            super::json::escape_into(&mut body, prefix);
            body.extend_from_slice(&v.snapshot_tools_tail);
        } else {
            body.extend_from_slice(&v.snapshot_system);
        }
        self.attachment(c, &body, None, "", false)?;
        Ok(())
    }

    fn reminder(s: &str) -> String {
        let mut r = String::with_capacity(s.len() + 40);
        r.push_str("<system-reminder>\n");
        r.push_str(s);
        r.push_str("\n</system-reminder>");
        r
    }

    /// The attachments Claude Code writes at the start of a thread.
    fn initial_attachments(&mut self, c: &mut Convo) -> Result<Vec<String>> {
        let mut rendered_all = Vec::new();
        let st = self.cx.statics;
        let mut a = JsonBuf::with_capacity(4096);
        let os = "Linux 6.8.0-45-generic";

        let deferred = |g: &mut Self,
                        c: &mut Convo,
                        rendered_all: &mut Vec<String>|
         -> Result<()> {
            let mut a = JsonBuf::with_capacity(1024);
            let names = statics::DEFERRED_TOOLS;
            a.raw(r#"{"type":"deferred_tools_delta","addedNames":"#)
                .str_array(names)
                .raw(r#","addedLines":"#)
                .str_array(names)
                .raw(r#","removedNames":[],"wireHiddenNames":[],"readdedNames":[],"pendingMcpServers":[],"needsAuthMcpServers":[],"failedMcpServers":[]}"#);
            let r = Self::reminder(&format!(
                "The following deferred tools are now available via ToolSearch. Their schemas are not loaded yet: load one with ToolSearch before calling it.\n{}",
                names.join("\n")
            ));
            g.attachment(c, &a.b, Some(&r), "system", false)?;
            rendered_all.push(r);
            Ok(())
        };

        if c.is_sub() {
            deferred(self, c, &mut rendered_all)?;
        }
        // environment
        a.clear();
        a.raw(r#"{"type":"environment","snapshot":{"workingDirectory":"#)
            .str(&c.cwd)
            .raw(r#","isWorktree":false,"isGitRepo":true,"additionalWorkingDirectories":[],"platform":"linux","shell":"bash","osVersion":"#)
            .str(os)
            .raw("}}");
        let r = Self::reminder(&format!(
            "# Environment\nYou have been invoked in the following environment: \n - Primary working directory: {}\n - Is a git repository: true\n - Platform: linux\n - Shell: bash\n - OS Version: {os}",
            c.cwd
        ));
        self.attachment(c, &a.b, Some(&r), "system", false)?;
        rendered_all.push(r);
        // model
        let (marketing, cutoff) = model_identity(c.model);
        let text = format!(
            "You are powered by the model named {marketing}. The exact model ID is {}. Assistant knowledge cutoff is {cutoff}.",
            c.model
        );
        a.clear();
        a.raw(r#"{"type":"model","identity":{"modelId":"#)
            .str(c.model)
            .raw(r#","marketingName":"#)
            .str(marketing)
            .raw(r#","knowledgeCutoff":"#)
            .str(cutoff)
            .raw(r#"},"text":"#)
            .str(&text)
            .raw("}");
        let r = Self::reminder(&text);
        self.attachment(c, &a.b, Some(&r), "system", false)?;
        rendered_all.push(r);
        if !c.is_sub() {
            deferred(self, c, &mut rendered_all)?;
            // agent listing
            let types: Vec<&str> = statics::AGENT_TYPES.iter().map(|(n, _)| *n).collect();
            a.clear();
            a.raw(r#"{"type":"agent_listing_delta","addedTypes":"#)
                .str_array(&types)
                .raw(r#","addedLines":"#)
                .str_array(&st.agent_listing_lines)
                .raw(r#","builtInTypes":"#)
                .str_array(&types)
                .raw(r#","builtInPluginTypes":[],"removedTypes":[],"isInitial":true,"showConcurrencyNote":true}"#);
            let r = Self::reminder(&format!(
                "Available agent types for the Agent tool:\n{}",
                st.agent_listing_lines.join("\n")
            ));
            self.attachment(c, &a.b, Some(&r), "system", false)?;
            rendered_all.push(r);
        }
        // skills
        a.clear();
        a.raw(r#"{"type":"skill_listing","content":"#)
            .str(&st.skill_listing)
            .raw(r#","skillCount":"#)
            .u64(st.skill_names.len() as u64)
            .raw(r#","isInitial":true,"names":"#)
            .str_array(&st.skill_names)
            .raw(r#","digests":"#)
            .str_array(&st.skill_digests)
            .raw("}");
        let r = Self::reminder(&format!(
            "The following skills are available for use with the Skill tool:\n\n{}",
            st.skill_listing
        ));
        self.attachment(c, &a.b, Some(&r), "system", false)?;
        rendered_all.push(r);
        if !c.is_sub() {
            if c.sdk {
                self.total_tokens_reminder(c, 15_000_000)?;
            }
            self.simple(c, "atis-latch")?;
        }
        // session context (git status)
        let mut git = format!(
            "This is the git status at the start of the conversation. Note that this status is a snapshot in time, and will not update during the conversation.\n\nCurrent branch: {}\n\nMain branch (you will usually use this for PRs): {}\n\nStatus:\n",
            c.branch, self.proj.text.branches[0]
        );
        if chance(&mut self.rng, 0.5) {
            git.push_str("(clean)");
        } else {
            for _ in 0..(1 + idx(&mut self.rng, 5)) {
                git.push_str(" M ");
                git.push_str(self.proj.text.file(&mut self.rng));
                git.push('\n');
            }
            git.pop();
        }
        git.push_str("\n\nRecent commits:\n");
        for k in 0..5 {
            if k > 0 {
                git.push('\n');
            }
            git.push_str(&ids::hex_n(&mut self.rng, 7));
            git.push(' ');
            let tx = self.tx();
            tx.expand(&mut self.rng, "{verb} {noun} in {m}", &mut git);
        }
        a.clear();
        a.raw(r#"{"type":"session_context","context":{"gitStatus":"#)
            .str(&git)
            .raw("}}");
        let r = Self::reminder(&format!(
            "As you answer the user's questions, you can use the following context:\n# gitStatus\n{git}\n\nClaude Code attached this context automatically; it isn't part of the user's message."
        ));
        self.attachment(c, &a.b, Some(&r), "user", false)?;
        rendered_all.push(r);
        // date
        self.date_attachment(c, &mut rendered_all)?;
        // attribution
        let (marketing, _) = model_identity(c.model);
        let commit = format!("Co-Authored-By: Claude {marketing} <noreply@anthropic.com>");
        let pr = "🤖 Generated with [Claude Code](https://claude.com/claude-code)";
        a.clear();
        a.raw(r#"{"type":"remote_session_change","url":null,"commit":"#)
            .str(&commit)
            .raw(r#","pr":"#)
            .str(pr)
            .raw(r#","sendUserFileHint":false,"managedCommit":false,"managedPr":false}"#);
        let r = Self::reminder(&format!(
            "Attribution for git commits and pull requests you create from here on:\n- End git commit messages with:\n{commit}\n- End pull request descriptions with:\n{pr}"
        ));
        self.attachment(c, &a.b, Some(&r), "user", true)?;
        rendered_all.push(r);
        self.snapshot(c, false)?;
        Ok(rendered_all)
    }

    fn date_attachment(&mut self, c: &mut Convo, rendered_all: &mut Vec<String>) -> Result<()> {
        let date = ids::date_string(self.now);
        let mut a = JsonBuf::with_capacity(64);
        a.raw(r#"{"type":"date","date":"#).str(&date).raw("}");
        let r = Self::reminder(&format!("Today's date is {date}."));
        self.attachment(c, &a.b, Some(&r), "system", false)?;
        rendered_all.push(r);
        c.last_day = self.now.div_euclid(DAY_MS);
        Ok(())
    }

    fn total_tokens_reminder(&mut self, c: &mut Convo, left: u64) -> Result<()> {
        let t = format!("<total_tokens>{left} tokens left</total_tokens>");
        let mut a = JsonBuf::with_capacity(128);
        a.raw(r#"{"type":"total_tokens_reminder","text":"#)
            .str(&t)
            .raw("}");
        let r = Self::reminder(&t);
        self.attachment(c, &a.b, Some(&r), "system", false)
    }

    // ----------------------------------------------------------------------------------
    // Requests and responses
    // ----------------------------------------------------------------------------------

    /// `api-request-shape` (once per thread), `api-request-blob`(s) and `api-request`; fixes
    /// the input side of the next response's usage.
    fn request(
        &mut self,
        c: &mut Convo,
        blob_texts: &[String],
        blob_is_tool_result: bool,
    ) -> Result<()> {
        let v = self.variant(c);
        let ts = self.tick(20, 400);
        let shape_hash = if c.sdk {
            &v.shape_hash_sdk
        } else {
            &v.shape_hash_cli
        };
        if !c.shape_written {
            c.shape_written = true;
            self.buf.clear();
            self.buf
                .raw(r#"{"type":"api-request-shape","sessionId":"#)
                .str(&c.session_id);
            if let Some(a) = &c.agent_id {
                self.buf.raw(r#","agentId":"#).str(a);
            }
            self.buf
                .raw(r#","shapeHash":"#)
                .str(shape_hash)
                .raw(r#","timestamp":"#)
                .ts(ts)
                .raw(r#","version":""#)
                .raw(VERSION)
                .raw(r#"","shape":{"system":[{"type":"text","text":"#)
                .str(if c.sdk {
                    statics::CLI_PREFIX_SDK
                } else {
                    statics::CLI_PREFIX_CLI
                })
                .raw("},")
                .raw_bytes(&v.shape_tail)
                .raw("}");
            self.emit(c, None)?;
        }
        let mut tail = Vec::new();
        if c.last_request.is_some() {
            // Hash of the previous assistant message.
            tail.push(ids::hex64(&mut self.rng));
        }
        if !blob_texts.is_empty() {
            let hash = ids::hex64(&mut self.rng);
            self.buf.clear();
            self.buf
                .raw(r#"{"type":"api-request-blob","sessionId":"#)
                .str(&c.session_id);
            if let Some(a) = &c.agent_id {
                self.buf.raw(r#","agentId":"#).str(a);
            }
            self.buf
                .raw(r#","hash":"#)
                .str(&hash)
                .raw(r#","message":{"role":"user","content":["#);
            for (i, t) in blob_texts.iter().enumerate() {
                if i > 0 {
                    self.buf.raw(",");
                }
                if blob_is_tool_result {
                    // `t` is a pre-serialized tool_result block.
                    self.buf.raw(t);
                } else {
                    self.buf.raw(r#"{"type":"text","text":"#).str(t).raw("}");
                }
            }
            self.buf.raw("]}}");
            self.emit(c, None)?;
            tail.push(hash);
        }
        if c.is_sub() && c.last_request.is_none() {
            // Subagents also send their reminders as a system blob, identical across threads.
            let hash = v.system_blob_hash.clone();
            self.buf.clear();
            self.buf
                .raw(r#"{"type":"api-request-blob","sessionId":"#)
                .str(&c.session_id)
                .raw(r#","agentId":"#)
                .opt_str(c.agent_id.as_deref())
                .raw(r#","hash":"#)
                .str(&hash)
                .raw(r#","message":{"role":"system","content":[{"type":"text","text":"#)
                .str(&self.cx.statics.env_reminder_tail)
                .raw("}]}}");
            self.emit(c, None)?;
            tail.push(hash);
        }
        let id = ids::uuid_v4(&mut self.rng);
        let query_source = match c.agent_type {
            Some(t) => format!("agent:builtin:{t}"),
            None if c.sdk => "sdk".to_string(),
            None => "repl_main_thread".to_string(),
        };
        self.buf.clear();
        self.buf
            .raw(r#"{"type":"api-request","sessionId":"#)
            .str(&c.session_id);
        if let Some(a) = &c.agent_id {
            self.buf.raw(r#","agentId":"#).str(a);
        }
        self.buf
            .raw(r#","id":"#)
            .str(&id)
            .raw(r#","timestamp":"#)
            .ts(ts)
            .raw(r#","version":""#)
            .raw(VERSION)
            .raw(r#"","querySource":"#)
            .str(&query_source)
            .raw(r#","shapeHash":"#)
            .str(shape_hash)
            .raw(r#","params":{"model":"#)
            .str(c.model)
            .raw(r#","betas":["claude-code-20250219","interleaved-thinking-2025-05-14","context-management-2025-06-27","thinking-token-count-2026-05-13","advanced-tool-use-2025-11-20"],"max_tokens":32000,"thinking":{"budget_tokens":31999,"type":"enabled","display":"omitted"},"context_management":{"edits":[{"type":"clear_thinking_20251015","keep":"all"}]}}"#);
        if let Some(base) = &c.last_request {
            self.buf.raw(r#","base":"#).str(base);
        }
        self.buf
            .raw(r#","keep":"#)
            .u64(c.keep)
            .raw(r#","tail":"#)
            .str_array(&tail);
        let ttl = if c.cache_1h { r#","ttl":"1h""# } else { "" };
        self.buf
            .raw(r#","cacheControl":[{"path":["system",0],"value":{"type":"ephemeral""#)
            .raw(ttl)
            .raw(r#"}},{"path":["system",1],"value":{"type":"ephemeral""#)
            .raw(ttl)
            .raw(r#"}},{"path":["messages","#)
            .u64(c.keep + 1)
            .raw(r#","content",0],"value":{"type":"ephemeral""#)
            .raw(ttl)
            .raw(r#"}}],"requestDigest":"#)
            .str(&ids::hex64(&mut self.rng))
            .raw("}");
        self.emit(c, None)?;
        c.keep += 2;
        c.last_request = Some(id.clone());
        c.pending_request = Some(id);

        // Input side of the usage.
        let sys = v.system_tokens;
        let total_in = (c.ctx_tokens + sys).max(sys + 50);
        let ttl_ms = if c.cache_1h { 3_600_000 } else { 300_000 };
        let warm = c.last_req_ms.is_some_and(|t| self.now - t < ttl_ms) && c.cached_tokens > 0;
        let small = if chance(&mut self.rng, 0.75) {
            1 + idx(&mut self.rng, 12) as u64
        } else {
            12 + zidx(&mut self.rng, 3000) as u64
        }
        .min(total_in / 4);
        let read = if warm {
            c.cached_tokens.min(total_in - small)
        } else if chance(&mut self.rng, 0.6) {
            // The system prompt and tools are shared with other recent sessions.
            sys.min(total_in - small)
        } else {
            0
        };
        let create = total_in - small - read;
        c.pending = Usage {
            input: small,
            output: 0,
            cache_read: read,
            cache_5m: if c.cache_1h { 0 } else { create },
            cache_1h: if c.cache_1h { create } else { 0 },
        };
        c.cached_tokens = total_in;
        c.last_req_ms = Some(self.now);
        Ok(())
    }

    /// Writes one API response as one record per content block and counts it once.
    fn response(&mut self, c: &mut Convo, blocks: &[Block]) -> Result<Vec<String>> {
        let msg = ids::msg_id(&mut self.rng);
        let req = ids::req_id(&mut self.rng);
        let request_ref = c.pending_request.take().unwrap_or_default();
        let has_tools = blocks.iter().any(|b| matches!(b, Block::ToolUse(_)));
        let stop = if has_tools { "tool_use" } else { "end_turn" };
        // Output tokens from the content.
        let mut out_bytes = 0usize;
        let mut thinking = 0u64;
        for b in blocks {
            match b {
                Block::Thinking(t, _) => {
                    out_bytes += t.len();
                    thinking += (t.len() / 4) as u64 + 20;
                }
                Block::Text(t) => out_bytes += t.len(),
                Block::ToolUse(t) => out_bytes += t.input.len() + t.name.len() + 10,
            }
        }
        let output = (out_bytes / 4) as u64 + thinking / 2 + self.rng.random_range(8..60);
        let mut usage = c.pending;
        usage.output = output;

        // Timestamps: latency, then a few ms between blocks; never straddle a UTC midnight.
        let latency = lognormal(&mut self.rng, 4000.0, 0.8) as i64 + (output as i64) * 12;
        let mut offs = Vec::with_capacity(blocks.len());
        let mut t = latency.max(300);
        for (i, _) in blocks.iter().enumerate() {
            if i > 0 {
                t += self.rng.random_range(1..600);
            }
            offs.push(t);
        }
        let mut start = self.now;
        let last = start + offs.last().copied().unwrap_or(0);
        if (start + offs[0]).div_euclid(DAY_MS) != last.div_euclid(DAY_MS) {
            start = last.div_euclid(DAY_MS) * DAY_MS + self.rng.random_range(1..400) - offs[0];
        }
        c.api_ms += latency;

        let mut uuids = Vec::with_capacity(blocks.len());
        let mut any_intact = false;
        let mut day = String::new();
        for (i, b) in blocks.iter().enumerate() {
            let ts = start + offs[i];
            let uuid = ids::uuid_v4(&mut self.rng);
            self.head(c, false);
            self.buf
                .raw(r#","message":{"id":"#)
                .str(&msg)
                .raw(r#","type":"message","role":"assistant","model":"#)
                .str(c.model)
                .raw(r#","content":["#);
            match b {
                Block::Thinking(t, sig) => {
                    self.buf
                        .raw(r#"{"type":"thinking","thinking":"#)
                        .str(t)
                        .raw(r#","signature":"#)
                        .str(sig)
                        .raw("}");
                }
                Block::Text(t) => {
                    self.buf.raw(r#"{"type":"text","text":"#).str(t).raw("}");
                }
                Block::ToolUse(t) => {
                    self.buf
                        .raw(r#"{"type":"tool_use","id":"#)
                        .str(&t.id)
                        .raw(r#","name":"#)
                        .str(&t.name)
                        .raw(r#","input":"#)
                        .raw_bytes(&t.input)
                        .raw("}");
                }
            }
            self.buf
                .raw(r#"],"stop_reason":"#)
                .str(stop)
                .raw(r#","stop_sequence":null,"usage":{"input_tokens":"#)
                .u64(usage.input)
                .raw(r#","cache_creation_input_tokens":"#)
                .u64(usage.cache_5m + usage.cache_1h)
                .raw(r#","cache_read_input_tokens":"#)
                .u64(usage.cache_read)
                .raw(r#","output_tokens":"#)
                .u64(usage.output)
                .raw(r#","output_tokens_details":{"thinking_tokens":"#)
                .u64(thinking)
                .raw(r#"},"server_tool_use":{"web_search_requests":0,"web_fetch_requests":0},"service_tier":"standard","cache_creation":{"ephemeral_1h_input_tokens":"#)
                .u64(usage.cache_1h)
                .raw(r#","ephemeral_5m_input_tokens":"#)
                .u64(usage.cache_5m)
                .raw(r#"},"inference_geo":"","iterations":[],"speed":"standard","fallback_credit":null},"stop_details":null}"#);
            if matches!(b, Block::ToolUse(_)) {
                self.buf
                    .raw(r#","toolInputStreamMs":"#)
                    .u64(self.rng.random_range(1..40));
            }
            self.buf
                .raw(r#","apiBlockIndex":"#)
                .u64(i as u64)
                .raw(r#","requestId":"#)
                .str(&req)
                .raw(r#","requestRef":"#)
                .str(&request_ref)
                .raw(r#","requestedModel":"#)
                .str(c.model)
                .raw(r#","promptCacheRequested":"#)
                .str(if c.cache_1h { "1h" } else { "5m" });
            if let Some(t) = c.agent_type {
                self.buf.raw(r#","attributionAgent":"#).str(t);
            }
            self.buf.raw(r#","type":"assistant""#);
            self.uuid_ts(&uuid, ts);
            self.buf
                .raw(r#","perTurnEffort":null,"madeBy":"model""#)
                .raw_bytes(&c.env_tail);
            let intact = self.emit(c, Some(ts))?;
            if intact {
                any_intact = true;
                day = ids::date_string(ts);
                if let Block::ToolUse(t) = b
                    && self.acc.tool_ids.insert(t.id.clone())
                {
                    c.stats.tool_calls += 1;
                }
            }
            c.parent = Some(uuid.clone());
            uuids.push(uuid);
        }
        self.now = start + offs.last().copied().unwrap_or(0);
        if any_intact && self.acc.counted.insert((msg, req)) {
            let e = self
                .acc
                .daily
                .entry((day, c.model.to_string()))
                .or_default();
            e.0.add(&usage);
            e.1 += 1;
            c.stats.responses += 1;
        }
        let mt = c.model_totals.entry(c.model).or_default();
        mt.usage.add(&usage);
        mt.thinking += thinking;
        c.ctx_tokens += output;
        Ok(uuids)
    }

    /// Claude Code's synthetic assistant record for a failed API call (not billed).
    fn synthetic_error(&mut self, c: &mut Convo) -> Result<()> {
        let ts = self.tick(2000, 30_000);
        let uuid = ids::uuid_v4(&mut self.rng);
        let id = ids::uuid_v4(&mut self.rng);
        self.head(c, false);
        self.buf
            .raw(r#","message":{"id":"#)
            .str(&id)
            .raw(r#","container":null,"model":"<synthetic>","role":"assistant","stop_reason":"stop_sequence","stop_sequence":"","type":"message","usage":{"input_tokens":0,"output_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"server_tool_use":{"web_search_requests":0,"web_fetch_requests":0},"service_tier":null,"cache_creation":{"ephemeral_1h_input_tokens":0,"ephemeral_5m_input_tokens":0}},"content":[{"type":"text","text":"#)
            .str(r#"API Error: 529 {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#)
            .raw(r#"}]},"type":"assistant""#);
        self.uuid_ts(&uuid, ts);
        self.buf
            .raw(r#","isApiErrorMessage":true"#)
            .raw_bytes(&c.env_tail);
        self.emit(c, Some(ts))?;
        c.parent = Some(uuid);
        c.pending_request = None;
        self.acc.totals.synthetic_messages += 1;
        Ok(())
    }

    // ----------------------------------------------------------------------------------
    // Tools
    // ----------------------------------------------------------------------------------

    fn choose_tool(&mut self, c: &Convo, allow_agent: bool) -> &'static str {
        let mcp = !statics::MCP_SETS[self.proj.mcp_set].is_empty() && c.variant.0 == 0;
        let full = c.variant.0 == 0;
        loop {
            let name = match idx(&mut self.rng, 100) {
                0..=29 => "Bash",
                30..=54 => "Read",
                55..=66 => "Edit",
                67..=70 => "Write",
                71..=78 => "Grep",
                79..=83 => "Glob",
                84..=88 => "TodoWrite",
                89..=91 => "Agent",
                92..=93 => "WebFetch",
                _ => "mcp",
            };
            let ok = match name {
                "Agent" => allow_agent && full && self.remaining() > 250_000,
                "WebFetch" => full,
                "mcp" => mcp,
                "Write" | "Edit" | "TodoWrite" => c.agent_type != Some("Explore"),
                _ => true,
            };
            if ok {
                return name;
            }
        }
    }

    /// How a tool call ends. Per mille: permission rejections 15 (Bash, Edit, Write,
    /// WebFetch), interruptions 7 (interactive Bash), plain errors by tool.
    fn outcome(&mut self, name: &str, c: &Convo) -> Outcome {
        let r = idx(&mut self.rng, 1000);
        let rejectable = matches!(name, "Bash" | "Edit" | "Write" | "WebFetch");
        if rejectable && r < 15 {
            return if c.is_sub() || c.sdk || r < 6 {
                Outcome::RejectConfig
            } else {
                Outcome::RejectUser
            };
        }
        if name == "Bash" && !c.is_sub() && !c.sdk && (15..22).contains(&r) {
            return Outcome::Interrupt;
        }
        let error_per_mille = match name {
            "Bash" => 70,
            "Edit" => 50,
            "Read" => 30,
            "WebFetch" => 60,
            "Grep" => 20,
            "Write" => 10,
            "Agent" | "TodoWrite" | "Glob" => 0,
            _ => 50,
        };
        if (22..22 + error_per_mille).contains(&r) {
            Outcome::Error
        } else {
            Outcome::Ok
        }
    }

    /// Output size for a tool result: mostly small, some long (50-200 KB) when the budget allows.
    fn output_len(&mut self, median: f64) -> usize {
        let rem = self.remaining() as usize;
        if chance(&mut self.rng, 0.03) && rem > 800_000 {
            return self.rng.random_range(50_000..200_000);
        }
        (lognormal(&mut self.rng, median, 1.0) as usize).clamp(20, (rem / 6).max(200))
    }

    fn plan_tool(
        &mut self,
        c: &Convo,
        name: &'static str,
        forced_cmd: Option<&str>,
    ) -> PlannedTool {
        let id = ids::tool_use_id(&mut self.rng);
        let tx = self.tx();
        let mut input = JsonBuf::with_capacity(512);
        let cwd = &c.cwd;
        let abs = |p: &str| format!("{cwd}/{p}");
        let (tool_name, action) = match name {
            "Bash" => {
                let mut cmd = String::new();
                match forced_cmd {
                    Some(f) => cmd.push_str(f),
                    None => tx.command(&mut self.rng, &mut cmd),
                }
                let desc = describe_command(&cmd);
                input
                    .raw(r#"{"command":"#)
                    .str(&cmd)
                    .raw(r#","description":"#)
                    .str(desc);
                if chance(&mut self.rng, 0.1) {
                    input.raw(r#","timeout":"#).u64(120_000);
                }
                input.raw("}");
                let out_len = self.output_len(700.0);
                ("Bash".to_string(), Action::Bash { cmd, out_len })
            }
            "Read" => {
                let path = abs(self.proj.text.file(&mut self.rng));
                input.raw(r#"{"file_path":"#).str(&path);
                let mut lines = (self.output_len(3500.0) / 36).max(3);
                let mut start = 1;
                if chance(&mut self.rng, 0.15) {
                    start = 1 + zidx(&mut self.rng, 400) as u64;
                    lines = lines.min(200);
                    input
                        .raw(r#","offset":"#)
                        .u64(start)
                        .raw(r#","limit":"#)
                        .u64(200);
                }
                input.raw("}");
                ("Read".to_string(), Action::Read { path, lines, start })
            }
            "Edit" => {
                let path = abs(self.proj.text.file(&mut self.rng));
                let mut original = String::new();
                let n = (self.output_len(2500.0) / 36).max(6);
                tx.file_content(&mut self.rng, &path, n, &mut original);
                let lines: Vec<&str> = original.lines().collect();
                let at = idx(&mut self.rng, lines.len().max(1));
                let span = (1 + idx(&mut self.rng, 4)).min(lines.len() - at.min(lines.len()));
                let old = lines[at.min(lines.len())..(at + span).min(lines.len())].join("\n");
                let mut new = String::new();
                let n_new = span.max(1) + idx(&mut self.rng, 3);
                tx.code_lines(&mut self.rng, &mut new, self.proj.text.lang, n_new);
                let new = new.trim_end().to_string();
                input
                    .raw(r#"{"file_path":"#)
                    .str(&path)
                    .raw(r#","old_string":"#)
                    .str(&old)
                    .raw(r#","new_string":"#)
                    .str(&new)
                    .raw(r#","replace_all":false}"#);
                (
                    "Edit".to_string(),
                    Action::Edit {
                        path,
                        old,
                        new,
                        original,
                    },
                )
            }
            "Write" => {
                let path = abs(self.proj.text.file(&mut self.rng));
                let mut content = String::new();
                let n = (self.output_len(1800.0) / 36).max(3);
                tx.file_content(&mut self.rng, &path, n, &mut content);
                input
                    .raw(r#"{"file_path":"#)
                    .str(&path)
                    .raw(r#","content":"#)
                    .str(&content)
                    .raw("}");
                ("Write".to_string(), Action::Write { path, content })
            }
            "Grep" => {
                let mut pat = String::new();
                {
                    let tpl = pick(
                        &mut self.rng,
                        &[
                            "{f}",
                            "fn {f}",
                            "{T}::",
                            "TODO|FIXME",
                            "{v}\\s*=",
                            "import .*{m}",
                        ],
                    );
                    tx.expand(&mut self.rng, tpl, &mut pat);
                }
                let content_mode = chance(&mut self.rng, 0.4);
                input
                    .raw(r#"{"pattern":"#)
                    .str(&pat)
                    .raw(r#","path":"#)
                    .str(&abs(self.proj.text.dir(&mut self.rng)));
                if content_mode {
                    input.raw(r#","output_mode":"content","-n":true"#);
                } else {
                    input.raw(r#","output_mode":"files_with_matches""#);
                }
                input.raw("}");
                let n = 1 + zidx(&mut self.rng, 60);
                ("Grep".to_string(), Action::Grep { content_mode, n })
            }
            "Glob" => {
                let mut pat = String::from("**/");
                {
                    let tpl = pick(&mut self.rng, &["*{m}*", "*.", "{m}/**/*."]);
                    tx.expand(&mut self.rng, tpl, &mut pat);
                }
                if pat.ends_with('.') {
                    pat.push_str(self.proj.text.lang.ext());
                }
                input.raw(r#"{"pattern":"#).str(&pat).raw("}");
                let n = zidx(&mut self.rng, 80);
                ("Glob".to_string(), Action::Glob { n })
            }
            "TodoWrite" => {
                let old = c.todos.clone();
                let mut new = c.todos.clone();
                if new.is_empty() || chance(&mut self.rng, 0.2) {
                    new.clear();
                    for _ in 0..(2 + idx(&mut self.rng, 6)) {
                        let (verb, ing) = TODO_VERBS[idx(&mut self.rng, TODO_VERBS.len())];
                        let mut object = String::new();
                        let tpl = pick(
                            &mut self.rng,
                            &[
                                "the {noun} in {m}",
                                "tests for {f}",
                                "the {adj} {noun}",
                                "docs for {T}",
                                "{path}",
                            ],
                        );
                        tx.expand(&mut self.rng, tpl, &mut object);
                        new.push(Todo {
                            content: format!("{verb} {object}"),
                            active_form: format!("{ing} {object}"),
                            status: "pending",
                        });
                    }
                    new[0].status = "in_progress";
                } else if let Some(k) = new.iter().position(|t| t.status != "completed") {
                    new[k].status = "completed";
                    if let Some(n) = new.get_mut(k + 1) {
                        n.status = "in_progress";
                    }
                }
                input.raw(r#"{"todos":"#);
                write_todos(&mut input, &new);
                input.raw("}");
                ("TodoWrite".to_string(), Action::Todo { old, new })
            }
            "WebFetch" => {
                let mut url = String::from("https://docs.");
                tx.expand(&mut self.rng, "{m}.dev/{m}/{verb}-{v}", &mut url);
                let mut prompt = String::new();
                tx.expand(
                    &mut self.rng,
                    "How do I {verb} a {noun} with {T}?",
                    &mut prompt,
                );
                input
                    .raw(r#"{"url":"#)
                    .str(&url)
                    .raw(r#","prompt":"#)
                    .str(&prompt)
                    .raw("}");
                ("WebFetch".to_string(), Action::WebFetch { url })
            }
            "Agent" => {
                let agent_type = if chance(&mut self.rng, 0.5) {
                    "Explore"
                } else {
                    "general-purpose"
                };
                let mut description = String::new();
                {
                    let tpl = pick(
                        &mut self.rng,
                        &[
                            "Survey {m}",
                            "Find {noun} usages",
                            "Explore {dir}",
                            "Review {m} changes",
                            "Investigate {adj} {noun}",
                        ],
                    );
                    tx.expand(&mut self.rng, tpl, &mut description);
                }
                let mut prompt = String::new();
                tx.expand(&mut self.rng, "Look through {dir} and find where {f} is used. Report the files, the call sites and anything {adj} about how {T} is built. Do not edit anything.", &mut prompt);
                let background = !c.is_sub() && chance(&mut self.rng, 0.25);
                let model = if agent_type == "Explore" {
                    HAIKU
                } else {
                    c.model
                };
                input
                    .raw(r#"{"description":"#)
                    .str(&description)
                    .raw(r#","subagent_type":"#)
                    .str(agent_type)
                    .raw(r#","prompt":"#)
                    .str(&prompt);
                if background {
                    input.raw(r#","run_in_background":true"#);
                }
                input.raw("}");
                (
                    "Agent".to_string(),
                    Action::Agent {
                        agent_type,
                        description,
                        prompt,
                        background,
                        model,
                    },
                )
            }
            _ => {
                let servers = statics::MCP_SETS[self.proj.mcp_set];
                let server = servers
                    [idx(&mut self.rng, servers.len().max(1)).min(servers.len().saturating_sub(1))];
                let (tool, inp): (&str, String) = match server {
                    "github" => (
                        "get_pull_request",
                        format!(
                            r#"{{"owner":"dev","repo":"{}","pull_number":{}}}"#,
                            self.proj.text.package,
                            1 + zidx(&mut self.rng, 900)
                        ),
                    ),
                    "postgres" => ("query", {
                        let mut q = String::new();
                        tx.expand(
                            &mut self.rng,
                            "SELECT {v}, count(*) FROM {m} WHERE {v} > {n} GROUP BY 1 LIMIT 50",
                            &mut q,
                        );
                        let mut b = JsonBuf::default();
                        b.raw(r#"{"sql":"#).str(&q).raw("}");
                        String::from_utf8_lossy(&b.b).into_owned()
                    }),
                    "linear" => (
                        "search_issues",
                        format!(
                            r#"{{"query":"{}","limit":20}}"#,
                            text::pick(&mut self.rng, text::NOUN)
                        ),
                    ),
                    "playwright" => ("browser_snapshot", "{}".to_string()),
                    _ => (
                        "get_issue",
                        format!(r#"{{"issue_id":"{}"}}"#, ids::hex_n(&mut self.rng, 10)),
                    ),
                };
                input.raw(&inp);
                (format!("mcp__{server}__{tool}"), Action::Mcp)
            }
        };
        let outcome = if forced_cmd.is_some() {
            Outcome::Error
        } else {
            self.outcome(name, c)
        };
        PlannedTool {
            id,
            name: tool_name,
            input: input.b,
            action,
            outcome,
        }
    }

    /// Runs a planned tool (a subagent for `Agent`) and builds its result.
    fn execute(&mut self, c: &mut Convo, t: &PlannedTool) -> Result<ToolResult> {
        let tx = self.tx();
        let mut content = JsonBuf::with_capacity(1024);
        let mut tur = JsonBuf::with_capacity(1024);
        let decision = if c.is_sub() || c.sdk {
            ACCEPT_SDK
        } else if chance(&mut self.rng, 0.7) {
            ACCEPT_LOCAL
        } else {
            ACCEPT_USER
        };
        let mut res = ToolResult {
            content: Vec::new(),
            is_error: None,
            tur: None,
            sandboxed: None,
            decision,
            denial_kind: None,
            duration_ms: self.rng.random_range(5..400),
            tokens: 0,
            blob_text: String::new(),
        };
        let text_result =
            |res: &mut ToolResult, content: &mut JsonBuf, s: &str, is_error: Option<bool>| {
                content.clear();
                content.str(s);
                res.is_error = is_error;
                res.tokens = (s.len() / 4) as u64 + 5;
                res.blob_text = s.to_string();
            };
        match t.outcome {
            Outcome::RejectConfig => {
                let msg = match &t.action {
                    Action::Bash { cmd, .. } => format!(
                        "{} in '{}' needs approval. The path is inside the working directories for this session ('{}'), and Claude Code asks before a shell command creates, changes or removes files there.",
                        cmd.split(' ').next().unwrap_or("command"),
                        c.cwd,
                        c.cwd
                    ),
                    _ => format!(
                        "Permission to use {} has been denied by the permission settings.",
                        t.name
                    ),
                };
                text_result(&mut res, &mut content, &msg, Some(true));
                tur.clear();
                tur.str(&format!("Error: {msg}"));
                res.tur = Some(tur.b);
                res.decision = REJECT_CONFIG;
                res.denial_kind = Some("user-rejected");
                res.content = content.b;
                if matches!(t.action, Action::Bash { .. }) {
                    res.sandboxed = Some(false);
                }
                return Ok(res);
            }
            Outcome::RejectUser => {
                text_result(&mut res, &mut content, USER_REJECT_TEXT, Some(true));
                tur.clear();
                tur.str(&format!("Error: {USER_REJECT_TEXT}"));
                res.tur = Some(tur.b);
                res.decision = REJECT_USER;
                res.denial_kind = Some("user-rejected");
                res.content = content.b;
                res.duration_ms = self.rng.random_range(1500..40_000);
                return Ok(res);
            }
            _ => {}
        }
        let fail = t.outcome == Outcome::Error;
        match &t.action {
            Action::Bash { cmd, out_len } => {
                let mut out = String::with_capacity(*out_len + 256);
                tx.command_output(&mut self.rng, cmd, &mut out, *out_len, fail);
                res.duration_ms = lognormal(&mut self.rng, 1500.0, 1.3) as i64 + 30;
                res.sandboxed = Some(false);
                if t.outcome == Outcome::Interrupt {
                    let cut = out.len() / 2;
                    let mut cut = cut;
                    while !out.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    out.truncate(cut);
                    let shown = format!("{out}\n{INTERRUPT_TOOL}");
                    text_result(&mut res, &mut content, &shown, Some(true));
                    tur.raw(r#"{"stdout":"#).str(&out).raw(r#","stderr":"","interrupted":true,"isImage":false,"noOutputExpected":false}"#);
                } else if fail {
                    let code = pick(&mut self.rng, &["1", "1", "2", "101", "127"]);
                    let shown = format!("Exit code {code}\n{out}");
                    text_result(&mut res, &mut content, &shown, Some(true));
                    tur.str(&format!("Error: {shown}"));
                } else {
                    text_result(&mut res, &mut content, &out, Some(false));
                    tur.raw(r#"{"stdout":"#).str(&out).raw(r#","stderr":"","interrupted":false,"isImage":false,"noOutputExpected":false}"#);
                }
            }
            Action::Read { path, lines, start } => {
                if fail {
                    let msg = format!(
                        "File does not exist. Note: your current working directory is {}.",
                        c.cwd
                    );
                    text_result(&mut res, &mut content, &msg, Some(true));
                    tur.str(&format!("Error: {msg}"));
                } else {
                    let mut body = String::with_capacity(lines * 40);
                    tx.file_content(&mut self.rng, path, *lines, &mut body);
                    let mut numbered = String::with_capacity(body.len() + lines * 6);
                    let mut n = 0u64;
                    for l in body.split('\n') {
                        text::push_num(&mut numbered, start + n);
                        n += 1;
                        numbered.push('\t');
                        numbered.push_str(l);
                        numbered.push('\n');
                    }
                    numbered.pop();
                    text_result(&mut res, &mut content, &numbered, None);
                    tur.raw(r#"{"type":"text","file":{"filePath":"#)
                        .str(path)
                        .raw(r#","content":"#)
                        .str(&body)
                        .raw(r#","numLines":"#)
                        .u64(n)
                        .raw(r#","startLine":"#)
                        .u64(*start)
                        .raw(r#","totalLines":"#)
                        .u64(
                            start - 1
                                + n
                                + if *start > 1 {
                                    zidx(&mut self.rng, 300) as u64
                                } else {
                                    0
                                },
                        )
                        .raw("}}");
                }
                res.duration_ms = self.rng.random_range(3..120);
            }
            Action::Edit {
                path,
                old,
                new,
                original,
            } => {
                if fail {
                    let msg = format!("String to replace not found in file.\nString: {old}");
                    text_result(
                        &mut res,
                        &mut content,
                        &format!("<tool_use_error>{msg}</tool_use_error>"),
                        Some(true),
                    );
                    tur.str(&format!("Error: {msg}"));
                } else {
                    let msg = format!(
                        "The file {path} has been updated successfully. (file state is current in your context — no need to Read it back)"
                    );
                    text_result(&mut res, &mut content, &msg, None);
                    let start = 1 + original
                        .lines()
                        .take_while(|l| !old.starts_with(*l) || l.is_empty())
                        .count() as u64;
                    let old_n = old.lines().count().max(1) as u64;
                    let new_n = new.lines().count().max(1) as u64;
                    tur.raw(r#"{"filePath":"#)
                        .str(path)
                        .raw(r#","oldString":"#)
                        .str(old)
                        .raw(r#","newString":"#)
                        .str(new)
                        .raw(r#","originalFile":"#)
                        .str(original)
                        .raw(r#","structuredPatch":[{"oldStart":"#)
                        .u64(start)
                        .raw(r#","oldLines":"#)
                        .u64(old_n)
                        .raw(r#","newStart":"#)
                        .u64(start)
                        .raw(r#","newLines":"#)
                        .u64(new_n)
                        .raw(r#","lines":["#);
                    let mut first = true;
                    for (p, s) in old
                        .lines()
                        .map(|l| ('-', l))
                        .chain(new.lines().map(|l| ('+', l)))
                    {
                        if !first {
                            tur.raw(",");
                        }
                        first = false;
                        tur.str(&format!("{p}{s}"));
                    }
                    tur.raw(r#"]}],"userModified":false,"replaceAll":false}"#);
                    c.lines_added += new_n;
                    c.lines_removed += old_n;
                }
            }
            Action::Write {
                path,
                content: body,
            } => {
                let msg = format!("File created successfully at: {path}");
                text_result(&mut res, &mut content, &msg, None);
                tur.raw(r#"{"type":"create","filePath":"#)
                    .str(path)
                    .raw(r#","content":"#)
                    .str(body)
                    .raw(r#","structuredPatch":[],"originalFile":null}"#);
                c.lines_added += body.lines().count() as u64;
            }
            Action::Grep { content_mode, n } => {
                if fail {
                    let msg =
                        "<tool_use_error>Error: regex parse error: unclosed group</tool_use_error>";
                    text_result(&mut res, &mut content, msg, Some(true));
                    tur.str("Error: regex parse error: unclosed group");
                } else if *content_mode {
                    let mut out = String::new();
                    tx.command_output(&mut self.rng, "rg -n x", &mut out, n * 80, false);
                    text_result(&mut res, &mut content, &out, None);
                    tur.raw(r#"{"mode":"content","numFiles":0,"filenames":[],"content":"#)
                        .str(&out)
                        .raw(r#","numLines":"#)
                        .u64(out.lines().count() as u64)
                        .raw("}");
                } else {
                    let files: Vec<String> = (0..*n)
                        .map(|_| format!("{}/{}", c.cwd, self.proj.text.file(&mut self.rng)))
                        .collect();
                    let out = format!("Found {} files\n{}", files.len(), files.join("\n"));
                    text_result(&mut res, &mut content, &out, None);
                    tur.raw(r#"{"mode":"files_with_matches","filenames":"#)
                        .str_array(&files)
                        .raw(r#","numFiles":"#)
                        .u64(files.len() as u64)
                        .raw("}");
                }
            }
            Action::Glob { n } => {
                let files: Vec<String> = (0..*n)
                    .map(|_| format!("{}/{}", c.cwd, self.proj.text.file(&mut self.rng)))
                    .collect();
                let out = if files.is_empty() {
                    "No files found".to_string()
                } else {
                    files.join("\n")
                };
                text_result(&mut res, &mut content, &out, None);
                tur.raw(r#"{"filenames":"#)
                    .str_array(&files)
                    .raw(r#","durationMs":"#)
                    .u64(self.rng.random_range(2..90))
                    .raw(r#","numFiles":"#)
                    .u64(files.len() as u64)
                    .raw(r#","truncated":false}"#);
            }
            Action::Todo { old, new } => {
                text_result(
                    &mut res,
                    &mut content,
                    "Todos have been modified successfully. Ensure that you continue to use the todo list to track your progress. Please proceed with the current tasks if applicable",
                    None,
                );
                tur.raw(r#"{"oldTodos":"#);
                write_todos(&mut tur, old);
                tur.raw(r#","newTodos":"#);
                write_todos(&mut tur, new);
                tur.raw("}");
                c.todos.clone_from(new);
            }
            Action::WebFetch { url } => {
                res.duration_ms = self.rng.random_range(400..9000);
                if fail {
                    let msg = "Request failed with status code 404";
                    text_result(&mut res, &mut content, msg, Some(true));
                    tur.str(&format!("Error: {msg}"));
                } else {
                    let mut body = String::new();
                    let n = 3 + idx(&mut self.rng, 12);
                    for _ in 0..n {
                        tx.sentence(&mut self.rng, &mut body);
                        body.push(' ');
                    }
                    body.push_str("\n\n```\n");
                    let n_code = 4 + idx(&mut self.rng, 10);
                    tx.code_lines(&mut self.rng, &mut body, self.proj.text.lang, n_code);
                    body.push_str("```");
                    text_result(&mut res, &mut content, &body, None);
                    tur.raw(r#"{"bytes":"#)
                        .u64(body.len() as u64 * 7)
                        .raw(r#","code":200,"codeText":"OK","result":"#)
                        .str(&body)
                        .raw(r#","durationMs":"#)
                        .u64(res.duration_ms as u64)
                        .raw(r#","url":"#)
                        .str(url)
                        .raw("}");
                }
            }
            Action::Mcp => {
                res.duration_ms = self.rng.random_range(50..3000);
                if fail {
                    let server = t.name.split("__").nth(1).unwrap_or("mcp");
                    let msg = format!(
                        "MCP error -32603: {server} request failed: {}",
                        pick(
                            &mut self.rng,
                            &["timeout", "rate limited", "not found", "unauthorized"]
                        )
                    );
                    text_result(&mut res, &mut content, &msg, Some(true));
                    tur.str(&format!("Error: {msg}"));
                } else {
                    let mut body = String::new();
                    let n_log = 2 + idx(&mut self.rng, 20);
                    tx.log_lines(&mut self.rng, &mut body, n_log);
                    content.clear();
                    content
                        .raw(r#"[{"type":"text","text":"#)
                        .str(&body)
                        .raw("}]");
                    res.is_error = None;
                    res.tokens = (body.len() / 4) as u64;
                    tur.raw(r#"[{"type":"text","text":"#).str(&body).raw("}]");
                    res.blob_text = body;
                }
            }
            Action::Agent {
                agent_type,
                description,
                prompt,
                background,
                model,
            } => {
                let launch = self.now;
                let sub = self.run_subagent(
                    c,
                    &t.id,
                    agent_type,
                    description,
                    prompt,
                    *background,
                    model,
                )?;
                Self::merge_sub_usage(c, &sub);
                let aid = sub.agent_id.clone();
                if *background {
                    self.now = launch + self.rng.random_range(100..600);
                    let out_file = format!(
                        "/tmp/claude-1000/{}/{}/tasks/{aid}.output",
                        self.proj.encoded, c.session_id
                    );
                    let msg = format!(
                        "Async agent launched successfully.\nagentId: {aid} (internal ID - do not mention to user. Use SendMessage with to: '{aid}' to continue this agent.)\nThe agent is working in the background. You will be notified automatically when it completes.\noutput_file: {out_file}"
                    );
                    content.clear();
                    content
                        .raw(r#"[{"type":"text","text":"#)
                        .str(&msg)
                        .raw("}]");
                    res.tokens = (msg.len() / 4) as u64;
                    res.blob_text = msg;
                    tur.raw(r#"{"isAsync":true,"status":"async_launched","agentId":"#)
                        .str(&aid)
                        .raw(r#","description":"#)
                        .str(description)
                        .raw(r#","resolvedModel":"#)
                        .str(model)
                        .raw(r#","prompt":"#)
                        .str(prompt)
                        .raw(r#","outputFile":"#)
                        .str(&out_file)
                        .raw(r#","canReadOutputFile":true,"canContinueAgent":true}"#);
                    self.notifications.push(Notification {
                        tool_use_id: t.id.clone(),
                        sub,
                        description: description.clone(),
                    });
                } else {
                    self.now = self.now.max(sub.end_ms) + self.rng.random_range(10..200);
                    let usage_text = format!(
                        "agentId: {aid} (use SendMessage with to: '{aid}' to continue this agent)\n<usage>subagent_tokens: {}\ntool_uses: {}\nduration_ms: {}</usage>",
                        sub.total_tokens, sub.tool_uses, sub.duration_ms
                    );
                    content.clear();
                    content
                        .raw(r#"[{"type":"text","text":"#)
                        .str(&sub.report)
                        .raw(r#"},{"type":"text","text":"#)
                        .str(&usage_text)
                        .raw("}]");
                    res.tokens = ((sub.report.len() + usage_text.len()) / 4) as u64;
                    res.blob_text = format!("{}\n{usage_text}", sub.report);
                    let u = sub.usage;
                    tur.raw(r#"{"status":"completed","prompt":"#)
                        .str(prompt)
                        .raw(r#","agentId":"#)
                        .str(&aid)
                        .raw(r#","content":[{"type":"text","text":"#)
                        .str(&sub.report)
                        .raw(r#"}],"totalDurationMs":"#)
                        .u64(sub.duration_ms as u64)
                        .raw(r#","totalTokens":"#)
                        .u64(sub.total_tokens)
                        .raw(r#","totalToolUseCount":"#)
                        .u64(sub.tool_uses)
                        .raw(r#","usage":{"input_tokens":"#)
                        .u64(u.input)
                        .raw(r#","cache_creation_input_tokens":"#)
                        .u64(u.cache_5m + u.cache_1h)
                        .raw(r#","cache_read_input_tokens":"#)
                        .u64(u.cache_read)
                        .raw(r#","output_tokens":"#)
                        .u64(u.output)
                        .raw("}}");
                }
                res.content = content.b;
                res.tur = Some(tur.b);
                res.duration_ms = 0;
                return Ok(res);
            }
        }
        if res.content.is_empty() {
            res.content = content.b;
        }
        if !tur.b.is_empty() {
            res.tur = Some(tur.b);
        }
        Ok(res)
    }

    /// Writes the `tool_result` user record for a finished tool call.
    fn tool_result(
        &mut self,
        c: &mut Convo,
        t: &PlannedTool,
        r: &ToolResult,
        source_uuid: &str,
    ) -> Result<()> {
        let ts = self.tick(r.duration_ms.max(1), r.duration_ms.max(1) + 40);
        c.tool_ms += r.duration_ms;
        let uuid = ids::uuid_v4(&mut self.rng);
        self.head(c, true);
        self.buf
            .raw(r#","type":"user","message":{"role":"user","content":["#);
        if r.is_error == Some(true) {
            self.buf
                .raw(r#"{"type":"tool_result","content":"#)
                .raw_bytes(&r.content)
                .raw(r#","is_error":true,"tool_use_id":"#)
                .str(&t.id)
                .raw("}");
        } else {
            self.buf
                .raw(r#"{"tool_use_id":"#)
                .str(&t.id)
                .raw(r#","type":"tool_result","content":"#)
                .raw_bytes(&r.content);
            if r.is_error == Some(false) {
                self.buf.raw(r#","is_error":false"#);
            }
            self.buf.raw("}");
        }
        self.buf.raw("]}");
        self.uuid_ts(&uuid, ts);
        if let Some(tur) = &r.tur {
            self.buf.raw(r#","toolUseResult":"#).raw_bytes(tur);
        }
        if let Some(kind) = r.denial_kind {
            self.buf.raw(r#","toolDenialKind":"#).str(kind);
        }
        if let Some(s) = r.sandboxed {
            self.buf.raw(r#","sandboxed":"#).bool(s);
        }
        self.buf
            .raw(r#","sourceToolAssistantUUID":"#)
            .str(source_uuid)
            .raw(r#","permissionDecision":"#)
            .raw(r.decision)
            .raw_bytes(&c.env_tail);
        let intact = self.emit(c, Some(ts))?;
        if intact && r.is_error == Some(true) && self.acc.error_ids.insert(t.id.clone()) {
            c.stats.tool_errors += 1;
        }
        c.parent = Some(uuid);
        c.ctx_tokens += r.tokens.min(30_000);
        if r.decision == REJECT_CONFIG || r.decision == REJECT_USER {
            c.stats.rejections += 1;
            self.acc.totals.permission_rejections += 1;
        }
        Ok(())
    }

    /// The request blob text for a step's tool results: serialized `tool_result` blocks.
    fn result_blobs(&self, results: &[(String, ToolResult)]) -> Vec<String> {
        results
            .iter()
            .map(|(id, r)| {
                let mut b = JsonBuf::with_capacity(r.blob_text.len() + 200);
                b.raw(r#"{"tool_use_id":"#)
                    .str(id)
                    .raw(r#","type":"tool_result","content":"#);
                let mut s = String::with_capacity(r.blob_text.len() + 120);
                s.push_str(&r.blob_text);
                s.push_str("\n\n<system-reminder>\n");
                s.push_str(&self.cx.statics.env_reminder_tail);
                s.push_str("\n</system-reminder>");
                b.str(&s);
                if let Some(e) = r.is_error {
                    b.raw(r#","is_error":"#).bool(e);
                }
                b.raw("}");
                String::from_utf8_lossy(&b.b).into_owned()
            })
            .collect()
    }

    // ----------------------------------------------------------------------------------
    // Conversation flow
    // ----------------------------------------------------------------------------------

    fn thinking_block(&mut self) -> Block {
        let tx = self.tx();
        let mut t = String::new();
        if chance(&mut self.rng, 0.3) {
            // display "omitted": the text is not kept, only the signature.
        } else {
            tx.thinking(&mut self.rng, &mut t);
        }
        let n = self.rng.random_range(200..900);
        Block::Thinking(t, ids::signature(&mut self.rng, n))
    }

    fn final_blocks(&mut self) -> Vec<Block> {
        let tx = self.tx();
        let mut blocks = Vec::new();
        if chance(&mut self.rng, 0.25) {
            blocks.push(self.thinking_block());
        }
        let mut s = String::new();
        tx.final_text(&mut self.rng, &mut s);
        blocks.push(Block::Text(s));
        blocks
    }

    fn maybe_compact(&mut self, c: &mut Convo) -> Result<()> {
        let forced =
            self.force_compact && !c.is_sub() && c.ctx_tokens > 8_000 && chance(&mut self.rng, 0.3);
        if c.ctx_tokens < CONTEXT_LIMIT && !forced {
            return Ok(());
        }
        self.force_compact = false;
        let ts = self.tick(20_000, 90_000);
        let uuid = ids::uuid_v4(&mut self.rng);
        self.buf.clear();
        self.buf
            .raw(r#"{"parentUuid":null,"logicalParentUuid":"#)
            .opt_str(c.parent.as_deref())
            .raw(r#","isSidechain":"#)
            .bool(c.is_sub());
        if let Some(a) = &c.agent_id {
            self.buf.raw(r#","agentId":"#).str(a);
        }
        self.buf.raw(r#","type":"system","subtype":"compact_boundary","content":"Conversation compacted","isMeta":false"#);
        self.uuid_ts(&uuid, ts);
        self.buf
            .raw(r#","level":"info","compactMetadata":{"trigger":"#)
            .str(if forced { "manual" } else { "auto" })
            .raw(r#","preTokens":"#)
            .u64(c.ctx_tokens)
            .raw("}")
            .raw_bytes(&c.env_tail);
        self.emit(c, Some(ts))?;
        c.parent = Some(uuid);
        // The summary that replaces the history.
        let tx = self.tx();
        let mut s = String::from(
            "This session is being continued from a previous conversation that ran out of context. The conversation is summarized below:\n\nAnalysis:\n",
        );
        for _ in 0..(4 + idx(&mut self.rng, 8)) {
            s.push_str("- ");
            tx.assistant_text(&mut self.rng, &mut s);
            s.push('\n');
        }
        s.push_str("\nPending tasks:\n");
        for _ in 0..(1 + idx(&mut self.rng, 4)) {
            s.push_str("- ");
            tx.expand(&mut self.rng, "{verb} the {noun} in {path}", &mut s);
            s.push('\n');
        }
        let ts2 = self.tick(1, 20);
        let uuid2 = ids::uuid_v4(&mut self.rng);
        self.head(c, true);
        self.buf
            .raw(r#","type":"user","message":{"role":"user","content":"#)
            .str(&s)
            .raw("}");
        self.buf
            .raw(r#","isVisibleInTranscriptOnly":true,"isCompactSummary":true"#);
        self.uuid_ts(&uuid2, ts2);
        self.buf.raw_bytes(&c.env_tail);
        self.emit(c, Some(ts2))?;
        c.parent = Some(uuid2);
        c.ctx_tokens = (s.len() / 4) as u64 + 2000;
        c.cached_tokens = 0;
        c.stats.compactions += 1;
        self.acc.totals.compactions += 1;
        Ok(())
    }

    /// The model/tool loop of one turn. Returns true if the user interrupted it.
    fn work_loop(
        &mut self,
        c: &mut Convo,
        max_steps: usize,
        mut blobs: Vec<String>,
        mut blob_tr: bool,
    ) -> Result<bool> {
        let mut step = 0usize;
        loop {
            self.maybe_compact(c)?;
            if c.sdk && !c.is_sub() && step > 0 {
                let left = 15_000_000u64.saturating_sub(c.ctx_tokens * 3 + step as u64 * 4000);
                self.total_tokens_reminder(c, left)?;
            }
            self.request(c, &blobs, blob_tr)?;
            let budget_gone = self.remaining() < 6_000;
            if step >= max_steps || budget_gone {
                if self.synthetic_left && !c.is_sub() && step > 0 {
                    self.synthetic_left = false;
                    self.synthetic_error(c)?;
                    return Ok(false);
                }
                let blocks = self.final_blocks();
                self.response(c, &blocks)?;
                return Ok(false);
            }
            // Decide the step.
            let tx = self.tx();
            let mut blocks = Vec::new();
            if chance(&mut self.rng, 0.3) {
                blocks.push(self.thinking_block());
            }
            if chance(&mut self.rng, 0.75) {
                let mut s = String::new();
                tx.assistant_text(&mut self.rng, &mut s);
                blocks.push(Block::Text(s));
            }
            let retry_loop =
                !c.is_sub() && chance(&mut self.rng, 0.008) && self.remaining() > 40_000;
            let mut loop_cmd = None;
            if retry_loop {
                let mut cmd = String::new();
                tx.command(&mut self.rng, &mut cmd);
                loop_cmd = Some(cmd);
            }
            let n_tools = if retry_loop || chance(&mut self.rng, 0.85) {
                1
            } else {
                2 + idx(&mut self.rng, 3)
            };
            for _ in 0..n_tools {
                let name = if retry_loop {
                    "Bash"
                } else {
                    self.choose_tool(c, c.depth < 2)
                };
                let planned = self.plan_tool(c, name, loop_cmd.as_deref());
                blocks.push(Block::ToolUse(planned));
            }
            // tools-used bookkeeping (main thread)
            if !c.is_sub() {
                let mut grew = false;
                for b in &blocks {
                    if let Block::ToolUse(t) = b
                        && !c.tools_used.contains(&t.name)
                    {
                        c.tools_used.push(t.name.clone());
                        grew = true;
                    }
                }
                if grew {
                    self.simple(c, "tools-used")?;
                }
            }
            if retry_loop {
                // The same failing command, 3 to 6 times in a row, each its own response.
                let times = 3 + idx(&mut self.rng, 4);
                c.stats.retry_loops += 1;
                self.acc.totals.retry_loops += 1;
                let mut first_blocks = Some(blocks);
                for k in 0..times {
                    let blocks = match first_blocks.take() {
                        Some(b) => b,
                        None => {
                            let mut s = String::new();
                            let tx = self.tx();
                            {
                                let tpl = pick(
                                    &mut self.rng,
                                    &[
                                        "Let me try that again.",
                                        "Running it once more.",
                                        "Retrying the command.",
                                        "Let me run it again to see if it was {adj}.",
                                    ],
                                );
                                tx.expand(&mut self.rng, tpl, &mut s);
                            }
                            let planned = self.plan_tool(c, "Bash", loop_cmd.as_deref());
                            vec![Block::Text(s), Block::ToolUse(planned)]
                        }
                    };
                    let uuids = self.response(c, &blocks)?;
                    self.simple(c, "last-prompt")?;
                    let mut results = Vec::new();
                    for (b, u) in blocks.iter().zip(&uuids) {
                        if let Block::ToolUse(t) = b {
                            let r = self.execute(c, t)?;
                            self.tool_result(c, t, &r, u)?;
                            results.push((t.id.clone(), r));
                        }
                    }
                    if k + 1 < times {
                        blobs = self.result_blobs(&results);
                        blob_tr = true;
                        self.request(c, &blobs, blob_tr)?;
                    } else {
                        blobs = self.result_blobs(&results);
                        blob_tr = true;
                    }
                }
                step += 1;
                continue;
            }
            let uuids = self.response(c, &blocks)?;
            if !c.is_sub() {
                self.simple(c, "last-prompt")?;
                if chance(&mut self.rng, 0.3) {
                    self.simple(c, "atis-latch")?;
                }
            }
            // An interruption while the model is still talking.
            if !c.is_sub() && !c.sdk && chance(&mut self.rng, 0.006) {
                self.user_text_block(c, INTERRUPT)?;
                return Ok(true);
            }
            let mut results = Vec::new();
            let mut stop = false;
            for (b, u) in blocks.iter().zip(&uuids) {
                if let Block::ToolUse(t) = b {
                    let r = self.execute(c, t)?;
                    self.tool_result(c, t, &r, u)?;
                    if matches!(t.outcome, Outcome::RejectUser | Outcome::Interrupt) {
                        stop = true;
                    }
                    results.push((t.id.clone(), r));
                }
            }
            if stop {
                self.user_text_block(c, INTERRUPT_TOOL)?;
                return Ok(true);
            }
            if !c.tools_snapshot_written {
                c.tools_snapshot_written = true;
                self.snapshot(c, true)?;
            }
            blobs = self.result_blobs(&results);
            blob_tr = true;
            step += 1;
        }
    }

    /// Main-thread turns until the byte budget is used.
    fn main_session(&mut self, c: &mut Convo, fresh: bool) -> Result<()> {
        let mut first = fresh;
        let mut guard = 0;
        loop {
            guard += 1;
            if guard > 100_000 {
                break;
            }
            // Idle time between prompts.
            if !first {
                let idle = lognormal(&mut self.rng, 90_000.0, 1.5) as i64;
                self.now += idle.min(6 * 3_600_000);
            }
            let tx = self.tx();
            let mut prompt = String::new();
            tx.user_prompt(&mut self.rng, &mut prompt);
            c.prompt_id = ids::uuid_v4(&mut self.rng);
            c.last_prompt.clone_from(&prompt);
            if c.sdk || chance(&mut self.rng, 0.1) {
                self.queue_op(c, true, &prompt)?;
                self.queue_op(c, false, "")?;
            }
            // A model switch now and then (`/model`).
            if !first && chance(&mut self.rng, 0.01) {
                c.model = match c.model {
                    SONNET => OPUS,
                    _ => SONNET,
                };
            }
            self.user_prompt(c, &prompt, false)?;
            let mut blobs = Vec::new();
            if first {
                blobs = self.initial_attachments(c)?;
                blobs.push(prompt.clone());
            } else {
                if self.now.div_euclid(DAY_MS) != c.last_day {
                    let mut r = Vec::new();
                    self.date_attachment(c, &mut r)?;
                    blobs.extend(r);
                }
                if !c.todos.is_empty() && chance(&mut self.rng, 0.2) {
                    let mut a = JsonBuf::with_capacity(256);
                    a.raw(r#"{"type":"todo_reminder","content":"#);
                    write_todos(&mut a, &c.todos);
                    a.raw(r#","itemCount":"#).u64(c.todos.len() as u64).raw("}");
                    let r = Self::reminder(
                        "The todo list has not been updated recently. Keep it current if it is still relevant.",
                    );
                    self.attachment(c, &a.b, Some(&r), "system", false)?;
                    blobs.push(r);
                }
                blobs.push(prompt.clone());
            }
            first = false;
            let steps = 1 + (lognormal(&mut self.rng, 4.0, 0.8) as usize).min(40);
            self.work_loop(c, steps, blobs, false)?;
            self.flush_notifications(c)?;
            if self.remaining() < 8_000 {
                break;
            }
        }
        Ok(())
    }

    /// Task notifications for background agents that finished during the turn.
    fn flush_notifications(&mut self, c: &mut Convo) -> Result<()> {
        let pending = std::mem::take(&mut self.notifications);
        for n in pending {
            self.now = self.now.max(n.sub.end_ms) + self.rng.random_range(50..2000);
            let out_file = format!(
                "/tmp/claude-1000/{}/{}/tasks/{}.output",
                self.proj.encoded, c.session_id, n.sub.agent_id
            );
            let text = format!(
                "<task-notification>\n<task-id>{}</task-id>\n<tool-use-id>{}</tool-use-id>\n<output-file>{out_file}</output-file>\n<status>completed</status>\n<summary>Agent \"{}\" finished</summary>\n<result>{}</result>\n<usage><subagent_tokens>{}</subagent_tokens><tool_uses>{}</tool_uses><duration_ms>{}</duration_ms></usage>\n</task-notification>",
                n.sub.agent_id,
                n.tool_use_id,
                n.description,
                n.sub.report,
                n.sub.total_tokens,
                n.sub.tool_uses,
                n.sub.duration_ms
            );
            self.queue_op(c, true, &text)?;
            self.queue_op(c, false, "")?;
            c.prompt_id = ids::uuid_v4(&mut self.rng);
            self.user_prompt(c, &text, true)?;
            self.work_loop(c, 0, vec![text], false)?;
        }
        Ok(())
    }

    /// Adds a subagent's usage to the parent's `cost-state` totals.
    fn merge_sub_usage(c: &mut Convo, sub: &SubOutcome) {
        for (model, t) in &sub.model_totals {
            let mt = c.model_totals.entry(model).or_default();
            mt.usage.add(&t.usage);
            mt.thinking += t.thinking;
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn run_subagent(
        &mut self,
        parent: &mut Convo,
        tool_use_id: &str,
        agent_type: &'static str,
        description: &str,
        prompt: &str,
        background: bool,
        model: &'static str,
    ) -> Result<SubOutcome> {
        let aid = ids::agent_id(&mut self.rng);
        let rel = format!(
            "projects/{}/{}/subagents/agent-{aid}.jsonl",
            self.proj.encoded, parent.session_id
        );
        self.files += 1;
        let sink = Sink::create(
            self.cx.out_dir,
            rel.clone(),
            self.seed ^ self.files.rotate_left(40),
        )?;
        let start = self.now;
        let env_tail = self.env_tail(&parent.session_id, parent.sdk, &parent.cwd, &parent.branch);
        let mut c = Convo {
            sink,
            session_id: parent.session_id.clone(),
            agent_id: Some(aid.clone()),
            agent_type: Some(agent_type),
            depth: parent.depth + 1,
            env_tail,
            parent: None,
            prompt_id: parent.prompt_id.clone(),
            last_prompt: prompt.to_string(),
            model,
            variant: parent.variant,
            sdk: parent.sdk,
            cwd: parent.cwd.clone(),
            branch: parent.branch.clone(),
            ctx_tokens: 0,
            cached_tokens: 0,
            last_req_ms: None,
            cache_1h: parent.cache_1h,
            pending: Usage::default(),
            pending_request: None,
            last_request: None,
            keep: 0,
            tools_used: Vec::new(),
            shape_written: false,
            tools_snapshot_written: false,
            turn_index: 0,
            model_totals: BTreeMap::new(),
            api_ms: 0,
            tool_ms: 0,
            lines_added: 0,
            lines_removed: 0,
            start_ms: start,
            first_ts: None,
            last_ts: start,
            todos: Vec::new(),
            recent: None,
            stats: FileStats::default(),
            last_day: start.div_euclid(DAY_MS),
        };
        // Budget: a slice of what is left.
        let saved_target = self.target;
        let sub_budget = (lognormal(&mut self.rng, 90_000.0, 0.7) as u64)
            .min(self.remaining() / 3)
            .max(30_000);
        self.target = self.bytes + sub_budget;
        self.user_prompt(&mut c, prompt, false)?;
        let mut blobs = self.initial_attachments(&mut c)?;
        blobs.push(prompt.to_string());
        let steps = 2 + idx(&mut self.rng, 10);
        self.work_loop(&mut c, steps, blobs, false)?;
        self.target = saved_target;

        let mut report = String::new();
        let tx = self.tx();
        for _ in 0..(2 + idx(&mut self.rng, 5)) {
            tx.assistant_text(&mut self.rng, &mut report);
            report.push_str("\n\n");
        }
        report.truncate(report.trim_end().len());
        let mut usage = Usage::default();
        for mt in c.model_totals.values() {
            usage.add(&mt.usage);
        }
        let total_tokens =
            usage.input + usage.output + usage.cache_read + usage.cache_5m + usage.cache_1h;
        let tool_uses = c.stats.tool_calls;
        let end_ms = self.now;
        // meta.json
        let meta_rel = format!(
            "projects/{}/{}/subagents/agent-{aid}.meta.json",
            self.proj.encoded, parent.session_id
        );
        let mut m = JsonBuf::with_capacity(320);
        m.raw(r#"{"agentType":"#)
            .str(agent_type)
            .raw(r#","isBuiltIn":true"#);
        if background {
            m.raw(r#","launchedWithDefaults":true"#);
        }
        m.raw(r#","description":"#)
            .str(description)
            .raw(r#","toolUseId":"#)
            .str(tool_use_id);
        if let Some(pa) = &parent.agent_id {
            m.raw(r#","parentAgentId":"#).str(pa);
        }
        m.raw(r#","spawnDepth":"#)
            .u64(u64::from(c.depth))
            .raw(r#","requestShape":"#)
            .str(if background {
                "background"
            } else {
                "foreground"
            })
            .raw(r#","requestNonInteractive":"#)
            .bool(parent.sdk)
            .raw(r#","model":"#)
            .str(model)
            .raw(r#","pickedEffortModel":"#)
            .str(model)
            .raw(r#","finished":true}"#);
        let meta_path = self.cx.out_dir.join(&meta_rel);
        fs::write(&meta_path, &m.b).with_context(|| format!("writing {}", meta_path.display()))?;
        let meta_bytes = m.b.len() as u64;
        self.bytes += meta_bytes;
        self.cx
            .bytes_written
            .fetch_add(meta_bytes, Ordering::Relaxed);
        // Nested subagents' usage was merged into c.model_totals already.
        let stats = c.stats.clone();
        let model_totals = std::mem::take(&mut c.model_totals);
        let (_, lines, bytes) = c.sink.finish()?;
        self.acc.totals.lines += lines;
        self.acc.totals.bytes += bytes + meta_bytes;
        self.acc.totals.files += 2;
        self.acc.totals.jsonl_files += 1;
        self.acc.totals.subagents += 1;
        // Roll the subagent's counters up into the parent's session.
        parent.stats.responses += stats.responses;
        parent.stats.tool_calls += stats.tool_calls;
        parent.stats.tool_errors += stats.tool_errors;
        parent.stats.subagents += 1 + stats.subagents;
        parent.stats.retry_loops += stats.retry_loops;
        parent.stats.rejections += stats.rejections;
        parent.stats.interruptions += stats.interruptions;
        parent.stats.compactions += stats.compactions;
        parent.stats.bytes_subagents += bytes + meta_bytes + stats.bytes_subagents;
        Ok(SubOutcome {
            agent_id: aid,
            report,
            total_tokens,
            tool_uses,
            duration_ms: end_ms - start,
            usage,
            model_totals,
            end_ms,
        })
    }

    /// Copies the tail of the resumed session into a new session file (same uuids, message
    /// ids and request ids: readers must deduplicate).
    fn copy_resumed(
        &mut self,
        c: &mut Convo,
        old_id: &str,
        recent: &VecDeque<Vec<u8>>,
    ) -> Result<()> {
        const LINKED: &[u8] = br#"{"parentUuid":""#;
        let skip = recent.len().saturating_sub(8 + idx(&mut self.rng, 32));
        for (k, line) in recent.iter().skip(skip).enumerate() {
            self.buf.clear();
            let mut i = 0;
            // The first copied record starts the new file's chain.
            if k == 0 && line.starts_with(LINKED) && line.len() > LINKED.len() + 37 {
                self.buf.raw(r#"{"parentUuid":null"#);
                i = LINKED.len() + 37;
            }
            let old = old_id.as_bytes();
            while i < line.len() {
                if line[i..].starts_with(old) {
                    self.buf.raw(&c.session_id);
                    i += old.len();
                } else {
                    self.buf.b.push(line[i]);
                    i += 1;
                }
            }
            let intact = self.emit(c, None)?;
            self.acc.totals.duplicated_records += 1;
            if intact {
                self.count_copied(c)?;
            }
        }
        // Continue the chain from the last copied record.
        if let Some(last) = recent.back()
            && let Ok(v) = serde_json::from_slice::<serde_json::Value>(last)
        {
            c.parent = v.get("uuid").and_then(|u| u.as_str()).map(str::to_string);
        }
        Ok(())
    }

    /// Counts a copied record in the truth if it carries a response or tool call not yet seen.
    fn count_copied(&mut self, c: &mut Convo) -> Result<()> {
        let v: serde_json::Value =
            serde_json::from_slice(&self.buf.b).context("re-reading a copied record")?;
        if v.get("type").and_then(|t| t.as_str()) == Some("assistant") {
            let msg = &v["message"];
            let (Some(id), Some(req)) = (msg["id"].as_str(), v["requestId"].as_str()) else {
                return Ok(());
            };
            if let Some(blocks) = msg["content"].as_array() {
                for b in blocks {
                    if b["type"] == "tool_use"
                        && let Some(tid) = b["id"].as_str()
                        && self.acc.tool_ids.insert(tid.to_string())
                    {
                        c.stats.tool_calls += 1;
                    }
                }
            }
            if self.acc.counted.insert((id.to_string(), req.to_string())) {
                let u = &msg["usage"];
                let cc = &u["cache_creation"];
                let usage = Usage {
                    input: u["input_tokens"].as_u64().unwrap_or(0),
                    output: u["output_tokens"].as_u64().unwrap_or(0),
                    cache_read: u["cache_read_input_tokens"].as_u64().unwrap_or(0),
                    cache_5m: cc["ephemeral_5m_input_tokens"].as_u64().unwrap_or(0),
                    cache_1h: cc["ephemeral_1h_input_tokens"].as_u64().unwrap_or(0),
                };
                let day = v["timestamp"]
                    .as_str()
                    .unwrap_or("")
                    .get(..10)
                    .unwrap_or("")
                    .to_string();
                let model = msg["model"].as_str().unwrap_or("").to_string();
                let e = self.acc.daily.entry((day, model)).or_default();
                e.0.add(&usage);
                e.1 += 1;
                c.stats.responses += 1;
            }
        } else if v.get("type").and_then(|t| t.as_str()) == Some("user")
            && let Some(blocks) = v["message"]["content"].as_array()
        {
            for b in blocks {
                if b["type"] == "tool_result"
                    && b["is_error"] == true
                    && let Some(tid) = b["tool_use_id"].as_str()
                    && self.acc.error_ids.insert(tid.to_string())
                {
                    c.stats.tool_errors += 1;
                }
            }
        }
        Ok(())
    }

    /// Closing records of a main session file; returns its truth.
    fn close_main(&mut self, mut c: Convo, resumed_from: Option<String>) -> Result<SessionTruth> {
        self.simple(&mut c, "last-prompt")?;
        if chance(&mut self.rng, 0.05) {
            // Old-style title summary.
            let tx = self.tx();
            let mut s = String::new();
            {
                let tpl = pick(
                    &mut self.rng,
                    &[
                        "{T} {noun} fix",
                        "Refactor {f} in {m}",
                        "Debugging {adj} {noun}",
                        "Add {noun} support to {m}",
                    ],
                );
                tx.expand(&mut self.rng, tpl, &mut s);
            }
            self.buf.clear();
            self.buf
                .raw(r#"{"type":"summary","summary":"#)
                .str(&s)
                .raw(r#","leafUuid":"#)
                .opt_str(c.parent.as_deref())
                .raw("}");
            self.emit(&mut c, None)?;
            self.acc.totals.summaries += 1;
        }
        // cost-state
        let mut total_cost = 0.0;
        let mut unknown = false;
        self.buf.clear();
        let mut mu = JsonBuf::with_capacity(1024);
        mu.raw("{");
        for (i, (model, mt)) in c.model_totals.iter().enumerate() {
            if i > 0 {
                mu.raw(",");
            }
            let cost = match price_of(model) {
                Some(p) => mt.usage.cost(&p),
                None => {
                    unknown = true;
                    0.0
                }
            };
            total_cost += cost;
            let u = &mt.usage;
            mu.str(model)
                .raw(r#":{"inputTokens":"#)
                .u64(u.input)
                .raw(r#","outputTokens":"#)
                .u64(u.output)
                .raw(r#","thinkingTokens":"#)
                .u64(mt.thinking)
                .raw(r#","cacheReadInputTokens":"#)
                .u64(u.cache_read)
                .raw(r#","cacheCreationInputTokens":"#)
                .u64(u.cache_5m + u.cache_1h)
                .raw(r#","cacheCreationEphemeral5mInputTokens":"#)
                .u64(u.cache_5m)
                .raw(r#","cacheCreationEphemeral1hInputTokens":"#)
                .u64(u.cache_1h)
                .raw(r#","webSearchRequests":0,"costUSD":"#)
                .f64(cost)
                .raw("}");
        }
        mu.raw("}");
        let total_duration = (self.now - c.start_ms).max(0) as u64;
        self.buf
            .raw(r#"{"type":"cost-state","sessionId":"#)
            .str(&c.session_id)
            .raw(r#","totalCostUSD":"#)
            .f64(total_cost)
            .raw(r#","totalAPIDuration":"#)
            .u64(c.api_ms as u64)
            .raw(r#","totalAPIDurationWithoutRetries":"#)
            .u64((c.api_ms as u64) * 9 / 10)
            .raw(r#","totalToolDuration":"#)
            .u64(c.tool_ms.max(0) as u64)
            .raw(r#","totalLinesAdded":"#)
            .u64(c.lines_added)
            .raw(r#","totalLinesRemoved":"#)
            .u64(c.lines_removed)
            .raw(r#","totalDuration":"#)
            .u64(total_duration)
            .raw(r#","startTime":"#)
            .i64(c.start_ms)
            .raw(r#","modelUsage":"#)
            .raw_bytes(&mu.b)
            .raw(r#","hasUnknownModelCost":"#)
            .bool(unknown)
            .raw("}");
        self.emit(&mut c, None)?;
        let start = c.first_ts.unwrap_or(c.start_ms);
        let end = c.last_ts;
        let stats = c.stats.clone();
        let session_id = c.session_id.clone();
        let cwd = c.cwd.clone();
        let (rel, lines, bytes) = c.sink.finish()?;
        self.acc.totals.lines += lines;
        self.acc.totals.bytes += bytes;
        self.acc.totals.files += 1;
        self.acc.totals.jsonl_files += 1;
        Ok(SessionTruth {
            session_id,
            file: rel,
            cwd,
            start: ids::timestamp_string(start),
            end: ids::timestamp_string(end),
            bytes: bytes + stats.bytes_subagents,
            responses: stats.responses,
            tool_calls: stats.tool_calls,
            tool_errors: stats.tool_errors,
            subagents: stats.subagents,
            retry_loops: stats.retry_loops,
            permission_rejections: stats.rejections,
            interruptions: stats.interruptions,
            compactions: stats.compactions,
            resumed_from,
        })
    }
}
