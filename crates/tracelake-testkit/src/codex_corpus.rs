//! Codex rollout corpus generator: writes `DIR/sessions/YYYY/MM/DD/rollout-<time>-<uuid>.jsonl`
//! as the Codex CLI 0.169 leaves `$CODEX_HOME/sessions`, plus `DIR/truth.json`, the exact
//! token usage a correct importer must report.
//!
//! Modelled on the real sample (testdata/codex): every session opens with the sample's own
//! `session_meta` (with its 20 KB of base instructions), `task_started`, developer and
//! environment-context messages, `world_state`, `turn_context` and `thread_settings_applied`
//! (ids, times, folders and model replaced); then turns of a user prompt (as a message and as
//! an `item_completed` event), model calls each written as `token_usage_record` +
//! `token_count` (`last_token_usage` and the running `total_token_usage`), `exec_command`
//! function calls with `item_completed` `CommandExecution` (exit code, duration) and a
//! `function_call_output` with the unified-exec header, `apply_patch` custom tool calls,
//! reasoning items (summary and encrypted content), agent messages and `task_complete`.
//! About 8% of commands fail; 3% of model calls repeat their `token_count` (same totals, as
//! Codex does on a rate-limit update: one call, not two); turns switch models now and then
//! (gpt-5-codex, gpt-5.1-codex, gpt-5-mini, and an unpriced `gpt-experimental-codex`).
//!
//! Output is a pure function of the [`CodexCorpusSpec`].

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde_json::{Value, json};

/// The real Codex CLI 0.169 rollout every generated session's opening is modelled on.
const SAMPLE: &str = include_str!(
    "../../../testdata/codex/sessions/2026/11/22/rollout-2026-11-22T16-37-23-01a2041e-9886-7690-9eb6-4afd13e89bd1.jsonl"
);

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodexCorpusSpec {
    /// Master seed: same seed and spec, byte-identical output.
    pub seed: u64,
    /// Approximate total size of the rollout files.
    pub target_bytes: u64,
    /// First UTC day sessions start on.
    pub start_date: NaiveDate,
    /// Number of days sessions start in.
    pub days: u32,
    /// Number of projects, `/home/dev/proj-1` …
    pub projects: u32,
}

impl Default for CodexCorpusSpec {
    fn default() -> Self {
        Self {
            seed: 42,
            target_bytes: 10_000_000,
            start_date: NaiveDate::from_ymd_opt(2026, 10, 1).unwrap_or_default(),
            days: 30,
            projects: 20,
        }
    }
}

/// Token usage of one day and model, as Codex reports it (input includes cached tokens,
/// output includes reasoning tokens).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CodexUsage {
    /// Model calls.
    pub calls: u64,
    /// Input tokens, cached included.
    pub input_tokens: i64,
    /// Cached input tokens.
    pub cached_input_tokens: i64,
    /// Output tokens, reasoning included.
    pub output_tokens: i64,
    /// Reasoning tokens.
    pub reasoning_output_tokens: i64,
}

impl CodexUsage {
    fn add(&mut self, u: &Usage) {
        self.calls += 1;
        self.input_tokens += u.input;
        self.cached_input_tokens += u.cached;
        self.output_tokens += u.output;
        self.reasoning_output_tokens += u.reasoning;
    }
}

/// What a correct import of the corpus reports (`truth.json`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CodexTruth {
    /// Sessions (one rollout file each).
    pub sessions: u64,
    /// Lines written.
    pub lines: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Prompts (tasks).
    pub tasks: u64,
    /// Tool calls (exec_command and apply_patch).
    pub tool_calls: u64,
    /// Tool calls that failed (non-zero exit).
    pub tool_errors: u64,
    /// `token_count` events repeating the previous totals (not model calls).
    pub repeated_token_counts: u64,
    /// All model calls.
    pub totals: CodexUsage,
    /// Per UTC day (`YYYY-MM-DD` of the `token_count`) and model.
    pub daily: BTreeMap<String, BTreeMap<String, CodexUsage>>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Usage {
    input: i64,
    cached: i64,
    output: i64,
    reasoning: i64,
}

impl Usage {
    fn json(&self) -> Value {
        json!({
            "input_tokens": self.input,
            "cached_input_tokens": self.cached,
            "cache_write_input_tokens": 0,
            "output_tokens": self.output,
            "reasoning_output_tokens": self.reasoning,
            "total_tokens": self.input + self.output,
        })
    }

    fn plus(&self, o: &Usage) -> Usage {
        Usage {
            input: self.input + o.input,
            cached: self.cached + o.cached,
            output: self.output + o.output,
            reasoning: self.reasoning + o.reasoning,
        }
    }
}

