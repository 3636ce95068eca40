//! Claude Code session-corpus generator: writes a directory shaped like
//! `$CLAUDE_CONFIG_DIR/projects/` as Claude Code CLI 2.1.328 leaves it (one JSONL transcript per
//! session, subagent transcripts with `.meta.json` beside them), plus `truth.json`, the exact
//! token usage and counts a correct importer must report.
//!
//! Output is a pure function of the [`ClaudeCorpusSpec`] (seed, size, dates, projects,
//! malformed-line rate): the planner draws every session (project, start time, byte budget,
//! seed) from the master seed first, then sessions are generated in parallel, each from its
//! own `ChaCha8Rng`, into files no other session touches. The thread count changes speed only.
//!
//! What the sessions hold, modelled on the real 2.1.328 samples: the envelope on every
//! transcript record (`parentUuid` chain, `isSidechain`, `uuid`, `timestamp`, `cwd`,
//! `sessionId`, `version`, `gitBranch`, `userType`, `entrypoint`, `promptId` on user records),
//! queue operations, string prompts (some with pasted logs or non-Latin text), the start-of-
//! session attachments (environment, model, deferred tools, agent and skill listings, git
//! status, date, attribution) and tens-of-kilobyte `prompt_snapshot`s, `api-request-shape` /
//! `api-request-blob` / `api-request` (whose `id` the responses cite as `requestRef`),
//! responses split into one record per content block (thinking, text, tool_use) sharing
//! `message.id`, `requestId` and `usage`, tool results with tool-specific `toolUseResult`,
//! `permissionDecision` and `sourceToolAssistantUUID`; tool errors (about 8% of calls), retry
//! loops (the same failing command 3-6 times), permission rejections, interruptions, long
//! outputs (50-200 KB), subagents (Agent calls, `subagents/agent-<id>.jsonl` + `.meta.json`,
//! foreground and background with task notifications, sometimes nested), `last-prompt`,
//! `tools-used`, `atis-latch`, `cost-state` priced like Claude Code, and now and then an
//! old-style `summary`, a `compact_boundary` with its `isCompactSummary` record, a synthetic
//! API-error message, and a resumed session whose first records are copies of another's (so
//! importers must deduplicate). Models: mostly claude-sonnet-4-5, some opus-4-1 and
//! haiku-4-5, about 2% of responses from an unpriced `claude-experimental-x`. Session sizes are
//! log-normal (median about 400 KB) with a few 20-50 MB sessions in corpora of 400 MB and up;
//! targets below about 100 KB overshoot (one session's fixed records are that large).
//!
//! ```no_run
//! use tracelake_testkit::claude_corpus::{ClaudeCorpusSpec, generate};
//! let spec = ClaudeCorpusSpec { seed: 7, target_bytes: 5_000_000, ..ClaudeCorpusSpec::default() };
//! let truth = generate(&spec, std::path::Path::new("/tmp/corpus"))?;
//! println!("{} sessions", truth.totals.sessions);
//! # Ok::<(), anyhow::Error>(())
//! ```

mod ids;
mod json;
mod session;
mod statics;
mod text;
mod truth;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, mpsc};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use chrono::{Datelike, NaiveDate};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub use truth::{CorpusTruth, DailyUsage, MalformedLine, Price, SessionTruth, Totals, price_of};

use session::{CorpusCtx, ProjectCtx, SessionPlan, SessionResult};
use text::{ProjectText, chance, idx, lognormal};
use truth::DailyMap;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaudeCorpusSpec {
    /// Master seed: same seed and spec, byte-identical output.
    pub seed: u64,
    /// Approximate total size of the files under `projects/` (within a few percent once
    /// the corpus holds more than a handful of sessions).
    pub target_bytes: u64,
    /// First UTC day sessions start on.
    pub start_date: NaiveDate,
    /// Number of days sessions start in (long sessions may run past the last one).
    pub days: u32,
    /// Number of projects, `/home/dev/proj-1` … `/home/dev/proj-N`.
    pub projects: u32,
    /// When set, about one line in N (in every transcript, at a per-file phase) is replaced
    /// by a truncated, invalid JSON line; `truth.json` lists them and leaves out what they
    /// held. Turning this on changes nothing else in the output.
    pub malformed_every: Option<u64>,
    /// Worker threads (default: available parallelism). Does not affect the output.
    pub threads: Option<usize>,
}

impl Default for ClaudeCorpusSpec {
    fn default() -> Self {
        Self {
            seed: 42,
            target_bytes: 10_000_000,
            start_date: NaiveDate::from_ymd_opt(2026, 10, 1).unwrap_or_default(),
            days: 30,
            projects: 20,
            malformed_every: None,
            threads: None,
        }
    }
}

/// Progress of a running generation, reported a few times a second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Sessions finished.
    pub sessions_done: usize,
    /// Sessions planned.
    pub sessions_total: usize,
    /// Bytes written so far.
    pub bytes_written: u64,
    /// Requested size.
    pub target_bytes: u64,
}

