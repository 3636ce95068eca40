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
/// Text bytes per batch of spans before it is handed to the writer. Every column buffer of a
/// batch (and of its sorted copy) stays well under jemalloc's 8 MiB `oversize_threshold`:
/// larger allocations come from an arena that hands its pages back as soon as they are
/// freed, so each batch faulted in and zeroed its memory afresh (BENCHMARKS.md, stop 17).
const BATCH_BYTES: usize = 4 * 1024 * 1024;
/// Text bytes per batch of raw records: less, since nothing is sorted or searched by them and
/// a collector's raw rows are whole requests (hundreds of KB each).
const RAW_BATCH_BYTES: usize = 2 * 1024 * 1024;

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
    /// Raw batches go straight to the raw table's thread: through the writer, each waited
    /// behind the spans batch being encoded, and the sink and the mappers with it.
    raw_tx: SyncSender<RawMsg>,
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
        // The raw rows sent so far belong to this commit, the ones sent after it to the next.
        self.send_raw(RawMsg::Seal)?;
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
        self.send_raw(RawMsg::Batch(batch))
    }

    fn send(&self, msg: WriterMsg) -> Result<()> {
        self.tx
            .send(msg)
            .map_err(|_| Error::internal("the lake writer stopped (see its error)"))
    }

    fn send_raw(&self, msg: RawMsg) -> Result<()> {
        self.raw_tx
            .send(msg)
            .map_err(|_| Error::internal("the raw table writer stopped (see its error)"))
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
        let (raw_tx, raw_rx) = sync_channel(2);
        let handle = std::thread::Builder::new()
            .name("lake-writer".into())
            .spawn(move || writer_loop(&runtime, &lake, rx, raw_rx))
            .map_err(|e| Error::internal("starting the lake writer").with_source(e))?;
        let ingested_at = chrono::Utc::now().timestamp_micros();
        Ok((
            RowSink {
                spans: SpanBatchBuilder::new(ingested_at),
                raw: RawBatchBuilder::new(ingested_at),
                metrics: MetricBatchBuilder::new(ingested_at),
                redactor,
                tx,
                raw_tx,
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
    raw_rx: Receiver<RawMsg>,
) -> Result<Vec<CommitReport>> {
    let mut reports = Vec::new();
    let mut write = runtime.block_on(lake.begin_write())?;
    let raw = RawThread::start(raw_rx)?;
    raw.next_part(&mut write)?;
    let result = (|| {
        let mut dirty = false;
        for msg in rx {
            match msg {
                WriterMsg::Batch(kind, batch) => {
                    write.append(kind, &batch)?;
                    dirty = true;
                }
                WriterMsg::Commit { states, once_keys } => {
                    // The raw thread's part, once it wrote every raw batch of this commit.
                    let part = raw.finished_part()?;
                    let raw_rows = part.as_ref().map_or(0, TableWrite::rows);
                    if let Some(part) = part {
                        write.rejoin(part);
                    }
                    if !dirty && raw_rows == 0 && states.is_empty() {
                        raw.next_part(&mut write)?;
                        continue;
                    }
                    for state in states {
                        write.set_source_state(state);
                    }
                    for key in once_keys {
                        write.add_once_key(key);
                    }
                    let mut next = runtime.block_on(lake.begin_write())?;
                    raw.next_part(&mut next)?;
                    let done = std::mem::replace(&mut write, next);
                    reports.push(runtime.block_on(lake.commit(done))?);
                    dirty = false;
                }
            }
        }
        Ok(())
    })();
    // Whatever was not committed (an error, or the sink went away without a final commit:
    // nothing acknowledged) is dropped with its files; the raw thread drops its part itself.
    write.abandon();
    raw.join()?;
    result.map(|()| reports)
}

/// What the sink sends the raw table's thread.
enum RawMsg {
    /// Raw rows.
    Batch(RecordBatch),
    /// The rows sent so far belong to the commit the sink asks for next.
    Seal,
}

/// The `raw` table's part of each write, encoded on a thread of its own: it is ~40% of the
/// collector's encoding work (the request JSON), and one thread encoding every table was
/// the committer's critical path while the other core idled (BENCHMARKS.md, stop 14). The
/// sink feeds it directly; the writer hands it each write's raw part and takes it back,
/// written, at the commit.
struct RawThread {
    parts: SyncSender<Option<TableWrite>>,
    done: Receiver<Result<Option<TableWrite>>>,
    handle: JoinHandle<()>,
}

impl RawThread {
    fn start(rx: Receiver<RawMsg>) -> Result<Self> {
        let (parts, parts_rx) = sync_channel::<Option<TableWrite>>(1);
        let (done_tx, done) = sync_channel(1);
        let handle = std::thread::Builder::new()
            .name("lake-writer-raw".into())
            .spawn(move || raw_loop(&rx, &parts_rx, &done_tx))
            .map_err(|e| Error::internal("starting the raw table writer").with_source(e))?;
        Ok(Self {
            parts,
            done,
            handle,
        })
    }

    /// Takes the raw table out of `write` for the thread to write the next commit's rows.
    fn next_part(&self, write: &mut LakeWrite) -> Result<()> {
        self.parts
            .send(write.split_off(TableKind::Raw))
            .map_err(|_| Error::internal("the raw table writer stopped"))
    }

    /// Waits until the thread wrote every raw batch sent before the commit, and takes its
    /// part back.
    fn finished_part(&self) -> Result<Option<TableWrite>> {
        self.done
            .recv()
            .map_err(|_| Error::internal("the raw table writer stopped"))?
    }

    fn join(self) -> Result<()> {
        drop(self.parts);
        self.handle
            .join()
            .map_err(|_| Error::internal("the raw table writer panicked"))
    }
}

/// For each part the writer hands over: writes the sink's raw batches into it until the
/// sink seals the commit, then hands it back (or the first error).
fn raw_loop(
    rx: &Receiver<RawMsg>,
    parts: &Receiver<Option<TableWrite>>,
    done: &SyncSender<Result<Option<TableWrite>>>,
) {
    while let Ok(mut part) = parts.recv() {
        let mut failed = None;
        loop {
            match rx.recv() {
                Ok(RawMsg::Batch(batch)) if failed.is_none() => {
                    let written = match &mut part {
                        Some(p) => p.append(&batch),
                        None => Err(Error::internal("this write has no raw table")),
                    };
                    // Keep reading so the sink is not blocked; the commit gets the error.
                    failed = written.err();
                }
                Ok(RawMsg::Batch(_)) => {}
                Ok(RawMsg::Seal) => break,
                Err(_) => {
                    // The sink went away without committing: nothing acknowledged.
                    if let Some(p) = part {
                        p.abandon();
                    }
                    return;
                }
            }
        }
        // Its files are closed here (last row group, footer, fsync), beside the writer
        // closing the other tables', instead of after them.
        if failed.is_none()
            && let Some(p) = &mut part
            && let Err(e) = p.close_files()
        {
            failed = Some(e);
        }
        let result = match failed {
            None => Ok(part),
            Some(e) => {
                if let Some(p) = part {
                    p.abandon();
                }
                Err(e)
            }
        };
        if done.send(result).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn raw(n: i64) -> RawRecord {
        RawRecord {
            source: "test".into(),
            source_ref: format!("r{n}"),
            file: None,
            line: Some(n),
            byte_offset: None,
            session_id: None,
            record_type: None,
            event_time: 1_700_000_000_000_000 + n,
            record: format!("{{\"n\":{n}}}"),
            parse_error: None,
        }
    }

    fn raw_rows(report: &CommitReport) -> u64 {
        report
            .rows
            .iter()
            .find(|(k, _)| *k == TableKind::Raw)
            .map_or(0, |(_, n)| *n)
    }

    /// Raw rows go to their own thread, not through the writer: each commit still holds
    /// exactly the raw rows pushed before it, and rows pushed after the last commit are
    /// dropped with the sink (a source's progress never runs ahead of its rows).
    #[test]
    fn raw_rows_land_in_the_commit_they_were_pushed_before() {
        let home = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let lake = rt
            .block_on(Lake::open(home.path(), &Default::default()))
            .unwrap();
        let _entered = rt.enter();
        let redactor = Arc::new(Redactor::default_rules().unwrap());
        let (mut sink, writer) = LakeWriterThread::start(lake, redactor).unwrap();
        let state = |n: usize| SourceState {
            source: "test".into(),
            key: "file".into(),
            state: n.to_string(),
        };
        for n in 0..3 {
            sink.push_raw(raw(n)).unwrap();
        }
        sink.set_source_state(state(3)).unwrap();
        sink.commit().unwrap();
        // Nothing new: no commit at all.
        sink.commit().unwrap();
        sink.push_raw(raw(3)).unwrap();
        sink.set_source_state(state(4)).unwrap();
        sink.commit().unwrap();
        sink.push_raw(raw(4)).unwrap();
        drop(sink);
        let reports = writer.join().unwrap();
        let raw_per_commit: Vec<u64> = reports.iter().map(raw_rows).collect();
        assert_eq!(raw_per_commit, vec![3, 1]);
    }
}