const MODELS: &[(&str, u32)] = &[
    ("gpt-5-codex", 70),
    ("gpt-5.1-codex", 15),
    ("gpt-5-mini", 12),
    ("gpt-experimental-codex", 3),
];

const PROMPTS: &[&str] = &[
    "Fix the failing test in {file} and run the test suite",
    "Add input validation to {file}; reject negative values with a clear error",
    "Why does `make check` fail on CI? Look at {file} and fix it",
    "Refactor {file} so the parsing and the I/O are separate functions",
    "Write unit tests for the edge cases of {file}",
    "The build is slow; find out where the time goes and speed up {file}",
    "Rename the config option `timeout` to `timeout_ms` everywhere, starting with {file}",
    "Implement retries with exponential backoff in {file}",
];

const FILES: &[&str] = &[
    "src/calc.py",
    "src/parser.rs",
    "src/main.rs",
    "lib/http_client.ts",
    "app/models/user.rb",
    "internal/store/store.go",
    "tests/test_api.py",
    "src/config.rs",
];

const WORDS: &[&str] = &[
    "the", "value", "returns", "error", "config", "request", "handler", "test", "parse", "input",
    "output", "buffer", "retry", "timeout", "client", "server", "index", "result", "option",
    "assert", "expected", "actual", "failed", "passed", "warning", "module", "import", "line",
];

fn words(rng: &mut ChaCha8Rng, n: std::ops::Range<usize>) -> String {
    let n = rng.random_range(n);
    let mut out = String::with_capacity(n * 7);
    for i in 0..n {
        if i > 0 {
            out.push(if rng.random_ratio(1, 12) { '\n' } else { ' ' });
        }
        out.push_str(WORDS[rng.random_range(0..WORDS.len())]);
    }
    out
}

fn pick<'a>(rng: &mut ChaCha8Rng, items: &[&'a str]) -> &'a str {
    items[rng.random_range(0..items.len())]
}

fn model(rng: &mut ChaCha8Rng) -> &'static str {
    let total: u32 = MODELS.iter().map(|(_, w)| w).sum();
    let mut x = rng.random_range(0..total);
    for (m, w) in MODELS {
        if x < *w {
            return m;
        }
        x -= w;
    }
    MODELS[0].0
}

fn uuid_v7ish(rng: &mut ChaCha8Rng, t: DateTime<Utc>) -> String {
    let ms = t.timestamp_millis() as u64;
    let a: u64 = rng.random();
    let b: u64 = rng.random();
    format!(
        "{:08x}-{:04x}-7{:03x}-{:04x}-{:012x}",
        (ms >> 16) as u32,
        (ms & 0xffff) as u16,
        (a & 0xfff) as u16,
        (0x8000 | (b & 0x3fff)) as u16,
        (a >> 16) & 0xffff_ffff_ffff
    )
}

fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// One session's writer: the envelope, ordinals, time.
struct Rollout<'a> {
    out: BufWriter<std::fs::File>,
    ordinal: u64,
    now: DateTime<Utc>,
    truth: &'a mut CodexTruth,
    bytes: u64,
}

impl Rollout<'_> {
    fn tick(&mut self, rng: &mut ChaCha8Rng, lo: i64, hi: i64) {
        self.now += Duration::milliseconds(rng.random_range(lo..hi));
    }

    fn write(&mut self, ty: &str, payload: Value, extra: Option<Value>) -> Result<()> {
        let mut line = json!({
            "timestamp": ts(self.now),
            "ordinal": self.ordinal,
            "type": ty,
            "payload": payload,
        });
        if let (Some(extra), Value::Object(o)) = (extra, &mut line) {
            o.insert("metadata".into(), extra);
        }
        let text = serde_json::to_string(&line)?;
        self.out.write_all(text.as_bytes())?;
        self.out.write_all(b"\n")?;
        self.ordinal += 1;
        self.bytes += text.len() as u64 + 1;
        self.truth.lines += 1;
        Ok(())
    }
}

/// The sample's opening records by type, parsed once.
struct Templates {
    session_meta: Value,
    developer: Value,
    world_state: Value,
}

