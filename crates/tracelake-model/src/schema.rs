//! Arrow schemas of every lake table, with the stable field ids Iceberg and Parquet carry.
//!
//! A table is a list of [`Column`]s; the Arrow schema is derived from it, each field carrying
//! its Iceberg field id as `PARQUET:field_id` metadata, so the Parquet files, the Iceberg
//! schema and every reader agree on identity even after renames. Field ids are never reused:
//! a new column takes the next id and [`SCHEMA_VERSION`] goes up.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// Version of the table layouts below; stored as the `tracelake.schema-version` table property.
pub const SCHEMA_VERSION: u32 = 1;

/// The namespace every tracelake table lives in.
pub const NAMESPACE: &str = "tracelake";

/// Metadata key under which Arrow fields carry their Parquet/Iceberg field id.
pub const FIELD_ID_KEY: &str = "PARQUET:field_id";

/// The time zone of every timestamp column: UTC, spelled as Iceberg's `timestamptz` maps it.
pub const UTC: &str = "+00:00";

/// The logical type of a column, as tracelake uses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// UTF-8 text.
    Text,
    /// 64-bit signed integer.
    Int64,
    /// 32-bit signed integer.
    Int32,
    /// 64-bit float.
    Float64,
    /// Boolean.
    Bool,
    /// Microseconds since the epoch, UTC (`timestamptz`).
    Timestamp,
    /// A list of text values.
    TextList,
}

/// One column of a table: its name, field id, type, nullability and meaning.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// Column name.
    pub name: &'static str,
    /// Iceberg field id (unique within the table, never reused).
    pub id: i32,
    /// Logical type.
    pub ty: ColumnType,
    /// Whether every row has a value.
    pub required: bool,
    /// What the column holds; docs/schema.md documents how each source fills it.
    pub doc: &'static str,
}

const fn col(
    name: &'static str,
    id: i32,
    ty: ColumnType,
    required: bool,
    doc: &'static str,
) -> Column {
    Column {
        name,
        id,
        ty,
        required,
        doc,
    }
}

use ColumnType::{Bool, Float64, Int32, Int64, Text, TextList, Timestamp};

