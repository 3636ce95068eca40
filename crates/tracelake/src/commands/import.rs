//! `tracelake import claude-code` and `tracelake import codex`: progress while it runs, a summary at the end, and an exit
//! status that says whether anything was skipped.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Result, bail};
use clap::ValueEnum;
use tracelake_ingest::{ClaudeCodeImporter, CodexImporter, ImportOptions, ImportSummary, Redactor};

use super::{Env, lib, note};
use crate::output;
use crate::progress::ImportBar;

/// Exit status of an import that finished but skipped malformed lines.
pub const EXIT_SKIPPED: u8 = 3;

/// Format of the import summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SummaryFormat {
    /// Lines for reading
    Text,
    /// One JSON object
    Json,
}

/// The default Claude Code folder: `$CLAUDE_CONFIG_DIR/projects`, else `~/.claude/projects`.
pub fn default_claude_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("CLAUDE_CONFIG_DIR").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(dir).join("projects"));
    }
    std::env::home_dir().map(|h| h.join(".claude").join("projects"))
}

/// The default Codex folder: `$CODEX_HOME/sessions`, else `~/.codex/sessions`.
pub fn default_codex_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("CODEX_HOME").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(dir).join("sessions"));
    }
    std::env::home_dir().map(|h| h.join(".codex").join("sessions"))
}

/// Imports Codex rollouts and prints the summary.
pub async fn codex(env: &Env, paths: Vec<PathBuf>, format: SummaryFormat) -> Result<ExitCode> {
    let paths = if paths.is_empty() {
        match default_codex_dir() {
            Some(d) if d.exists() => vec![d],
            Some(d) => bail!(
                "no Codex sessions at {} (pass a folder, or set CODEX_HOME)",
                d.display()
            ),
            None => bail!("cannot find a home folder; pass the folder to import"),
        }
    } else {
        paths
    };
    let lake = env.lake().await?;
    let importer = CodexImporter::new(lake, redactor(env)?, options(env));
    let summary = importer
        .import(&paths, Arc::new(ImportBar::new("importing")))
        .await
        .map_err(lib)?;
    print_summary(&summary, format)?;
    Ok(exit_status(&summary))
}

fn redactor(env: &Env) -> Result<Arc<Redactor>> {
    Ok(Arc::new(Redactor::new(&env.config.redact).map_err(lib)?))
}

fn options(env: &Env) -> ImportOptions {
    ImportOptions {
        commit_every_bytes: env.config.import.commit_every_mib.max(1) * 1024 * 1024,
        ..ImportOptions::default()
    }
}

/// Exit status of a finished import: [`EXIT_SKIPPED`] when malformed lines were skipped.
fn exit_status(summary: &ImportSummary) -> ExitCode {
    if summary.stats.malformed > 0 {
        ExitCode::from(EXIT_SKIPPED)
    } else {
        ExitCode::SUCCESS
    }
}

/// Imports Claude Code logs and prints the summary.
pub async fn claude_code(
    env: &Env,
    paths: Vec<PathBuf>,
    format: SummaryFormat,
) -> Result<ExitCode> {
    let paths = if paths.is_empty() {
        match default_claude_dir() {
            Some(d) if d.exists() => vec![d],
            Some(d) => bail!(
                "no Claude Code logs at {} (pass a folder, or set CLAUDE_CONFIG_DIR)",
                d.display()
            ),
            None => bail!("cannot find a home folder; pass the folder to import"),
        }
    } else {
        paths
    };
    let summary = import_claude_code(env, &paths).await?;
    print_summary(&summary, format)?;
    Ok(exit_status(&summary))
}

/// Runs a Claude Code import with a progress bar.
pub async fn import_claude_code(env: &Env, paths: &[PathBuf]) -> Result<ImportSummary> {
    let lake = env.lake().await?;
    let importer = ClaudeCodeImporter::new(lake, redactor(env)?, options(env));
    importer
        .import(paths, Arc::new(ImportBar::new("importing")))
        .await
        .map_err(lib)
}

/// Prints an import summary.
pub fn print_summary(summary: &ImportSummary, format: SummaryFormat) -> Result<()> {
    let s = &summary.stats;
    let secs = summary.elapsed.as_secs_f64();
    let mb = s.bytes as f64 / 1e6;
    if format == SummaryFormat::Json {
        let v = serde_json::json!({
            "files": s.files,
            "files_read": s.files_read,
            "files_unchanged": s.files_unchanged,
            "files_skipped": s.files_skipped,
            "bytes": s.bytes,
            "lines": s.lines,
            "sessions": s.sessions.len(),
            "spans": s.total_spans(),
            "spans_by_kind": s.spans,
            "tasks": s.tasks,
            "tool_calls": s.tool_calls,
            "tool_errors": s.tool_errors,
            "subagents": s.subagents,
            "malformed": s.malformed,
            "malformed_lines": s.malformed_messages,
            "warnings": s.warnings,
            "unpriced_models": s.unpriced_models,
            "input_tokens": s.input_tokens,
            "output_tokens": s.output_tokens,
            "cache_read_tokens": s.cache_read_tokens,
            "cache_write_tokens": s.cache_write_tokens,
            "reasoning_tokens": s.reasoning_tokens,
            "cost_usd": s.cost_usd,
            "masked_secrets": s.masked,
            "pending_bytes": s.pending_bytes,
            "commits": summary.commits,
            "seconds": secs,
        });
        output::line(v.to_string());
        return Ok(());
    }
    for m in &s.malformed_messages {
        note(format!("skipped {m}"));
    }
    if s.malformed as usize > s.malformed_messages.len() {
        note(format!(
            "… and {} more malformed lines",
            s.malformed as usize - s.malformed_messages.len()
        ));
    }
    for w in &s.warnings {
        note(format!("warning: {w}"));
    }
    output::line(format!(
        "imported {} files ({} new or grown, {} unchanged), {:.1} MB in {:.1}s ({:.1} MB/s)",
        s.files,
        s.files_read,
        s.files_unchanged,
        mb,
        secs,
        if secs > 0.0 { mb / secs } else { 0.0 }
    ));
    output::line(format!(
        "  {} sessions, {} spans ({} tasks, {} model calls, {} tool calls, {} tool errors, {} subagents)",
        s.sessions.len(),
        s.total_spans(),
        s.tasks,
        s.spans.get("llm").copied().unwrap_or(0),
        s.tool_calls,
        s.tool_errors,
        s.subagents
    ));
    output::line(format!(
        "  tokens: {} input, {} output ({} reasoning), {} cache read, {} cache write; cost ${:.4}",
        s.input_tokens,
        s.output_tokens,
        s.reasoning_tokens,
        s.cache_read_tokens,
        s.cache_write_tokens,
        s.cost_usd
    ));
    for (model, calls) in &s.unpriced_models {
        output::line(format!(
            "  unpriced: {model} ({calls} calls): not in the pricing table, cost unknown (not $0)"
        ));
    }
    output::line(format!(
        "  {} malformed lines skipped (kept in raw), {} secrets masked{}",
        s.malformed,
        s.masked,
        if s.pending_bytes > 0 {
            format!(
                ", {} bytes of unfinished lines left for next time",
                s.pending_bytes
            )
        } else {
            String::new()
        }
    ));
    Ok(())
}
