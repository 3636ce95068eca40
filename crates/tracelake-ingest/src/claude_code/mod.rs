//! The Claude Code importer: session transcripts (`<project>/<session>.jsonl` and
//! `<session>/subagents/agent-<id>.jsonl`) into the lake.
//!
//! Shape shared by every source: [`record`] decodes, [`mapper`] maps to the span model, and
//! the [`RowSink`](crate::sink::RowSink) writes. This module finds the files, reads only what
//! was appended since the last import (the offset and the mapping's carry-over state are
//! committed with the data, so re-importing adds nothing and a crash loses nothing), and
//! reports progress and a summary.

pub(crate) mod identity;
mod mapper;
mod record;
mod stats;

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use mapper::{Carry, SOURCE};
use mapper::{FileMapper, SubagentLink};
use record::AgentMeta;
use serde::{Deserialize, Serialize};
pub use stats::ImportStats;
use tracelake_lake::{Lake, SourceState};
use tracelake_model::{Error, PricingTable, Result};

use crate::progress::ImportProgress;
use crate::redact::Redactor;
use crate::sink::{LakeOnce, LakeWriterThread, RowSink};

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
struct FileState {
    /// Bytes consumed (always at a line boundary).
    offset: u64,
    /// Lines consumed.
    line: u64,
    /// Hash of the file's first bytes, to notice a file replaced in place.
    head: String,
    carry: Carry,
}

/// Finds the session files under `paths` (files or folders), sorted so that a session's
/// transcript comes before its subagents'.
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

/// Is this a subagent transcript (`…/subagents/agent-<id>.jsonl`)? Returns the agent id.
fn subagent_id(path: &Path) -> Option<String> {
    let parent = path.parent()?;
    if parent.file_name()? != "subagents" {
        return None;
    }
    let stem = path.file_stem()?.to_str()?;
    stem.strip_prefix("agent-").map(str::to_string)
}

/// The main transcript of the session a subagent file belongs to.
fn parent_transcript(path: &Path) -> Option<PathBuf> {
    let session_dir = path.parent()?.parent()?;
    let name = session_dir.file_name()?.to_str()?;
    Some(session_dir.with_file_name(format!("{name}.jsonl")))
}

/// Imports Claude Code session folders into a lake.
pub struct ClaudeCodeImporter {
    lake: Lake,
    pricing: &'static PricingTable,
    redactor: Arc<Redactor>,
    options: ImportOptions,
}

impl ClaudeCodeImporter {
    /// An importer writing to `lake`, masking with `redactor`.
    pub fn new(lake: Lake, redactor: Arc<Redactor>, options: ImportOptions) -> Self {
        Self {
            lake,
            pricing: PricingTable::embedded(),
            redactor,
            options,
        }
    }

    /// Imports every session file under `paths`.
    pub async fn import(
        &self,
        paths: &[PathBuf],
        progress: Arc<dyn ImportProgress>,
    ) -> Result<ImportSummary> {
        let started = Instant::now();
        let files = discover(paths)?;
        let states: HashMap<String, FileState> = self
            .lake
            .source_states(SOURCE)?
            .into_iter()
            .filter_map(|(k, v)| serde_json::from_str(&v).ok().map(|s| (k, s)))
            .collect();
        let lake = self.lake.clone();
        let redactor = self.redactor.clone();
        let pricing = self.pricing;
        let options = self.options.clone();
        let (sink, writer) = LakeWriterThread::start(lake.clone(), redactor)?;
        let work = tokio::task::spawn_blocking(move || {
            let mut run = ImportRun {
                lake: &lake,
                pricing,
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
}

struct ImportRun<'a> {
    lake: &'a Lake,
    pricing: &'static PricingTable,
    options: ImportOptions,
    states: HashMap<String, FileState>,
    sink: RowSink,
    stats: ImportStats,
    since_commit: u64,
    progress: &'a dyn ImportProgress,
}

impl ImportRun<'_> {
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
        let subagent = subagent_id(path).map(|agent_id| {
            let meta: AgentMeta = std::fs::read(path.with_extension("meta.json"))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default();
            let parent_task = meta.tool_use_id.as_ref().and_then(|tool| {
                let parent = parent_transcript(path)?;
                let carry = &self.states.get(&key_of(&parent))?.carry;
                carry
                    .agent_calls
                    .iter()
                    .find(|c| &c.tool_use_id == tool)
                    .and_then(|c| c.task_id.clone())
            });
            SubagentLink {
                agent_id,
                meta,
                parent_task,
            }
        });
        let file_session = if subagent.is_some() {
            path.parent()
                .and_then(Path::parent)
                .and_then(Path::file_name)
                .and_then(|n| n.to_str())
                .map(str::to_string)
        } else {
            path.file_stem()
                .and_then(|n| n.to_str())
                .map(str::to_string)
        };
        let mut mapper = FileMapper::new(
            self.pricing,
            shown.clone(),
            file_session,
            subagent,
            std::mem::take(&mut state.carry),
        );
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
            let text = String::from_utf8_lossy(&buf[..if complete { n - 1 } else { n }]);
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
                mapper.finish_llm();
                mapper.drain(&mut self.sink, once, &mut self.stats)?;
                self.save_state(&key, &state, &mapper)?;
                self.sink.commit()?;
                self.since_commit = 0;
            }
        }
        mapper.finish_llm();
        mapper.flush_orphans(self.options.now_micros)?;
        mapper.drain(&mut self.sink, once, &mut self.stats)?;
        self.save_state(&key, &state, &mapper)?;
        Ok(())
    }

    fn save_state(&mut self, key: &str, state: &FileState, mapper: &FileMapper<'_>) -> Result<()> {
        let mut saved = state.clone();
        saved.carry = mapper.carry.clone();
        let json = serde_json::to_string(&saved)
            .map_err(|e| Error::internal("serialising import state").with_source(e))?;
        self.sink.set_source_state(SourceState {
            source: SOURCE.to_string(),
            key: key.to_string(),
            state: json,
        })?;
        self.states.insert(key.to_string(), saved);
        Ok(())
    }
}

/// The ledger key of a file: its absolute path.
fn key_of(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subagent_paths_are_recognised() {
        let p = Path::new("/p/-home-dev-x/abc/subagents/agent-a12.jsonl");
        assert_eq!(subagent_id(p).as_deref(), Some("a12"));
        assert_eq!(
            parent_transcript(p).unwrap(),
            Path::new("/p/-home-dev-x/abc.jsonl")
        );
        assert_eq!(subagent_id(Path::new("/p/-home-dev-x/abc.jsonl")), None);
    }
}
