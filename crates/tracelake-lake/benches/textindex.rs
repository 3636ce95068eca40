//! The text index's build rate, measured with criterion: every line of the real sample
//! sessions as span text, indexed the way the lake writer indexes a data file.
//! `cargo bench --profile dev --workspace --bench textindex`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // bench code

use std::path::Path;
use std::sync::Arc;

use arrow::array::{RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tracelake_lake::textindex::IndexBuilder;

fn sample_batch() -> RecordBatch {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/claude-code/projects");
    let mut lines = Vec::new();
    for dir in std::fs::read_dir(root).unwrap() {
        for f in std::fs::read_dir(dir.unwrap().path()).unwrap() {
            let p = f.unwrap().path();
            if p.extension().is_some_and(|e| e == "jsonl") {
                lines.extend(
                    std::fs::read_to_string(p)
                        .unwrap()
                        .lines()
                        .map(str::to_string),
                );
            }
        }
    }
    let schema = Arc::new(Schema::new(vec![Field::new(
        "output_text",
        DataType::Utf8,
        true,
    )]));
    RecordBatch::try_new(schema, vec![Arc::new(StringArray::from(lines))]).unwrap()
}

fn build(c: &mut Criterion) {
    let batch = sample_batch();
    let bytes: usize = batch.column(0).to_data().buffers()[1].len();
    let mut g = c.benchmark_group("textindex");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("build_sample_sessions", |b| {
        b.iter(|| {
            let mut index = IndexBuilder::new();
            index.add_batch(&batch).unwrap();
            index
                .finish("x.parquet", 0, vec![batch.num_rows() as u64])
                .len()
        })
    });
    g.finish();
}

criterion_group!(benches, build);
criterion_main!(benches);
