//! `tracelake sql` and `tracelake sessions`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use tracelake_query::sessions_sql;

use super::{Env, lib};
use crate::output::{self, Format};

/// Runs a query and prints its result.
pub async fn run(
    env: &Env,
    query: &str,
    format: Format,
    output: Option<&Path>,
) -> Result<ExitCode> {
    let engine = env.engine().await?;
    let batches = engine.query(query).await.map_err(lib)?;
    output::write_batches(&batches, format, output)?;
    Ok(ExitCode::SUCCESS)
}

/// Lists sessions, newest first.
pub async fn sessions(env: &Env, limit: usize, format: Format) -> Result<ExitCode> {
    let engine = env.engine().await?;
    let batches = engine.query(&sessions_sql(limit)).await.map_err(lib)?;
    output::write_batches(&batches, format, None)?;
    Ok(ExitCode::SUCCESS)
}
