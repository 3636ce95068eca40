//! Incremental import of JSONL session logs, shared by every importer of agent session files
//! (Claude Code transcripts, Codex rollouts).
//!
//! A source supplies only its per-file mapping ([`FileMapping`]: decode a line, map it onto
//! the span model, queue the rows); this module does the rest the same way for all of them:
//! finds the `*.jsonl` files, reads only the bytes after the offset recorded in the ledger
//! (leaving a half-written last line for next time), notices a file that shrank or was
//! replaced, commits every `commit_every_bytes` with each file's offset and the mapping's
//! carry-over state in the same transaction as the rows, reports progress and counts.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tracelake_lake::{Lake, SourceState};
use tracelake_model::{Error, Result, Span};

use crate::progress::ImportProgress;
use crate::redact::Redactor;
use crate::sink::{LakeOnce, LakeWriterThread, OnceFilter, RowSink};
use crate::stats::ImportStats;

/// Options of an import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Commit after this many bytes read (bounds what a crash makes the next run redo).
    pub commit_every_bytes: u64,
    /// Current time in µs (tool calls older than an hour without a result are written).
    pub now_micros: i64,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            commit_every_bytes: 256 * 1024 * 1024,
            now_micros: chrono::Utc::now().timestamp_micros(),
        }
    }
}

/// What an import did.
#[derive(Debug, Clone)]
pub struct ImportSummary {
    /// Counts and findings.
    pub stats: ImportStats,
    /// Commits made.
    pub commits: usize,
    /// Wall time.
    pub elapsed: Duration,
}

/// Progress of one file, committed with its rows.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct FileState<C> {
    /// Bytes consumed (always at a line boundary).
    pub offset: u64,
    /// Lines consumed.
    pub line: u64,
    /// Hash of the file's first bytes, to notice a file replaced in place.
    pub head: String,
    /// The mapping's carry-over state.
    pub carry: C,
}

/// Every file's committed state, by ledger key ([`key_of`]).
pub(crate) type FileStates<C> = HashMap<String, FileState<C>>;

/// The mapping of one file's lines, continuing from the carry-over state of the last import.
pub(crate) trait FileMapping {
    /// What the mapping carries from one import to the next.
    type Carry;

    /// Maps one complete, non-empty line (`line_no` counts from 1, `offset` is its first
    /// byte). A malformed line is reported in `stats` and kept in `raw`, never an `Err`.
    fn map_line(
        &mut self,
        line: &str,
        line_no: u64,
        offset: u64,
        sink: &mut RowSink,
        once: &mut dyn OnceFilter,
        stats: &mut ImportStats,
    ) -> Result<()>;

    /// Before a commit in the middle of a file: hands every complete row to the sink.
    fn checkpoint(
        &mut self,
        sink: &mut RowSink,
        once: &mut dyn OnceFilter,
        stats: &mut ImportStats,
    ) -> Result<()>;

    /// After the file's last complete line (`now` in µs, for rows that waited too long).
    fn finish(
        &mut self,
        now: i64,
        sink: &mut RowSink,
        once: &mut dyn OnceFilter,
        stats: &mut ImportStats,
    ) -> Result<()>;

    /// The state to commit with the file's offset.
    fn carry(&self) -> Self::Carry;
}

/// A kind of JSONL session log: its ledger name and how to map one of its files.
pub(crate) trait SessionLogSource: Send + 'static {
    /// The ledger's source name (also the `source` of every row).
    const SOURCE: &'static str;
    /// What a file's mapping carries from one import to the next.
    type Carry: Clone + Default + Serialize + DeserializeOwned + Send + Sync + 'static;
    /// The mapping of one file.
    type Mapper: FileMapping<Carry = Self::Carry>;

    /// The mapping of `path` (shown as `shown` in `source_ref` and messages), continuing
    /// from `carry`; `states` holds every file's committed state (a file may depend on
    /// another's, as a Claude Code subagent transcript on its parent's).
    fn mapper(
        &self,
        path: &Path,
        shown: String,
        carry: Self::Carry,
        states: &FileStates<Self::Carry>,
    ) -> Self::Mapper;
}

/// Spans mapped from a file and not yet offered to the sink, each with its emit-once key.
#[derive(Default)]
pub(crate) struct SpanQueue {
    out: Vec<(Span, [u8; 16])>,
}

