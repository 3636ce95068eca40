//! What an import saw and did, for the summary printed at the end and the exit status.

use std::collections::{BTreeMap, BTreeSet};

use tracelake_model::{Decision, Span, SpanKind, Status};

/// How many malformed-line messages are kept verbatim (all are counted).
pub const MAX_MALFORMED_MESSAGES: usize = 200;

/// Counts and findings of one import.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportStats {
    /// Files found.
    pub files: u64,
    /// Files read (new or grown).
    pub files_read: u64,
    /// Files unchanged since the last import.
    pub files_unchanged: u64,
    /// Files skipped because they shrank or were replaced (each reported in `warnings`).
    pub files_skipped: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Complete lines read.
    pub lines: u64,
    /// Bytes of a half-written last line left for the next import.
    pub pending_bytes: u64,
    /// Records per type.
    pub records: BTreeMap<String, u64>,
    /// Spans written per kind.
    pub spans: BTreeMap<&'static str, u64>,
    /// Sessions seen.
    pub sessions: BTreeSet<String>,
    /// Subagent transcripts started.
    pub subagents: u64,
    /// Tasks (user prompts).
    pub tasks: u64,
    /// Tool calls written.
    pub tool_calls: u64,
    /// Tool calls that failed.
    pub tool_errors: u64,
    /// Tool calls written without a result (the session ended first).
    pub orphan_tools: u64,
    /// Permission denials.
    pub denials: u64,
    /// User interruptions.
    pub interruptions: u64,
    /// Compactions.
    pub compactions: u64,
    /// Malformed lines (skipped from mapping, kept in `raw`).
    pub malformed: u64,
    /// `file:line: reason` of the first malformed lines.
    pub malformed_messages: Vec<String>,
    /// Other warnings (files skipped and why).
    pub warnings: Vec<String>,
    /// Model calls whose model has no price, per model.
    pub unpriced_models: BTreeMap<String, u64>,
    /// Token totals of the model calls written.
    pub input_tokens: i64,
    /// Output tokens.
    pub output_tokens: i64,
    /// Cache-read tokens.
    pub cache_read_tokens: i64,
    /// Cache-write tokens.
    pub cache_write_tokens: i64,
    /// Reasoning tokens (part of the output tokens, counted apart as well).
    pub reasoning_tokens: i64,
    /// Cost of the priced model calls written.
    pub cost_usd: f64,
    /// Secret values masked.
    pub masked: u64,
}

impl ImportStats {
    pub(crate) fn count_record(&mut self, ty: &str) {
        let key = if ty.is_empty() { "(none)" } else { ty };
        match self.records.get_mut(key) {
            Some(n) => *n += 1,
            None => {
                self.records.insert(key.to_string(), 1);
            }
        }
    }

    pub(crate) fn count_span(&mut self, kind: SpanKind) {
        *self.spans.entry(kind.as_str()).or_default() += 1;
    }

    pub(crate) fn malformed(&mut self, message: String) {
        self.malformed += 1;
        if self.malformed_messages.len() < MAX_MALFORMED_MESSAGES {
            self.malformed_messages.push(message);
        }
    }

    pub(crate) fn unpriced(&mut self, model: &str) {
        *self.unpriced_models.entry(model.to_string()).or_default() += 1;
    }

    pub(crate) fn add_tokens(&mut self, s: &Span) {
        self.input_tokens += s.input_tokens.unwrap_or(0);
        self.output_tokens += s.output_tokens.unwrap_or(0);
        self.cache_read_tokens += s.cache_read_tokens.unwrap_or(0);
        self.cache_write_tokens += s.cache_write_tokens.unwrap_or(0);
        self.reasoning_tokens += s.reasoning_tokens.unwrap_or(0);
        self.cost_usd += s.cost_usd.unwrap_or(0.0);
    }

    /// Counts a span about to be written.
    pub(crate) fn count_written(&mut self, span: &Span) {
        self.count_span(span.kind);
        match span.kind {
            SpanKind::Task => self.tasks += 1,
            SpanKind::Agent => self.subagents += 1,
            SpanKind::Tool => {
                self.tool_calls += 1;
                match span.status {
                    Status::Error => self.tool_errors += 1,
                    Status::Unset => self.orphan_tools += 1,
                    Status::Ok => {}
                }
            }
            SpanKind::Permission if span.decision == Some(Decision::Deny) => self.denials += 1,
            SpanKind::Llm => {
                self.add_tokens(span);
                if span.cost_usd.is_none() {
                    self.unpriced(span.model.as_deref().unwrap_or(""));
                }
            }
            SpanKind::Event => match span.name.as_deref() {
                Some("interrupted") => self.interruptions += 1,
                Some("compact") => self.compactions += 1,
                _ => {}
            },
            _ => {}
        }
    }

    /// Total spans written.
    pub fn total_spans(&self) -> u64 {
        self.spans.values().sum()
    }
}
