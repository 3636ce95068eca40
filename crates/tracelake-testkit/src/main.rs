//! `tracelake-testkit`: command-line front end of the test kit's corpus generators.
//!
//! ```text
//! tracelake-testkit gen-claude --out DIR --size 1GB [--seed 42] [--days 30] [--projects 20]
//!                              [--start-date 2026-10-01] [--malformed-every N] [--threads N]
//! tracelake-testkit gen-codex --out DIR --size 1GB [--seed 42] [--days 30] [--projects 20]
//! tracelake-testkit gen-spans --home DIR --spans 10M
//! tracelake-testkit load --endpoint http://127.0.0.1:4317 --transport grpc [--rate 50000]
//!                        [--duration 30] [--batch 100] [--concurrency 8] [--ack-log FILE]
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use chrono::NaiveDate;
use clap::{Parser, Subcommand};
use tracelake_testkit::claude_corpus::{self, ClaudeCorpusSpec, Progress};
use tracelake_testkit::codex_corpus::{self, CodexCorpusSpec};
use tracelake_testkit::otlp::{self, LoadSpec, Transport};

/// jemalloc, as in `tracelake` (ADR 0008). The load generator shares the cores with the
/// collector it measures, and with glibc's malloc a quarter of its CPU went to allocating
/// and freeing the copies of its request templates (BENCHMARKS.md, stop 17).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(
    name = "tracelake-testkit",
    about = "Generate test corpora for tracelake",
    version
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// What every corpus generator takes.
#[derive(clap::Args)]
struct CorpusArgs {
    /// Output directory (its `projects/` or `sessions/` must not exist or be empty).
    #[arg(long)]
    out: PathBuf,
    /// Approximate total size: 10MB, 1GB, 5GB, 64MiB, …
    #[arg(long, default_value = "10MB", value_parser = claude_corpus::parse_size)]
    size: u64,
    /// Master seed; the same seed and options give byte-identical output.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Number of days sessions start in.
    #[arg(long, default_value_t = 30)]
    days: u32,
    /// Number of projects (`/home/dev/proj-1` …).
    #[arg(long, default_value_t = 20)]
    projects: u32,
    /// First day (UTC), YYYY-MM-DD.
    #[arg(long, default_value = "2026-10-01")]
    start_date: NaiveDate,
}