impl SpanQueue {
    /// Queues a span; [`SpanQueue::drain`] offers it to the sink once per `key`.
    pub fn push(&mut self, span: Span, key: [u8; 16]) {
        self.out.push((span, key));
    }

    /// Writes the queued spans whose keys the lake has not seen (a copied record or a
    /// re-read fragment never doubles a row), counting what was written.
    pub fn drain(
        &mut self,
        sink: &mut RowSink,
        once: &mut dyn OnceFilter,
        stats: &mut ImportStats,
    ) -> Result<()> {
        for (span, key) in std::mem::take(&mut self.out) {
            if !once.first_time(key, sink)? {
                continue;
            }
            stats.count_written(&span);
            sink.push_span(span)?;
        }
        Ok(())
    }
}

/// Finds the `*.jsonl` files under `paths` (files or folders), sorted by path (so a Claude
/// Code session's transcript comes before its subagents').
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|e| {
            Error::not_found(format!("{}: cannot read ({e})", path.display())).with_source(e)
        })?;
        if meta.is_file() {
            out.push(path.clone());
            continue;
        }
        for entry in walkdir::WalkDir::new(path).follow_links(false) {
            let entry = entry.map_err(|e| {
                Error::unavailable(format!("walking {}", path.display())).with_source(e)
            })?;
            if entry.file_type().is_file() && entry.path().extension().is_some_and(|e| e == "jsonl")
            {
                out.push(entry.into_path());
            }
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn head_hash(file: &mut File) -> Result<String> {
    let mut buf = [0u8; 4096];
    let mut n = 0;
    while n < buf.len() {
        let got = file
            .read(&mut buf[n..])
            .map_err(|e| Error::unavailable("reading a session file").with_source(e))?;
        if got == 0 {
            break;
        }
        n += got;
    }
    // Only the first line identifies the file (later bytes may still be appended).
    let end = buf[..n]
        .iter()
        .position(|b| *b == b'\n')
        .map_or(n, |p| p + 1);
    Ok(format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&buf[..end])))
}

/// The ledger key of a file: its absolute path.
pub(crate) fn key_of(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

/// Imports every session file of `source` under `paths` into `lake`.
pub(crate) async fn import<S: SessionLogSource>(
    lake: &Lake,
    redactor: Arc<Redactor>,
    options: ImportOptions,
    source: S,
    paths: &[PathBuf],
    progress: Arc<dyn ImportProgress>,
) -> Result<ImportSummary> {
    let started = Instant::now();
    let files = discover(paths)?;
    let states: FileStates<S::Carry> = lake
        .source_states(S::SOURCE)?
        .into_iter()
        .filter_map(|(k, v)| serde_json::from_str(&v).ok().map(|s| (k, s)))
        .collect();
    let lake = lake.clone();
    let (sink, writer) = LakeWriterThread::start(lake.clone(), redactor)?;
    let work = tokio::task::spawn_blocking(move || {
        let mut run = ImportRun {
            lake: &lake,
            source,
            options,
            states,
            sink,
            stats: ImportStats::default(),
            since_commit: 0,
            progress: progress.as_ref(),
        };
        let result = run.run(&files);
        let masked = run.sink.counts().masked;
        let ImportRun {
            sink, mut stats, ..
        } = run;
        stats.masked = masked;
        drop(sink);
        result.map(|()| stats)
    });
    let stats = work
        .await
        .map_err(|e| Error::internal("the import worker failed").with_source(e));
    let reports = writer.join();
    let stats = stats??;
    let reports = reports?;
    Ok(ImportSummary {
        stats,
        commits: reports.len(),
        elapsed: started.elapsed(),
    })
}

struct ImportRun<'a, S: SessionLogSource> {
    lake: &'a Lake,
    source: S,
    options: ImportOptions,
    states: FileStates<S::Carry>,
    sink: RowSink,
    stats: ImportStats,
    since_commit: u64,
    progress: &'a dyn ImportProgress,
}

