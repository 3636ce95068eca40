//! The ground truth a generated corpus is checked against (`truth.json`): token usage per
//! (UTC day, model) counted once per billed response, corpus totals, every malformed line,
//! and one summary per session. Also the price list the generator's `cost-state` records use.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Everything the generator knows about what it wrote.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CorpusTruth {
    /// Generator name and format version.
    pub generator: String,
    /// The Claude Code version the records imitate.
    pub claude_code_version: String,
    /// Master seed.
    pub seed: u64,
    /// Requested size in bytes.
    pub target_bytes: u64,
    /// First day of the corpus (`YYYY-MM-DD`).
    pub start_date: String,
    /// Number of days sessions start in.
    pub days: u32,
    /// Number of projects (`/home/dev/proj-1` …).
    pub projects: u32,
    /// One line in this many is malformed (none when absent).
    pub malformed_every: Option<u64>,
    /// Corpus-wide totals.
    pub totals: Totals,
    /// Usage per (UTC day of the assistant record timestamp, model), sorted by day then model.
    pub daily: Vec<DailyUsage>,
    /// Every malformed line, sorted by file then line.
    pub malformed: Vec<MalformedLine>,
    /// One entry per session file (main thread), in generation order.
    pub sessions: Vec<SessionTruth>,
}

/// Corpus-wide totals.
///
/// Token totals and `billed_responses` count each response once by (`message.id`,
/// `requestId`), wherever it appears (main file, subagent file, or copied into a resumed
/// session), and only if at least one of its records is intact (not malformed). Synthetic
/// API-error messages (`model` `<synthetic>`, no `requestId`, zero usage) are not billed
/// responses. `tool_calls` / `tool_errors` count distinct tool-use ids seen in intact
/// `tool_use` blocks / intact `tool_result` blocks with `is_error: true`. The scenario counts
/// (`retry_loops`, `permission_rejections`, `interruptions`, `compactions`, `summaries`,
/// `synthetic_messages`) count what was generated.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// Session files under `projects/` (each with its own `sessionId`), resumed ones included.
    pub sessions: u64,
    /// Sessions that start with records copied from an earlier session (`--resume`).
    pub resumed_sessions: u64,
    /// Subagent transcripts (`subagents/agent-<id>.jsonl`).
    pub subagents: u64,
    /// Files under `projects/`: transcripts and `.meta.json` files.
    pub files: u64,
    /// `.jsonl` files among them.
    pub jsonl_files: u64,
    /// Lines in all `.jsonl` files.
    pub lines: u64,
    /// Bytes of all files under `projects/`.
    pub bytes: u64,
    /// Distinct billed responses.
    pub billed_responses: u64,
    /// Uncached input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Cache-write input tokens (5-minute and one-hour).
    pub cache_creation_input_tokens: u64,
    /// Cache-read input tokens.
    pub cache_read_input_tokens: u64,
    /// Cost of the priced responses, USD.
    pub cost_usd: f64,
    /// Billed responses whose model has no price.
    pub unpriced_responses: u64,
    /// Distinct tool calls.
    pub tool_calls: u64,
    /// Distinct tool calls whose result is an error.
    pub tool_errors: u64,
    /// Tool calls refused by a permission decision.
    pub permission_rejections: u64,
    /// `[Request interrupted by user…]` records.
    pub interruptions: u64,
    /// Runs of the same failing Bash command, 3 to 6 times in a row.
    pub retry_loops: u64,
    /// `compact_boundary` system records.
    pub compactions: u64,
    /// Old-style `summary` records.
    pub summaries: u64,
    /// Synthetic (`<synthetic>`) API-error assistant records.
    pub synthetic_messages: u64,
    /// Records copied into resumed sessions.
    pub duplicated_records: u64,
    /// Malformed lines.
    pub malformed_lines: u64,
}

/// Usage of one model on one UTC day.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DailyUsage {
    /// `YYYY-MM-DD` (UTC) of the assistant records' timestamp.
    pub date: String,
    /// `message.model`.
    pub model: String,
    /// Uncached input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Cache-write tokens (5m + 1h).
    pub cache_creation_input_tokens: u64,
    /// Cache-read tokens.
    pub cache_read_input_tokens: u64,
    /// Cache writes at the 5-minute price.
    pub cache_creation_5m_input_tokens: u64,
    /// Cache writes at the one-hour price.
    pub cache_creation_1h_input_tokens: u64,
    /// Distinct billed responses.
    pub responses: u64,
    /// Cost at list prices; `None` for a model without a price.
    pub cost_usd: Option<f64>,
}

/// A line that was replaced by truncated, invalid JSON.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MalformedLine {
    /// Path relative to the output directory, with `/` separators.
    pub file: String,
    /// 1-based line number.
    pub line: u64,
}

