//! The span model in Rust: one [`Span`] per thing that happened, one [`RawRecord`] per source
//! record, and the builders that turn them into Arrow batches of the lake's schemas.

use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int32Builder, Int64Builder, ListBuilder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow_array::{Array, ArrayRef, RecordBatch};

use crate::error::{Error, Result};
use crate::schema::{TableKind, UTC};

/// What a span stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpanKind {
    /// A whole agent session.
    Session,
    /// A user prompt and the work it started.
    Task,
    /// One billed model call.
    Llm,
    /// One tool call with its result.
    Tool,
    /// A subagent run.
    Agent,
    /// An MCP exchange.
    Mcp,
    /// Anything else worth a row (compaction, interruption, bookkeeping).
    Event,
    /// A permission decision.
    Permission,
}

impl SpanKind {
    /// The value stored in the `kind` column.
    pub fn as_str(self) -> &'static str {
        match self {
            SpanKind::Session => "session",
            SpanKind::Task => "task",
            SpanKind::Llm => "llm",
            SpanKind::Tool => "tool",
            SpanKind::Agent => "agent",
            SpanKind::Mcp => "mcp",
            SpanKind::Event => "event",
            SpanKind::Permission => "permission",
        }
    }
}

/// Outcome of a span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Status {
    /// It worked.
    Ok,
    /// It failed; `error_message` says why.
    Error,
    /// The source does not say.
    #[default]
    Unset,
}

impl Status {
    /// The value stored in the `status` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Error => "error",
            Status::Unset => "unset",
        }
    }
}

/// A permission decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// The call was allowed.
    Allow,
    /// The call was refused.
    Deny,
    /// The user was asked.
    Ask,
}

impl Decision {
    /// The value stored in the `decision` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
            Decision::Ask => "ask",
        }
    }
}

/// One row of the `spans` table. Times are microseconds since the epoch, UTC.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)] // each field is documented in schema::SPAN_COLUMNS and docs/schema.md
pub struct Span {
    pub span_id: String,
    pub trace_id: Option<String>,
    pub parent_span_id: Option<String>,
    pub session_id: String,
    pub task_id: Option<String>,
    pub agent_id: Option<String>,
    pub source: String,
    pub source_ref: Option<String>,
    pub kind: SpanKind,
    pub name: Option<String>,
    pub status: Status,
    pub error_message: Option<String>,
    pub start_time: i64,
    pub end_time: Option<i64>,
    pub agent: Option<String>,
    pub agent_version: Option<String>,
    pub user_id: Option<String>,
    pub host: Option<String>,
    pub project: Option<String>,
    pub git_branch: Option<String>,
    pub service_name: Option<String>,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub cache_read_tokens: Option<i64>,
    pub cache_write_tokens: Option<i64>,
    pub reasoning_tokens: Option<i64>,
    pub cost_usd: Option<f64>,
    pub source_cost_usd: Option<f64>,
    pub ttft_ms: Option<i64>,
    pub stop_reason: Option<String>,
    pub tool_name: Option<String>,
    pub tool_call_id: Option<String>,
    pub tool_input: Option<String>,
    pub tool_output: Option<String>,
    pub is_error: Option<bool>,
    pub exit_code: Option<i32>,
    pub files_read: Vec<String>,
    pub files_written: Vec<String>,
    pub command: Option<String>,
    pub input_text: Option<String>,
    pub output_text: Option<String>,
    pub decision: Option<Decision>,
    pub decision_source: Option<String>,
    pub rule: Option<String>,
    pub caused_by: Option<String>,
    pub attributes: Option<String>,
    pub resource_attributes: Option<String>,
}

