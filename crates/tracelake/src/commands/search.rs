//! `tracelake search` (grep over the lake, newest first) and `tracelake index` (build the
//! text indexes that make it fast).

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use tracelake_query::search::{self, SearchField, SearchRequest};

use super::{Env, lib, note};
use crate::output;

/// Output of `search`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SearchFormat {
    /// One line per hit, the match highlighted on a terminal
    Table,
    /// A JSON array of hits
    Json,
}

/// The arguments of `tracelake search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// What to look for (a literal string unless --regex)
    pub pattern: String,
    /// PATTERN is a regular expression (Rust regex syntax)
    #[arg(long, short = 'e')]
    pub regex: bool,
    /// Case-insensitive (Unicode case folding)
    #[arg(short = 'i', long)]
    pub ignore_case: bool,
    /// Search only this field (repeatable): input_text, output_text, tool_input,
    /// tool_output, error_message, command [default: all]
    #[arg(long, value_name = "FIELD", value_parser = parse_field)]
    pub field: Vec<SearchField>,
    /// Spans that started at or after this time: RFC 3339, a date (2026-11-22) or an age
    /// (12h, 7d)
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub since: Option<i64>,
    /// Spans that started before this time (same forms as --since)
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub until: Option<i64>,
    /// Only this session
    #[arg(long)]
    pub session: Option<String>,
    /// Only this agent (claude-code, codex, ...)
    #[arg(long)]
    pub agent: Option<String>,
    /// Only this project
    #[arg(long)]
    pub project: Option<String>,
    /// Only this tool
    #[arg(long)]
    pub tool: Option<String>,
    /// At most this many hits, newest first (0: all)
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Print only the number of hits
    #[arg(long, short = 'c')]
    pub count: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = SearchFormat::Table)]
    pub format: SearchFormat,
    /// Also print what the text index did (files skipped, blocks read, index bytes and
    /// requests) as one JSON line on stderr
    #[arg(long)]
    pub explain: bool,
}

fn parse_field(name: &str) -> Result<SearchField, String> {
    SearchField::parse(name).ok_or_else(|| {
        let known: Vec<_> = SearchField::ALL.iter().map(|f| f.column()).collect();
        format!("unknown field {name:?} (known: {})", known.join(", "))
    })
}

/// Parses an RFC 3339 time, a date, or an age before now, into µs since the epoch.
fn parse_time(text: &str) -> Result<i64, String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp_micros());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return d
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp_micros())
            .ok_or_else(|| format!("{text}: not a valid date"));
    }
    match super::maintain::parse_age(text) {
        Ok(age) => Ok(chrono::Utc::now().timestamp_micros() - age.as_micros() as i64),
        Err(_) => Err(format!(
            "{text}: expected an RFC 3339 time, a date (2026-11-22) or an age (12h, 7d)"
        )),
    }
}

/// A hit as `--format json` prints it (CLI.md: `session_id`, `span_id`, `field`, `snippet`).
#[derive(serde::Serialize)]
struct JsonHit<'a> {
    session_id: &'a str,
    span_id: &'a str,
    start_time: String,
    kind: &'a str,
    name: &'a str,
    agent: Option<&'a str>,
    tool_name: Option<&'a str>,
    field: &'static str,
    snippet: &'a str,
    /// Byte range of the first match in `snippet`.
    r#match: [usize; 2],
    matches: usize,
}

fn json_hit(h: &tracelake_query::Hit) -> JsonHit<'_> {
    JsonHit {
        session_id: &h.session_id,
        span_id: &h.span_id,
        start_time: micros_to_rfc3339(h.start_time),
        kind: &h.kind,
        name: &h.name,
        agent: h.agent.as_deref(),
        tool_name: h.tool_name.as_deref(),
        field: h.field.column(),
        snippet: &h.snippet,
        r#match: [h.highlight.0, h.highlight.1],
        matches: h.matches,
    }
}