/// The `spans` table: one row per thing that happened.
pub const SPAN_COLUMNS: &[Column] = &[
    col(
        "span_id",
        1,
        Text,
        true,
        "Stable id of this span (16 hex digits; derived from the source's own ids, so re-imports map to the same id)",
    ),
    col(
        "trace_id",
        2,
        Text,
        false,
        "Trace the span belongs to (32 hex digits)",
    ),
    col(
        "parent_span_id",
        3,
        Text,
        false,
        "The enclosing span: task for model and tool calls, session for tasks, the spawning tool call for a subagent",
    ),
    col(
        "session_id",
        4,
        Text,
        true,
        "The agent session (Claude Code sessionId, Codex session id, gen_ai.conversation.id)",
    ),
    col(
        "task_id",
        5,
        Text,
        false,
        "Span id of the task (user prompt) whose work this is",
    ),
    col(
        "agent_id",
        6,
        Text,
        false,
        "Subagent id when the span comes from a subagent (sidechain) transcript",
    ),
    col(
        "source",
        7,
        Text,
        true,
        "Where the row came from: claude-code, codex, otlp, mcp-proxy, ...",
    ),
    col(
        "source_ref",
        8,
        Text,
        false,
        "Provenance: file:line of the source record, or the request id",
    ),
    col(
        "kind",
        9,
        Text,
        true,
        "session, task, llm, tool, agent, mcp, event or permission",
    ),
    col(
        "name",
        10,
        Text,
        false,
        "Span name: tool name, model, event type, ...",
    ),
    col("status", 11, Text, true, "ok, error or unset"),
    col(
        "error_message",
        12,
        Text,
        false,
        "Why the span failed, when it did",
    ),
    col(
        "start_time",
        13,
        Timestamp,
        true,
        "When it started (UTC, microseconds)",
    ),
    col(
        "end_time",
        14,
        Timestamp,
        false,
        "When it ended, when known",
    ),
    col(
        "duration_ms",
        15,
        Int64,
        false,
        "end_time - start_time in milliseconds",
    ),
    col(
        "agent",
        16,
        Text,
        false,
        "Agent product: claude-code, codex, ...",
    ),
    col(
        "agent_version",
        17,
        Text,
        false,
        "Agent version (Claude Code `version`)",
    ),
    col(
        "user_id",
        18,
        Text,
        false,
        "User the agent ran for, when the source says",
    ),
    col("host", 19, Text, false, "Host name, when the source says"),
    col(
        "project",
        20,
        Text,
        false,
        "Project: the working directory or repository",
    ),
    col("git_branch", 21, Text, false, "Git branch at the time"),
    col(
        "service_name",
        22,
        Text,
        false,
        "OpenTelemetry service.name",
    ),
    col(
        "provider",
        23,
        Text,
        false,
        "Model provider: anthropic, openai, ...",
    ),
    col(
        "model",
        24,
        Text,
        false,
        "Model that answered (model calls)",
    ),
    col(
        "input_tokens",
        25,
        Int64,
        false,
        "Input tokens not read from or written to the cache",
    ),
    col(
        "output_tokens",
        26,
        Int64,
        false,
        "Output tokens (including reasoning tokens where the source counts them there)",
    ),
    col(
        "cache_read_tokens",
        27,
        Int64,
        false,
        "Input tokens read from the prompt cache",
    ),
    col(
        "cache_write_tokens",
        28,
        Int64,
        false,
        "Input tokens written to the prompt cache",
    ),
    col(
        "reasoning_tokens",
        29,
        Int64,
        false,
        "Reasoning/thinking tokens, where reported separately",
    ),
    col(
        "cost_usd",
        30,
        Float64,
        false,
        "Cost from tracelake's pricing table; null when the model has no price (never a silent 0)",
    ),
    col(
        "source_cost_usd",
        31,
        Float64,
        false,
        "Cost as the source itself reported it (Claude Code costUSD / cost-state totals)",
    ),
    col(
        "ttft_ms",
        32,
        Int64,
        false,
        "Time to first token in milliseconds",
    ),
    col(
        "stop_reason",
        33,
        Text,
        false,
        "Why the model stopped: end_turn, tool_use, max_tokens, ...",
    ),
    col(
        "tool_name",
        34,
        Text,
        false,
        "Tool called (Bash, Read, mcp__server__tool, ...)",
    ),
    col(
        "tool_call_id",
        35,
        Text,
        false,
        "The call's id in the source (tool_use id / call_id)",
    ),
    col("tool_input", 36, Text, false, "Tool arguments as JSON text"),
    col(
        "tool_output",
        37,
        Text,
        false,
        "What the tool returned, as text",
    ),
    col("is_error", 38, Bool, false, "Whether the tool call failed"),
    col(
        "exit_code",
        39,
        Int32,
        false,
        "Shell exit status, where known",
    ),
    col(
        "files_read",
        40,
        TextList,
        false,
        "Files the tool call read",
    ),
    col(
        "files_written",
        41,
        TextList,
        false,
        "Files the tool call created or changed",
    ),
    col(
        "command",
        42,
        Text,
        false,
        "Shell command run by the tool call",
    ),
    col(
        "input_text",
        43,
        Text,
        false,
        "Prompt or message text going in",
    ),
    col(
        "output_text",
        44,
        Text,
        false,
        "Completion or message text coming out",
    ),
    col(
        "decision",
        45,
        Text,
        false,
        "Permission decision: allow, deny or ask",
    ),
    col(
        "decision_source",
        46,
        Text,
        false,
        "Who decided: config, user or policy",
    ),
    col("rule", 47, Text, false, "The rule that decided, when known"),
    col(
        "caused_by",
        48,
        Text,
        false,
        "Span id of the model call that asked for this tool call",
    ),
    col(
        "attributes",
        49,
        Text,
        false,
        "Everything else the source said, as a JSON object (lossless)",
    ),
    col(
        "resource_attributes",
        50,
        Text,
        false,
        "OpenTelemetry resource attributes, as a JSON object",
    ),
    col(
        "ingested_at",
        51,
        Timestamp,
        true,
        "When tracelake wrote the row",
    ),
];