impl<S: SessionLogSource> ImportRun<'_, S> {
    fn run(&mut self, files: &[PathBuf]) -> Result<()> {
        let total_bytes: u64 = files
            .iter()
            .filter_map(|f| std::fs::metadata(f).ok())
            .map(|m| m.len())
            .sum();
        let already: u64 = files
            .iter()
            .filter_map(|f| self.states.get(&key_of(f)).map(|s| s.offset))
            .sum();
        self.progress
            .start(files.len() as u64, total_bytes.saturating_sub(already));
        self.stats.files = files.len() as u64;
        let mut once = LakeOnce::new(self.lake);
        for path in files {
            self.import_file(path, &mut once)?;
            self.progress.file_done();
        }
        self.sink.commit()?;
        self.progress.finish();
        Ok(())
    }

    fn import_file(&mut self, path: &Path, once: &mut LakeOnce<'_>) -> Result<()> {
        let key = key_of(path);
        let shown = path.display().to_string();
        let mut file = File::open(path)
            .map_err(|e| Error::unavailable(format!("opening {shown}")).with_source(e))?;
        let len = file
            .metadata()
            .map_err(|e| Error::unavailable(format!("reading {shown}")).with_source(e))?
            .len();
        let head = head_hash(&mut file).map_err(|e| e.context(&shown))?;
        let mut state = match self.states.get(&key) {
            Some(s) if s.head == head && s.offset <= len => s.clone(),
            Some(s) if s.offset > len => {
                self.stats.files_skipped += 1;
                self.stats.warnings.push(format!(
                    "{shown}: shorter than when it was imported ({len} < {} bytes); skipped",
                    s.offset
                ));
                return Ok(());
            }
            Some(_) => {
                self.stats.warnings.push(format!(
                    "{shown}: its first line changed since the last import; read as a new file"
                ));
                FileState {
                    head: head.clone(),
                    ..FileState::default()
                }
            }
            None => FileState {
                head: head.clone(),
                ..FileState::default()
            },
        };
        if state.offset == len {
            self.stats.files_unchanged += 1;
            return Ok(());
        }
        self.stats.files_read += 1;
        let carry = std::mem::take(&mut state.carry);
        let mut mapper = self.source.mapper(path, shown.clone(), carry, &self.states);
        file.seek(SeekFrom::Start(state.offset))
            .map_err(|e| Error::unavailable(format!("reading {shown}")).with_source(e))?;
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut buf = Vec::with_capacity(64 * 1024);
        loop {
            buf.clear();
            let n = reader
                .read_until(b'\n', &mut buf)
                .map_err(|e| Error::unavailable(format!("reading {shown}")).with_source(e))?;
            if n == 0 {
                break;
            }
            let complete = buf.last() == Some(&b'\n');
            if !complete && serde_json::from_slice::<serde::de::IgnoredAny>(&buf).is_err() {
                // A half-written last line: left for the next import. (A last line without a
                // newline that is a whole JSON value is complete: nothing can extend it.)
                self.stats.pending_bytes += n as u64;
                break;
            }
            let line_no = state.line + 1;
            let offset = state.offset;
            let text = String::from_utf8_lossy(buf.get(..n - usize::from(complete)).unwrap_or(&[]));
            let text = text.trim_end_matches('\r');
            if !text.trim().is_empty() {
                mapper.map_line(text, line_no, offset, &mut self.sink, once, &mut self.stats)?;
            }
            state.offset += n as u64;
            state.line = line_no;
            self.stats.lines += 1;
            self.stats.bytes += n as u64;
            self.since_commit += n as u64;
            self.progress.advance(n as u64);
            if self.since_commit >= self.options.commit_every_bytes {
                mapper.checkpoint(&mut self.sink, once, &mut self.stats)?;
                self.save_state(&key, &state, mapper.carry())?;
                self.sink.commit()?;
                self.since_commit = 0;
            }
        }
        mapper.finish(
            self.options.now_micros,
            &mut self.sink,
            once,
            &mut self.stats,
        )?;
        self.save_state(&key, &state, mapper.carry())?;
        Ok(())
    }

    fn save_state(
        &mut self,
        key: &str,
        state: &FileState<S::Carry>,
        carry: S::Carry,
    ) -> Result<()> {
        let mut saved = state.clone();
        saved.carry = carry;
        let json = serde_json::to_string(&saved)
            .map_err(|e| Error::internal("serialising import state").with_source(e))?;
        self.sink.set_source_state(SourceState {
            source: S::SOURCE.to_string(),
            key: key.to_string(),
            state: json,
        })?;
        self.states.insert(key.to_string(), saved);
        Ok(())
    }
}