/// Parses a size such as `10MB`, `1GB`, `5GB`, `500KB`, `1.5GB`, `64MiB` or `123456`.
/// `KB`/`MB`/`GB`/`TB` are decimal (10^3…), `KiB`/`MiB`/`GiB`/`TiB` binary.
pub fn parse_size(s: &str) -> Result<u64> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num.parse().with_context(|| {
        format!("invalid size {s:?}: expected a number with an optional unit such as 10MB or 1GB")
    })?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "t" | "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        other => bail!(
            "invalid size {s:?}: unknown unit {other:?} (use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)"
        ),
    };
    let bytes = value * mult;
    if !bytes.is_finite() || bytes < 1.0 {
        bail!("invalid size {s:?}: must be at least one byte");
    }
    Ok(bytes.round() as u64)
}

/// Generates the corpus into `out_dir` (`projects/…` and `truth.json`) and returns the truth.
pub fn generate(spec: &ClaudeCorpusSpec, out_dir: &Path) -> Result<CorpusTruth> {
    generate_with_progress(spec, out_dir, &mut |_| {})
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn plan(spec: &ClaudeCorpusSpec) -> (Vec<ProjectCtx>, Vec<SessionPlan>) {
    let n_projects = spec.projects.max(1) as usize;
    let projects: Vec<ProjectCtx> = (1..=n_projects)
        .map(|i| {
            let mut prng = ChaCha8Rng::seed_from_u64(splitmix(
                spec.seed ^ (i as u64).wrapping_mul(0xA24B_AED4_963E_E407),
            ));
            let cwd = format!("/home/dev/proj-{i}");
            let encoded = cwd.replace(['/', '.'], "-");
            let text = ProjectText::new(&mut prng, i, cwd);
            let mcp_set = if chance(&mut prng, 0.4) {
                0
            } else {
                idx(&mut prng, statics::MCP_SETS.len())
            };
            ProjectCtx {
                text,
                encoded,
                mcp_set,
            }
        })
        .collect();
    // Project popularity is skewed: a few projects get most sessions.
    let weights: Vec<f64> = (1..=n_projects)
        .map(|i| 1.0 / (i as f64).powf(0.8))
        .collect();
    let total_w: f64 = weights.iter().sum();

    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let d = spec.start_date;
    let day0 = ids::days_from_civil(i64::from(d.year()), d.month(), d.day()) * ids::DAY_MS;
    let days = spec.days.max(1) as usize;
    let min_session = 60_000u64;
    let mut remaining = spec.target_bytes.max(1);
    let mut plans = Vec::new();
    while remaining > 0 {
        let huge = spec.target_bytes >= 400_000_000 && chance(&mut rng, 0.002);
        let mut size = if huge {
            rng.random_range(20_000_000..50_000_000)
        } else {
            (lognormal(&mut rng, 380_000.0, 1.0) as u64).clamp(min_session, 12_000_000)
        };
        if size >= remaining || remaining - size < min_session {
            size = remaining;
        }
        let mut w = f64::from(rng.next_u32()) / 4_294_967_296.0 * total_w;
        let mut project = n_projects - 1;
        for (k, wk) in weights.iter().enumerate() {
            if w < *wk {
                project = k;
                break;
            }
            w -= wk;
        }
        let day = idx(&mut rng, days) as i64;
        let tod = if chance(&mut rng, 0.65) {
            rng.random_range(8 * 3_600_000..20 * 3_600_000)
        } else {
            rng.random_range(0..ids::DAY_MS)
        };
        plans.push(SessionPlan {
            seed: rng.next_u64(),
            project,
            start_ms: day0 + day * ids::DAY_MS + tod,
            target_bytes: size,
            session_id: ids::uuid_v4(&mut rng),
        });
        remaining -= size;
    }
    (projects, plans)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Like [`generate`], calling `progress` (on the calling thread) a few times a second.
pub fn generate_with_progress(
    spec: &ClaudeCorpusSpec,
    out_dir: &Path,
    progress: &mut dyn FnMut(&Progress),
) -> Result<CorpusTruth> {
    let projects_dir = out_dir.join("projects");
    if projects_dir.exists()
        && fs_nonempty(&projects_dir)
            .with_context(|| format!("reading {}", projects_dir.display()))?
    {
        bail!(
            "{} already exists and is not empty; remove it or choose another output directory",
            projects_dir.display()
        );
    }
    std::fs::create_dir_all(&projects_dir)
        .with_context(|| format!("creating {}", projects_dir.display()))?;

    let (projects, plans) = plan(spec);
    let statics = statics::Statics::build(spec.seed);
    let bytes_written = AtomicU64::new(0);
    let cx = CorpusCtx {
        statics: &statics,
        projects: &projects,
        out_dir,
        malformed_every: spec.malformed_every.filter(|n| *n > 0),
        bytes_written: &bytes_written,
    };
    // Largest sessions first, so a 50 MB one does not run alone at the end.
    let mut order: Vec<usize> = (0..plans.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(plans[i].target_bytes));
    let threads = spec
        .threads
        .filter(|t| *t > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from))
        .min(plans.len().max(1));

    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results: Mutex<Vec<Option<SessionResult>>> =
        Mutex::new((0..plans.len()).map(|_| None).collect());
    let first_err: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    let (done_tx, done_rx) = mpsc::channel::<()>();
    std::thread::scope(|s| {
        for _ in 0..threads {
            let done_tx = done_tx.clone();
            let (next, failed, results, first_err, order, plans, cx) =
                (&next, &failed, &results, &first_err, &order, &plans, &cx);
            s.spawn(move || {
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    if k >= order.len() || failed.load(Ordering::Relaxed) {
                        break;
                    }
                    let i = order[k];
                    match session::run_session(&plans[i], cx) {
                        Ok(r) => lock(results)[i] = Some(r),
                        Err(e) => {
                            failed.store(true, Ordering::Relaxed);
                            lock(first_err).get_or_insert(e);
                        }
                    }
                    if done_tx.send(()).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done_tx);
        let mut done = 0usize;
        loop {
            match done_rx.recv_timeout(Duration::from_millis(250)) {
                Ok(()) => done += 1,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            progress(&Progress {
                sessions_done: done,
                sessions_total: plans.len(),
                bytes_written: bytes_written.load(Ordering::Relaxed),
                target_bytes: spec.target_bytes,
            });
        }
    });
    if let Some(e) = lock(&first_err).take() {
        return Err(e);
    }
    let results = std::mem::take(&mut *lock(&results));

    // Merge in plan order: the truth does not depend on scheduling.
    let mut daily = DailyMap::new();
    let mut totals = Totals::default();
    let mut malformed = Vec::new();
    let mut sessions = Vec::new();
    for r in results.into_iter().flatten() {
        for (k, (u, n)) in r.daily {
            let e = daily.entry(k).or_default();
            e.0.add(&u);
            e.1 += n;
        }
        add_totals(&mut totals, &r.totals);
        malformed.extend(r.malformed);
        sessions.extend(r.sessions);
    }
    malformed.sort();
    let rows = truth::daily_rows(&daily);
    for row in &rows {
        totals.billed_responses += row.responses;
        totals.input_tokens += row.input_tokens;
        totals.output_tokens += row.output_tokens;
        totals.cache_creation_input_tokens += row.cache_creation_input_tokens;
        totals.cache_read_input_tokens += row.cache_read_input_tokens;
        match row.cost_usd {
            Some(c) => totals.cost_usd += c,
            None => totals.unpriced_responses += row.responses,
        }
    }
    let truth = CorpusTruth {
        generator: "tracelake-testkit claude_corpus v1".into(),
        claude_code_version: session::VERSION.into(),
        seed: spec.seed,
        target_bytes: spec.target_bytes,
        start_date: spec.start_date.format("%Y-%m-%d").to_string(),
        days: spec.days,
        projects: spec.projects.max(1),
        malformed_every: cx.malformed_every,
        totals,
        daily: rows,
        malformed,
        sessions,
    };
    let path = out_dir.join("truth.json");
    let mut text = serde_json::to_vec_pretty(&truth).context("serializing truth.json")?;
    text.push(b'\n');
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(truth)
}

fn fs_nonempty(dir: &Path) -> std::io::Result<bool> {
    Ok(std::fs::read_dir(dir)?.next().is_some())
}

fn add_totals(t: &mut Totals, o: &Totals) {
    t.sessions += o.sessions;
    t.resumed_sessions += o.resumed_sessions;
    t.subagents += o.subagents;
    t.files += o.files;
    t.jsonl_files += o.jsonl_files;
    t.lines += o.lines;
    t.bytes += o.bytes;
    t.tool_calls += o.tool_calls;
    t.tool_errors += o.tool_errors;
    t.permission_rejections += o.permission_rejections;
    t.interruptions += o.interruptions;
    t.retry_loops += o.retry_loops;
    t.compactions += o.compactions;
    t.summaries += o.summaries;
    t.synthetic_messages += o.synthetic_messages;
    t.duplicated_records += o.duplicated_records;
    t.malformed_lines += o.malformed_lines;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("10MB").unwrap(), 10_000_000);
        assert_eq!(parse_size("1GB").unwrap(), 1_000_000_000);
        assert_eq!(parse_size(" 5gb ").unwrap(), 5_000_000_000);
        assert_eq!(parse_size("1.5GB").unwrap(), 1_500_000_000);
        assert_eq!(parse_size("64MiB").unwrap(), 64 * 1024 * 1024);
        assert_eq!(parse_size("123").unwrap(), 123);
        assert!(parse_size("ten MB").is_err());
        assert!(parse_size("10XB").is_err());
        assert!(parse_size("0").is_err());
    }

    #[test]
    fn plan_is_deterministic_and_sums_to_target() {
        let spec = ClaudeCorpusSpec {
            target_bytes: 50_000_000,
            ..ClaudeCorpusSpec::default()
        };
        let (_, a) = plan(&spec);
        let (_, b) = plan(&spec);
        assert_eq!(a.len(), b.len());
        assert_eq!(a.iter().map(|p| p.target_bytes).sum::<u64>(), 50_000_000);
        assert!(
            a.iter()
                .zip(&b)
                .all(|(x, y)| x.seed == y.seed && x.session_id == y.session_id)
        );
    }
}
