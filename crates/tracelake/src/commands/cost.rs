//! `tracelake cost --by …`: tokens and cost, grouped, with unpriced models listed.

use std::process::ExitCode;

use anyhow::Result;
use arrow::array::{Array, AsArray};
use arrow::datatypes::Int64Type;
use clap::ValueEnum;
use tracelake_query::{CostBy, UNPRICED_SQL, cost_sql};

use super::{Env, lib, note};
use crate::output::{self, Format};

/// What cost can be grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum By {
    /// UTC day, split by agent
    Day,
    /// Session
    Session,
    /// Model
    Model,
    /// Task (the user prompt that started the work)
    Task,
    /// Project (working directory)
    Project,
    /// Agent (claude-code, codex, …)
    Agent,
}

impl From<By> for CostBy {
    fn from(b: By) -> Self {
        match b {
            By::Day => CostBy::Day,
            By::Session => CostBy::Session,
            By::Model => CostBy::Model,
            By::Task => CostBy::Task,
            By::Project => CostBy::Project,
            By::Agent => CostBy::Agent,
        }
    }
}

/// Prints the cost report; unpriced models are listed on stderr for table output (and are
/// in every row's `unpriced_models` column for machine formats).
pub async fn run(env: &Env, by: By, format: Format) -> Result<ExitCode> {
    let engine = env.engine().await?;
    let batches = engine.query(&cost_sql(by.into())).await.map_err(lib)?;
    output::write_batches(&batches, format, None)?;
    if format == Format::Table {
        let unpriced = engine.query(UNPRICED_SQL).await.map_err(lib)?;
        for line in unpriced_lines(&unpriced) {
            note(line);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// "unpriced: model (N calls, T tokens) — cost unknown, not counted as $0" lines.
pub fn unpriced_lines(batches: &[arrow::array::RecordBatch]) -> Vec<String> {
    let mut out = Vec::new();
    for b in batches {
        let (Some(models), Some(calls), Some(tokens)) = (
            b.column(0).as_string_opt::<i32>(),
            b.column(1).as_primitive_opt::<Int64Type>(),
            b.column(2).as_primitive_opt::<Int64Type>(),
        ) else {
            continue;
        };
        for i in 0..b.num_rows() {
            let model = if models.is_valid(i) {
                models.value(i)
            } else {
                "(no model)"
            };
            out.push(format!(
                "unpriced: {model} ({} calls, {} tokens): no price in the pricing table, so its cost is unknown (not counted as $0)",
                calls.value(i),
                tokens.value(i)
            ));
        }
    }
    out
}