impl Span {
    /// A span with its identity set and every optional column empty.
    pub fn new(
        span_id: impl Into<String>,
        session_id: impl Into<String>,
        source: impl Into<String>,
        kind: SpanKind,
        start_time: i64,
    ) -> Self {
        Self {
            span_id: span_id.into(),
            trace_id: None,
            parent_span_id: None,
            session_id: session_id.into(),
            task_id: None,
            agent_id: None,
            source: source.into(),
            source_ref: None,
            kind,
            name: None,
            status: Status::Unset,
            error_message: None,
            start_time,
            end_time: None,
            agent: None,
            agent_version: None,
            user_id: None,
            host: None,
            project: None,
            git_branch: None,
            service_name: None,
            provider: None,
            model: None,
            input_tokens: None,
            output_tokens: None,
            cache_read_tokens: None,
            cache_write_tokens: None,
            reasoning_tokens: None,
            cost_usd: None,
            source_cost_usd: None,
            ttft_ms: None,
            stop_reason: None,
            tool_name: None,
            tool_call_id: None,
            tool_input: None,
            tool_output: None,
            is_error: None,
            exit_code: None,
            files_read: Vec::new(),
            files_written: Vec::new(),
            command: None,
            input_text: None,
            output_text: None,
            decision: None,
            decision_source: None,
            rule: None,
            caused_by: None,
            attributes: None,
            resource_attributes: None,
        }
    }

    /// Merges another view of the same entity into this one (the same model call seen as a
    /// Claude Code trace span and as its `api_request` event): every column this row lacks is
    /// taken from `other`; attributes present in both keep this row's values. A specific kind
    /// wins over `event`.
    pub fn fill_missing(&mut self, other: Span) {
        macro_rules! fill {
            ($($f:ident),* $(,)?) => {
                $(if self.$f.is_none() { self.$f = other.$f; })*
            };
        }
        fill!(
            trace_id,
            parent_span_id,
            task_id,
            agent_id,
            source_ref,
            name,
            error_message,
            end_time,
            agent,
            agent_version,
            user_id,
            host,
            project,
            git_branch,
            service_name,
            provider,
            model,
            input_tokens,
            output_tokens,
            cache_read_tokens,
            cache_write_tokens,
            reasoning_tokens,
            cost_usd,
            source_cost_usd,
            ttft_ms,
            stop_reason,
            tool_name,
            tool_call_id,
            tool_input,
            tool_output,
            is_error,
            exit_code,
            command,
            input_text,
            output_text,
            decision,
            decision_source,
            rule,
            caused_by,
            resource_attributes,
        );
        if self.kind == SpanKind::Event {
            self.kind = other.kind;
        }
        if self.status == Status::Unset {
            self.status = other.status;
        }
        if self.files_read.is_empty() {
            self.files_read = other.files_read;
        }
        if self.files_written.is_empty() {
            self.files_written = other.files_written;
        }
        self.attributes = match (self.attributes.take(), other.attributes) {
            (Some(mine), Some(theirs)) => {
                match (
                    serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&mine),
                    serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&theirs),
                ) {
                    (Ok(mut a), Ok(b)) => {
                        for (k, v) in b {
                            a.entry(k).or_insert(v);
                        }
                        Some(serde_json::Value::Object(a).to_string())
                    }
                    _ => Some(mine),
                }
            }
            (mine, theirs) => mine.or(theirs),
        };
    }

    /// Calls `f` on every free-text column, so one pass can mask secrets in all of them.
    pub fn for_each_text_mut(&mut self, mut f: impl FnMut(&mut String)) {
        let optional = [
            &mut self.name,
            &mut self.error_message,
            &mut self.project,
            &mut self.tool_input,
            &mut self.tool_output,
            &mut self.command,
            &mut self.input_text,
            &mut self.output_text,
            &mut self.rule,
            &mut self.attributes,
            &mut self.resource_attributes,
        ];
        for text in optional.into_iter().flatten() {
            f(text);
        }
        for path in self
            .files_read
            .iter_mut()
            .chain(self.files_written.iter_mut())
        {
            f(path);
        }
    }

    /// Approximate bytes of text this span carries (for sizing batches).
    pub fn text_bytes(&self) -> usize {
        [
            &self.tool_input,
            &self.tool_output,
            &self.input_text,
            &self.output_text,
            &self.attributes,
            &self.error_message,
        ]
        .iter()
        .map(|t| t.as_ref().map_or(0, String::len))
        .sum::<usize>()
            + 256
    }
}

