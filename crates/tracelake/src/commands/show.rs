//! `tracelake show SESSION`: what a session did, in order — each prompt, model call (tokens,
//! cost), tool call (name, file or command, ok/error, duration) — then the files it read and
//! changed.

use std::collections::BTreeSet;
use std::process::ExitCode;

use anyhow::{Result, anyhow};
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, Int32Type, Int64Type, TimestampMicrosecondType};
use clap::ValueEnum;

use super::{Env, lib};
use crate::output::{self, Format};

/// Output of `show`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShowFormat {
    /// The session as a readable story
    Text,
    /// Every span as JSON
    Json,
}

/// One span, as `show` needs it.
#[derive(Debug, Default, Clone)]
struct Row {
    kind: String,
    name: String,
    status: String,
    start: i64,
    end: Option<i64>,
    duration_ms: Option<i64>,
    agent: String,
    agent_version: String,
    project: String,
    git_branch: String,
    agent_id: String,
    model: String,
    input_tokens: i64,
    output_tokens: i64,
    cache_read: i64,
    cache_write: i64,
    cost: Option<f64>,
    source_cost: Option<f64>,
    tool_name: String,
    tool_input: String,
    command: String,
    exit_code: Option<i32>,
    files_read: Vec<String>,
    files_written: Vec<String>,
    error_message: String,
    decision: String,
    input_text: String,
    output_text: String,
}

fn text(b: &RecordBatch, name: &str, i: usize) -> String {
    b.column_by_name(name)
        .and_then(|c| c.as_string_opt::<i32>())
        .filter(|c| c.is_valid(i))
        .map(|c| c.value(i).to_string())
        .unwrap_or_default()
}

fn int(b: &RecordBatch, name: &str, i: usize) -> Option<i64> {
    b.column_by_name(name)
        .and_then(|c| c.as_primitive_opt::<Int64Type>())
        .filter(|c| c.is_valid(i))
        .map(|c| c.value(i))
}

fn list(b: &RecordBatch, name: &str, i: usize) -> Vec<String> {
    let Some(l) = b.column_by_name(name).and_then(|c| c.as_list_opt::<i32>()) else {
        return Vec::new();
    };
    if !l.is_valid(i) {
        return Vec::new();
    }
    let values = l.value(i);
    let Some(s) = values.as_string_opt::<i32>() else {
        return Vec::new();
    };
    (0..s.len())
        .filter(|j| s.is_valid(*j))
        .map(|j| s.value(j).to_string())
        .collect()
}

fn rows(batches: &[RecordBatch]) -> Vec<Row> {
    let mut out = Vec::new();
    for b in batches {
        for i in 0..b.num_rows() {
            let ts = |name: &str| {
                b.column_by_name(name)
                    .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>())
                    .filter(|c| c.is_valid(i))
                    .map(|c| c.value(i))
            };
            out.push(Row {
                kind: text(b, "kind", i),
                name: text(b, "name", i),
                status: text(b, "status", i),
                start: ts("start_time").unwrap_or(0),
                end: ts("end_time"),
                duration_ms: int(b, "duration_ms", i),
                agent: text(b, "agent", i),
                agent_version: text(b, "agent_version", i),
                project: text(b, "project", i),
                git_branch: text(b, "git_branch", i),
                agent_id: text(b, "agent_id", i),
                model: text(b, "model", i),
                input_tokens: int(b, "input_tokens", i).unwrap_or(0),
                output_tokens: int(b, "output_tokens", i).unwrap_or(0),
                cache_read: int(b, "cache_read_tokens", i).unwrap_or(0),
                cache_write: int(b, "cache_write_tokens", i).unwrap_or(0),
                cost: b
                    .column_by_name("cost_usd")
                    .and_then(|c| c.as_primitive_opt::<Float64Type>())
                    .filter(|c| c.is_valid(i))
                    .map(|c| c.value(i)),
                source_cost: b
                    .column_by_name("source_cost_usd")
                    .and_then(|c| c.as_primitive_opt::<Float64Type>())
                    .filter(|c| c.is_valid(i))
                    .map(|c| c.value(i)),
                tool_name: text(b, "tool_name", i),
                tool_input: text(b, "tool_input", i),
                command: text(b, "command", i),
                exit_code: b
                    .column_by_name("exit_code")
                    .and_then(|c| c.as_primitive_opt::<Int32Type>())
                    .filter(|c| c.is_valid(i))
                    .map(|c| c.value(i)),
                files_read: list(b, "files_read", i),
                files_written: list(b, "files_written", i),
                error_message: text(b, "error_message", i),
                decision: text(b, "decision", i),
                input_text: text(b, "input_text", i),
                output_text: text(b, "output_text", i),
            });
        }
    }
    out
}

fn clock(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| t.format("%H:%M:%S%.3f").to_string())
        .unwrap_or_default()
}

