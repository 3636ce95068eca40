//! `tracelake serve`: the collector (OTLP/gRPC and OTLP/HTTP into the WAL, committed to the
//! lake in batches) and the status API, until Ctrl-C or SIGTERM; then everything acknowledged
//! is committed before it exits.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use tracelake_ingest::Redactor;
use tracelake_ingest::otlp::committer::Committer;
use tracelake_ingest::otlp::{Collector, grpc, http};
use tracelake_lake::Wal;

use super::{Env, lib, note};

/// Addresses to listen on (flags override the `[collector]` config).
pub struct ServeArgs {
    pub otlp_grpc: Option<String>,
    pub otlp_http: Option<String>,
    pub http: String,
}

async fn bind(addr: &str, what: &str) -> Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen for {what} on {addr} (is another collector running? use a different address)"))
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// Runs the collector until a shutdown signal.
pub async fn run(env: &Env, args: ServeArgs) -> Result<ExitCode> {
    let mut config = env.config.collector.clone();
    if let Some(a) = args.otlp_grpc {
        config.grpc = a;
    }
    if let Some(a) = args.otlp_http {
        config.http = a;
    }
    // A long-running collector keeps less encoded data in memory than a one-off import
    // (its commits are small and frequent), unless the configuration says otherwise.
    let mut lake_config = env.config.lake.clone();
    if lake_config.write == tracelake_lake::WriteOptions::default() {
        lake_config.write.memory_budget_bytes = 64 << 20;
        lake_config.write.row_group_bytes = 16 << 20;
        lake_config.write.zstd_level = 1;
    }
    let lake = tracelake_lake::Lake::open(&env.home, &lake_config)
        .await
        .map_err(lib)
        .with_context(|| format!("opening the lake in {}", env.home.display()))?;
    let (wal, left) = Wal::open(&env.home.join("wal")).map_err(lib)?;
    let wal = Arc::new(wal);
    let collector = Arc::new(Collector::new(wal.clone(), config.clone()));
    let redactor = Arc::new(Redactor::new(&env.config.redact).map_err(lib)?);
    let committer = Committer::new(collector.clone(), lake.clone(), redactor);

    let grpc_listener = bind(&config.grpc, "OTLP/gRPC").await?;
    let http_listener = bind(&config.http, "OTLP/HTTP").await?;
    let api_listener = bind(&args.http, "the status API").await?;
    let grpc_addr: SocketAddr = grpc_listener.local_addr()?;
    let http_addr: SocketAddr = http_listener.local_addr()?;
    let api_addr: SocketAddr = api_listener.local_addr()?;

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let committing = tokio::spawn({
        let stop = stop_rx.clone();
        async move {
            committer.recover(left).await?;
            committer.run(stop).await
        }
    });
    let wait = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let grpc_server = tokio::spawn({
        let routes = grpc::routes(collector.clone());
        let refusals = grpc::CountRefusalsLayer::new(collector.clone());
        let incoming = tokio_stream_listener(grpc_listener);
        let stop = wait(stop_rx.clone());
        async move {
            tonic::transport::Server::builder()
                .layer(refusals)
                .add_routes(routes)
                .serve_with_incoming_shutdown(incoming, stop)
                .await
        }
    });
    let http_server = tokio::spawn({
        let app = http::router(collector.clone());
        let stop = wait(stop_rx.clone());
        async move {
            axum::serve(http_listener, app)
                .with_graceful_shutdown(stop)
                .await
        }
    });
    let api_server = tokio::spawn({
        let app = http::status_router(collector.clone()).merge(super::search::api_router(lake));
        let stop = wait(stop_rx.clone());
        async move {
            axum::serve(api_listener, app)
                .with_graceful_shutdown(stop)
                .await
        }
    });

    let run_file = env.home.join(RUN_FILE);
    let run_info = serde_json::json!({
        "pid": std::process::id(),
        "otlp_grpc": grpc_addr.to_string(),
        "otlp_http": http_addr.to_string(),
        "http": api_addr.to_string(),
    });
    std::fs::write(&run_file, run_info.to_string())
        .with_context(|| format!("writing {}", run_file.display()))?;
    note(format!(
        "tracelake collector: OTLP/gRPC {grpc_addr}, OTLP/HTTP http://{http_addr}, status http://{api_addr}/api/status (home {})",
        env.home.display()
    ));
    note(format!(
        "\nPoint Claude Code at it:\n  export CLAUDE_CODE_ENABLE_TELEMETRY=1 CLAUDE_CODE_ENHANCED_TELEMETRY_BETA=1 \\\n    OTEL_METRICS_EXPORTER=otlp OTEL_LOGS_EXPORTER=otlp OTEL_TRACES_EXPORTER=otlp \\\n    OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf OTEL_EXPORTER_OTLP_ENDPOINT=http://{http_addr} \\\n    OTEL_LOG_USER_PROMPTS=1 OTEL_LOG_TOOL_DETAILS=1\n\nPoint Codex at it (~/.codex/config.toml):\n  [otel]\n  exporter = {{ otlp-http = {{ endpoint = \"http://{http_addr}/v1/logs\", protocol = \"binary\" }} }}\n\nAny OpenTelemetry SDK: OTEL_EXPORTER_OTLP_ENDPOINT=http://{http_addr} (or http://{grpc_addr} with OTEL_EXPORTER_OTLP_PROTOCOL=grpc)\n"
    ));
    shutdown_signal().await;
    note("shutting down: committing what was acknowledged");
    let _ = stop_tx.send(true);
    let (g, h, a) = tokio::join!(grpc_server, http_server, api_server);
    for r in [
        g.map(|r| r.map_err(anyhow::Error::from)),
        h.map(|r| r.map_err(anyhow::Error::from)),
        a.map(|r| r.map_err(anyhow::Error::from)),
    ] {
        if let Ok(Err(e)) = r {
            tracing::warn!(error = %e, "a listener ended with an error");
        }
    }
    committing
        .await
        .context("the committer stopped")?
        .map_err(lib)?;
    wal.shutdown();
    let _ = std::fs::remove_file(&run_file);
    note("all acknowledged data is committed");
    Ok(ExitCode::SUCCESS)
}

