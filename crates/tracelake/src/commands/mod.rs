//! One module per command; each parses nothing (clap did) and prints through `output`.
#![allow(clippy::print_stderr)]

pub mod cost;
pub mod import;
pub mod maintain;
pub mod quickstart;
pub mod search;
pub mod serve;
pub mod show;
pub mod sql;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use tracelake_lake::Lake;
use tracelake_query::QueryEngine;

use crate::config::{self, Config};
use crate::{Cli, Command, ImportSource};

/// What every command starts from: the home folder and its configuration.
pub struct Env {
    pub home: PathBuf,
    pub config: Config,
}

impl Env {
    fn new(cli: &Cli) -> Result<Self> {
        let home = config::resolve_home(cli.home.as_deref())?;
        std::fs::create_dir_all(&home)
            .with_context(|| format!("creating home folder {}", home.display()))?;
        let mut config = config::load(&home)?;
        if let Some(w) = &cli.warehouse {
            config.lake.warehouse = Some(w.clone());
        }
        Ok(Self { home, config })
    }

    /// Opens the lake.
    pub async fn lake(&self) -> Result<Lake> {
        Lake::open(&self.home, &self.config.lake)
            .await
            .map_err(|e| anyhow::anyhow!(e.report()))
            .with_context(|| format!("opening the lake in {}", self.home.display()))
    }

    /// Opens the query engine over the lake.
    pub async fn engine(&self) -> Result<QueryEngine> {
        let lake = self.lake().await?;
        QueryEngine::open(&lake).await.map_err(lib)
    }
}

/// A library error as an `anyhow` error, keeping its one-line report.
pub fn lib(e: tracelake_model::Error) -> anyhow::Error {
    anyhow::anyhow!(e.report())
}

/// Runs a command; the exit code says how it went.
pub async fn run(cli: Cli) -> Result<ExitCode> {
    let env = Env::new(&cli)?;
    match cli.command {
        Command::Import { source } => match source {
            ImportSource::ClaudeCode { paths, format } => {
                import::claude_code(&env, paths, format).await
            }
            ImportSource::Codex { paths, format } => import::codex(&env, paths, format).await,
        },
        Command::Sql {
            query,
            format,
            output,
        } => sql::run(&env, &query, format, output.as_deref()).await,
        Command::Sessions { limit, format } => sql::sessions(&env, limit, format).await,
        Command::Show { session_id, format } => show::run(&env, &session_id, format).await,
        Command::Cost { by, format } => cost::run(&env, by, format).await,
        Command::Search(args) => search::run(&env, args).await,
        Command::Index { rebuild } => search::index(&env, rebuild).await,
        Command::Compact { min_files } => maintain::compact(&env, min_files).await,
        Command::Retention { older_than } => maintain::retention(&env, older_than).await,
        Command::ExpireSnapshots {
            older_than,
            retain_last,
        } => maintain::expire(&env, older_than, retain_last).await,
        Command::Quickstart => quickstart::run(&env).await,
        Command::Serve {
            otlp_grpc,
            otlp_http,
            http,
        } => {
            serve::run(
                &env,
                serve::ServeArgs {
                    otlp_grpc,
                    otlp_http,
                    http,
                },
            )
            .await
        }
        Command::Status { http, json } => serve::status(&env, http, json).await,
    }
}

/// Prints a failure as one line on stderr and returns exit code 1.
pub fn fail(e: &anyhow::Error) -> ExitCode {
    let mut text = format!("{e}");
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !text.contains(&c) {
            text.push_str(": ");
            text.push_str(&c);
        }
    }
    eprintln!("tracelake: {text}");
    ExitCode::from(1)
}

/// Prints a note on stderr (progress-side information, not results).
pub fn note(text: impl AsRef<str>) {
    eprintln!("{}", text.as_ref());
}