fn thousands(n: i64) -> String {
    let s = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

fn money(cost: Option<f64>) -> String {
    match cost {
        Some(c) => format!("${c:.4}"),
        None => "unpriced".to_string(),
    }
}

fn duration(ms: Option<i64>) -> String {
    match ms {
        Some(ms) if ms >= 1000 => format!("{:.1} s", ms as f64 / 1000.0),
        Some(ms) => format!("{ms} ms"),
        None => String::new(),
    }
}

/// What a tool call was about: its file, command, or a short form of its input.
fn tool_target(r: &Row) -> String {
    if !r.command.is_empty() {
        return format!("`{}`", output::elide(&r.command));
    }
    if let Some(f) = r.files_written.first().or(r.files_read.first()) {
        return f.clone();
    }
    let v: serde_json::Value = serde_json::from_str(&r.tool_input).unwrap_or_default();
    for key in ["pattern", "path", "url", "query", "description", "prompt"] {
        if let Some(s) = v.get(key).and_then(|s| s.as_str()) {
            return output::elide(s);
        }
    }
    output::elide(&r.tool_input)
}

/// Prints one session.
pub async fn run(env: &Env, session: &str, format: ShowFormat) -> Result<ExitCode> {
    let engine = env.engine().await?;
    let session = engine.resolve_session(session).await.map_err(lib)?;
    let batches = engine.session_spans(&session).await.map_err(lib)?;
    if format == ShowFormat::Json {
        output::write_batches(&batches, Format::Json, None)?;
        return Ok(ExitCode::SUCCESS);
    }
    let rows = rows(&batches);
    let first = rows
        .first()
        .ok_or_else(|| anyhow!("session {session} has no spans"))?;
    let last = rows
        .iter()
        .map(|r| r.end.unwrap_or(r.start))
        .max()
        .unwrap_or(first.start);
    let llm: Vec<&Row> = rows.iter().filter(|r| r.kind == "llm").collect();
    let tools: Vec<&Row> = rows.iter().filter(|r| r.kind == "tool").collect();
    let tokens: i64 = llm
        .iter()
        .map(|r| r.input_tokens + r.output_tokens + r.cache_read + r.cache_write)
        .sum();
    let cost: f64 = llm.iter().filter_map(|r| r.cost).sum();
    let unpriced = llm.iter().filter(|r| r.cost.is_none()).count();
    let header = rows.iter().find(|r| !r.project.is_empty()).unwrap_or(first);
    output::line(format!(
        "session {session}  {} {}  {}{}",
        header.agent,
        header.agent_version,
        header.project,
        if header.git_branch.is_empty() {
            String::new()
        } else {
            format!(" ({})", header.git_branch)
        }
    ));
    output::line(format!(
        "started {}, {}, {}, {}, {}, {}, {} tokens, ${cost:.4}{}",
        chrono::DateTime::from_timestamp_micros(first.start)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
            .unwrap_or_default(),
        duration(Some((last - first.start) / 1000)),
        count(rows.iter().filter(|r| r.kind == "task").count(), "task"),
        count(llm.len(), "model call"),
        count(tools.len(), "tool call"),
        count(
            tools.iter().filter(|r| r.status == "error").count(),
            "error"
        ),
        thousands(tokens),
        if unpriced > 0 {
            format!(" (+{unpriced} unpriced calls)")
        } else {
            String::new()
        }
    ));
    output::line("");
    for r in &rows {
        let indent = if r.agent_id.is_empty() { "" } else { "    " };
        let t = clock(r.start);
        let line = match r.kind.as_str() {
            "session" => continue,
            "task" => format!("{t}  prompt  \"{}\"", output::elide(&r.input_text)),
            "agent" => format!(
                "{t}  agent   {} {} \"{}\"",
                r.name,
                r.agent_id,
                output::elide(&r.input_text)
            ),
            "llm" => format!(
                "{t}  llm     {}  in {} out {} cache r {} w {}  {}",
                r.model,
                thousands(r.input_tokens),
                thousands(r.output_tokens),
                thousands(r.cache_read),
                thousands(r.cache_write),
                money(r.cost)
            ),
            "tool" => {
                let outcome = if r.status == "error" {
                    let mut why = match r.exit_code {
                        Some(code) => format!("error (exit {code})"),
                        None => "error".to_string(),
                    };
                    if r.decision == "deny" {
                        why = "denied".to_string();
                    }
                    format!("{why}: {}", output::elide(&r.error_message))
                } else if r.status == "unset" {
                    "no result".to_string()
                } else {
                    "ok".to_string()
                };
                format!(
                    "{t}  tool    {} {}  {}  {}",
                    r.tool_name,
                    tool_target(r),
                    outcome,
                    duration(r.duration_ms)
                )
            }
            "permission" if r.decision == "deny" => {
                format!("{t}  denied  {}", r.name)
            }
            "permission" => continue,
            "event" if r.name == "cost-state" => match r.source_cost {
                Some(c) => format!("{t}  {}'s own running total: ${c:.4}", r.agent),
                None => continue,
            },
            _ => {
                let detail = if !r.input_text.is_empty() {
                    &r.input_text
                } else {
                    &r.output_text
                };
                format!("{t}  {:<7} {}", r.name, output::elide(detail))
            }
        };
        output::line(format!("{indent}{line}"));
    }
    let read: BTreeSet<&String> = rows.iter().flat_map(|r| &r.files_read).collect();
    let written: BTreeSet<&String> = rows.iter().flat_map(|r| &r.files_written).collect();
    output::line("");
    let join = |s: &BTreeSet<&String>| {
        if s.is_empty() {
            "(none)".to_string()
        } else {
            s.iter().map(|f| f.as_str()).collect::<Vec<_>>().join(", ")
        }
    };
    output::line(format!("files read:    {}", join(&read)));
    output::line(format!("files changed: {}", join(&written)));
    Ok(ExitCode::SUCCESS)
}
