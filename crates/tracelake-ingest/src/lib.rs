//! Sources into the lake: importers of agent session logs (and, later, the OTLP receivers and
//! the MCP proxy), secret redaction, and the one write path they all share.
//!
//! Every source has the same shape: decode its records, map them onto the span model
//! (`tracelake-model`), and hand the rows to a [`sink::RowSink`], which masks secrets, batches
//! rows into Arrow and streams them to the lake writer. This crate never reads the lake back
//! through SQL: it does not depend on `tracelake-query`.

pub mod claude_code;
pub mod ids;
pub mod otlp;
pub mod progress;
pub mod redact;
pub mod sink;

pub use claude_code::{ClaudeCodeImporter, ImportOptions, ImportStats, ImportSummary};
pub use progress::{ImportProgress, NoProgress};
pub use redact::{RedactionConfig, RedactionRule, Redactor};