/// One row of the `raw` table.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)] // documented in schema::RAW_COLUMNS and docs/schema.md
pub struct RawRecord {
    pub source: String,
    pub source_ref: String,
    pub file: Option<String>,
    pub line: Option<i64>,
    pub byte_offset: Option<i64>,
    pub session_id: Option<String>,
    pub record_type: Option<String>,
    pub event_time: i64,
    pub record: String,
    pub parse_error: Option<String>,
}

/// One row of the `metrics` table.
#[derive(Debug, Clone, PartialEq, Default)]
#[allow(missing_docs)] // documented in schema::METRIC_COLUMNS and docs/schema.md
pub struct MetricPoint {
    pub metric_name: String,
    pub description: Option<String>,
    pub unit: Option<String>,
    pub metric_type: String,
    pub temporality: Option<String>,
    pub is_monotonic: Option<bool>,
    pub time: i64,
    pub start_time: Option<i64>,
    pub value: Option<f64>,
    pub count: Option<i64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub session_id: Option<String>,
    pub user_id: Option<String>,
    pub model: Option<String>,
    pub service_name: Option<String>,
    pub attributes: Option<String>,
    pub resource_attributes: Option<String>,
    pub source: String,
    pub source_ref: Option<String>,
}

/// Accumulates [`MetricPoint`]s into an Arrow batch of the `metrics` schema.
pub struct MetricBatchBuilder {
    rows: usize,
    ingested_at: i64,
    metric_name: StringBuilder,
    description: StringBuilder,
    unit: StringBuilder,
    metric_type: StringBuilder,
    temporality: StringBuilder,
    is_monotonic: BooleanBuilder,
    time: TimestampMicrosecondBuilder,
    start_time: TimestampMicrosecondBuilder,
    value: Float64Builder,
    count: Int64Builder,
    min: Float64Builder,
    max: Float64Builder,
    session_id: StringBuilder,
    user_id: StringBuilder,
    model: StringBuilder,
    service_name: StringBuilder,
    attributes: StringBuilder,
    resource_attributes: StringBuilder,
    source: StringBuilder,
    source_ref: StringBuilder,
    ingested: TimestampMicrosecondBuilder,
}

impl MetricBatchBuilder {
    /// An empty builder; every row gets `ingested_at` (µs UTC) as its ingestion time.
    pub fn new(ingested_at: i64) -> Self {
        let ts = || TimestampMicrosecondBuilder::new().with_timezone(UTC);
        Self {
            rows: 0,
            ingested_at,
            metric_name: StringBuilder::new(),
            description: StringBuilder::new(),
            unit: StringBuilder::new(),
            metric_type: StringBuilder::new(),
            temporality: StringBuilder::new(),
            is_monotonic: BooleanBuilder::new(),
            time: ts(),
            start_time: ts(),
            value: Float64Builder::new(),
            count: Int64Builder::new(),
            min: Float64Builder::new(),
            max: Float64Builder::new(),
            session_id: StringBuilder::new(),
            user_id: StringBuilder::new(),
            model: StringBuilder::new(),
            service_name: StringBuilder::new(),
            attributes: StringBuilder::new(),
            resource_attributes: StringBuilder::new(),
            source: StringBuilder::new(),
            source_ref: StringBuilder::new(),
            ingested: ts(),
        }
    }

