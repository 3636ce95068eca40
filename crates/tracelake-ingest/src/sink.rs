//! The one write path every source uses: spans and raw records go in, secrets are masked,
//! rows are batched into Arrow, and a writer thread streams the batches into the lake and
//! commits them together with the source's progress.
//!
//! Decoding and mapping run on the caller's thread; Parquet encoding, compression and the
//! commit run on the writer thread, so an import uses both cores.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use arrow_array::RecordBatch;
use std::collections::HashSet;
use tracelake_lake::{CommitReport, Lake, LakeWrite, SourceState, TableWrite};

use tracelake_model::{
    Error, MetricBatchBuilder, MetricPoint, RawBatchBuilder, RawRecord, Result, Span,
    SpanBatchBuilder, TableKind,
};

use crate::redact::Redactor;

/// Rows per batch before it is handed to the writer.
const BATCH_ROWS: usize = 8192;
/// Text bytes per batch of spans before it is handed to the writer.
const BATCH_BYTES: usize = 24 * 1024 * 1024;
/// Text bytes per batch of raw records: less, since nothing is sorted or searched by them and
/// a collector's raw rows are whole requests (hundreds of KB each).
const RAW_BATCH_BYTES: usize = 8 * 1024 * 1024;

enum WriterMsg {
    Batch(TableKind, RecordBatch),
    /// Commit everything sent so far, with this source progress and these emit-once keys.
    Commit {
        states: Vec<SourceState>,
        once_keys: Vec<[u8; 16]>,
    },
}

/// Counts of what went through a sink.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SinkCounts {
    /// Spans written.
    pub spans: u64,
    /// Raw records written.
    pub raw: u64,
    /// Secret values masked.
    pub masked: u64,
}

/// Decides whether a keyed row is written: once per lake, however often its source repeats it.
pub trait OnceFilter {
    /// True the first time `key` is offered (this run or any commit before). The key is
    /// recorded with the rows the sink commits next.
    fn first_time(&mut self, key: [u8; 16], sink: &mut RowSink) -> Result<bool>;
}

/// The [`OnceFilter`] of a lake: keys of this run in memory, earlier ones in the ledger.
pub struct LakeOnce<'a> {
    lake: &'a Lake,
    this_run: HashSet<[u8; 16]>,
}

impl<'a> LakeOnce<'a> {
    /// A filter over `lake`'s ledger.
    pub fn new(lake: &'a Lake) -> Self {
        Self {
            lake,
            this_run: HashSet::new(),
        }
    }
}

impl OnceFilter for LakeOnce<'_> {
    fn first_time(&mut self, key: [u8; 16], sink: &mut RowSink) -> Result<bool> {
        if !self.this_run.insert(key) {
            return Ok(false);
        }
        if self
            .lake
            .keys_seen(&[key])?
            .first()
            .copied()
            .unwrap_or(false)
        {
            return Ok(false);
        }
        sink.add_once_key(key)?;
        Ok(true)
    }
}

/// A row whose text has been masked. The `push_masked_*` methods take only these, so masking
/// can run on other threads while one thread feeds the sink.
pub struct Masked<T> {
    row: T,
    masked: u64,
}

impl<T> Masked<T> {
    /// A row built only from text masked already (the collector masks each decoded request
    /// once, `otlp/mask.rs`), with the number of values that masking masked.
    pub fn from_masked_text(row: T, masked: u64) -> Self {
        Self { row, masked }
    }

    /// The masked row.
    pub fn row(&self) -> &T {
        &self.row
    }
}

impl Masked<Span> {
    /// Masks every text column of `span`.
    pub fn span(mut span: Span, redactor: &Redactor) -> Self {
        let mut masked = 0;
        span.for_each_text_mut(|t| masked += redactor.redact(t));
        Self {
            row: span,
            masked: masked as u64,
        }
    }
}

impl Masked<RawRecord> {
    /// Masks the record's text.
    pub fn raw(mut raw: RawRecord, redactor: &Redactor) -> Self {
        let masked = redactor.redact(&mut raw.record) as u64;
        Self { row: raw, masked }
    }
}

/// Collects rows from a source and feeds them to a [`LakeWriterThread`].
pub struct RowSink {
    spans: SpanBatchBuilder,
    raw: RawBatchBuilder,
    metrics: MetricBatchBuilder,
    redactor: Arc<Redactor>,
    tx: SyncSender<WriterMsg>,
    counts: SinkCounts,
    ingested_at: i64,
    /// Progress and keys travel with the next commit (one message, not one per key: a
    /// message per key made the parser wait for every batch the writer was encoding).
    states: Vec<SourceState>,
    once_keys: Vec<[u8; 16]>,
}

impl RowSink {
    /// Masks and appends a span.
    pub fn push_span(&mut self, span: Span) -> Result<()> {
        let span = Masked::span(span, &self.redactor);
        self.push_masked_span(span)
    }

