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
use super::decode::{CARRIED, Encoding, Signal, decode};
use super::logs::SpanMessages;
use super::mask::mask_request;
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
                self.commit_segment(&seg, false).await?;
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
                // The interval runs from this seal, not from the end of its commit: what
                // arrives during a long commit (a backlog) is due as soon as it ends, instead
                // of waiting another interval while the cores idle.
                let sealed_at = Instant::now();
                if let Some(seg) = wal.seal().await? {
                    let mut attempt = 0u32;
                    loop {
                        match self.commit_segment(&seg, stopping).await {
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
                last = sealed_at;
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

    /// Commits one sealed segment, then deletes it. Entities still inside their merge window
    /// are not written yet: the records that hold them are appended to the WAL again (before
    /// the commit, so a crash cannot lose them) and meet their later views in a later commit.
    /// `last` writes every entity (the final commit before the collector stops).
    pub async fn commit_segment(&self, seg: &SealedSegment, last: bool) -> Result<()> {
        let started = Instant::now();
        let (sink, writer) = LakeWriterThread::start(self.lake.clone(), self.redactor.clone())?;
        let lake = self.lake.clone();
        let pricing = self.pricing;
        let config = self.collector.config();
        let keep_raw = config.keep_raw;
        let window_us = if last {
            i64::MIN
        } else {
            i64::try_from(config.merge_window_ms.saturating_mul(1000)).unwrap_or(i64::MAX)
        };
        let wal = self.collector.wal().clone();
        let runtime = tokio::runtime::Handle::current();
        let seg_owned = seg.clone();
        let work = tokio::task::spawn_blocking(move || -> Result<(u64, u64, Phases)> {
            let mut sink = sink;
            let mut phases = Phases::default();
            let t = Instant::now();
            // First pass: GenAI content events, to fold into their model call's text.
            let mut messages = std::collections::HashMap::new();
            let logs = Signal::Logs.wal_kind();
            let has_logs = seg_owned.may_hold(logs) || seg_owned.may_hold(logs | CARRIED);
            for record in has_logs
                .then(|| SegmentReader::open(&seg_owned.path))
                .transpose()?
                .into_iter()
                .flatten()
            {
                let record = record?;
                if Signal::from_wal_kind(record.kind) == Some(Signal::Logs)
                    && let Ok(carried) = Carried::of(&record, String::new())
                    && let Ok(crate::otlp::Request::Logs(r)) =
                        decode(Signal::Logs, Encoding::Protobuf, &carried.protobuf)
                {
                    super::logs::genai_messages(&r, &mut messages);
                }
            }
            phases.scan_ms = t.elapsed().as_millis() as u64;
            let mut once = LakeOnce::new(&lake);
            let (mut rows, mut unmapped) = (0u64, 0u64);
            // Entities with a key (Claude Code's model calls, tools, prompts, decisions) can
            // arrive more than once, as a trace span and as a log event: their views merge
            // into one row, written once the first view is older than the merge window.
            let mut keyed = Keyed::default();
            let redactor = sink.redactor().clone();
            let mapper = RecordMapper {
                segment: &seg_owned.name,
                keep_raw,
                pricing,
                messages: &messages,
                redactor: &redactor,
                #[cfg(test)]
                panic_on: None,
            };
            let records = SegmentReader::open(&seg_owned.path)?;
            mapper.map_in_order(records, |mapped| {
                unmapped += u64::from(mapped.unmapped);
                if let Some(raw) = mapped.raw {
                    sink.push_masked_raw(raw)?;
                }
                let record = keyed.records.len();
                let mut has_keys = false;
                for row in mapped.rows {
                    match row {
                        Row::Keyed(key, span) => {
                            has_keys = true;
                            keyed.add(key, span, mapped.received_at, record);
                        }
                        Row::Span(span) => {
                            rows += 1;
                            sink.push_masked_span(span)?;
                        }
                        Row::Metric(point) => {
                            rows += 1;
                            sink.push_masked_metric(point)?;
                        }
                    }
                }
                keyed
                    .records
                    .push(if has_keys { mapped.carry } else { None });
                Ok(())
            })?;
            phases.map_ms = t.elapsed().as_millis() as u64 - phases.scan_ms;
            let due_before = chrono::Utc::now()
                .timestamp_micros()
                .saturating_sub(window_us);
            let mut carry = std::collections::BTreeSet::new();
            for entity in keyed.entities {
                if entity.first_seen > due_before {
                    carry.extend(entity.records);
                } else if once.first_time(entity.key, &mut sink)? {
                    rows += 1;
                    // Its views all come from requests masked when they were mapped.
                    sink.push_masked_span(Masked::from_masked_text(entity.span, 0))?;
                }
            }
            // Durable before the commit: once the ledger has this segment, it is deleted.
            for i in carry {
                if let Some(Some(c)) = keyed.records.get(i) {
                    runtime.block_on(wal.append(c.kind | CARRIED, c.received_at, c.payload()?))?;
                }
            }
            sink.set_source_state(SourceState {
                source: WAL_SOURCE.to_string(),
                key: seg_owned.name.clone(),
                state: serde_json::json!({"bytes": seg_owned.bytes}).to_string(),
            })?;
            sink.commit()?;
            Ok((rows, unmapped, phases))
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
        let (rows, unmapped, phases) = rows??;
        reports?;
        self.collector
            .stats
            .unmapped_requests
            .fetch_add(unmapped, std::sync::atomic::Ordering::Relaxed);
        // Committed: whatever happens now, the ledger has the segment and a restart removes
        // it. Unlinking hundreds of MB takes ~0.2 s, which the next commit need not wait for
        // (the last one does, so nothing is left behind).
        let wal = self.collector.wal().clone();
        let removal = seg.clone();
        let remove = move || {
            if let Err(e) = wal.remove(&removal) {
                tracing::error!(segment = %removal.name, error = %e.report(), "cannot remove a committed WAL segment; the next start removes it");
            }
        };
        if last {
            remove();
        } else {
            drop(tokio::task::spawn_blocking(remove));
        }
        self.collector
            .stats
            .committed(rows, started.elapsed().as_micros() as u64);
        let elapsed_ms = started.elapsed().as_millis() as u64;
        tracing::info!(
            segment = %seg.name,
            rows,
            elapsed_ms,
            scan_ms = phases.scan_ms,
            map_ms = phases.map_ms,
            "committed WAL segment"
        );
        Ok(())
    }
}

/// Where a commit's time went, for its log line: the pass that looks for GenAI content
/// events, and reading, mapping and encoding the records (the rest is the lake commit).
#[derive(Debug, Default)]
struct Phases {
    scan_ms: u64,
    map_ms: u64,
}

/// One WAL record, mapped and masked.
struct MappedRecord {
    raw: Option<Masked<RawRecord>>,
    rows: Vec<Row>,
    /// When the request arrived (µs since the epoch; a carried record keeps its first arrival).
    received_at: i64,
    /// The record as it would be carried to a later segment.
    carry: Option<Carried>,
    /// Kept in `raw` only: the record could not be decoded, or mapping it failed.
    unmapped: bool,
}

/// A WAL record's request and where it was first stored. A carried record's payload is the
/// reference of its first copy (a `u16` length, then UTF-8), then the protobuf, so its rows
/// keep pointing at the `raw` row written with that copy.
struct Carried {
    kind: u8,
    received_at: i64,
    request_ref: String,
    protobuf: bytes::Bytes,
}

impl Carried {
    /// Splits a WAL record into its reference and protobuf: a carried record's own, any
    /// other's `here` (where it is stored).
    fn of(record: &WalRecord, here: String) -> Result<Self> {
        let kind = record.kind & !CARRIED;
        if record.kind & CARRIED == 0 {
            return Ok(Self {
                kind,
                received_at: record.received_at,
                request_ref: here,
                protobuf: record.payload.clone(),
            });
        }
        let bad = || Error::internal("a carried WAL record has no reference");
        let len = record.payload.get(..2).ok_or_else(bad)?;
        let len = usize::from(u16::from_le_bytes([len[0], len[1]]));
        let request_ref = record.payload.get(2..2 + len).ok_or_else(bad)?;
        let request_ref = std::str::from_utf8(request_ref)
            .map_err(|_| bad())?
            .to_string();
        Ok(Self {
            kind,
            received_at: record.received_at,
            request_ref,
            protobuf: record.payload.slice(2 + len..),
        })
    }

    /// The payload of the carried copy.
    fn payload(&self) -> Result<bytes::Bytes> {
        let r = self.request_ref.as_bytes();
        let len = u16::try_from(r.len()).map_err(|_| {
            Error::internal(format!("request reference too long to carry: {}", r.len()))
        })?;
        let mut out = Vec::with_capacity(2 + r.len() + self.protobuf.len());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(r);
        out.extend_from_slice(&self.protobuf);
        Ok(out.into())
    }
}

/// The keyed entities of a commit, merged by key in the order their views arrived.
#[derive(Default)]
struct Keyed {
    entities: Vec<Entity>,
    at: std::collections::HashMap<[u8; 16], usize>,
    /// Per record of the segment, the record to carry if one of its entities waits.
    records: Vec<Option<Carried>>,
}

struct Entity {
    key: [u8; 16],
    span: Span,
    /// Arrival of the first view (µs since the epoch).
    first_seen: i64,
    /// Records (indexes into `Keyed::records`) holding a view.
    records: Vec<usize>,
}

impl Keyed {
    fn add(&mut self, key: [u8; 16], span: Span, received_at: i64, record: usize) {
        match self.at.get(&key) {
            Some(&i) => {
                let e = &mut self.entities[i];
                // The view that arrived first comes first, whatever the order in the segment
                // (a carried copy can land after a request that arrived while it was carried).
                if received_at < e.first_seen {
                    let later = std::mem::replace(&mut e.span, span);
                    e.span.fill_missing(later);
                    e.first_seen = received_at;
                } else {
                    e.span.fill_missing(span);
                }
                if e.records.last() != Some(&record) {
                    e.records.push(record);
                }
            }
            None => {
                self.at.insert(key, self.entities.len());
                self.entities.push(Entity {
                    key,
                    span,
                    first_seen: received_at,
                    records: vec![record],
                });
            }
        }
    }
}

enum Row {
    Span(Masked<Span>),
    /// A keyed entity, merged with its other views before it is masked and written.
    Keyed([u8; 16], Span),
    Metric(Masked<MetricPoint>),
}

/// Decodes, maps and masks WAL records.
#[derive(Clone, Copy)]
struct RecordMapper<'a> {
    segment: &'a str,
    keep_raw: bool,
    pricing: &'static PricingTable,
    /// GenAI content events of the segment, by (trace id, span id).
    messages: &'a SpanMessages,
    redactor: &'a Redactor,
    /// Tests only: the index of a record whose mapping panics.
    #[cfg(test)]
    panic_on: Option<u64>,
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
        let (done_tx, done_rx) = mpsc::channel::<(u64, MappedRecord)>();
        std::thread::scope(|scope| {
            for _ in 0..workers {
                let (job_rx, done_tx) = (&job_rx, done_tx.clone());
                std::thread::Builder::new()
                    .name("wal-mapper".into())
                    .spawn_scoped(scope, move || {
                        // A redactor of its own: threads sharing one regex contend for its
                        // scratch space on every string.
                        let redactor = self.redactor.clone();
                        let mapper = RecordMapper {
                            redactor: &redactor,
                            ..*self
                        };
                        loop {
                            let job = match job_rx.lock() {
                                Ok(rx) => rx.recv(),
                                Err(_) => return,
                            };
                            let Ok((seq, record)) = job else { return };
                            // A panic is a bug in a mapping, and the request would not map
                            // better at the next attempt: it is kept in `raw` with the reason
                            // and the segment commits, instead of failing every retry.
                            let kept = record.clone();
                            let mapped =
                                std::panic::catch_unwind(AssertUnwindSafe(|| mapper.map(record)))
                                    .unwrap_or_else(|panic| {
                                        mapper.unmappable(&kept, &panic_message(panic.as_ref()))
                                    });
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
            let mut deliver = |seq: u64, mapped: MappedRecord, next: &mut u64| -> Result<()> {
                pending.insert(seq, mapped);
                while let Some(mapped) = pending.remove(next) {
                    *next += 1;
                    each(mapped)?;
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
            received_at: record.received_at,
            carry: None,
            unmapped: false,
        };
        #[cfg(test)]
        if self.panic_on == Some(record.index) {
            panic!("injected panic while mapping record {}", record.index);
        }
        let Some(signal) = Signal::from_wal_kind(record.kind) else {
            tracing::warn!(segment = %self.segment, kind = record.kind, "skipping a WAL record of unknown kind");
            return out;
        };
        let here = format!("{}#{}", self.segment, record.index);
        let carried = record.kind & CARRIED != 0;
        let decoded = Carried::of(&record, here.clone()).and_then(|c| {
            let req = decode(signal, Encoding::Protobuf, &c.protobuf)?;
            Ok((c, req))
        });
        let (carry, mut req) = match decoded {
            Ok(r) => r,
            Err(e) => {
                // Cannot happen for records we wrote; kept rather than lost.
                tracing::error!(request = %here, error = %e.report(), "undecodable WAL record kept in raw");
                let raw = raw_row(
                    &here,
                    signal,
                    record.received_at,
                    hex_payload(&record.payload),
                    Some(e.report()),
                );
                out.raw = Some(Masked::raw(raw, self.redactor));
                out.unmapped = true;
                return out;
            }
        };
        let request_ref = carry.request_ref.as_str();
        // Every string of the request is masked here, once: its raw JSON and the spans
        // mapped from it are built from masked text only.
        let mut masked = mask_request(&mut req, self.redactor);
        // A carried record's raw row, spans and metrics were written with its first copy.
        if self.keep_raw && !carried {
            let raw = raw_row(request_ref, signal, record.received_at, req.to_json(), None);
            out.raw = Some(Masked::from_masked_text(raw, std::mem::take(&mut masked)));
        }
        for row in map_request(&req, request_ref, self.pricing) {
            if carried && !matches!(row, Mapped::Span(_, Some(_))) {
                continue;
            }
            out.rows.push(match row {
                Mapped::Span(span, Some(key)) => Row::Keyed(key, span),
                Mapped::Span(mut span, None) => {
                    let mut from_other_records = false;
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
                        from_other_records = true;
                    }
                    if from_other_records {
                        // Text from other records of the segment, not masked yet.
                        Row::Span(Masked::span(span, self.redactor))
                    } else {
                        Row::Span(Masked::from_masked_text(span, std::mem::take(&mut masked)))
                    }
                }
                Mapped::Metric(point) => {
                    Row::Metric(Masked::from_masked_text(point, std::mem::take(&mut masked)))
                }
            });
        }
        if out.rows.iter().any(|r| matches!(r, Row::Keyed(..))) {
            out.carry = Some(carry);
        }
        out
    }

    /// A record whose mapping panicked: no rows, and one `raw` row saying why, which holds
    /// the request as masked OTLP JSON if decoding, masking and writing JSON still work (the
    /// panic was in a mapping), else its protobuf in hex. A carried copy adds nothing: its
    /// first copy's `raw` row is written.
    fn unmappable(&self, record: &WalRecord, why: &str) -> MappedRecord {
        let here = format!("{}#{}", self.segment, record.index);
        tracing::error!(request = %here, error = why, "mapping a WAL record failed; the request is kept in raw without rows");
        let mut out = MappedRecord {
            raw: None,
            rows: Vec::new(),
            received_at: record.received_at,
            carry: None,
            unmapped: true,
        };
        let Some(signal) = Signal::from_wal_kind(record.kind) else {
            return out;
        };
        if !self.keep_raw || record.kind & CARRIED != 0 {
            return out;
        }
        let error = Some(format!("mapping this request failed: {why}"));
        let masked_json = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let mut req = decode(signal, Encoding::Protobuf, &record.payload).ok()?;
            let masked = mask_request(&mut req, self.redactor);
            Some((req.to_json(), masked))
        }));
        out.raw = Some(match masked_json {
            Ok(Some((json, masked))) => Masked::from_masked_text(
                raw_row(&here, signal, record.received_at, json, error),
                masked,
            ),
            _ => Masked::raw(
                raw_row(
                    &here,
                    signal,
                    record.received_at,
                    hex_payload(&record.payload),
                    error,
                ),
                self.redactor,
            ),
        });
        out
    }
}

/// The message of a caught panic.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string())
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
    use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValueKind;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
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
        with_panicking_mapper(None, f)
    }

    /// A mapper whose mapping of record `panic_on` panics.
    fn with_panicking_mapper<R>(
        panic_on: Option<u64>,
        f: impl FnOnce(&RecordMapper<'_>) -> R,
    ) -> R {
        let redactor = Redactor::new(&RedactionConfig::default()).unwrap();
        let messages = SpanMessages::new();
        f(&RecordMapper {
            segment: "seg",
            keep_raw: true,
            pricing: PricingTable::embedded(),
            messages: &messages,
            redactor: &redactor,
            panic_on,
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

    /// A request whose mapping panics does not stop the segment: it is kept in `raw`
    /// (masked, with the reason), every other record maps, and the order holds.
    #[test]
    fn a_record_whose_mapping_panics_is_kept_in_raw_and_the_rest_maps() {
        let mut delivered = Vec::new();
        with_panicking_mapper(Some(7), |m| {
            m.map_in_order((0..20).map(|i| Ok(record(i))), |mapped| {
                delivered.push(mapped);
                Ok(())
            })
        })
        .expect("the segment maps despite the panic");
        assert_eq!(delivered.len(), 20);
        for (i, mapped) in delivered.iter().enumerate() {
            let raw = mapped.raw.as_ref().expect("raw kept").row();
            assert_eq!(raw.source_ref, format!("seg#{i}"));
            assert!(!raw.record.contains("sk-ant-"), "raw is masked");
            if i == 7 {
                assert!(mapped.unmapped && mapped.rows.is_empty());
                let error = raw.parse_error.as_deref().unwrap_or_default();
                assert!(
                    error.contains("injected panic while mapping record 7"),
                    "{error}"
                );
                assert!(
                    raw.record.contains("span-7 [REDACTED:anthropic-key]"),
                    "the request as masked JSON: {}",
                    raw.record
                );
            } else {
                assert!(!mapped.unmapped && raw.parse_error.is_none());
                assert_eq!(
                    span_name(mapped),
                    format!("span-{i} [REDACTED:anthropic-key]")
                );
            }
        }
    }

    #[test]
    fn a_secret_named_attribute_is_masked_in_raw_and_in_attributes() {
        let mut rec = record(0);
        let mut req = ExportTraceServiceRequest::decode(rec.payload.as_ref()).unwrap();
        let secret = "correct-horse-battery-staple";
        let attr = |key: &str, value: &str| KeyValue {
            key: key.into(),
            value: Some(AnyValue {
                value: Some(AnyValueKind::StringValue(value.into())),
            }),
            ..Default::default()
        };
        req.resource_spans[0].scope_spans[0].spans[0].attributes = vec![
            attr("db.password", secret),
            attr("password_hint", "the-usual-one"),
        ];
        rec.payload = req.encode_to_vec().into();
        let mapped = with_mapper(|m| m.map(rec));
        let raw = &mapped.raw.as_ref().expect("raw kept").row().record;
        let [Row::Span(span)] = mapped.rows.as_slice() else {
            panic!("expected one span")
        };
        let attributes = span.row().attributes.clone().unwrap_or_default();
        for text in [raw, &attributes] {
            assert!(!text.contains(secret), "{text}");
            assert!(text.contains("[REDACTED:password-assignment]"), "{text}");
            assert!(text.contains("the-usual-one"), "{text}");
        }
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

    /// A WAL record of a logs request: Claude Code's `user_prompt` event (a keyed entity) and
    /// another service's log line.
    fn prompt_record(index: u64) -> WalRecord {
        use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
        use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
        use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
        use opentelemetry_proto::tonic::resource::v1::Resource;
        let kv = |k: &str, v: &str| KeyValue {
            key: k.into(),
            value: Some(AnyValue {
                value: Some(Value::StringValue(v.into())),
            }),
            ..Default::default()
        };
        let req = ExportLogsServiceRequest {
            resource_logs: vec![
                ResourceLogs {
                    resource: Some(Resource {
                        attributes: vec![kv("service.name", "claude-code")],
                        ..Default::default()
                    }),
                    scope_logs: vec![ScopeLogs {
                        log_records: vec![LogRecord {
                            time_unix_nano: 1_700_000_000_000_000_000,
                            attributes: vec![
                                kv("event.name", "claude_code.user_prompt"),
                                kv("session.id", "s-1"),
                                kv("prompt.id", "p-1"),
                                kv("prompt", "fix the tests"),
                            ],
                            ..Default::default()
                        }],
                        ..Default::default()
                    }],
                    ..Default::default()
                },
                ResourceLogs {
                    resource: Some(Resource {
                        attributes: vec![kv("service.name", "my-app")],
                        ..Default::default()
                    }),
                    scope_logs: vec![ScopeLogs {
                        log_records: vec![LogRecord {
                            time_unix_nano: 1_700_000_000_000_000_001,
                            attributes: vec![kv("event.name", "cache.miss")],
                            ..Default::default()
                        }],
                        ..Default::default()
                    }],
                    ..Default::default()
                },
            ],
        };
        WalRecord {
            kind: Signal::Logs.wal_kind(),
            received_at: 1_700_000_000_000_000,
            index,
            payload: req.encode_to_vec().into(),
        }
    }

    #[test]
    fn a_carried_record_gives_only_its_entities_and_keeps_its_first_reference() {
        let first = with_mapper(|m| m.map(prompt_record(3)));
        assert!(first.raw.is_some());
        let keyed = |m: &MappedRecord| {
            m.rows
                .iter()
                .filter(|r| matches!(r, Row::Keyed(..)))
                .count()
        };
        assert_eq!(keyed(&first), 1, "the prompt is keyed");
        assert_eq!(first.rows.len(), 2, "the other service's line is a row too");
        let carry = first.carry.expect("a record with an entity can be carried");
        assert_eq!(carry.request_ref, "seg#3");
        let copy = WalRecord {
            kind: carry.kind | CARRIED,
            received_at: carry.received_at,
            index: 0,
            payload: carry.payload().unwrap(),
        };
        let again = with_mapper(|m| m.map(copy));
        assert!(
            again.raw.is_none(),
            "its raw row was written with the first copy"
        );
        assert_eq!(again.rows.len(), 1, "only the entity");
        assert_eq!(again.received_at, 1_700_000_000_000_000);
        match &again.rows[0] {
            Row::Keyed(_, span) => {
                assert_eq!(span.source_ref.as_deref(), Some("seg#3"));
                assert_eq!(span.input_text.as_deref(), Some("fix the tests"));
            }
            _ => panic!("expected the keyed prompt"),
        }
        let bad = WalRecord {
            kind: Signal::Logs.wal_kind() | CARRIED,
            received_at: 0,
            index: 0,
            payload: bytes::Bytes::from_static(&[9]),
        };
        assert!(Carried::of(&bad, String::new()).is_err());
    }

    #[test]
    fn the_view_that_arrived_first_wins_whatever_the_segment_order() {
        let view = |name: &str, model: Option<&str>| {
            let mut s = Span::new("x", "s", "otlp", tracelake_model::SpanKind::Llm, 0);
            s.name = Some(name.into());
            s.model = model.map(str::to_string);
            s
        };
        let mut keyed = Keyed::default();
        // The later view comes first in the segment (a carried copy landed after it).
        keyed.add([1; 16], view("later", Some("m")), 20, 0);
        keyed.add([1; 16], view("earlier", None), 10, 1);
        let e = &keyed.entities[0];
        assert_eq!(e.span.name.as_deref(), Some("earlier"));
        assert_eq!(
            e.span.model.as_deref(),
            Some("m"),
            "filled from the later view"
        );
        assert_eq!(e.first_seen, 10);
        assert_eq!(e.records, vec![0, 1]);
    }
}