    /// Rows appended so far.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether no row was appended.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Appends one point.
    pub fn append(&mut self, m: &MetricPoint) {
        self.rows += 1;
        self.metric_name.append_value(&m.metric_name);
        self.description.append_option(m.description.as_deref());
        self.unit.append_option(m.unit.as_deref());
        self.metric_type.append_value(&m.metric_type);
        self.temporality.append_option(m.temporality.as_deref());
        self.is_monotonic.append_option(m.is_monotonic);
        self.time.append_value(m.time);
        self.start_time.append_option(m.start_time);
        self.value.append_option(m.value);
        self.count.append_option(m.count);
        self.min.append_option(m.min);
        self.max.append_option(m.max);
        self.session_id.append_option(m.session_id.as_deref());
        self.user_id.append_option(m.user_id.as_deref());
        self.model.append_option(m.model.as_deref());
        self.service_name.append_option(m.service_name.as_deref());
        self.attributes.append_option(m.attributes.as_deref());
        self.resource_attributes
            .append_option(m.resource_attributes.as_deref());
        self.source.append_value(&m.source);
        self.source_ref.append_option(m.source_ref.as_deref());
        self.ingested.append_value(self.ingested_at);
    }

    /// Finishes the batch and resets the builder.
    pub fn finish(&mut self) -> Result<RecordBatch> {
        self.rows = 0;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.metric_name.finish()),
            Arc::new(self.description.finish()),
            Arc::new(self.unit.finish()),
            Arc::new(self.metric_type.finish()),
            Arc::new(self.temporality.finish()),
            Arc::new(self.is_monotonic.finish()),
            Arc::new(self.time.finish()),
            Arc::new(self.start_time.finish()),
            Arc::new(self.value.finish()),
            Arc::new(self.count.finish()),
            Arc::new(self.min.finish()),
            Arc::new(self.max.finish()),
            Arc::new(self.session_id.finish()),
            Arc::new(self.user_id.finish()),
            Arc::new(self.model.finish()),
            Arc::new(self.service_name.finish()),
            Arc::new(self.attributes.finish()),
            Arc::new(self.resource_attributes.finish()),
            Arc::new(self.source.finish()),
            Arc::new(self.source_ref.finish()),
            Arc::new(self.ingested.finish()),
        ];
        RecordBatch::try_new(TableKind::Metrics.schema(), columns)
            .map_err(|e| Error::internal("building a metrics batch").with_source(e))
    }
}

/// Accumulates [`Span`]s into an Arrow batch of the `spans` schema.
pub struct SpanBatchBuilder {
    rows: usize,
    text_bytes: usize,
    ingested_at: i64,
    span_id: StringBuilder,
    trace_id: StringBuilder,
    parent_span_id: StringBuilder,
    session_id: StringBuilder,
    task_id: StringBuilder,
    agent_id: StringBuilder,
    source: StringBuilder,
    source_ref: StringBuilder,
    kind: StringBuilder,
    name: StringBuilder,
    status: StringBuilder,
    error_message: StringBuilder,
    start_time: TimestampMicrosecondBuilder,
    end_time: TimestampMicrosecondBuilder,
    duration_ms: Int64Builder,
    agent: StringBuilder,
    agent_version: StringBuilder,
    user_id: StringBuilder,
    host: StringBuilder,
    project: StringBuilder,
    git_branch: StringBuilder,
    service_name: StringBuilder,
    provider: StringBuilder,
    model: StringBuilder,
    input_tokens: Int64Builder,
    output_tokens: Int64Builder,
    cache_read_tokens: Int64Builder,
    cache_write_tokens: Int64Builder,
    reasoning_tokens: Int64Builder,
    cost_usd: Float64Builder,
    source_cost_usd: Float64Builder,
    ttft_ms: Int64Builder,
    stop_reason: StringBuilder,
    tool_name: StringBuilder,
    tool_call_id: StringBuilder,
    tool_input: StringBuilder,
    tool_output: StringBuilder,
    is_error: BooleanBuilder,
    exit_code: Int32Builder,
    files_read: ListBuilder<StringBuilder>,
    files_written: ListBuilder<StringBuilder>,
    command: StringBuilder,
    input_text: StringBuilder,
    output_text: StringBuilder,
    decision: StringBuilder,
    decision_source: StringBuilder,
    rule: StringBuilder,
    caused_by: StringBuilder,
    attributes: StringBuilder,
    resource_attributes: StringBuilder,
    ingested: TimestampMicrosecondBuilder,
}

