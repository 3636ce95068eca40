//! The collector's committer stages for one OTLP request of 100 GenAI spans of ~2 KB, as the
//! load generator sends them (criterion): decoding the WAL record, the `raw` row (request
//! JSON, masked), decoding its OTLP/HTTP JSON body, masking it, and mapping the spans (mapped, masked); and a whole record both ways of
//! masking it: its raw JSON and its spans each masked (`record_mask_each`, before stop 14)
//! or its decoded strings masked once (`record_mask_once`, `otlp/mask.rs`).
//! `cargo bench -p tracelake-ingest --profile dev --bench otlp`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // bench code

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tracelake_ingest::Redactor;
use tracelake_ingest::otlp::mask::mask_request;
use tracelake_ingest::otlp::{Encoding, Mapped, Signal, decode::decode, map_request};
use tracelake_ingest::sink::Masked;
use tracelake_model::PricingTable;

fn committer(c: &mut Criterion) {
    let request = tracelake_testkit::otlp::traces_request(7, 100, 2000);
    let body = request.to_protobuf();
    let redactor = Redactor::default_rules().unwrap();
    let pricing = PricingTable::embedded();
    let mut g = c.benchmark_group("otlp_request");
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("decode", |b| {
        b.iter(|| decode(Signal::Traces, Encoding::Protobuf, &body).unwrap())
    });
    let req = decode(Signal::Traces, Encoding::Protobuf, &body).unwrap();
    // The same request as an OTLP/HTTP JSON body (the reader also looks for doubles written
    // as strings).
    let json_body = req.to_json();
    g.bench_function("decode_json", |b| {
        b.iter(|| decode(Signal::Traces, Encoding::Json, json_body.as_bytes()).unwrap())
    });
    g.bench_function("mask", |b| {
        b.iter_batched_ref(
            || req.clone(),
            |r| mask_request(r, &redactor),
            criterion::BatchSize::LargeInput,
        )
    });
    g.bench_function("raw_json", |b| b.iter(|| req.to_json()));
    g.bench_function("raw_json_masked", |b| {
        b.iter(|| {
            let mut json = req.to_json();
            redactor.redact(&mut json)
        })
    });
    g.bench_function("map", |b| b.iter(|| map_request(&req, "bench#0", pricing)));
    g.bench_function("map_masked", |b| {
        b.iter(|| {
            map_request(&req, "bench#0", pricing)
                .into_iter()
                .filter_map(|m| match m {
                    Mapped::Span(span, _) => Some(Masked::span(span, &redactor)),
                    Mapped::Metric(_) => None,
                })
                .count()
        })
    });
    g.bench_function("record_mask_each", |b| {
        b.iter(|| {
            let req = decode(Signal::Traces, Encoding::Protobuf, &body).unwrap();
            let mut json = req.to_json();
            redactor.redact(&mut json);
            let spans = map_request(&req, "bench#0", pricing)
                .into_iter()
                .filter_map(|m| match m {
                    Mapped::Span(span, _) => Some(Masked::span(span, &redactor)),
                    Mapped::Metric(_) => None,
                })
                .count();
            (json, spans)
        })
    });
    g.bench_function("record_mask_once", |b| {
        b.iter(|| {
            let mut req = decode(Signal::Traces, Encoding::Protobuf, &body).unwrap();
            let masked = mask_request(&mut req, &redactor);
            let json = req.to_json();
            let spans = map_request(&req, "bench#0", pricing)
                .into_iter()
                .filter_map(|m| match m {
                    Mapped::Span(span, _) => Some(Masked::from_masked_text(span, masked)),
                    Mapped::Metric(_) => None,
                })
                .count();
            (json, spans)
        })
    });
    g.finish();
}

criterion_group!(benches, committer);
criterion_main!(benches);
