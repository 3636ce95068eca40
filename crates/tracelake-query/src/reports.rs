//! The reports behind `sessions`, `show` and `cost`: SQL over the views, so every number a
//! report prints can be reproduced with `tracelake sql` (or DuckDB on the same tables).

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::record_batch::RecordBatch;
use tracelake_model::{Error, Result};

use crate::engine::QueryEngine;

/// A dimension cost can be grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CostBy {
    /// UTC day of the model call, split by agent.
    Day,
    /// Session.
    Session,
    /// Model.
    Model,
    /// Task (user prompt).
    Task,
    /// Project (working directory).
    Project,
    /// Agent product.
    Agent,
}

/// Quotes a string as a SQL literal.
pub fn sql_string(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

const TOKEN_SUMS: &str = "count(*) AS llm_calls, \
    coalesce(sum(input_tokens), 0) AS input_tokens, \
    coalesce(sum(output_tokens), 0) AS output_tokens, \
    coalesce(sum(cache_read_tokens), 0) AS cache_read_tokens, \
    coalesce(sum(cache_write_tokens), 0) AS cache_write_tokens, \
    coalesce(sum(total_tokens), 0) AS total_tokens, \
    sum(cost_usd) AS cost_usd, \
    sum(CASE WHEN cost_usd IS NULL THEN 1 ELSE 0 END) AS unpriced_calls, \
    coalesce(array_to_string(array_agg(DISTINCT CASE WHEN cost_usd IS NULL THEN model END), ','), '') AS unpriced_models";

/// The SQL of a cost report.
pub fn cost_sql(by: CostBy) -> String {
    match by {
        CostBy::Day => format!(
            "SELECT CAST(date_trunc('day', start_time) AS DATE) AS day, agent, {TOKEN_SUMS} \
             FROM llm_calls GROUP BY 1, 2 ORDER BY 1, 2"
        ),
        CostBy::Session => format!(
            "SELECT session_id, min(start_time) AS start_time, max(agent) AS agent, \
             max(project) AS project, {TOKEN_SUMS} \
             FROM llm_calls GROUP BY session_id ORDER BY cost_usd DESC NULLS LAST, session_id"
        ),
        CostBy::Model => format!(
            "SELECT model, max(provider) AS provider, {TOKEN_SUMS} \
             FROM llm_calls GROUP BY model ORDER BY cost_usd DESC NULLS LAST, model"
        ),
        CostBy::Task => format!(
            "SELECT l.task_id, min(t.session_id) AS session_id, min(t.start_time) AS start_time, \
             substr(min(t.prompt), 1, 80) AS prompt, {TOKEN_SUMS} \
             FROM llm_calls l LEFT JOIN tasks t ON t.task_id = l.task_id \
             GROUP BY l.task_id ORDER BY cost_usd DESC NULLS LAST, l.task_id"
        ),
        CostBy::Project => format!(
            "SELECT project, {TOKEN_SUMS} FROM llm_calls GROUP BY project \
             ORDER BY cost_usd DESC NULLS LAST, project"
        ),
        CostBy::Agent => format!(
            "SELECT agent, {TOKEN_SUMS} FROM llm_calls GROUP BY agent \
             ORDER BY cost_usd DESC NULLS LAST, agent"
        ),
    }
}

/// Model calls without a price: model, calls and tokens.
pub const UNPRICED_SQL: &str = "SELECT model, count(*) AS llm_calls, \
    coalesce(sum(total_tokens), 0) AS total_tokens \
    FROM llm_calls WHERE cost_usd IS NULL GROUP BY model ORDER BY llm_calls DESC, model";

/// The SQL of the session list, newest first.
pub fn sessions_sql(limit: usize) -> String {
    format!(
        "SELECT session_id, start_time, agent, project, tasks, llm_calls, tool_calls, errors, \
         total_tokens AS tokens, cost_usd, unpriced_calls \
         FROM sessions ORDER BY start_time DESC, session_id LIMIT {limit}"
    )
}

impl QueryEngine {
    /// Resolves a session id or a unique prefix of one.
    pub async fn resolve_session(&self, id: &str) -> Result<String> {
        let batches = self
            .query(&format!(
                "SELECT DISTINCT session_id FROM spans WHERE starts_with(session_id, {}) \
                 ORDER BY session_id LIMIT 6",
                sql_string(id)
            ))
            .await?;
        let mut found = Vec::new();
        for b in &batches {
            let col = b.column(0);
            let strings = col
                .as_string_opt::<i32>()
                .ok_or_else(|| Error::internal("session ids are not strings"))?;
            for i in 0..strings.len() {
                if strings.is_valid(i) {
                    found.push(strings.value(i).to_string());
                }
            }
        }
        if found.iter().any(|s| s == id) {
            return Ok(id.to_string());
        }
        match found.len() {
            0 => Err(Error::not_found(format!(
                "no session {id} in the lake (`tracelake sessions` lists them)"
            ))),
            1 => Ok(found.remove(0)),
            _ => Err(Error::invalid_input(format!(
                "{id} matches several sessions ({}…); give more of the id",
                found.join(", ")
            ))),
        }
    }

    /// Every span of a session in order, with the columns `show` prints.
    pub async fn session_spans(&self, session_id: &str) -> Result<Vec<RecordBatch>> {
        self.query(&format!(
            "SELECT span_id, parent_span_id, kind, name, status, start_time, end_time, duration_ms, \
             agent, agent_version, project, git_branch, agent_id, model, input_tokens, output_tokens, \
             cache_read_tokens, cache_write_tokens, cost_usd, source_cost_usd, tool_name, tool_input, command, exit_code, \
             files_read, files_written, is_error, error_message, decision, decision_source, \
             input_text, output_text, source_ref \
             FROM spans WHERE session_id = {} \
             ORDER BY start_time, CASE kind WHEN 'session' THEN 0 WHEN 'agent' THEN 1 WHEN 'task' THEN 2 \
               WHEN 'llm' THEN 3 WHEN 'tool' THEN 4 WHEN 'permission' THEN 5 ELSE 6 END, span_id",
            sql_string(session_id)
        ))
        .await
    }
}
