//! Hot paths of an import, measured with criterion: secret redaction over real session lines,
//! and a whole Claude Code import (decode → map → mask → Parquet → commit) of a generated
//! corpus into a fresh lake. `cargo bench -p tracelake-ingest --profile dev`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // bench code

use std::path::Path;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tracelake_ingest::{ClaudeCodeImporter, ImportOptions, NoProgress, Redactor};
use tracelake_lake::{Lake, LakeConfig};

fn sample_lines() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/claude-code/projects");
    let mut out = Vec::new();
    for dir in std::fs::read_dir(root).unwrap() {
        for f in std::fs::read_dir(dir.unwrap().path()).unwrap() {
            let p = f.unwrap().path();
            if p.extension().is_some_and(|e| e == "jsonl") {
                out.extend(
                    std::fs::read_to_string(p)
                        .unwrap()
                        .lines()
                        .map(str::to_string),
                );
            }
        }
    }
    out
}

fn redaction(c: &mut Criterion) {
    let lines = sample_lines();
    let bytes: usize = lines.iter().map(String::len).sum();
    let r = Redactor::default_rules().unwrap();
    let mut g = c.benchmark_group("redact");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("sample_sessions", |b| {
        b.iter(|| {
            let mut masked = 0;
            for l in &lines {
                let mut t = l.clone();
                masked += r.redact(&mut t);
            }
            masked
        })
    });
    g.finish();
}

fn import(c: &mut Criterion) {
    let corpus = tempfile::tempdir().unwrap();
    let spec = tracelake_testkit::claude_corpus::ClaudeCorpusSpec {
        seed: 3,
        target_bytes: 20 * 1024 * 1024,
        ..Default::default()
    };
    let truth = tracelake_testkit::claude_corpus::generate(&spec, corpus.path()).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut g = c.benchmark_group("import");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(truth.totals.bytes));
    g.bench_function("claude_code_20mb", |b| {
        b.iter(|| {
            let home = tempfile::tempdir().unwrap();
            runtime.block_on(async {
                let lake = Lake::open(home.path(), &LakeConfig::default())
                    .await
                    .unwrap();
                let importer = ClaudeCodeImporter::new(
                    lake,
                    Arc::new(Redactor::default_rules().unwrap()),
                    ImportOptions::default(),
                );
                importer
                    .import(&[corpus.path().join("projects")], Arc::new(NoProgress))
                    .await
                    .unwrap()
                    .stats
                    .lines
            })
        })
    });
    g.finish();
}

criterion_group!(benches, redaction, import);
criterion_main!(benches);
