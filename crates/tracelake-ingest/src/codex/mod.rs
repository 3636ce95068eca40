//! The Codex importer: Codex CLI rollouts (`$CODEX_HOME/sessions/YYYY/MM/DD/rollout-*.jsonl`)
//! into the lake.
//!
//! The same shape as every source: [`record`] decodes, [`mapper`] maps to the span model, the
//! [`RowSink`](crate::sink::RowSink) writes, and [`crate::jsonl`] (shared with the Claude Code
//! importer) finds the files, reads only what was appended since the last import, and commits
//! each file's offset and carry-over state with the rows. [`identity`] holds the ids the OTLP
//! mapping of Codex's events uses too, so both sources name one tool call alike.

pub mod identity;
mod mapper;
mod record;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use mapper::{Carry, SOURCE};
use mapper::{FileMapper, session_from_file_name};
use tracelake_lake::Lake;
use tracelake_model::{PricingTable, Result};

use crate::jsonl::{FileMapping, FileStates, ImportOptions, ImportSummary, SessionLogSource};
use crate::progress::ImportProgress;
use crate::redact::Redactor;
use crate::sink::{OnceFilter, RowSink};
use crate::stats::ImportStats;

/// Imports Codex rollout folders into a lake.
pub struct CodexImporter {
    lake: Lake,
    pricing: &'static PricingTable,
    redactor: Arc<Redactor>,
    options: ImportOptions,
}

impl CodexImporter {
    /// An importer writing to `lake`, masking with `redactor`.
    pub fn new(lake: Lake, redactor: Arc<Redactor>, options: ImportOptions) -> Self {
        Self {
            lake,
            pricing: PricingTable::embedded(),
            redactor,
            options,
        }
    }

    /// Imports every rollout file under `paths`.
    pub async fn import(
        &self,
        paths: &[PathBuf],
        progress: Arc<dyn ImportProgress>,
    ) -> Result<ImportSummary> {
        crate::jsonl::import(
            &self.lake,
            self.redactor.clone(),
            self.options.clone(),
            CodexRollouts {
                pricing: self.pricing,
            },
            paths,
            progress,
        )
        .await
    }
}

/// Codex rollouts as a [`SessionLogSource`].
struct CodexRollouts {
    pricing: &'static PricingTable,
}

impl SessionLogSource for CodexRollouts {
    const SOURCE: &'static str = SOURCE;
    type Carry = Carry;
    type Mapper = FileMapper;

    fn mapper(
        &self,
        path: &Path,
        shown: String,
        carry: Carry,
        _states: &FileStates<Carry>,
    ) -> FileMapper {
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        // Rollouts name their session (`rollout-<time>-<uuid>`); other files use their name.
        let file_session = session_from_file_name(stem).or_else(|| Some(stem.to_string()));
        FileMapper::new(self.pricing, shown, file_session, carry)
    }
}

impl FileMapping for FileMapper {
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
        self.drain(sink, once, stats)
    }

    fn finish(
        &mut self,
        now: i64,
        sink: &mut RowSink,
        once: &mut dyn OnceFilter,
        stats: &mut ImportStats,
    ) -> Result<()> {
        self.flush_orphans(now);
        self.drain(sink, once, stats)
    }

    fn carry(&self) -> Carry {
        self.carry.clone()
    }
}
