//! The search service: grep over the text of the lake's spans, newest first, with the field
//! and a snippet of each hit. `tracelake search`, and later the web UI and the MCP server,
//! call [`search`]; it is an ordinary query over `spans` with `grep` filters, so the text
//! index narrows what is read and the `grep` function decides every hit exactly.

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, TimestampMicrosecondType};
use datafusion::common::ScalarValue;
use datafusion::functions_aggregate::expr_fn::sum;
use datafusion::logical_expr::{Expr, cast, col, lit};
use serde::Serialize;
use tracelake_model::{Error, Result};

use crate::engine::{QueryEngine, df_error};
use crate::grep::{GrepUdf, Pattern};
use crate::provider::GrepStats;

/// A searchable text field of a span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SearchField {
    /// The prompt or model input.
    InputText,
    /// The model or agent output.
    OutputText,
    /// A tool call's arguments.
    ToolInput,
    /// A tool call's result.
    ToolOutput,
    /// An error message.
    ErrorMessage,
    /// A shell command.
    Command,
}

impl SearchField {
    /// Every field, in the order hits of one span are listed.
    pub const ALL: [SearchField; 6] = [
        SearchField::InputText,
        SearchField::OutputText,
        SearchField::ToolInput,
        SearchField::ToolOutput,
        SearchField::ErrorMessage,
        SearchField::Command,
    ];

    /// The column name.
    pub fn column(self) -> &'static str {
        match self {
            SearchField::InputText => "input_text",
            SearchField::OutputText => "output_text",
            SearchField::ToolInput => "tool_input",
            SearchField::ToolOutput => "tool_output",
            SearchField::ErrorMessage => "error_message",
            SearchField::Command => "command",
        }
    }

    /// The field named `name` (a column name).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.column() == name)
    }
}

/// What to search for, and where.
#[derive(Debug, Clone, Default)]
pub struct SearchRequest {
    /// The pattern.
    pub pattern: String,
    /// A regular expression (Rust `regex` syntax) instead of a literal.
    pub regex: bool,
    /// Case-insensitive (Unicode simple case folding).
    pub ignore_case: bool,
    /// Fields to search (empty: all).
    pub fields: Vec<SearchField>,
    /// Spans that started at or after this time (µs since the epoch).
    pub since: Option<i64>,
    /// Spans that started before this time (µs since the epoch).
    pub until: Option<i64>,
    /// Only this session.
    pub session: Option<String>,
    /// Only this agent (`claude-code`, `codex`, ...).
    pub agent: Option<String>,
    /// Only this project.
    pub project: Option<String>,
    /// Only this tool.
    pub tool: Option<String>,
    /// At most this many hits (newest first); `None`: all.
    pub limit: Option<usize>,
}

/// One hit: a field of a span whose text matches.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    /// Session.
    pub session_id: String,
    /// Span.
    pub span_id: String,
    /// Span start, µs since the epoch.
    pub start_time: i64,
    /// Span kind.
    pub kind: String,
    /// Span name.
    pub name: String,
    /// Agent, when known.
    pub agent: Option<String>,
    /// Tool, for tool spans.
    pub tool_name: Option<String>,
    /// The field that matched.
    pub field: SearchField,
    /// Text around the first match (newlines and tabs shown as spaces).
    pub snippet: String,
    /// Byte range of the first match in `snippet`.
    pub highlight: (usize, usize),
    /// Matches in the field.
    pub matches: usize,
}

/// The answer to a search.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SearchResult {
    /// Hits, newest first.
    pub hits: Vec<Hit>,
    /// More hits exist than the limit allowed.
    pub truncated: bool,
    /// What the text index did.
    pub index: GrepStats,
    /// What was read from the warehouse (index and data).
    pub io: crate::io::IoStats,
}

fn fields(req: &SearchRequest) -> Vec<SearchField> {
    if req.fields.is_empty() {
        SearchField::ALL.to_vec()
    } else {
        let mut f = req.fields.clone();
        f.dedup();
        f
    }
}

