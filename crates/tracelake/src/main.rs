//! `tracelake`: the open observability lake for AI agents, as one command.
//!
//! This binary parses the command line, assembles the layered configuration, wires the
//! library crates together and prints results; it holds no business logic of its own.

mod commands;
mod config;
mod output;
mod progress;
mod samples;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::output::Format;

/// The open observability lake for AI agents.
#[derive(Debug, Parser)]
#[command(name = "tracelake", version, about, long_about = None)]
struct Cli {
    /// Home folder: config, catalog, WAL and default warehouse [env: TRACELAKE_HOME]
    /// [default: ~/.tracelake]
    #[arg(long, global = true, value_name = "DIR")]
    home: Option<PathBuf>,

    /// Warehouse to use instead of the configured one (a folder or s3://bucket/prefix)
    #[arg(long, global = true, value_name = "URL")]
    warehouse: Option<String>,

    /// More log output (repeat for more)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Import agent session logs into the lake
    Import {
        #[command(subcommand)]
        source: ImportSource,
    },
    /// Run SQL over the lake's tables and views
    Sql {
        /// The query
        query: String,
        /// Output format
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Write the result to this file instead of stdout
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// List sessions, newest first
    Sessions {
        /// How many sessions
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Output format
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Show what one session did, in order
    Show {
        /// Session id (or a unique prefix of one)
        session_id: String,
        /// Output: text for reading, json for machines
        #[arg(long, value_enum, default_value_t = commands::show::ShowFormat::Text)]
        format: commands::show::ShowFormat,
    },
    /// Cost and tokens, grouped
    Cost {
        /// What to group by
        #[arg(long, value_enum, default_value_t = commands::cost::By::Day)]
        by: commands::cost::By,
        /// Output format
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Find text in the lake's spans, newest first (grep semantics, exact)
    Search(commands::search::SearchArgs),
    /// Build the text indexes search uses (for data written before indexing, or --rebuild)
    Index {
        /// Rebuild every index, not only missing or stale ones
        #[arg(long)]
        rebuild: bool,
    },
    /// Rewrite small files into large sorted ones
    Compact {
        /// Compact a day once it has at least this many files
        #[arg(long, default_value_t = 2)]
        min_files: usize,
    },
    /// Delete data older than a cutoff (whole days)
    Retention {
        /// Age to keep, e.g. 90d, 12h
        #[arg(long, value_name = "AGE", value_parser = commands::maintain::parse_age)]
        older_than: std::time::Duration,
    },
    /// Forget old snapshots and delete the files only they referenced
    ExpireSnapshots {
        /// Keep snapshots newer than this, e.g. 1h, 7d
        #[arg(long, value_name = "AGE", default_value = "1h", value_parser = commands::maintain::parse_age)]
        older_than: std::time::Duration,
        /// Always keep this many newest snapshots
        #[arg(long, default_value_t = 1)]
        retain_last: usize,
    },
    /// Import your Claude Code logs (or the bundled samples when you have none) and summarise
    Quickstart,
    /// Run the collector: OTLP/gRPC and OTLP/HTTP into the lake, plus the status API
    Serve {
        /// OTLP/gRPC address [default: 127.0.0.1:4317]
        #[arg(long, value_name = "ADDR")]
        otlp_grpc: Option<String>,
        /// OTLP/HTTP address [default: 127.0.0.1:4318]
        #[arg(long, value_name = "ADDR")]
        otlp_http: Option<String>,
        /// Status API and metrics address
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7070")]
        http: String,
    },
    /// Show a running collector's counters
    Status {
        /// The collector's status API address [default: the one `serve` on this home
        /// recorded, else 127.0.0.1:7070]
        #[arg(long, value_name = "ADDR")]
        http: Option<String>,
        /// One line of JSON
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ImportSource {
    /// Claude Code session folders [default: $CLAUDE_CONFIG_DIR/projects or ~/.claude/projects]
    ClaudeCode {
        /// Files or folders to import
        paths: Vec<PathBuf>,
        /// Output format of the summary
        #[arg(long, value_enum, default_value_t = commands::import::SummaryFormat::Text)]
        format: commands::import::SummaryFormat,
    },
    /// Codex CLI rollouts [default: $CODEX_HOME/sessions or ~/.codex/sessions]
    Codex {
        /// Files or folders to import
        paths: Vec<PathBuf>,
        /// Output format of the summary
        #[arg(long, value_enum, default_value_t = commands::import::SummaryFormat::Text)]
        format: commands::import::SummaryFormat,
    },
}

/// jemalloc, not glibc's malloc. The collector's threads allocate and free large buffers in
/// turn (requests, Arrow batches, Parquet pages): glibc either kept their memory in
/// per-thread arenas (533–608 MB peak under a flood) or, bounded (two arenas, a fixed 1 MiB
/// mmap threshold), mapped and faulted in fresh pages for every large buffer (~5 % of the
/// CPU per span). jemalloc reuses them, stored 3–6 % more spans per second for the same CPU
/// at 263–356 MB peak, and with background threads hands idle memory back
/// (ADR 0008, BENCHMARKS.md stop 16).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = match cli.verbose {
        0 => "warn",
        1 => "info,tracelake=debug",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TRACELAKE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter)),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return commands::fail(&anyhow::Error::new(e).context("starting the runtime")),
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(e) => commands::fail(&e),
    }
}