fn templates() -> Result<Templates> {
    let mut session_meta = None;
    let mut developer = None;
    let mut world_state = None;
    for line in SAMPLE.lines() {
        let v: Value = serde_json::from_str(line)?;
        match (v["type"].as_str(), v["payload"]["role"].as_str()) {
            (Some("session_meta"), _) => session_meta = Some(v["payload"].clone()),
            (Some("response_item"), Some("developer")) => developer = Some(v["payload"].clone()),
            (Some("world_state"), _) => world_state = Some(v["payload"].clone()),
            _ => {}
        }
    }
    match (session_meta, developer, world_state) {
        (Some(session_meta), Some(developer), Some(world_state)) => Ok(Templates {
            session_meta,
            developer,
            world_state,
        }),
        _ => bail!("the embedded Codex sample lacks its opening records"),
    }
}

/// Generates the corpus under `out_dir` (its `sessions/` must not exist or be empty) and
/// writes `truth.json` beside it.
pub fn generate(spec: &CodexCorpusSpec, out_dir: &Path) -> Result<CodexTruth> {
    let sessions_dir = out_dir.join("sessions");
    if sessions_dir.exists()
        && std::fs::read_dir(&sessions_dir)
            .with_context(|| format!("reading {}", sessions_dir.display()))?
            .next()
            .is_some()
    {
        bail!("{} is not empty", sessions_dir.display());
    }
    let tpl = templates()?;
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let mut truth = CodexTruth::default();
    let start = spec
        .start_date
        .and_hms_opt(0, 0, 0)
        .map(|d| d.and_utc())
        .context("start date")?;
    while truth.bytes < spec.target_bytes {
        let day = rng.random_range(0..spec.days.max(1)) as i64;
        let t = start + Duration::days(day) + Duration::seconds(rng.random_range(0..86_000));
        let project = format!(
            "/home/dev/proj-{}",
            rng.random_range(1..=spec.projects.max(1))
        );
        session(&mut rng, &tpl, &sessions_dir, t, &project, &mut truth)?;
    }
    std::fs::write(
        out_dir.join("truth.json"),
        serde_json::to_vec_pretty(&truth)?,
    )?;
    Ok(truth)
}