/// The `raw` table: every source record verbatim, with provenance.
pub const RAW_COLUMNS: &[Column] = &[
    col(
        "source",
        1,
        Text,
        true,
        "Source kind: claude-code, codex, otlp, ...",
    ),
    col("source_ref", 2, Text, true, "file:line or request id"),
    col("file", 3, Text, false, "Source file path, for file sources"),
    col("line", 4, Int64, false, "1-based line number in the file"),
    col(
        "byte_offset",
        5,
        Int64,
        false,
        "Byte offset of the line in the file",
    ),
    col(
        "session_id",
        6,
        Text,
        false,
        "Session the record belongs to, when known",
    ),
    col(
        "record_type",
        7,
        Text,
        false,
        "The record's own type field (user, assistant, attachment, ...)",
    ),
    col(
        "event_time",
        8,
        Timestamp,
        true,
        "The record's timestamp, or when it was received if it has none",
    ),
    col(
        "record",
        9,
        Text,
        true,
        "The record as it arrived (secrets masked)",
    ),
    col(
        "parse_error",
        10,
        Text,
        false,
        "Why the record could not be read, for malformed input (kept, never dropped)",
    ),
    col(
        "ingested_at",
        11,
        Timestamp,
        true,
        "When tracelake wrote the row",
    ),
];

/// The `metrics` table: OpenTelemetry metric data points (e.g. Claude Code's token and cost
/// counters), one row per point.
pub const METRIC_COLUMNS: &[Column] = &[
    col(
        "metric_name",
        1,
        Text,
        true,
        "Metric name (claude_code.token.usage, …)",
    ),
    col("description", 2, Text, false, "Metric description"),
    col("unit", 3, Text, false, "Unit (tokens, USD, s, …)"),
    col(
        "metric_type",
        4,
        Text,
        true,
        "sum, gauge, histogram, exponential_histogram or summary",
    ),
    col(
        "temporality",
        5,
        Text,
        false,
        "delta or cumulative (sums and histograms)",
    ),
    col("is_monotonic", 6, Bool, false, "Whether a sum only goes up"),
    col("time", 7, Timestamp, true, "Time of the data point"),
    col(
        "start_time",
        8,
        Timestamp,
        false,
        "Start of the point's interval",
    ),
    col(
        "value",
        9,
        Float64,
        false,
        "Value (sum or gauge; a histogram's sum)",
    ),
    col("count", 10, Int64, false, "Histogram/summary count"),
    col("min", 11, Float64, false, "Histogram minimum"),
    col("max", 12, Float64, false, "Histogram maximum"),
    col(
        "session_id",
        13,
        Text,
        false,
        "session.id attribute, when present",
    ),
    col(
        "user_id",
        14,
        Text,
        false,
        "user.id attribute, when present",
    ),
    col("model", 15, Text, false, "model attribute, when present"),
    col("service_name", 16, Text, false, "Resource service.name"),
    col(
        "attributes",
        17,
        Text,
        false,
        "Data point attributes (JSON)",
    ),
    col(
        "resource_attributes",
        18,
        Text,
        false,
        "Resource attributes (JSON)",
    ),
    col("source", 19, Text, true, "Where the point came from (otlp)"),
    col("source_ref", 20, Text, false, "Request id"),
    col(
        "ingested_at",
        21,
        Timestamp,
        true,
        "When tracelake wrote the row",
    ),
];

/// A lake table tracelake owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TableKind {
    /// Normalized spans.
    Spans,
    /// Verbatim source records.
    Raw,
    /// Metric data points.
    Metrics,
}

impl TableKind {
    /// Every table, in creation order.
    pub const ALL: [TableKind; 3] = [TableKind::Raw, TableKind::Spans, TableKind::Metrics];