fn list_builder(column: &str) -> ListBuilder<StringBuilder> {
    // The element field must match the schema's (name, nullability and field id).
    let element = match TableKind::Spans
        .schema()
        .field_with_name(column)
        .map(|f| f.data_type().clone())
    {
        Ok(arrow_schema::DataType::List(element)) => element,
        _ => Arc::new(arrow_schema::Field::new(
            "element",
            arrow_schema::DataType::Utf8,
            true,
        )),
    };
    ListBuilder::new(StringBuilder::new()).with_field(element)
}

impl SpanBatchBuilder {
    /// An empty builder; every row gets `ingested_at` (µs UTC) as its ingestion time.
    pub fn new(ingested_at: i64) -> Self {
        let ts = || TimestampMicrosecondBuilder::new().with_timezone(UTC);
        Self {
            rows: 0,
            text_bytes: 0,
            ingested_at,
            span_id: StringBuilder::new(),
            trace_id: StringBuilder::new(),
            parent_span_id: StringBuilder::new(),
            session_id: StringBuilder::new(),
            task_id: StringBuilder::new(),
            agent_id: StringBuilder::new(),
            source: StringBuilder::new(),
            source_ref: StringBuilder::new(),
            kind: StringBuilder::new(),
            name: StringBuilder::new(),
            status: StringBuilder::new(),
            error_message: StringBuilder::new(),
            start_time: ts(),
            end_time: ts(),
            duration_ms: Int64Builder::new(),
            agent: StringBuilder::new(),
            agent_version: StringBuilder::new(),
            user_id: StringBuilder::new(),
            host: StringBuilder::new(),
            project: StringBuilder::new(),
            git_branch: StringBuilder::new(),
            service_name: StringBuilder::new(),
            provider: StringBuilder::new(),
            model: StringBuilder::new(),
            input_tokens: Int64Builder::new(),
            output_tokens: Int64Builder::new(),
            cache_read_tokens: Int64Builder::new(),
            cache_write_tokens: Int64Builder::new(),
            reasoning_tokens: Int64Builder::new(),
            cost_usd: Float64Builder::new(),
            source_cost_usd: Float64Builder::new(),
            ttft_ms: Int64Builder::new(),
            stop_reason: StringBuilder::new(),
            tool_name: StringBuilder::new(),
            tool_call_id: StringBuilder::new(),
            tool_input: StringBuilder::new(),
            tool_output: StringBuilder::new(),
            is_error: BooleanBuilder::new(),
            exit_code: Int32Builder::new(),
            files_read: list_builder("files_read"),
            files_written: list_builder("files_written"),
            command: StringBuilder::new(),
            input_text: StringBuilder::new(),
            output_text: StringBuilder::new(),
            decision: StringBuilder::new(),
            decision_source: StringBuilder::new(),
            rule: StringBuilder::new(),
            caused_by: StringBuilder::new(),
            attributes: StringBuilder::new(),
            resource_attributes: StringBuilder::new(),
            ingested: ts(),
        }
    }

    /// Rows appended so far.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether no row was appended.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Approximate text bytes appended so far.
    pub fn text_bytes(&self) -> usize {
        self.text_bytes
    }