#[derive(Subcommand)]
enum Command {
    /// Generate a Claude Code session corpus (`DIR/projects/…` and `DIR/truth.json`).
    GenClaude {
        #[command(flatten)]
        corpus: CorpusArgs,
        /// Replace about one line in N with truncated, invalid JSON (listed in truth.json).
        #[arg(long)]
        malformed_every: Option<u64>,
        /// Worker threads (default: all cores). Does not change the output.
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Generate a Codex rollout corpus (`DIR/sessions/YYYY/MM/DD/rollout-*.jsonl` and
    /// `DIR/truth.json`).
    GenCodex {
        #[command(flatten)]
        corpus: CorpusArgs,
    },
    /// Write synthetic spans straight into a lake (for query benchmarks).
    GenSpans {
        /// The tracelake home to write into.
        #[arg(long)]
        home: PathBuf,
        /// How many spans: 1000000, 10M, …
        #[arg(long, value_parser = parse_count)]
        spans: u64,
        /// Seed.
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Send realistic GenAI spans and Claude Code events to an OTLP endpoint and report
    /// throughput and acknowledgement latency (one JSON object on stdout).
    Load {
        /// `http://host:port` of the listener for the transport (HTTP 4318 or gRPC 4317).
        #[arg(long, default_value = "http://127.0.0.1:4318")]
        endpoint: String,
        /// Transport.
        #[arg(long, value_enum, default_value = "http-protobuf")]
        transport: Transport,
        /// Target spans per second over all exporters (omit to send flat out).
        #[arg(long)]
        rate: Option<u64>,
        /// Seconds to send for.
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
        /// Spans per request.
        #[arg(long, default_value_t = 100)]
        batch: usize,
        /// Concurrent exporters (connections).
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        /// Approximate encoded size of a span in bytes.
        #[arg(long, default_value_t = 2000)]
        span_bytes: usize,
        /// Every Nth request of an exporter carries Claude Code events instead of spans.
        #[arg(long)]
        events_every: Option<u64>,
        /// gzip request bodies.
        #[arg(long)]
        gzip: bool,
        /// Text seed.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Append one JSON line per acknowledged request to this file.
        #[arg(long)]
        ack_log: Option<PathBuf>,
    },
}

fn parse_count(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (digits, mult) = match s.chars().last() {
        Some('k' | 'K') => (&s[..s.len() - 1], 1_000),
        Some('m' | 'M') => (&s[..s.len() - 1], 1_000_000),
        _ => (s, 1),
    };
    digits
        .parse::<u64>()
        .map(|n| n * mult)
        .map_err(|_| format!("{s}: expected a count like 1000000 or 10M"))
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            report(&format!("error: {e:#}"));
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Load {
            endpoint,
            transport,
            rate,
            duration,
            batch,
            concurrency,
            span_bytes,
            events_every,
            gzip,
            seed,
            ack_log,
        } => {
            let spec = LoadSpec {
                transport,
                endpoint,
                rate,
                duration: std::time::Duration::from_secs_f64(duration.max(0.0)),
                batch: batch.max(1),
                concurrency: concurrency.max(1),
                span_bytes,
                events_every,
                gzip,
                seed,
                ack_log,
            };
            let runtime = tokio::runtime::Runtime::new()?;
            let report = runtime.block_on(otlp::load::run(spec))?;
            output(&serde_json::to_string(&report)?);
        }
        Command::GenCodex {
            corpus:
                CorpusArgs {
                    out,
                    size,
                    seed,
                    days,
                    projects,
                    start_date,
                },
        } => {
            let spec = CodexCorpusSpec {
                seed,
                target_bytes: size,
                start_date,
                days,
                projects,
            };
            let started = Instant::now();
            let truth = codex_corpus::generate(&spec, &out)?;
            let secs = started.elapsed().as_secs_f64().max(1e-9);
            report(&format!(
                "done: {} sessions, {} lines, {:.1} MB in {:.1}s ({:.0} MB/s); {} model calls, {} tool calls ({} errors); truth in {}",
                truth.sessions,
                truth.lines,
                truth.bytes as f64 / 1e6,
                secs,
                truth.bytes as f64 / 1e6 / secs,
                truth.totals.calls,
                truth.tool_calls,
                truth.tool_errors,
                out.join("truth.json").display()
            ));
        }
        Command::GenSpans { home, spans, seed } => {
            let started = Instant::now();
            let runtime = tokio::runtime::Runtime::new()?;
            let n = runtime.block_on(tracelake_testkit::span_lake::write_spans(
                &home, spans, seed,
            ))?;
            report(&format!(
                "done: {n} spans in {} in {:.1}s",
                home.display(),
                started.elapsed().as_secs_f64()
            ));
        }
        Command::GenClaude {
            corpus:
                CorpusArgs {
                    out,
                    size,
                    seed,
                    days,
                    projects,
                    start_date,
                },
            malformed_every,
            threads,
        } => {
            let spec = ClaudeCorpusSpec {
                seed,
                target_bytes: size,
                start_date,
                days,
                projects,
                malformed_every,
                threads,
            };
            let started = Instant::now();
            let mut last = 0.0f64;
            let truth = claude_corpus::generate_with_progress(&spec, &out, &mut |p| {
                let t = started.elapsed().as_secs_f64();
                if t - last >= 1.0 || p.sessions_done == p.sessions_total {
                    last = t;
                    report(&progress_line(p, t));
                }
            })?;
            let secs = started.elapsed().as_secs_f64().max(1e-9);
            let t = &truth.totals;
            report(&format!(
                "done: {} sessions, {} subagents, {} files, {} lines, {:.1} MB in {:.1}s ({:.0} MB/s); {} billed responses, {} tool calls ({} errors), {} malformed lines; truth in {}",
                t.sessions,
                t.subagents,
                t.files,
                t.lines,
                t.bytes as f64 / 1e6,
                secs,
                t.bytes as f64 / 1e6 / secs,
                t.billed_responses,
                t.tool_calls,
                t.tool_errors,
                t.malformed_lines,
                out.join("truth.json").display()
            ));
        }
    }
    Ok(())
}

fn progress_line(p: &Progress, secs: f64) -> String {
    let pct = 100.0 * p.bytes_written as f64 / p.target_bytes.max(1) as f64;
    format!(
        "{:>6.1}% {:>9.1} MB  {}/{} sessions  {:>5.0} MB/s",
        pct,
        p.bytes_written as f64 / 1e6,
        p.sessions_done,
        p.sessions_total,
        p.bytes_written as f64 / 1e6 / secs.max(1e-9)
    )
}

/// A result for the caller, on stdout.
#[allow(clippy::print_stdout)]
fn output(line: &str) {
    println!("{line}");
}

/// The one place this binary writes to the terminal: progress and the final summary go to
/// stderr, so stdout stays free for anything a caller might pipe.
#[allow(clippy::print_stderr)]
fn report(line: &str) {
    eprintln!("{line}");
}