fn grep_expr(req: &SearchRequest, field: SearchField) -> Expr {
    let udf = if req.regex {
        GrepUdf::regex()
    } else {
        GrepUdf::literal()
    };
    let flags = if req.ignore_case { "i" } else { "" };
    udf.call(vec![
        col(field.column()),
        lit(req.pattern.clone()),
        lit(flags),
    ])
}

fn time_lit(micros: i64) -> Expr {
    lit(ScalarValue::TimestampMicrosecond(
        Some(micros),
        Some(tracelake_model::schema::UTC.into()),
    ))
}

fn filter(req: &SearchRequest) -> Option<Expr> {
    let any = fields(req)
        .into_iter()
        .map(|f| grep_expr(req, f))
        .reduce(Expr::or)?;
    let mut parts = vec![any];
    if let Some(t) = req.since {
        parts.push(col("start_time").gt_eq(time_lit(t)));
    }
    if let Some(t) = req.until {
        parts.push(col("start_time").lt(time_lit(t)));
    }
    for (column, value) in [
        ("session_id", &req.session),
        ("agent", &req.agent),
        ("project", &req.project),
        ("tool_name", &req.tool),
    ] {
        if let Some(v) = value {
            parts.push(col(column).eq(lit(v.clone())));
        }
    }
    parts.into_iter().reduce(Expr::and)
}

/// Searches the spans of the lake; hits newest first.
pub async fn search(engine: &QueryEngine, req: &SearchRequest) -> Result<SearchResult> {
    let pattern = Pattern::new(&req.pattern, req.regex, req.ignore_case)?;
    let fields = fields(req);
    let Some(filter) = filter(req) else {
        return Ok(SearchResult::default());
    };
    engine.take_grep_stats();
    engine.take_io_stats();
    let mut columns = vec![
        col("session_id"),
        col("span_id"),
        col("start_time"),
        col("kind"),
        col("name"),
        col("agent"),
        col("tool_name"),
    ];
    columns.extend(fields.iter().map(|f| col(f.column())));
    let mut df = engine
        .context()
        .table("spans")
        .await
        .map_err(|e| df_error("search", e))?
        .filter(filter)
        .and_then(|d| d.select(columns))
        .and_then(|d| {
            d.sort(vec![
                col("start_time").sort(false, false),
                col("span_id").sort(true, false),
            ])
        })
        .map_err(|e| df_error("search", e))?;
    if let Some(limit) = req.limit {
        // One more span than needed says whether the answer was cut.
        df = df
            .limit(0, Some(limit.saturating_add(1)))
            .map_err(|e| df_error("search", e))?;
    }
    let batches = df.collect().await.map_err(|e| df_error("search", e))?;
    let mut hits = Vec::new();
    let mut truncated = false;
    for batch in &batches {
        for row in 0..batch.num_rows() {
            push_hits(batch, row, &fields, &pattern, &mut hits)?;
        }
    }
    if let Some(limit) = req.limit
        && hits.len() > limit
    {
        hits.truncate(limit);
        truncated = true;
    }
    Ok(SearchResult {
        hits,
        truncated,
        index: engine.take_grep_stats(),
        io: engine.take_io_stats(),
    })
}

/// Counts hits (matching fields of spans) without fetching them.
pub async fn count(engine: &QueryEngine, req: &SearchRequest) -> Result<(u64, SearchResult)> {
    Pattern::new(&req.pattern, req.regex, req.ignore_case)?;
    let Some(filter) = filter(req) else {
        return Ok((0, SearchResult::default()));
    };
    engine.take_grep_stats();
    engine.take_io_stats();
    let sums: Vec<Expr> = fields(req)
        .into_iter()
        .map(|f| sum(cast(grep_expr(req, f), DataType::Int64)).alias(f.column()))
        .collect();
    let batches = engine
        .context()
        .table("spans")
        .await
        .and_then(|d| d.filter(filter))
        .and_then(|d| d.aggregate(vec![], sums))
        .map_err(|e| df_error("search", e))?
        .collect()
        .await
        .map_err(|e| df_error("search", e))?;
    let mut total = 0u64;
    for b in &batches {
        for c in b.columns() {
            let c = c.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
            total += c.iter().flatten().map(|v| v as u64).sum::<u64>();
        }
    }
    Ok((
        total,
        SearchResult {
            hits: Vec::new(),
            truncated: false,
            index: engine.take_grep_stats(),
            io: engine.take_io_stats(),
        },
    ))
}