    /// Appends one span.
    pub fn append(&mut self, s: &Span) {
        self.rows += 1;
        self.text_bytes += s.text_bytes();
        self.span_id.append_value(&s.span_id);
        self.trace_id.append_option(s.trace_id.as_deref());
        self.parent_span_id
            .append_option(s.parent_span_id.as_deref());
        self.session_id.append_value(&s.session_id);
        self.task_id.append_option(s.task_id.as_deref());
        self.agent_id.append_option(s.agent_id.as_deref());
        self.source.append_value(&s.source);
        self.source_ref.append_option(s.source_ref.as_deref());
        self.kind.append_value(s.kind.as_str());
        self.name.append_option(s.name.as_deref());
        self.status.append_value(s.status.as_str());
        self.error_message.append_option(s.error_message.as_deref());
        self.start_time.append_value(s.start_time);
        self.end_time.append_option(s.end_time);
        self.duration_ms.append_option(
            s.end_time
                .map(|end| (end.saturating_sub(s.start_time)) / 1000),
        );
        self.agent.append_option(s.agent.as_deref());
        self.agent_version.append_option(s.agent_version.as_deref());
        self.user_id.append_option(s.user_id.as_deref());
        self.host.append_option(s.host.as_deref());
        self.project.append_option(s.project.as_deref());
        self.git_branch.append_option(s.git_branch.as_deref());
        self.service_name.append_option(s.service_name.as_deref());
        self.provider.append_option(s.provider.as_deref());
        self.model.append_option(s.model.as_deref());
        self.input_tokens.append_option(s.input_tokens);
        self.output_tokens.append_option(s.output_tokens);
        self.cache_read_tokens.append_option(s.cache_read_tokens);
        self.cache_write_tokens.append_option(s.cache_write_tokens);
        self.reasoning_tokens.append_option(s.reasoning_tokens);
        self.cost_usd.append_option(s.cost_usd);
        self.source_cost_usd.append_option(s.source_cost_usd);
        self.ttft_ms.append_option(s.ttft_ms);
        self.stop_reason.append_option(s.stop_reason.as_deref());
        self.tool_name.append_option(s.tool_name.as_deref());
        self.tool_call_id.append_option(s.tool_call_id.as_deref());
        self.tool_input.append_option(s.tool_input.as_deref());
        self.tool_output.append_option(s.tool_output.as_deref());
        self.is_error.append_option(s.is_error);
        self.exit_code.append_option(s.exit_code);
        append_list(&mut self.files_read, &s.files_read);
        append_list(&mut self.files_written, &s.files_written);
        self.command.append_option(s.command.as_deref());
        self.input_text.append_option(s.input_text.as_deref());
        self.output_text.append_option(s.output_text.as_deref());
        self.decision
            .append_option(s.decision.map(Decision::as_str));
        self.decision_source
            .append_option(s.decision_source.as_deref());
        self.rule.append_option(s.rule.as_deref());
        self.caused_by.append_option(s.caused_by.as_deref());
        self.attributes.append_option(s.attributes.as_deref());
        self.resource_attributes
            .append_option(s.resource_attributes.as_deref());
        self.ingested.append_value(self.ingested_at);
    }

    /// Finishes the batch and resets the builder.
    pub fn finish(&mut self) -> Result<RecordBatch> {
        self.rows = 0;
        self.text_bytes = 0;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.span_id.finish()),
            Arc::new(self.trace_id.finish()),
            Arc::new(self.parent_span_id.finish()),
            Arc::new(self.session_id.finish()),
            Arc::new(self.task_id.finish()),
            Arc::new(self.agent_id.finish()),
            Arc::new(self.source.finish()),
            Arc::new(self.source_ref.finish()),
            Arc::new(self.kind.finish()),
            Arc::new(self.name.finish()),
            Arc::new(self.status.finish()),
            Arc::new(self.error_message.finish()),
            Arc::new(self.start_time.finish()),
            Arc::new(self.end_time.finish()),
            Arc::new(self.duration_ms.finish()),
            Arc::new(self.agent.finish()),
            Arc::new(self.agent_version.finish()),
            Arc::new(self.user_id.finish()),
            Arc::new(self.host.finish()),
            Arc::new(self.project.finish()),
            Arc::new(self.git_branch.finish()),
            Arc::new(self.service_name.finish()),
            Arc::new(self.provider.finish()),
            Arc::new(self.model.finish()),
            Arc::new(self.input_tokens.finish()),
            Arc::new(self.output_tokens.finish()),
            Arc::new(self.cache_read_tokens.finish()),
            Arc::new(self.cache_write_tokens.finish()),
            Arc::new(self.reasoning_tokens.finish()),
            Arc::new(self.cost_usd.finish()),
            Arc::new(self.source_cost_usd.finish()),
            Arc::new(self.ttft_ms.finish()),
            Arc::new(self.stop_reason.finish()),
            Arc::new(self.tool_name.finish()),
            Arc::new(self.tool_call_id.finish()),
            finish_sized(&mut self.tool_input),
            finish_sized(&mut self.tool_output),
            Arc::new(self.is_error.finish()),
            Arc::new(self.exit_code.finish()),
            Arc::new(self.files_read.finish()),
            Arc::new(self.files_written.finish()),
            Arc::new(self.command.finish()),
            finish_sized(&mut self.input_text),
            finish_sized(&mut self.output_text),
            Arc::new(self.decision.finish()),
            Arc::new(self.decision_source.finish()),
            Arc::new(self.rule.finish()),
            Arc::new(self.caused_by.finish()),
            finish_sized(&mut self.attributes),
            finish_sized(&mut self.resource_attributes),
            Arc::new(self.ingested.finish()),
        ];
        RecordBatch::try_new(TableKind::Spans.schema(), columns)
            .map_err(|e| Error::internal("building a spans batch").with_source(e))
    }
}