    /// Appends a span masked already (on another thread, with [`RowSink::redactor`]).
    pub fn push_masked_span(&mut self, span: Masked<Span>) -> Result<()> {
        self.counts.masked += span.masked;
        self.spans.append(&span.row);
        self.counts.spans += 1;
        if self.spans.len() >= BATCH_ROWS || self.spans.text_bytes() >= BATCH_BYTES {
            self.flush_spans()?;
        }
        Ok(())
    }

    /// Masks and appends a raw record.
    pub fn push_raw(&mut self, raw: RawRecord) -> Result<()> {
        let raw = Masked::raw(raw, &self.redactor);
        self.push_masked_raw(raw)
    }

    /// Appends a raw record masked already (on another thread, with [`RowSink::redactor`]).
    pub fn push_masked_raw(&mut self, raw: Masked<RawRecord>) -> Result<()> {
        self.counts.masked += raw.masked;
        self.raw.append(&raw.row);
        self.counts.raw += 1;
        if self.raw.len() >= BATCH_ROWS || self.raw.text_bytes() >= RAW_BATCH_BYTES {
            self.flush_raw()?;
        }
        Ok(())
    }

    /// The redactor rows are masked with, for callers that mask on threads of their own.
    pub fn redactor(&self) -> &Arc<Redactor> {
        &self.redactor
    }

    /// Masks and appends a metric data point.
    pub fn push_metric(&mut self, mut point: MetricPoint) -> Result<()> {
        let mut masked = 0;
        for text in [&mut point.attributes, &mut point.resource_attributes]
            .into_iter()
            .flatten()
        {
            masked += self.redactor.redact(text) as u64;
        }
        self.push_masked_metric(Masked { row: point, masked })
    }

    /// Appends a metric data point masked already.
    pub fn push_masked_metric(&mut self, point: Masked<MetricPoint>) -> Result<()> {
        self.counts.masked += point.masked;
        self.metrics.append(&point.row);
        if self.metrics.len() >= BATCH_ROWS {
            let batch = self.metrics.finish()?;
            self.send(WriterMsg::Batch(TableKind::Metrics, batch))?;
        }
        Ok(())
    }

    /// Records source progress to commit with the rows sent so far. The state is masked
    /// like every row: it may carry text (a tool call waiting for its result).
    pub fn set_source_state(&mut self, mut state: SourceState) -> Result<()> {
        self.redactor.redact(&mut state.state);
        self.states
            .retain(|s| !(s.source == state.source && s.key == state.key));
        self.states.push(state);
        Ok(())
    }

    /// Records an emit-once key to commit with the rows sent so far.
    pub fn add_once_key(&mut self, key: [u8; 16]) -> Result<()> {
        self.once_keys.push(key);
        Ok(())
    }

    /// Sends every pending row and asks the writer to commit everything sent so far.
    pub fn commit(&mut self) -> Result<()> {
        self.flush_spans()?;
        self.flush_raw()?;
        if !self.metrics.is_empty() {
            let batch = self.metrics.finish()?;
            self.send(WriterMsg::Batch(TableKind::Metrics, batch))?;
        }
        let states = std::mem::take(&mut self.states);
        let once_keys = std::mem::take(&mut self.once_keys);
        self.send(WriterMsg::Commit { states, once_keys })
    }

    /// What went through so far.
    pub fn counts(&self) -> SinkCounts {
        self.counts
    }

    /// The ingestion time stamped on every row.
    pub fn ingested_at(&self) -> i64 {
        self.ingested_at
    }

    fn flush_spans(&mut self) -> Result<()> {
        if self.spans.is_empty() {
            return Ok(());
        }
        // Sorted here, on the sink's thread: the writer keeps a batch that is in its table's
        // order as it is, and its thread is the pipeline's critical path (BENCHMARKS.md,
        // stop 14), while this one has time to spare.
        let batch = tracelake_lake::writer::sort_batch(TableKind::Spans, &self.spans.finish()?)?;
        self.send(WriterMsg::Batch(TableKind::Spans, batch))
    }

    fn flush_raw(&mut self) -> Result<()> {
        if self.raw.is_empty() {
            return Ok(());
        }
        let batch = self.raw.finish()?;
        self.send(WriterMsg::Batch(TableKind::Raw, batch))
    }

    fn send(&self, msg: WriterMsg) -> Result<()> {
        self.tx
            .send(msg)
            .map_err(|_| Error::internal("the lake writer stopped (see its error)"))
    }
}

/// The thread that writes a sink's batches into the lake and commits them.
pub struct LakeWriterThread {
    handle: JoinHandle<Result<Vec<CommitReport>>>,
}

