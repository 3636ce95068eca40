//! Sources into the lake: importers of agent session logs (Claude Code, Codex), the OTLP
//! collector, secret redaction, and the one write path they all share.
//!
//! Every source has the same shape: decode its records, map them onto the span model
//! (`tracelake-model`), and hand the rows to a [`sink::RowSink`], which masks secrets, batches
//! rows into Arrow and streams them to the lake writer. This crate never reads the lake back
//! through SQL: it does not depend on `tracelake-query`.

pub mod claude_code;
pub mod codex;
pub mod ids;
pub mod json;
pub mod jsonl;
pub mod otlp;
pub mod progress;
pub mod redact;
pub mod sink;
pub mod stats;

pub use claude_code::ClaudeCodeImporter;
pub use codex::CodexImporter;
pub use jsonl::{ImportOptions, ImportSummary};
pub use progress::{ImportProgress, NoProgress};
pub use redact::{RedactionConfig, RedactionRule, Redactor};
pub use stats::ImportStats;