/// Finishes a text column and leaves its builder with room for a batch like this one: built
/// from empty, a column of megabytes grows by doubling, copying what it holds each time into
/// freshly faulted-in memory (~2 % of the collector's CPU).
fn finish_sized(builder: &mut StringBuilder) -> ArrayRef {
    let column = builder.finish();
    *builder = StringBuilder::with_capacity(column.len(), column.value_data().len());
    Arc::new(column)
}

fn append_list(builder: &mut ListBuilder<StringBuilder>, values: &[String]) {
    if values.is_empty() {
        builder.append_null();
        return;
    }
    for v in values {
        builder.values().append_value(v);
    }
    builder.append(true);
}

/// Accumulates [`RawRecord`]s into an Arrow batch of the `raw` schema.
pub struct RawBatchBuilder {
    rows: usize,
    bytes: usize,
    ingested_at: i64,
    source: StringBuilder,
    source_ref: StringBuilder,
    file: StringBuilder,
    line: Int64Builder,
    byte_offset: Int64Builder,
    session_id: StringBuilder,
    record_type: StringBuilder,
    event_time: TimestampMicrosecondBuilder,
    record: StringBuilder,
    parse_error: StringBuilder,
    ingested: TimestampMicrosecondBuilder,
}

impl RawBatchBuilder {
    /// An empty builder; every row gets `ingested_at` (µs UTC) as its ingestion time.
    pub fn new(ingested_at: i64) -> Self {
        let ts = || TimestampMicrosecondBuilder::new().with_timezone(UTC);
        Self {
            rows: 0,
            bytes: 0,
            ingested_at,
            source: StringBuilder::new(),
            source_ref: StringBuilder::new(),
            file: StringBuilder::new(),
            line: Int64Builder::new(),
            byte_offset: Int64Builder::new(),
            session_id: StringBuilder::new(),
            record_type: StringBuilder::new(),
            event_time: ts(),
            record: StringBuilder::new(),
            parse_error: StringBuilder::new(),
            ingested: ts(),
        }
    }

    /// Rows appended so far.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether no row was appended.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Record bytes appended so far.
    pub fn text_bytes(&self) -> usize {
        self.bytes
    }

    /// Appends one record.
    pub fn append(&mut self, r: &RawRecord) {
        self.rows += 1;
        self.bytes += r.record.len() + 128;
        self.source.append_value(&r.source);
        self.source_ref.append_value(&r.source_ref);
        self.file.append_option(r.file.as_deref());
        self.line.append_option(r.line);
        self.byte_offset.append_option(r.byte_offset);
        self.session_id.append_option(r.session_id.as_deref());
        self.record_type.append_option(r.record_type.as_deref());
        self.event_time.append_value(r.event_time);
        self.record.append_value(&r.record);
        self.parse_error.append_option(r.parse_error.as_deref());
        self.ingested.append_value(self.ingested_at);
    }

