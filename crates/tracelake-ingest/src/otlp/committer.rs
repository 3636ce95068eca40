//! From the WAL to the lake: every few seconds (or megabytes) the active segment is sealed,
//! its requests are decoded, mapped and written, and one catalog transaction commits the
//! rows together with the segment's name in the ledger; only then is the segment deleted.
//! On start, segments left by a crash are replayed unless the ledger says they committed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tracelake_lake::wal::SegmentReader;
use tracelake_lake::{Lake, SealedSegment, SourceState};
use tracelake_model::{PricingTable, RawRecord, Result};

use super::collector::Collector;
use super::decode::{Encoding, Signal, decode};
use super::{Mapped, map_request};
use crate::redact::Redactor;
use crate::sink::{LakeOnce, LakeWriterThread, OnceFilter};

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
            let records = SegmentReader::open(&seg_owned.path)?;
            let mut once = LakeOnce::new(&lake);
            let mut rows = 0u64;
            // Entities with a key (Claude Code's model calls, tools, prompts, decisions) can
            // arrive twice, as a trace span and as a log event: within a segment both views
            // merge into one row; across segments the first committed view stands.
            let mut keyed: Vec<([u8; 16], tracelake_model::Span)> = Vec::new();
            let mut keyed_at: std::collections::HashMap<[u8; 16], usize> =
                std::collections::HashMap::new();
            for record in records {
                let record = record?;
                let Some(signal) = Signal::from_wal_kind(record.kind) else {
                    tracing::warn!(segment = %seg_owned.name, kind = record.kind, "skipping a WAL record of unknown kind");
                    continue;
                };
                let request_ref = format!("{}#{}", seg_owned.name, record.index);
                let req = match decode(signal, Encoding::Protobuf, &record.payload) {
                    Ok(r) => r,
                    Err(e) => {
                        // Cannot happen for records we wrote; kept rather than lost.
                        tracing::error!(request = %request_ref, error = %e.report(), "undecodable WAL record kept in raw");
                        sink.push_raw(raw_row(
                            &request_ref,
                            signal,
                            record.received_at,
                            hex_payload(&record.payload),
                            Some(e.report()),
                        ))?;
                        continue;
                    }
                };
                if keep_raw {
                    sink.push_raw(raw_row(
                        &request_ref,
                        signal,
                        record.received_at,
                        req.to_json(),
                        None,
                    ))?;
                }
                for row in map_request(&req, &request_ref, pricing) {
                    match row {
                        Mapped::Span(span, Some(key)) => match keyed_at.get(&key) {
                            Some(&i) => keyed[i].1.fill_missing(span),
                            None => {
                                keyed_at.insert(key, keyed.len());
                                keyed.push((key, span));
                            }
                        },
                        Mapped::Span(mut span, None) => {
                            if span.kind == tracelake_model::SpanKind::Llm
                                && !messages.is_empty()
                                && let Some(t) = &span.trace_id
                                && let Some((input, output)) =
                                    messages.remove(&(t.clone(), span.span_id.clone()))
                            {
                                if span.input_text.is_none() && !input.is_empty() {
                                    span.input_text = Some(input.join("\n"));
                                }
                                if span.output_text.is_none() && !output.is_empty() {
                                    span.output_text = Some(output.join("\n"));
                                }
                            }
                            rows += 1;
                            sink.push_span(span)?;
                        }
                        Mapped::Metric(point) => {
                            rows += 1;
                            sink.push_metric(point)?;
                        }
                    }
                }
            }
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