fn text<'a>(batch: &'a RecordBatch, name: &str, row: usize) -> Result<Option<&'a str>> {
    let c = batch
        .column_by_name(name)
        .ok_or_else(|| Error::internal(format!("search: no column {name}")))?;
    match c.data_type() {
        DataType::Utf8 => {
            let a = c.as_string::<i32>();
            Ok(a.is_valid(row).then(|| a.value(row)))
        }
        DataType::Utf8View => {
            let a = c.as_string_view();
            Ok(a.is_valid(row).then(|| a.value(row)))
        }
        other => Err(Error::internal(format!(
            "search: column {name} is {other}, not text"
        ))),
    }
}

fn push_hits(
    batch: &RecordBatch,
    row: usize,
    fields: &[SearchField],
    pattern: &Pattern,
    hits: &mut Vec<Hit>,
) -> Result<()> {
    let start_time = batch
        .column_by_name("start_time")
        .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>())
        .filter(|a| a.is_valid(row))
        .map_or(0, |a| a.value(row));
    for &field in fields {
        let Some(value) = text(batch, field.column(), row)? else {
            continue;
        };
        let mut found = pattern.regex.find_iter(value);
        let Some(first) = found.next() else {
            continue;
        };
        let (snippet, highlight) = snippet(value, first.start(), first.end());
        hits.push(Hit {
            session_id: text(batch, "session_id", row)?.unwrap_or("").to_string(),
            span_id: text(batch, "span_id", row)?.unwrap_or("").to_string(),
            start_time,
            kind: text(batch, "kind", row)?.unwrap_or("").to_string(),
            name: text(batch, "name", row)?.unwrap_or("").to_string(),
            agent: text(batch, "agent", row)?.map(str::to_string),
            tool_name: text(batch, "tool_name", row)?.map(str::to_string),
            field,
            snippet,
            highlight,
            matches: 1 + found.count(),
        });
    }
    Ok(())
}

/// Bytes of context before and after a match in a snippet.
const BEFORE: usize = 60;
const AFTER: usize = 100;
/// Longest match shown whole.
const MAX_MATCH: usize = 200;

fn floor_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_boundary(s: &str, mut i: usize) -> usize {
    while i < s.len() && !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// The text around `[start, end)` and where the match is in it.
fn snippet(text: &str, start: usize, end: usize) -> (String, (usize, usize)) {
    let end = floor_boundary(text, end.min(start + MAX_MATCH)).max(start);
    let from = floor_boundary(text, start.saturating_sub(BEFORE));
    let to = ceil_boundary(text, (end + AFTER).min(text.len()));
    let mut out = String::new();
    if from > 0 {
        out.push('…');
    }
    let offset = out.len();
    let clean = |s: &str| s.replace(['\n', '\r', '\t'], " ");
    out.push_str(&clean(&text[from..to]));
    if to < text.len() {
        out.push('…');
    }
    (out, (offset + start - from, offset + end - from))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_keep_char_boundaries_and_point_at_the_match() {
        let text = format!(
            "{}错误: file not found\nnext line{}",
            "é".repeat(50),
            "x".repeat(300)
        );
        let start = text.find("file").unwrap();
        let (s, (a, b)) = snippet(&text, start, start + 4);
        assert_eq!(&s[a..b], "file");
        assert!(s.starts_with('…') && s.ends_with('…'));
        assert!(s.contains("错误: file not found next line"));
        let (s, (a, b)) = snippet("short", 0, 5);
        assert_eq!((s.as_str(), a, b), ("short", 0, 5));
    }
}