    /// Finishes the batch and resets the builder.
    pub fn finish(&mut self) -> Result<RecordBatch> {
        self.rows = 0;
        self.bytes = 0;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.source.finish()),
            Arc::new(self.source_ref.finish()),
            Arc::new(self.file.finish()),
            Arc::new(self.line.finish()),
            Arc::new(self.byte_offset.finish()),
            Arc::new(self.session_id.finish()),
            Arc::new(self.record_type.finish()),
            Arc::new(self.event_time.finish()),
            finish_sized(&mut self.record),
            Arc::new(self.parse_error.finish()),
            Arc::new(self.ingested.finish()),
        ];
        RecordBatch::try_new(TableKind::Raw.schema(), columns)
            .map_err(|e| Error::internal("building a raw batch").with_source(e))
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;

    use super::*;

    #[test]
    fn spans_round_trip_through_a_batch() {
        let mut b = SpanBatchBuilder::new(5_000_000);
        let mut s = Span::new("a1", "sess", "claude-code", SpanKind::Tool, 1_000_000);
        s.end_time = Some(3_500_000);
        s.files_read = vec!["src/a.rs".into()];
        s.files_written = vec!["src/b.rs".into()];
        s.input_tokens = Some(7);
        b.append(&s);
        b.append(&Span::new(
            "a2",
            "sess",
            "claude-code",
            SpanKind::Llm,
            2_000_000,
        ));
        let batch = b.finish().unwrap();
        assert_eq!(batch.num_rows(), 2);
        let duration = batch
            .column_by_name("duration_ms")
            .unwrap()
            .as_primitive::<Int64Type>();
        assert_eq!(duration.value(0), 2500);
        assert!(duration.is_null(1));
        let kinds = batch.column_by_name("kind").unwrap().as_string::<i32>();
        assert_eq!(kinds.value(0), "tool");
        let files = batch.column_by_name("files_read").unwrap().as_list::<i32>();
        assert_eq!(files.value(0).as_string::<i32>().value(0), "src/a.rs");
        assert!(files.is_null(1));
        assert!(b.is_empty());
        // The builder keeps room for a batch like the last (`finish_sized`): the next batch
        // holds its own rows only.
        let mut t = Span::new("a3", "sess", "claude-code", SpanKind::Llm, 4_000_000);
        t.input_text = Some("second batch".into());
        b.append(&t);
        let batch = b.finish().unwrap();
        assert_eq!(batch.num_rows(), 1);
        let text = batch
            .column_by_name("input_text")
            .unwrap()
            .as_string::<i32>();
        assert_eq!(text.value(0), "second batch");
        assert_eq!(text.value_data(), b"second batch");
    }

    #[test]
    fn metric_points_build_a_batch() {
        let mut b = MetricBatchBuilder::new(1);
        b.append(&MetricPoint {
            metric_name: "claude_code.cost.usage".into(),
            metric_type: "sum".into(),
            time: 5,
            value: Some(0.25),
            source: "otlp".into(),
            ..MetricPoint::default()
        });
        let batch = b.finish().unwrap();
        assert_eq!(batch.num_rows(), 1);
        assert!(b.is_empty());
    }

    #[test]
    fn raw_records_build_a_batch() {
        let mut b = RawBatchBuilder::new(1);
        b.append(&RawRecord {
            source: "claude-code".into(),
            source_ref: "a.jsonl:1".into(),
            file: Some("a.jsonl".into()),
            line: Some(1),
            byte_offset: Some(0),
            session_id: None,
            record_type: Some("user".into()),
            event_time: 10,
            record: "{}".into(),
            parse_error: None,
        });
        assert_eq!(b.finish().unwrap().num_rows(), 1);
    }
}
