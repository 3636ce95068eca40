//! The views every reader gets over `spans`: `sessions`, `tasks`, `llm_calls`, `tool_calls`
//! and `permissions`. Plain SQL, so DuckDB or Spark users can define the same on our tables.

/// `(name, SQL)` of each view, in creation order.
pub const VIEWS: &[(&str, &str)] = &[
    (
        "llm_calls",
        "SELECT span_id, session_id, task_id, agent_id, parent_span_id, start_time, end_time, \
         duration_ms, agent, agent_version, project, git_branch, user_id, provider, model, \
         input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, \
         coalesce(input_tokens, 0) + coalesce(output_tokens, 0) + coalesce(cache_read_tokens, 0) \
           + coalesce(cache_write_tokens, 0) AS total_tokens, \
         cost_usd, source_cost_usd, ttft_ms, stop_reason, status, error_message, output_text, \
         attributes, source, source_ref \
         FROM spans WHERE kind = 'llm'",
    ),
    (
        "tool_calls",
        "SELECT span_id, session_id, task_id, agent_id, parent_span_id, caused_by, start_time, \
         end_time, duration_ms, agent, project, tool_name, tool_call_id, tool_input, tool_output, \
         is_error, exit_code, files_read, files_written, command, status, error_message, decision, \
         decision_source, rule, attributes, source, source_ref \
         FROM spans WHERE kind = 'tool'",
    ),
    (
        "permissions",
        "SELECT span_id, session_id, task_id, parent_span_id AS tool_span_id, start_time, agent, \
         project, user_id, tool_name, tool_call_id, decision, decision_source, rule, \
         error_message, attributes, source, source_ref \
         FROM spans WHERE kind = 'permission'",
    ),
    (
        "tasks",
        "SELECT t.span_id AS task_id, t.session_id, t.start_time, \
         w.end_time, \
         CAST(date_part('epoch', w.end_time) * 1000 - date_part('epoch', t.start_time) * 1000 AS BIGINT) AS duration_ms, \
         t.agent, t.project, t.input_text AS prompt, \
         coalesce(w.llm_calls, 0) AS llm_calls, coalesce(w.tool_calls, 0) AS tool_calls, \
         coalesce(w.errors, 0) AS errors, coalesce(w.input_tokens, 0) AS input_tokens, \
         coalesce(w.output_tokens, 0) AS output_tokens, \
         coalesce(w.cache_read_tokens, 0) AS cache_read_tokens, \
         coalesce(w.cache_write_tokens, 0) AS cache_write_tokens, \
         coalesce(w.cost_usd, 0) AS cost_usd, coalesce(w.unpriced_calls, 0) AS unpriced_calls, \
         coalesce(w.interrupted, 0) > 0 AS interrupted \
         FROM spans t LEFT JOIN ( \
           SELECT task_id, max(coalesce(end_time, start_time)) AS end_time, \
             sum(CASE WHEN kind = 'llm' THEN 1 ELSE 0 END) AS llm_calls, \
             sum(CASE WHEN kind = 'tool' THEN 1 ELSE 0 END) AS tool_calls, \
             sum(CASE WHEN kind = 'tool' AND status = 'error' THEN 1 ELSE 0 END) AS errors, \
             sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens, \
             sum(cache_read_tokens) AS cache_read_tokens, sum(cache_write_tokens) AS cache_write_tokens, \
             sum(CASE WHEN kind = 'llm' THEN cost_usd END) AS cost_usd, \
             sum(CASE WHEN kind = 'llm' AND cost_usd IS NULL THEN 1 ELSE 0 END) AS unpriced_calls, \
             sum(CASE WHEN kind = 'event' AND name = 'interrupted' THEN 1 ELSE 0 END) AS interrupted \
           FROM spans WHERE task_id IS NOT NULL AND kind <> 'task' GROUP BY task_id) w \
         ON w.task_id = t.span_id \
         WHERE t.kind = 'task'",
    ),
    (
        "sessions",
        "SELECT session_id, min(start_time) AS start_time, \
         max(coalesce(end_time, start_time)) AS end_time, \
         max(agent) AS agent, max(agent_version) AS agent_version, \
         first_value(project ORDER BY start_time) AS project, \
         first_value(git_branch ORDER BY start_time) AS git_branch, \
         max(user_id) AS user_id, \
         sum(CASE WHEN kind = 'task' THEN 1 ELSE 0 END) AS tasks, \
         sum(CASE WHEN kind = 'llm' THEN 1 ELSE 0 END) AS llm_calls, \
         sum(CASE WHEN kind = 'tool' THEN 1 ELSE 0 END) AS tool_calls, \
         sum(CASE WHEN kind = 'agent' THEN 1 ELSE 0 END) AS subagents, \
         sum(CASE WHEN kind = 'tool' AND status = 'error' THEN 1 ELSE 0 END) AS errors, \
         sum(CASE WHEN kind = 'permission' AND decision = 'deny' THEN 1 ELSE 0 END) AS denials, \
         coalesce(sum(CASE WHEN kind = 'llm' THEN input_tokens END), 0) AS input_tokens, \
         coalesce(sum(CASE WHEN kind = 'llm' THEN output_tokens END), 0) AS output_tokens, \
         coalesce(sum(CASE WHEN kind = 'llm' THEN cache_read_tokens END), 0) AS cache_read_tokens, \
         coalesce(sum(CASE WHEN kind = 'llm' THEN cache_write_tokens END), 0) AS cache_write_tokens, \
         coalesce(sum(CASE WHEN kind = 'llm' THEN coalesce(input_tokens, 0) + coalesce(output_tokens, 0) + coalesce(cache_read_tokens, 0) + coalesce(cache_write_tokens, 0) END), 0) AS total_tokens, \
         coalesce(sum(CASE WHEN kind = 'llm' THEN cost_usd END), 0) AS cost_usd, \
         sum(CASE WHEN kind = 'llm' AND cost_usd IS NULL THEN 1 ELSE 0 END) AS unpriced_calls, \
         max(CASE WHEN kind = 'event' AND name = 'cost-state' THEN source_cost_usd END) AS source_cost_usd, \
         first_value(CASE WHEN kind = 'task' THEN input_text END ORDER BY CASE WHEN kind = 'task' THEN 0 ELSE 1 END, start_time) AS first_prompt \
         FROM spans GROUP BY session_id",
    ),
];