impl LakeWriterThread {
    /// Starts a writer for `lake` and returns the sink that feeds it.
    ///
    /// Must be called from within a tokio runtime (the writer uses its handle for storage I/O).
    pub fn start(lake: Lake, redactor: Arc<Redactor>) -> Result<(RowSink, LakeWriterThread)> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| Error::internal("the lake writer needs a tokio runtime").with_source(e))?;
        let (tx, rx) = sync_channel(1);
        let handle = std::thread::Builder::new()
            .name("lake-writer".into())
            .spawn(move || writer_loop(&runtime, &lake, rx))
            .map_err(|e| Error::internal("starting the lake writer").with_source(e))?;
        let ingested_at = chrono::Utc::now().timestamp_micros();
        Ok((
            RowSink {
                spans: SpanBatchBuilder::new(ingested_at),
                raw: RawBatchBuilder::new(ingested_at),
                metrics: MetricBatchBuilder::new(ingested_at),
                redactor,
                tx,
                counts: SinkCounts::default(),
                ingested_at,
                states: Vec::new(),
                once_keys: Vec::new(),
            },
            LakeWriterThread { handle },
        ))
    }

    /// Waits for the writer (after the sink was dropped) and returns its commits.
    pub fn join(self) -> Result<Vec<CommitReport>> {
        self.handle
            .join()
            .map_err(|_| Error::internal("the lake writer panicked"))?
    }
}

fn writer_loop(
    runtime: &tokio::runtime::Handle,
    lake: &Lake,
    rx: Receiver<WriterMsg>,
) -> Result<Vec<CommitReport>> {
    let mut reports = Vec::new();
    let mut write = runtime.block_on(lake.begin_write())?;
    let mut raw = RawPart::start(&mut write)?;
    let mut dirty = false;
    for msg in rx {
        match msg {
            WriterMsg::Batch(TableKind::Raw, batch) if raw.is_some() => {
                if let Some(part) = &raw
                    && part.tx.send(batch).is_err()
                {
                    // The raw thread stopped on an error: collect it, drop the files.
                    let err = finish_raw(&mut raw, &mut write).err();
                    write.abandon();
                    return Err(err.unwrap_or_else(|| Error::internal("the raw writer stopped")));
                }
                dirty = true;
            }
            WriterMsg::Batch(kind, batch) => {
                if let Err(e) = write.append(kind, &batch) {
                    let _ = finish_raw(&mut raw, &mut write);
                    write.abandon();
                    return Err(e);
                }
                dirty = true;
            }
            WriterMsg::Commit { states, once_keys } => {
                if !dirty && states.is_empty() {
                    continue;
                }
                if let Err(e) = finish_raw(&mut raw, &mut write) {
                    write.abandon();
                    return Err(e);
                }
                for state in states {
                    write.set_source_state(state);
                }
                for key in once_keys {
                    write.add_once_key(key);
                }
                let mut next = runtime.block_on(lake.begin_write())?;
                raw = RawPart::start(&mut next)?;
                let done = std::mem::replace(&mut write, next);
                reports.push(runtime.block_on(lake.commit(done))?);
                dirty = false;
            }
        }
    }
    // The sink went away without a final commit: nothing acknowledged, drop the files.
    let _ = finish_raw(&mut raw, &mut write);
    write.abandon();
    Ok(reports)
}

/// The `raw` table's part of a write, encoded on a thread of its own: it is ~40% of the
/// collector's encoding work (the request JSON), and one thread encoding every table was
/// the committer's critical path while the other core idled (BENCHMARKS.md, stop 14).
struct RawPart {
    tx: SyncSender<RecordBatch>,
    handle: JoinHandle<Result<TableWrite>>,
}

impl RawPart {
    /// Takes the raw table out of `write` and starts its thread (none if the write has no
    /// raw table).
    fn start(write: &mut LakeWrite) -> Result<Option<Self>> {
        let Some(mut part) = write.split_off(TableKind::Raw) else {
            return Ok(None);
        };
        let (tx, rx) = sync_channel::<RecordBatch>(1);
        let handle = std::thread::Builder::new()
            .name("lake-writer-raw".into())
            .spawn(move || {
                for batch in rx {
                    if let Err(e) = part.append(&batch) {
                        part.abandon();
                        return Err(e);
                    }
                }
                Ok(part)
            })
            .map_err(|e| Error::internal("starting the raw table writer").with_source(e))?;
        Ok(Some(Self { tx, handle }))
    }
}

/// Waits for the raw thread to write what it was sent and gives its part back to `write`.
fn finish_raw(raw: &mut Option<RawPart>, write: &mut LakeWrite) -> Result<()> {
    let Some(RawPart { tx, handle }) = raw.take() else {
        return Ok(());
    };
    drop(tx);
    let part = handle
        .join()
        .map_err(|_| Error::internal("the raw table writer panicked"))??;
    write.rejoin(part);
    Ok(())
}