fn tokio_stream_listener(
    listener: tokio::net::TcpListener,
) -> impl futures::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    futures::stream::unfold(listener, |l| async move {
        let r = l.accept().await.map(|(s, _)| {
            let _ = s.set_nodelay(true);
            s
        });
        Some((r, l))
    })
}

/// Where a running collector records its addresses (removed on a clean exit).
pub const RUN_FILE: &str = "collector.json";

/// `tracelake status`: the collector's counters.
pub async fn status(env: &Env, addr: Option<String>, json: bool) -> Result<ExitCode> {
    let addr = match addr {
        Some(a) => a,
        None => std::fs::read(env.home.join(RUN_FILE))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v["http"].as_str().map(str::to_string))
            .unwrap_or_else(|| "127.0.0.1:7070".to_string()),
    };
    let url = format!("http://{addr}/api/status");
    let body = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .context("building the HTTP client")?
        .get(&url)
        .send()
        .await
        .with_context(|| {
            format!("no collector answers at {url} (is `tracelake serve` running? --http ADDR)")
        })?
        .text()
        .await
        .with_context(|| format!("reading {url}"))?;
    let v: serde_json::Value =
        serde_json::from_str(&body).with_context(|| format!("{url} did not answer JSON"))?;
    if json {
        crate::output::line(v.to_string());
        return Ok(ExitCode::SUCCESS);
    }
    let n = |p: &str| {
        v.pointer(p)
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0)
    };
    let f = |p: &str| {
        v.pointer(p)
            .and_then(serde_json::Value::as_f64)
            .unwrap_or(0.0)
    };
    let mut lines = vec![format!("collector at {addr}")];
    for signal in ["traces", "logs", "metrics"] {
        lines.push(format!(
            "  {signal:<8} {} requests received, {} accepted, {} items accepted",
            n(&format!("/received/{signal}")),
            n(&format!("/accepted/{signal}")),
            n(&format!("/items_accepted/{signal}")),
        ));
    }
    lines.push(format!(
        "  rejected  {} malformed, {} too large, {} busy, {} unavailable",
        n("/rejected/malformed"),
        n("/rejected/too_large"),
        n("/rejected/busy"),
        n("/rejected/unavailable"),
    ));
    lines.push(format!(
        "  WAL       {} bytes not yet committed",
        n("/wal_bytes")
    ));
    lines.push(format!(
        "  commits   {} ({} rows, {} failures), latency last {:.0} ms, mean {:.0} ms",
        n("/commits"),
        n("/rows_committed"),
        n("/commit_failures"),
        f("/commit_latency_ms_last"),
        f("/commit_latency_ms_mean"),
    ));
    if n("/unmapped_requests") > 0 {
        lines.push(format!(
            "  unmapped  {} requests kept in raw only: mapping them failed (see the collector's log)",
            n("/unmapped_requests")
        ));
    }
    crate::output::line(lines.join("\n"));
    Ok(ExitCode::SUCCESS)
}
