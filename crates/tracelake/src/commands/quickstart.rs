//! `tracelake quickstart`: the first five minutes in one command — import this machine's
//! Claude Code logs (or the bundled samples when it has none), then show the sessions and
//! what they cost.

use std::process::ExitCode;

use anyhow::Result;
use tracelake_query::{UNPRICED_SQL, cost_sql, sessions_sql};

use super::import::{SummaryFormat, default_claude_dir, import_claude_code, print_summary};
use super::{Env, lib, note};
use crate::output::{self, Format};
use crate::samples;

/// Runs the quickstart.
pub async fn run(env: &Env) -> Result<ExitCode> {
    let source = match default_claude_dir() {
        Some(dir) if dir.is_dir() => {
            note(format!(
                "importing your Claude Code logs from {}",
                dir.display()
            ));
            dir
        }
        _ => {
            let dir = samples::write_to(&env.home.join("samples").join("claude-code"))?;
            note(format!(
                "no Claude Code logs on this machine; importing the bundled sample sessions ({})",
                dir.display()
            ));
            dir
        }
    };
    let summary = import_claude_code(env, &[source]).await?;
    print_summary(&summary, SummaryFormat::Text)?;
    let engine = env.engine().await?;
    output::line("\nsessions (newest first):");
    output::write_batches(
        &engine.query(&sessions_sql(20)).await.map_err(lib)?,
        Format::Table,
        None,
    )?;
    output::line("\ncost by day:");
    output::write_batches(
        &engine
            .query(&cost_sql(tracelake_query::CostBy::Day))
            .await
            .map_err(lib)?,
        Format::Table,
        None,
    )?;
    for line in super::cost::unpriced_lines(&engine.query(UNPRICED_SQL).await.map_err(lib)?) {
        output::line(line);
    }
    output::line(format!(
        "\nnext: tracelake show <session-id>, tracelake search \"some text\", tracelake sql \"SELECT * FROM tool_calls LIMIT 5\" (home: {})",
        env.home.display()
    ));
    Ok(ExitCode::SUCCESS)
}
