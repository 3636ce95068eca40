//! From the WAL to the lake: every few seconds (or megabytes) the active segment is sealed,
//! its requests are decoded, mapped and written, and one catalog transaction commits the
//! rows together with the segment's name in the ledger; only then is the segment deleted.
//! On start, segments left by a crash are replayed unless the ledger says they committed.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use tracelake_lake::wal::{SegmentReader, WalRecord};
use tracelake_lake::{Lake, SealedSegment, SourceState};
use tracelake_model::{Error, MetricPoint, PricingTable, RawRecord, Result, Span};

use super::collector::Collector;
use super::decode::{Encoding, Signal, decode};
use super::logs::SpanMessages;
use super::{Mapped, map_request};
use crate::redact::Redactor;
use crate::sink::{LakeOnce, LakeWriterThread, Masked, OnceFilter};

/// The ledger source name of committed WAL segments.
pub const WAL_SOURCE: &str = "otlp-wal";

/// Commits WAL segments to the lake.
pub struct Committer {
    collector: Arc<Collector>,
    lake: Lake,
    redactor: Arc<Redactor>,
    pricing: &'static PricingTable,
}

impl Committer {
    /// A committer for `collector`'s WAL into `lake`.
    pub fn new(collector: Arc<Collector>, lake: Lake, redactor: Arc<Redactor>) -> Self {
        Self {
            collector,
            lake,
            redactor,
            pricing: PricingTable::embedded(),
        }
    }

    /// Commits (or, if the ledger has them, just removes) segments left by an earlier run.
    pub async fn recover(&self, segments: Vec<SealedSegment>) -> Result<()> {
        let done = self.lake.source_states(WAL_SOURCE)?;
        for seg in segments {
            if done.contains_key(&seg.name) {
                tracing::info!(segment = %seg.name, "segment was committed before the restart; removing it");
                self.collector.wal().remove(&seg)?;
            } else {
                tracing::info!(segment = %seg.name, bytes = seg.bytes, "replaying a segment left by the last run");
                self.commit_segment(&seg).await?;
            }
        }
        Ok(())
    }