fn session(
    rng: &mut ChaCha8Rng,
    tpl: &Templates,
    dir: &Path,
    start: DateTime<Utc>,
    project: &str,
    truth: &mut CodexTruth,
) -> Result<()> {
    let id = uuid_v7ish(rng, start);
    let folder: PathBuf = dir.join(start.format("%Y/%m/%d").to_string());
    std::fs::create_dir_all(&folder)?;
    let path = folder.join(format!(
        "rollout-{}-{id}.jsonl",
        start.format("%Y-%m-%dT%H-%M-%S")
    ));
    let file = std::fs::File::create(&path).with_context(|| format!("{}", path.display()))?;
    truth.sessions += 1;
    let mut r = Rollout {
        out: BufWriter::with_capacity(1 << 20, file),
        ordinal: 0,
        now: start,
        truth,
        bytes: 0,
    };
    let mut meta = tpl.session_meta.clone();
    meta["id"] = id.clone().into();
    meta["session_id"] = id.clone().into();
    meta["timestamp"] = ts(start).into();
    meta["cwd"] = project.into();
    meta["runtime_workspace_roots"] = json!([project]);
    meta["model_provider"] = "openai".into();
    meta["originator"] = "codex_cli_rs".into();
    meta["source"] = "cli".into();
    meta["git"] = json!({"commit_hash": format!("{:040x}", rng.random::<u128>()), "branch": "main", "repository_url": format!("git@github.com:acme/{}.git", project.rsplit('/').next().unwrap_or("proj"))});
    r.write("session_meta", meta, None)?;
    let mut totals = Usage::default();
    let turns = 1 + rng.random_range(0..5);
    for turn in 0..turns {
        let model = model(rng);
        let turn_id = uuid_v7ish(rng, r.now);
        r.tick(rng, 1, 5);
        r.write(
            "event_msg",
            json!({"type": "task_started", "turn_id": turn_id, "root_turn_id": turn_id,
                   "started_at": r.now.timestamp(), "model_context_window": 258_400,
                   "collaboration_mode_kind": "default"}),
            None,
        )?;
        if turn == 0 {
            r.write("response_item", tpl.developer.clone(), None)?;
            r.write(
                "response_item",
                json!({"type": "message", "id": format!("msg_{}", uuid_v7ish(rng, r.now)), "role": "user",
                       "content": [{"type": "input_text", "text": format!("<environment_context>\n  <cwd>{project}</cwd>\n  <shell>bash</shell>\n  <current_date>{}</current_date>\n  <timezone>Etc/UTC</timezone>\n</environment_context>", r.now.format("%Y-%m-%d"))}]}),
                None,
            )?;
            let mut ws = tpl.world_state.clone();
            ws["state"]["collaboration_mode"]["model"] = model.into();
            r.write("world_state", ws, None)?;
        }
        r.write(
            "turn_context",
            json!({"turn_id": turn_id, "root_turn_id": turn_id, "cwd": project,
                   "approval_policy": "on-request", "approvals_reviewer": "user",
                   "model": model, "collaboration_mode": {"mode": "default", "settings": {"model": model, "reasoning_effort": "medium"}},
                   "summary": "auto", "sandbox_policy": {"type": "workspace-write"}}),
            None,
        )?;
        r.write(
            "event_msg",
            json!({"type": "thread_settings_applied", "thread_id": id,
                   "thread_settings": {"model": model, "model_provider_id": "openai", "approval_policy": "on-request", "cwd": project}}),
            None,
        )?;
        let file = pick(rng, FILES);
        let mut prompt = pick(rng, PROMPTS).replace("{file}", file);
        if rng.random_ratio(1, 6) {
            prompt.push_str("\n\nHere is the log:\n");
            prompt.push_str(&words(rng, 50..800));
        }
        r.tick(rng, 5, 40);
        r.write(
            "response_item",
            json!({"type": "message", "id": format!("msg_{}", uuid_v7ish(rng, r.now)), "role": "user",
                   "content": [{"type": "input_text", "text": prompt}],
                   "internal_chat_message_metadata_passthrough": {"turn_id": turn_id}}),
            Some(json!({"history_sequence": r.ordinal, "client_authored": false, "user_input_order": 0})),
        )?;
        r.write(
            "event_msg",
            json!({"type": "item_completed", "thread_id": id, "turn_id": turn_id,
                   "item": {"type": "UserMessage", "id": uuid_v7ish(rng, r.now), "content": [{"type": "text", "text": prompt, "text_elements": []}]}}),
            None,
        )?;
        r.truth.tasks += 1;
        let turn_start = r.now;
        let mut context = 4_000 + rng.random_range(0..6_000i64) + prompt.len() as i64 / 4;
        let steps = rng.random_range(1..14);
        for step in 0..=steps {
            let last = step == steps;
            let resp = format!("resp_{:024x}", rng.random::<u128>() >> 32);
            r.tick(rng, 300, 9_000);
            if rng.random_ratio(1, 2) {
                let summary = words(rng, 10..60);
                let blob: String = (0..rng.random_range(600..3_000))
                    .map(|_| {
                        let c = rng.random_range(0..64u8);
                        (match c {
                            0..26 => b'A' + c,
                            26..52 => b'a' + c - 26,
                            52..62 => b'0' + c - 52,
                            62 => b'+',
                            _ => b'/',
                        }) as char
                    })
                    .collect();
                r.write(
                    "response_item",
                    json!({"type": "reasoning", "id": format!("rs_{}", &resp[5..]),
                           "summary": [{"type": "summary_text", "text": format!("**Planning**\n\n{summary}")}],
                           "content": null, "encrypted_content": blob}),
                    None,
                )?;
            }
            let usage = {
                let input = context + rng.random_range(0..400);
                let cached = if step == 0 && turn == 0 {
                    0
                } else {
                    (input as f64 * rng.random_range(0.5..0.95)) as i64
                };
                let output = rng.random_range(20..900);
                let reasoning = if rng.random_ratio(2, 3) {
                    rng.random_range(0..=output / 2)
                } else {
                    0
                };
                Usage {
                    input,
                    cached,
                    output,
                    reasoning,
                }
            };
            let call_id = format!("call_{:022x}", rng.random::<u128>() >> 40);
            let mut tool: Option<(bool, i64)> = None;
            if last {
                let text = format!("Done: {} {}", words(rng, 5..80), file);
                r.write(
                    "event_msg",
                    json!({"type": "item_completed", "thread_id": id, "turn_id": turn_id,
                           "item": {"type": "AgentMessage", "id": format!("msg_{}", &resp[5..]), "content": [{"type": "Text", "text": text}]}}),
                    None,
                )?;
                r.write(
                    "response_item",
                    json!({"type": "message", "status": "completed", "id": format!("msg_{}", &resp[5..]), "role": "assistant",
                           "content": [{"type": "output_text", "text": text, "annotations": []}],
                           "internal_chat_message_metadata_passthrough": {"turn_id": turn_id}}),
                    None,
                )?;
            } else if rng.random_ratio(1, 6) {
                let patch = format!(
                    "*** Begin Patch\n*** Update File: {file}\n@@\n-{}\n+{}\n*** End Patch\n",
                    words(rng, 3..30),
                    words(rng, 3..30)
                );
                r.write(
                    "response_item",
                    json!({"type": "custom_tool_call", "status": "completed", "id": format!("ctc_{}", &call_id[5..]),
                           "call_id": call_id, "name": "apply_patch", "input": patch}),
                    None,
                )?;
                tool = Some((false, 0));
            } else {
                let cmd = match rng.random_range(0..6) {
                    0 => "ls -la".to_string(),
                    1 => format!("cat {file}"),
                    2 => format!("rg -n \"{}\" src", pick(rng, WORDS)),
                    3 => "python3 -m pytest -q".to_string(),
                    4 => "git diff --stat".to_string(),
                    _ => "cargo test --quiet".to_string(),
                };
                r.write(
                    "response_item",
                    json!({"type": "function_call", "status": "completed", "id": format!("fc_{}", &call_id[5..]),
                           "name": "exec_command", "arguments": json!({"cmd": cmd, "yield_time_ms": 10_000}).to_string(),
                           "call_id": call_id, "internal_chat_message_metadata_passthrough": {"turn_id": turn_id}}),
                    Some(json!({"history_sequence": r.ordinal, "client_authored": false})),
                )?;
                let exit = if rng.random_ratio(2, 25) {
                    rng.random_range(1..3)
                } else {
                    0
                };
                tool = Some((true, exit));
            }
            let after = totals.plus(&usage);
            r.tick(rng, 1, 5);
            r.write(
                "token_usage_record",
                json!({"thread_id": id, "turn_id": turn_id, "session_id": id, "response_id": resp,
                       "usage": usage.json(), "thread_token_usage": after.json()}),
                None,
            )?;
            if let Some((shell, exit)) = tool {
                let size = if rng.random_ratio(1, 40) {
                    rng.random_range(5_000..20_000)
                } else {
                    rng.random_range(5..400)
                };
                let body = words(rng, size..size + 1);
                let ms = rng.random_range(5..4_000);
                r.tick(rng, ms, ms + 50);
                let output = if shell {
                    r.write(
                        "event_msg",
                        json!({"type": "item_completed", "thread_id": id, "turn_id": turn_id,
                               "item": {"type": "CommandExecution", "id": call_id, "status": if exit == 0 { "completed" } else { "failed" },
                                        "exit_code": exit, "duration": {"secs": ms / 1000, "nanos": (ms % 1000) * 1_000_000},
                                        "aggregated_output": body}}),
                        None,
                    )?;
                    format!(
                        "Chunk ID: {:06x}\nWall time: {:.4} seconds\nProcess exited with code {exit}\nOriginal token count: {}\nOutput:\n{body}",
                        rng.random::<u32>() & 0xffffff,
                        ms as f64 / 1000.0,
                        body.len() / 4
                    )
                } else {
                    json!({"output": format!("Success. Updated the following files:\nM {file}\n"), "metadata": {"exit_code": 0, "duration_seconds": ms as f64 / 1000.0}}).to_string()
                };
                r.truth.tool_calls += 1;
                if exit != 0 {
                    r.truth.tool_errors += 1;
                }
                r.write(
                    "response_item",
                    json!({"type": if shell { "function_call_output" } else { "custom_tool_call_output" },
                           "call_id": call_id, "output": output}),
                    None,
                )?;
                context += body.len() as i64 / 4;
            }
            r.tick(rng, 1, 5);
            let count = json!({"type": "token_count",
                "info": {"total_token_usage": after.json(), "last_token_usage": usage.json(),
                         "last_usage_includes_reasoning": false, "model_context_window": 258_400},
                "rate_limits": {"limit_id": "codex", "primary": {"used_percent": rng.random_range(0.0..90.0), "window_minutes": 300}}});
            r.write("event_msg", count.clone(), None)?;
            if rng.random_ratio(3, 100) {
                r.tick(rng, 1, 500);
                r.write("event_msg", count, None)?;
                r.truth.repeated_token_counts += 1;
            }
            totals = after;
            let day = r.now.format("%Y-%m-%d").to_string();
            r.truth.totals.add(&usage);
            r.truth
                .daily
                .entry(day)
                .or_default()
                .entry(model.to_string())
                .or_default()
                .add(&usage);
            context += usage.output;
        }
        r.tick(rng, 1, 5);
        r.write(
            "event_msg",
            json!({"type": "task_complete", "turn_id": turn_id, "duration_ms": (r.now - turn_start).num_milliseconds(),
                   "time_to_first_token_ms": rng.random_range(80..900)}),
            None,
        )?;
        r.tick(rng, 5_000, 300_000);
    }
    r.out.flush()?;
    let bytes = r.bytes;
    truth.bytes += bytes;
    Ok(())
}
