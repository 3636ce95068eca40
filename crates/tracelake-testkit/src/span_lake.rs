//! A lake of synthetic spans at any size, written straight through `tracelake-lake`, for
//! benchmarking queries on tens of millions of rows without first generating (and importing)
//! tens of gigabytes of session logs. Deterministic for a seed.

use std::path::Path;

use anyhow::{Context, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tracelake_lake::{Lake, LakeConfig};
use tracelake_model::{Decision, Span, SpanBatchBuilder, SpanKind, Status, TableKind};

const MODELS: &[(&str, f64)] = &[
    ("claude-sonnet-4-5-20250929", 0.55),
    ("claude-opus-5-5", 0.15),
    ("claude-haiku-4-5-20251001", 0.2),
    ("gpt-5-codex", 0.08),
    ("claude-experimental-x", 0.02),
];
const TOOLS: &[&str] = &[
    "Bash",
    "Read",
    "Edit",
    "Grep",
    "Glob",
    "Write",
    "TodoWrite",
    "WebFetch",
];
const WORDS: &[&str] = &[
    "error",
    "cargo",
    "test",
    "failed",
    "src/lib.rs",
    "fn",
    "let",
    "match",
    "Ok",
    "assert",
    "expected",
    "found",
    "thread",
    "panicked",
    "warning",
    "unused",
    "import",
    "module",
    "build",
    "finished",
    "running",
    "passed",
    "index",
    "query",
    "table",
    "row",
    "column",
    "schema",
];

fn words(rng: &mut ChaCha8Rng, n: usize) -> String {
    let mut s = String::with_capacity(n * 7);
    for i in 0..n {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(WORDS[rng.random_range(0..WORDS.len())]);
    }
    s
}

fn pick_model(rng: &mut ChaCha8Rng) -> &'static str {
    let mut x: f64 = rng.random();
    for (m, p) in MODELS {
        if x < *p {
            return m;
        }
        x -= p;
    }
    MODELS[0].0
}

/// Writes `spans` synthetic spans (sessions of about 100 spans over 30 days) into the lake at
/// `home`; returns the number written.
pub async fn write_spans(home: &Path, spans: u64, seed: u64) -> Result<u64> {
    let lake = Lake::open(home, &LakeConfig::default())
        .await
        .map_err(|e| anyhow::anyhow!(e.report()))
        .context("opening the lake")?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut write = lake
        .begin_write()
        .await
        .map_err(|e| anyhow::anyhow!(e.report()))?;
    let mut builder = SpanBatchBuilder::new(0);
    let base: i64 = 1_790_000_000_000_000; // 2026-09-21
    let mut written = 0u64;
    let mut session = 0u64;
    while written < spans {
        session += 1;
        let sid = format!(
            "{:08x}-{:04x}-4000-8000-{:012x}",
            rng.random::<u32>(),
            session & 0xffff,
            session
        );
        let mut t = base + rng.random_range(0..30 * 86_400_000_000i64);
        let n = rng.random_range(20..180).min(spans - written);
        let project = format!("/home/dev/proj-{}", rng.random_range(1..40));
        let mut task = String::new();
        for i in 0..n {
            t += rng.random_range(100_000..20_000_000i64);
            let kind = match (i, rng.random_range(0..100)) {
                (0, _) => SpanKind::Session,
                (_, 0..5) => SpanKind::Task,
                (_, 5..37) => SpanKind::Llm,
                (_, 37..70) => SpanKind::Tool,
                (_, 70..92) => SpanKind::Permission,
                _ => SpanKind::Event,
            };
            let id = format!("{:016x}", rng.random::<u64>());
            let mut s = Span::new(id.clone(), sid.clone(), "bench", kind, t);
            s.agent = Some("claude-code".into());
            s.project = Some(project.clone());
            s.status = Status::Ok;
            s.end_time = Some(t + rng.random_range(1_000..5_000_000i64));
            match kind {
                SpanKind::Task => {
                    task = id;
                    s.input_text = Some(words(&mut rng, 12));
                }
                SpanKind::Llm => {
                    let model = pick_model(&mut rng);
                    s.model = Some(model.into());
                    s.name = Some(model.into());
                    s.input_tokens = Some(rng.random_range(10..5_000));
                    s.output_tokens = Some(rng.random_range(20..2_000));
                    s.cache_read_tokens = Some(rng.random_range(0..80_000));
                    s.cache_write_tokens = Some(rng.random_range(0..4_000));
                    s.cost_usd =
                        (model != "claude-experimental-x").then(|| rng.random_range(0.001..0.2));
                    s.output_text = Some(words(&mut rng, 20));
                }
                SpanKind::Tool => {
                    let tool = TOOLS[rng.random_range(0..TOOLS.len())];
                    s.tool_name = Some(tool.into());
                    s.name = Some(tool.into());
                    let failed = rng.random_range(0..100) < 7;
                    s.is_error = Some(failed);
                    if failed {
                        s.status = Status::Error;
                        s.error_message = Some(words(&mut rng, 6));
                    }
                    s.tool_output = Some(words(&mut rng, 40));
                }
                SpanKind::Permission => {
                    s.decision = Some(if rng.random_range(0..100) < 3 {
                        Decision::Deny
                    } else {
                        Decision::Allow
                    });
                }
                _ => {}
            }
            if !task.is_empty() {
                s.task_id = Some(task.clone());
            }
            builder.append(&s);
            written += 1;
            if builder.len() >= 65_536 {
                write
                    .append(
                        TableKind::Spans,
                        &builder.finish().map_err(|e| anyhow::anyhow!(e.report()))?,
                    )
                    .map_err(|e| anyhow::anyhow!(e.report()))?;
            }
        }
    }
    if !builder.is_empty() {
        write
            .append(
                TableKind::Spans,
                &builder.finish().map_err(|e| anyhow::anyhow!(e.report()))?,
            )
            .map_err(|e| anyhow::anyhow!(e.report()))?;
    }
    lake.commit(write)
        .await
        .map_err(|e| anyhow::anyhow!(e.report()))?;
    Ok(written)
}