    /// Runs until `stop` says so: seals and commits on the configured interval and size, and
    /// commits what is left before returning.
    pub async fn run(&self, mut stop: tokio::sync::watch::Receiver<bool>) -> Result<()> {
        let config = self.collector.config().clone();
        let interval = Duration::from_millis(config.commit_interval_ms.max(50));
        let mut last = Instant::now();
        loop {
            let stopping = *stop.borrow();
            let wal = self.collector.wal();
            let due = wal.active_bytes() >= config.commit_bytes
                || (wal.active_bytes() > 0 && last.elapsed() >= interval);
            if due || stopping {
                if let Some(seg) = wal.seal().await? {
                    let mut attempt = 0u32;
                    loop {
                        match self.commit_segment(&seg).await {
                            Ok(()) => break,
                            Err(e) if !stopping || attempt < 3 => {
                                attempt += 1;
                                self.collector
                                    .stats
                                    .commit_failures
                                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                tracing::error!(segment = %seg.name, attempt, error = %e.report(), "commit failed; the data stays in the WAL and is retried");
                                tokio::time::sleep(Duration::from_millis(
                                    (200 * u64::from(attempt)).min(5000),
                                ))
                                .await;
                            }
                            Err(e) => return Err(e),
                        }
                    }
                }
                last = Instant::now();
            }
            if stopping {
                return Ok(());
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// Commits one sealed segment, then deletes it.
    pub async fn commit_segment(&self, seg: &SealedSegment) -> Result<()> {
        let started = Instant::now();
        let (sink, writer) = LakeWriterThread::start(self.lake.clone(), self.redactor.clone())?;
        let lake = self.lake.clone();
        let pricing = self.pricing;
        let keep_raw = self.collector.config().keep_raw;
        let seg_owned = seg.clone();
        let work = tokio::task::spawn_blocking(move || -> Result<u64> {
            let mut sink = sink;
            // First pass: GenAI content events, to fold into their model call's text.
            let mut messages = std::collections::HashMap::new();
            for record in SegmentReader::open(&seg_owned.path)? {
                let record = record?;
                if Signal::from_wal_kind(record.kind) == Some(Signal::Logs)
                    && let Ok(crate::otlp::Request::Logs(r)) =
                        decode(Signal::Logs, Encoding::Protobuf, &record.payload)
                {
                    super::logs::genai_messages(&r, &mut messages);
                }
            }
            let mut once = LakeOnce::new(&lake);
            let mut rows = 0u64;
            // Entities with a key (Claude Code's model calls, tools, prompts, decisions) can
            // arrive twice, as a trace span and as a log event: within a segment both views
            // merge into one row; across segments the first committed view stands.
            let mut keyed: Vec<([u8; 16], tracelake_model::Span)> = Vec::new();
            let mut keyed_at: std::collections::HashMap<[u8; 16], usize> =
                std::collections::HashMap::new();
            let redactor = sink.redactor().clone();
            let mapper = RecordMapper {
                segment: &seg_owned.name,
                keep_raw,
                pricing,
                messages: &messages,
                redactor: &redactor,
            };
            let records = SegmentReader::open(&seg_owned.path)?;
            mapper.map_in_order(records, |mapped| {
                if let Some(raw) = mapped.raw {
                    sink.push_masked_raw(raw)?;
                }
                for row in mapped.rows {
                    match row {
                        Row::Keyed(key, span) => match keyed_at.get(&key) {
                            Some(&i) => keyed[i].1.fill_missing(span),
                            None => {
                                keyed_at.insert(key, keyed.len());
                                keyed.push((key, span));
                            }
                        },
                        Row::Span(span) => {
                            rows += 1;
                            sink.push_masked_span(span)?;
                        }
                        Row::Metric(point) => {
                            rows += 1;
                            sink.push_metric(point)?;
                        }
                    }
                }
                Ok(())
            })?;
            for (key, span) in keyed {
                if once.first_time(key, &mut sink)? {
                    rows += 1;
                    sink.push_span(span)?;
                }
            }
            sink.set_source_state(SourceState {
                source: WAL_SOURCE.to_string(),
                key: seg_owned.name.clone(),
                state: serde_json::json!({"bytes": seg_owned.bytes}).to_string(),
            })?;
            sink.commit()?;
            Ok(rows)
        });
        let rows = work.await.map_err(|e| {
            tracelake_model::Error::internal("the WAL committer failed").with_source(e)
        });
        // Joining blocks: never on a runtime worker, which the writer's own commit and the
        // status API need.
        let reports = tokio::task::spawn_blocking(move || writer.join())
            .await
            .map_err(|e| {
                tracelake_model::Error::internal("the lake writer failed").with_source(e)
            })?;
        let rows = rows??;
        reports?;
        self.collector.wal().remove(seg)?;
        self.collector
            .stats
            .committed(rows, started.elapsed().as_micros() as u64);
        tracing::info!(segment = %seg.name, rows, elapsed_ms = started.elapsed().as_millis() as u64, "committed WAL segment");
        Ok(())
    }
}

/// One WAL record, mapped and masked.
struct MappedRecord {
    raw: Option<Masked<RawRecord>>,
    rows: Vec<Row>,
}

enum Row {
    Span(Masked<Span>),
    /// A keyed entity, merged with its other views before it is masked and written.
    Keyed([u8; 16], Span),
    Metric(MetricPoint),
}

/// Decodes, maps and masks WAL records.
struct RecordMapper<'a> {
    segment: &'a str,
    keep_raw: bool,
    pricing: &'static PricingTable,
    /// GenAI content events of the segment, by (trace id, span id).
    messages: &'a SpanMessages,
    redactor: &'a Redactor,
}

impl RecordMapper<'_> {
    /// Maps `records` on one worker thread per core and hands the results to `each` on
    /// this thread, in the records' order (which the merging of keyed entities depends on).
    /// At most a few records per worker are in flight, so memory stays bounded.
    fn map_in_order(
        &self,
        records: impl Iterator<Item = Result<WalRecord>>,
        mut each: impl FnMut(MappedRecord) -> Result<()>,
    ) -> Result<()> {
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
        let max_in_flight = (workers * 4) as u64;
        let (job_tx, job_rx) = mpsc::sync_channel::<(u64, WalRecord)>(workers * 2);
        let job_rx = Mutex::new(job_rx);
        let (done_tx, done_rx) = mpsc::channel::<(u64, std::thread::Result<MappedRecord>)>();
        std::thread::scope(|scope| {
            for _ in 0..workers {
                let (job_rx, done_tx) = (&job_rx, done_tx.clone());
                std::thread::Builder::new()
                    .name("wal-mapper".into())
                    .spawn_scoped(scope, move || {
                        loop {
                            let job = match job_rx.lock() {
                                Ok(rx) => rx.recv(),
                                Err(_) => return,
                            };
                            let Ok((seq, record)) = job else { return };
                            let mapped =
                                std::panic::catch_unwind(AssertUnwindSafe(|| self.map(record)));
                            if done_tx.send((seq, mapped)).is_err() {
                                return;
                            }
                        }
                    })
                    .map_err(|e| {
                        Error::internal("cannot start a WAL mapping thread").with_source(e)
                    })?;
            }
            drop(done_tx);
            let mut pending = BTreeMap::new();
            let (mut sent, mut next) = (0u64, 0u64);
            let mut deliver = |seq: u64,
                               mapped: std::thread::Result<MappedRecord>,
                               next: &mut u64|
             -> Result<()> {
                pending.insert(seq, mapped);
                while let Some(mapped) = pending.remove(next) {
                    *next += 1;
                    match mapped {
                        Ok(mapped) => each(mapped)?,
                        Err(_) => return Err(Error::internal("mapping a WAL record panicked")),
                    }
                }
                Ok(())
            };
            let lost = || Error::internal("the WAL mapping threads stopped");
            // Returning early drops `job_tx`, which ends the workers; the scope joins them.
            for record in records {
                job_tx.send((sent, record?)).map_err(|_| lost())?;
                sent += 1;
                while let Ok((seq, mapped)) = done_rx.try_recv() {
                    deliver(seq, mapped, &mut next)?;
                }
                while sent - next > max_in_flight {
                    let (seq, mapped) = done_rx.recv().map_err(|_| lost())?;
                    deliver(seq, mapped, &mut next)?;
                }
            }
            drop(job_tx);
            while next < sent {
                let (seq, mapped) = done_rx.recv().map_err(|_| lost())?;
                deliver(seq, mapped, &mut next)?;
            }
            Ok(())
        })
    }

    /// Decodes one record, keeps it in `raw` (masked), and maps it into rows.
    fn map(&self, record: WalRecord) -> MappedRecord {
        let mut out = MappedRecord {
            raw: None,
            rows: Vec::new(),
        };
        let Some(signal) = Signal::from_wal_kind(record.kind) else {
            tracing::warn!(segment = %self.segment, kind = record.kind, "skipping a WAL record of unknown kind");
            return out;
        };
        let request_ref = format!("{}#{}", self.segment, record.index);
        let req = match decode(signal, Encoding::Protobuf, &record.payload) {
            Ok(r) => r,
            Err(e) => {
                // Cannot happen for records we wrote; kept rather than lost.
                tracing::error!(request = %request_ref, error = %e.report(), "undecodable WAL record kept in raw");
                let raw = raw_row(
                    &request_ref,
                    signal,
                    record.received_at,
                    hex_payload(&record.payload),
                    Some(e.report()),
                );
                out.raw = Some(Masked::raw(raw, self.redactor));
                return out;
            }
        };
        if self.keep_raw {
            let raw = raw_row(
                &request_ref,
                signal,
                record.received_at,
                req.to_json(),
                None,
            );
            out.raw = Some(Masked::raw(raw, self.redactor));
        }
        for row in map_request(&req, &request_ref, self.pricing) {
            out.rows.push(match row {
                Mapped::Span(span, Some(key)) => Row::Keyed(key, span),
                Mapped::Span(mut span, None) => {
                    if span.kind == tracelake_model::SpanKind::Llm
                        && !self.messages.is_empty()
                        && let Some(t) = &span.trace_id
                        && let Some((input, output)) =
                            self.messages.get(&(t.clone(), span.span_id.clone()))
                    {
                        if span.input_text.is_none() && !input.is_empty() {
                            span.input_text = Some(input.join("\n"));
                        }
                        if span.output_text.is_none() && !output.is_empty() {
                            span.output_text = Some(output.join("\n"));
                        }
                    }
                    Row::Span(Masked::span(span, self.redactor))
                }
                Mapped::Metric(point) => Row::Metric(point),
            });
        }
        out
    }
}

fn hex_payload(bytes: &[u8]) -> String {
    super::attrs::hex(bytes)
}

fn raw_row(
    request: &str,
    signal: Signal,
    received_at: i64,
    record: String,
    error: Option<String>,
) -> RawRecord {
    RawRecord {
        source: "otlp".to_string(),
        source_ref: request.to_string(),
        file: None,
        line: None,
        byte_offset: None,
        session_id: None,
        record_type: Some(signal.name().to_string()),
        event_time: received_at,
        record,
        parse_error: error,
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span as OtlpSpan};
    use prost::Message;

    use super::*;
    use crate::RedactionConfig;

    /// A WAL record of one traces request with one span named `span-<i>` (and a secret).
    fn record(i: u64) -> WalRecord {
        let req = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![OtlpSpan {
                        trace_id: [7; 16].to_vec(),
                        span_id: (i + 1).to_be_bytes().to_vec(),
                        name: format!("span-{i} sk-ant-api03-aaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
                        start_time_unix_nano: 1_700_000_000_000_000_000 + i,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        WalRecord {
            kind: Signal::Traces.wal_kind(),
            received_at: 1_700_000_000_000_000,
            index: i,
            payload: req.encode_to_vec().into(),
        }
    }

    fn with_mapper<R>(f: impl FnOnce(&RecordMapper<'_>) -> R) -> R {
        let redactor = Redactor::new(&RedactionConfig::default()).unwrap();
        let messages = SpanMessages::new();
        f(&RecordMapper {
            segment: "seg",
            keep_raw: true,
            pricing: PricingTable::embedded(),
            messages: &messages,
            redactor: &redactor,
        })
    }

    fn span_name(mapped: &MappedRecord) -> String {
        match mapped.rows.as_slice() {
            [Row::Span(span)] => span.row().name.clone().unwrap_or_default(),
            _ => panic!("expected one span"),
        }
    }

    #[test]
    fn records_are_mapped_on_many_threads_and_delivered_in_order_masked() {
        let mut seen = Vec::new();
        let mut raw_refs = Vec::new();
        with_mapper(|m| {
            m.map_in_order((0..500).map(|i| Ok(record(i))), |mapped| {
                seen.push(span_name(&mapped));
                let raw = mapped.raw.expect("raw kept");
                assert!(!raw.row().record.contains("sk-ant-"), "raw is masked");
                raw_refs.push(raw.row().source_ref.clone());
                Ok(())
            })
        })
        .unwrap();
        let expected: Vec<String> = (0..500)
            .map(|i| format!("span-{i} [REDACTED:anthropic-key]"))
            .collect();
        assert_eq!(seen, expected);
        let refs: Vec<String> = (0..500).map(|i| format!("seg#{i}")).collect();
        assert_eq!(raw_refs, refs);
    }

    #[test]
    fn a_read_error_or_a_failing_consumer_stops_mapping_with_that_error() {
        let records = (0..100).map(|i| {
            if i == 60 {
                Err(Error::internal("torn record"))
            } else {
                Ok(record(i))
            }
        });
        let mut delivered = 0;
        let err = with_mapper(|m| {
            m.map_in_order(records, |_| {
                delivered += 1;
                Ok(())
            })
        })
        .unwrap_err();
        assert!(err.report().contains("torn record"), "{}", err.report());
        assert!(delivered <= 60, "{delivered}");
        let err = with_mapper(|m| {
            m.map_in_order((0..100).map(|i| Ok(record(i))), |mapped| {
                if span_name(&mapped).starts_with("span-10 ") {
                    Err(Error::internal("sink closed"))
                } else {
                    Ok(())
                }
            })
        })
        .unwrap_err();
        assert!(err.report().contains("sink closed"), "{}", err.report());
    }
}