    /// The table name inside [`NAMESPACE`].
    pub fn name(self) -> &'static str {
        match self {
            TableKind::Spans => "spans",
            TableKind::Raw => "raw",
            TableKind::Metrics => "metrics",
        }
    }

    /// The table's columns.
    pub fn columns(self) -> &'static [Column] {
        match self {
            TableKind::Spans => SPAN_COLUMNS,
            TableKind::Raw => RAW_COLUMNS,
            TableKind::Metrics => METRIC_COLUMNS,
        }
    }

    /// The timestamp column the table is partitioned by (by day) and aged out by.
    pub fn time_column(self) -> &'static str {
        match self {
            TableKind::Spans => "start_time",
            TableKind::Raw => "event_time",
            TableKind::Metrics => "time",
        }
    }

    /// Columns rows are sorted by within each data file.
    pub fn sort_columns(self) -> &'static [&'static str] {
        match self {
            TableKind::Spans => &["session_id", "start_time"],
            TableKind::Raw => &["session_id", "event_time"],
            TableKind::Metrics => &["metric_name", "time"],
        }
    }

    /// The Arrow schema, with field ids.
    pub fn schema(self) -> SchemaRef {
        static SPANS: LazyLock<SchemaRef> = LazyLock::new(|| arrow_schema_of(SPAN_COLUMNS));
        static RAW: LazyLock<SchemaRef> = LazyLock::new(|| arrow_schema_of(RAW_COLUMNS));
        static METRICS: LazyLock<SchemaRef> = LazyLock::new(|| arrow_schema_of(METRIC_COLUMNS));
        match self {
            TableKind::Spans => SPANS.clone(),
            TableKind::Raw => RAW.clone(),
            TableKind::Metrics => METRICS.clone(),
        }
    }
}

fn field_id_metadata(id: i32) -> HashMap<String, String> {
    HashMap::from([(FIELD_ID_KEY.to_string(), id.to_string())])
}

/// The Arrow data type of a column; `element_id` is the field id of a list's element.
fn arrow_type(column: &Column, element_id: i32) -> DataType {
    match column.ty {
        Text => DataType::Utf8,
        Int64 => DataType::Int64,
        Int32 => DataType::Int32,
        Float64 => DataType::Float64,
        Bool => DataType::Boolean,
        Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into())),
        TextList => DataType::List(Arc::new(
            Field::new("element", DataType::Utf8, true)
                .with_metadata(field_id_metadata(element_id)),
        )),
    }
}

/// Builds the Arrow schema of a column list, each field carrying its field id.
///
/// Ids are in level order, as Iceberg assigns them to a new table: the columns are `1..=n` in
/// order, then the elements of list columns `n+1, n+2, ...` in column order.
pub fn arrow_schema_of(columns: &[Column]) -> SchemaRef {
    let mut next_element_id = columns.len() as i32;
    let fields: Vec<Field> = columns
        .iter()
        .map(|c| {
            let element_id = if c.ty == TextList {
                next_element_id += 1;
                next_element_id
            } else {
                0
            };
            Field::new(c.name, arrow_type(c, element_id), !c.required)
                .with_metadata(field_id_metadata(c.id))
        })
        .collect();
    Arc::new(Schema::new(fields))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn field_ids_and_names_are_unique_per_table() {
        for table in TableKind::ALL {
            let mut ids = HashSet::new();
            let mut names = HashSet::new();
            for c in table.columns() {
                assert!(ids.insert(c.id), "{}: duplicate id {}", table.name(), c.id);
                assert!(
                    names.insert(c.name),
                    "{}: duplicate {}",
                    table.name(),
                    c.name
                );
            }
            // Level order: columns are numbered 1..=n in order (see arrow_schema_of).
            let ids: Vec<i32> = table.columns().iter().map(|c| c.id).collect();
            let expected: Vec<i32> = (1..=table.columns().len() as i32).collect();
            assert_eq!(ids, expected, "{}", table.name());
        }
    }

    #[test]
    fn time_and_sort_columns_exist_and_are_required() {
        for table in TableKind::ALL {
            let schema = table.schema();
            let time = schema
                .field_with_name(table.time_column())
                .expect("time column in schema");
            assert!(!time.is_nullable());
            for name in table.sort_columns() {
                assert!(schema.field_with_name(name).is_ok(), "{name}");
            }
        }
    }
}

#[cfg(test)]
mod doc_tests {
    use super::*;

    #[test]
    fn every_column_is_documented_in_docs_schema_md() {
        let doc = include_str!("../../../docs/schema.md");
        for table in TableKind::ALL {
            for c in table.columns() {
                assert!(
                    doc.contains(&format!("| {} | `{}` |", c.id, c.name)),
                    "docs/schema.md lacks {}.{} (id {})",
                    table.name(),
                    c.name,
                    c.id
                );
            }
        }
    }
}
