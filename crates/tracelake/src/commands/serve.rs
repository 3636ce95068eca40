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
    let lake = env.lake().await?;
    let (wal, left) = Wal::open(&env.home.join("wal")).map_err(lib)?;
    let wal = Arc::new(wal);
    let collector = Arc::new(Collector::new(wal.clone(), config.clone()));
    let redactor = Arc::new(Redactor::new(&env.config.redact).map_err(lib)?);
    let committer = Committer::new(collector.clone(), lake, redactor);

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
        let incoming = tokio_stream_listener(grpc_listener);
        let stop = wait(stop_rx.clone());
        async move {
            tonic::transport::Server::builder()
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
        let app = http::status_router(collector.clone());
        let stop = wait(stop_rx.clone());
        async move {
            axum::serve(api_listener, app)
                .with_graceful_shutdown(stop)
                .await
        }
    });

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

/// `tracelake status`: the collector's counters.
pub async fn status(addr: &str, json: bool) -> Result<ExitCode> {
    let url = format!("http://{addr}/api/status");
    let body = reqwest::get(&url)
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
    } else {
        crate::output::line(serde_json::to_string_pretty(&v)?);
    }
    Ok(ExitCode::SUCCESS)
}