/// Runs `tracelake search`.
pub async fn run(env: &Env, args: SearchArgs) -> Result<ExitCode> {
    if args.pattern.is_empty() {
        bail!("the pattern is empty");
    }
    let req = SearchRequest {
        pattern: args.pattern.clone(),
        regex: args.regex,
        ignore_case: args.ignore_case,
        fields: args.field.clone(),
        since: args.since,
        until: args.until,
        session: args.session.clone(),
        agent: args.agent.clone(),
        project: args.project.clone(),
        tool: args.tool.clone(),
        limit: (args.limit > 0).then_some(args.limit),
    };
    let engine = env.engine().await?;
    if args.count {
        let (n, result) = search::count(&engine, &req).await.map_err(lib)?;
        match args.format {
            SearchFormat::Json => output::line(serde_json::json!({ "hits": n }).to_string()),
            SearchFormat::Table => output::line(n.to_string()),
        }
        index_note(&result, args.explain);
        return Ok(if n > 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        });
    }
    let result = search::search(&engine, &req).await.map_err(lib)?;
    let mut out = std::io::stdout().lock();
    match args.format {
        SearchFormat::Json => {
            let hits: Vec<JsonHit<'_>> = result.hits.iter().map(json_hit).collect();
            writeln!(out, "{}", serde_json::to_string_pretty(&hits)?)?;
        }
        SearchFormat::Table => {
            let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            for h in &result.hits {
                let (a, b) = h.highlight;
                let snippet = if color {
                    format!(
                        "{}\x1b[1;31m{}\x1b[0m{}",
                        &h.snippet[..a],
                        &h.snippet[a..b],
                        &h.snippet[b..]
                    )
                } else {
                    h.snippet.clone()
                };
                writeln!(
                    out,
                    "{}  {}  {}  {}  {}",
                    micros_to_rfc3339(h.start_time),
                    h.session_id,
                    h.span_id,
                    h.field.column(),
                    snippet
                )
                .context("writing the hits")?;
            }
        }
    }
    drop(out);
    if result.truncated {
        note(format!(
            "showing the {} newest hits; --limit 0 shows all, --count counts them",
            result.hits.len()
        ));
    }
    index_note(&result, args.explain);
    Ok(if result.hits.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn micros_to_rfc3339(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

fn index_note(result: &tracelake_query::SearchResult, explain: bool) {
    let stats = &result.index;
    if explain {
        note(serde_json::json!({ "index": stats, "io": result.io }).to_string());
    }
    if stats.files_unindexed > 0 {
        note(format!(
            "{} of {} data files have no current text index and were scanned (the answer is \
             the same); `tracelake index` builds them",
            stats.files_unindexed, stats.files
        ));
    }
    if !stats.used_index && stats.files > 0 {
        note(
            "the pattern gives the index nothing to look up (shorter than 3 bytes, or no \
              fixed text): every file was scanned",
        );
    }
    tracing::info!(?stats, "text index");
}

/// Query parameters of `GET /api/search` (the names of the command's flags).
#[derive(Debug, serde::Deserialize)]
pub struct ApiSearch {
    q: String,
    #[serde(default)]
    regex: bool,
    #[serde(default)]
    i: bool,
    field: Option<String>,
    session: Option<String>,
    agent: Option<String>,
    project: Option<String>,
    tool: Option<String>,
    limit: Option<usize>,
}

/// `GET /api/search?q=…[&regex=true][&i=true][&field=…][&session=…][&agent=…][&project=…]
/// [&tool=…][&limit=N]`: the same search service as the command, over the lake as of the
/// request; `{hits, truncated, index, io}` as JSON (hits as `search --format json` prints
/// them), 400 with a message for a bad pattern.
pub fn api_router(lake: tracelake_lake::Lake) -> axum::Router {
    use axum::extract::{Query, State};
    use axum::http::StatusCode;
    use axum::response::IntoResponse;

    async fn handle(
        State(lake): State<tracelake_lake::Lake>,
        Query(p): Query<ApiSearch>,
    ) -> axum::response::Response {
        let bad = |m: String| (StatusCode::BAD_REQUEST, m).into_response();
        let fields = match p.field.as_deref().map(parse_field).transpose() {
            Ok(f) => f.into_iter().collect(),
            Err(e) => return bad(e),
        };
        let req = SearchRequest {
            pattern: p.q,
            regex: p.regex,
            ignore_case: p.i,
            fields,
            session: p.session,
            agent: p.agent,
            project: p.project,
            tool: p.tool,
            limit: Some(p.limit.unwrap_or(50)).filter(|l| *l > 0),
            ..Default::default()
        };
        if req.pattern.is_empty() {
            return bad("the pattern (q) is empty".into());
        }
        let engine = match tracelake_query::QueryEngine::open(&lake).await {
            Ok(e) => e,
            Err(e) => return (StatusCode::SERVICE_UNAVAILABLE, e.report()).into_response(),
        };
        match search::search(&engine, &req).await {
            Ok(r) => axum::Json(serde_json::json!({
                "hits": r.hits.iter().map(json_hit).collect::<Vec<_>>(),
                "truncated": r.truncated,
                "index": r.index,
                "io": r.io,
            }))
            .into_response(),
            Err(e) if e.kind() == tracelake_model::ErrorKind::InvalidInput => bad(e.report()),
            Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.report()).into_response(),
        }
    }
    axum::Router::new()
        .route("/api/search", axum::routing::get(handle))
        .with_state(lake)
}

/// Runs `tracelake index`.
pub async fn index(env: &Env, rebuild: bool) -> Result<ExitCode> {
    let lake = env.lake().await?;
    let files = lake
        .files(tracelake_model::TableKind::Spans)
        .await
        .map_err(lib)?;
    let total: u64 = files.iter().map(|f| f.size).sum();
    let bar = crate::progress::bytes_bar(total, "indexing");
    let started = std::time::Instant::now();
    let report = tracelake_lake::textindex::build_indexes(&lake, rebuild, |f| bar.inc(f.size))
        .await
        .map_err(lib)?;
    bar.finish_and_clear();
    output::line(format!(
        "{} data files: {} indexes built, {} already current; {:.1} MB of data read, {:.1} MB \
         of index written ({:.0} % of the data read) in {:.1} s",
        report.files,
        report.built,
        report.current,
        report.data_bytes as f64 / 1e6,
        report.index_bytes as f64 / 1e6,
        if report.data_bytes > 0 {
            100.0 * report.index_bytes as f64 / report.data_bytes as f64
        } else {
            0.0
        },
        started.elapsed().as_secs_f64()
    ));
    Ok(ExitCode::SUCCESS)
}