/// What one session file (and its subagents) holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionTruth {
    /// `sessionId`.
    pub session_id: String,
    /// Transcript path relative to the output directory.
    pub file: String,
    /// Working directory.
    pub cwd: String,
    /// First and last record timestamps (RFC 3339).
    pub start: String,
    /// Last record timestamp.
    pub end: String,
    /// Bytes of the transcript plus its subagent files.
    pub bytes: u64,
    /// Billed responses first counted in this session (subagents included).
    pub responses: u64,
    /// Distinct tool calls (subagents included).
    pub tool_calls: u64,
    /// Distinct failed tool calls (subagents included).
    pub tool_errors: u64,
    /// Subagent transcripts.
    pub subagents: u64,
    /// Retry loops.
    pub retry_loops: u64,
    /// Permission rejections.
    pub permission_rejections: u64,
    /// Interruptions.
    pub interruptions: u64,
    /// Compactions.
    pub compactions: u64,
    /// The session this one resumed (its first records are copies), if any.
    pub resumed_from: Option<String>,
}

/// List prices of a model, USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    /// Uncached input.
    pub input: f64,
    /// Output.
    pub output: f64,
    /// Cache read.
    pub cache_read: f64,
    /// Cache write, 5 minutes.
    pub cache_write_5m: f64,
    /// Cache write, one hour.
    pub cache_write_1h: f64,
}

/// The price of a model the generator uses, or `None` for an unpriced one.
pub fn price_of(model: &str) -> Option<Price> {
    let p = |input: f64, output: f64| Price {
        input,
        output,
        cache_read: input / 10.0,
        cache_write_5m: input * 1.25,
        cache_write_1h: input * 2.0,
    };
    if model.starts_with("claude-sonnet-4-5") {
        Some(p(3.0, 15.0))
    } else if model.starts_with("claude-haiku-4-5") {
        Some(p(1.0, 5.0))
    } else if model.starts_with("claude-opus-4-1") {
        Some(p(15.0, 75.0))
    } else {
        None
    }
}

/// Token usage of one response (or a sum of them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Usage {
    pub(crate) input: u64,
    pub(crate) output: u64,
    pub(crate) cache_read: u64,
    pub(crate) cache_5m: u64,
    pub(crate) cache_1h: u64,
}

impl Usage {
    pub(crate) fn add(&mut self, o: &Usage) {
        self.input += o.input;
        self.output += o.output;
        self.cache_read += o.cache_read;
        self.cache_5m += o.cache_5m;
        self.cache_1h += o.cache_1h;
    }

    pub(crate) fn cost(&self, p: &Price) -> f64 {
        (self.input as f64 * p.input
            + self.output as f64 * p.output
            + self.cache_read as f64 * p.cache_read
            + self.cache_5m as f64 * p.cache_write_5m
            + self.cache_1h as f64 * p.cache_write_1h)
            / 1_000_000.0
    }
}

/// Per-(day, model) accumulator: usage and response count.
pub(crate) type DailyMap = BTreeMap<(String, String), (Usage, u64)>;

/// Turns the accumulated map into sorted `DailyUsage` rows.
pub(crate) fn daily_rows(map: &DailyMap) -> Vec<DailyUsage> {
    map.iter()
        .map(|((date, model), (u, n))| DailyUsage {
            date: date.clone(),
            model: model.clone(),
            input_tokens: u.input,
            output_tokens: u.output,
            cache_creation_input_tokens: u.cache_5m + u.cache_1h,
            cache_read_input_tokens: u.cache_read,
            cache_creation_5m_input_tokens: u.cache_5m,
            cache_creation_1h_input_tokens: u.cache_1h,
            responses: *n,
            cost_usd: price_of(model).map(|p| u.cost(&p)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_matches_claude_code_samples() {
        // samples/claude-code happy: sonnet 4.5, cost-state totalCostUSD 0.041181.
        let u = Usage {
            input: 9092,
            output: 377,
            cache_read: 15000,
            cache_5m: 1000,
            cache_1h: 0,
        };
        let c = u.cost(&price_of("claude-sonnet-4-5-20250929").unwrap());
        assert!((c - 0.041181).abs() < 1e-9);
        // permission-denied: haiku 4.5, 0.008341.
        let u = Usage {
            input: 5406,
            output: 257,
            cache_read: 9000,
            cache_5m: 600,
            cache_1h: 0,
        };
        let c = u.cost(&price_of("claude-haiku-4-5-20251001").unwrap());
        assert!((c - 0.008341).abs() < 1e-9);
        assert!(price_of("claude-experimental-x").is_none());
    }
}
