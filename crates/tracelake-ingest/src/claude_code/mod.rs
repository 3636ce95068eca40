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

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use mapper::{Carry, SOURCE};
use mapper::{FileMapper, SubagentLink};
use record::AgentMeta;
use tracelake_lake::Lake;
use tracelake_model::{PricingTable, Result};

use crate::jsonl::{FileMapping, FileStates, SessionLogSource, key_of};
pub use crate::jsonl::{ImportOptions, ImportSummary, discover};
use crate::progress::ImportProgress;
use crate::redact::Redactor;
use crate::sink::{OnceFilter, RowSink};
pub use crate::stats::ImportStats;

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
        let source = ClaudeCodeLogs {
            pricing: self.pricing,
        };
        crate::jsonl::import(
            &self.lake,
            self.redactor.clone(),
            self.options.clone(),
            source,
            paths,
            progress,
        )
        .await
    }
}

/// Claude Code transcripts as a [`SessionLogSource`].
struct ClaudeCodeLogs {
    pricing: &'static PricingTable,
}

impl SessionLogSource for ClaudeCodeLogs {
    const SOURCE: &'static str = SOURCE;
    type Carry = Carry;
    type Mapper = FileMapper<'static>;

    fn mapper(
        &self,
        path: &Path,
        shown: String,
        carry: Carry,
        states: &FileStates<Carry>,
    ) -> FileMapper<'static> {
        let subagent = subagent_id(path).map(|agent_id| {
            let meta: AgentMeta = std::fs::read(path.with_extension("meta.json"))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default();
            let parent_task = meta.tool_use_id.as_ref().and_then(|tool| {
                let parent = parent_transcript(path)?;
                let carry = &states.get(&key_of(&parent))?.carry;
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
        FileMapper::new(self.pricing, shown, file_session, subagent, carry)
    }
}

impl FileMapping for FileMapper<'static> {
    type Carry = Carry;

    fn map_line(
        &mut self,
        line: &str,
        line_no: u64,
        offset: u64,
        sink: &mut RowSink,
        once: &mut dyn OnceFilter,
        stats: &mut ImportStats,
    ) -> Result<()> {
        FileMapper::map_line(self, line, line_no, offset, sink, once, stats)
    }

    fn checkpoint(
        &mut self,
        sink: &mut RowSink,
        once: &mut dyn OnceFilter,
        stats: &mut ImportStats,
    ) -> Result<()> {
        self.finish_llm();
        self.drain(sink, once, stats)
    }

    fn finish(
        &mut self,
        now: i64,
        sink: &mut RowSink,
        once: &mut dyn OnceFilter,
        stats: &mut ImportStats,
    ) -> Result<()> {
        self.finish_llm();
        self.flush_orphans(now)?;
        self.drain(sink, once, stats)
    }

    fn carry(&self) -> Carry {
        self.carry.clone()
    }
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
