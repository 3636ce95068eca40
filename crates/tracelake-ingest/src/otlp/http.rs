//! OTLP/HTTP: `POST /v1/traces`, `/v1/logs`, `/v1/metrics` with protobuf or JSON bodies,
//! optionally gzip-compressed; answers as the OTLP specification says (200 with an export
//! response, 400 with a Status for undecodable bodies, 413 over the size limit, 415 for an
//! unknown content type or encoding, 429/503 with `Retry-After` under back-pressure).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;

use super::collector::{Collector, Rejection};
use super::decode::{Encoding, Signal, TOO_LARGE, decode, gunzip};

/// `google.rpc.Status`, the body of an OTLP/HTTP error response.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    /// gRPC code.
    #[prost(int32, tag = "1")]
    pub code: i32,
    /// What went wrong.
    #[prost(string, tag = "2")]
    pub message: String,
}

/// The OTLP/HTTP receiver.
pub fn router(collector: Arc<Collector>) -> Router {
    let limit = collector.config().max_request_bytes;
    Router::new()
        .route("/v1/traces", post(traces))
        .route("/v1/logs", post(logs))
        .route("/v1/metrics", post(metrics))
        .route("/health", get(|| async { "ok" }))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(collector)
}

/// `/metrics` (Prometheus text) and `/api/status` (JSON) of the collector.
pub fn status_router(collector: Arc<Collector>) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|State(c): State<Arc<Collector>>| async move {
                (
                    [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    c.prometheus(),
                )
            }),
        )
        .route(
            "/api/status",
            get(|State(c): State<Arc<Collector>>| async move { axum::Json(c.status_json()) }),
        )
        .with_state(collector)
}

async fn traces(
    State(c): State<Arc<Collector>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    handle(&c, Signal::Traces, &headers, body).await
}

async fn logs(
    State(c): State<Arc<Collector>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    handle(&c, Signal::Logs, &headers, body).await
}

async fn metrics(
    State(c): State<Arc<Collector>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    handle(&c, Signal::Metrics, &headers, body).await
}

fn encoding_of(headers: &HeaderMap) -> Option<Encoding> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/x-protobuf");
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "application/x-protobuf" | "application/protobuf" | "application/octet-stream" => {
            Some(Encoding::Protobuf)
        }
        "application/json" => Some(Encoding::Json),
        _ => None,
    }
}

fn error(
    status: StatusCode,
    grpc_code: i32,
    encoding: Encoding,
    message: &str,
    retry: bool,
) -> Response {
    let body = RpcStatus {
        code: grpc_code,
        message: message.to_string(),
    };
    let mut resp = match encoding {
        Encoding::Protobuf => (
            status,
            [(header::CONTENT_TYPE, "application/x-protobuf")],
            body.encode_to_vec(),
        )
            .into_response(),
        Encoding::Json => (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::json!({"code": grpc_code, "message": message}).to_string(),
        )
            .into_response(),
    };
    if retry {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    resp
}

fn rejection(r: &Rejection, encoding: Encoding) -> Response {
    match r {
        Rejection::Malformed(m) => error(StatusCode::BAD_REQUEST, 3, encoding, m, false),
        Rejection::TooLarge(m) => error(StatusCode::PAYLOAD_TOO_LARGE, 8, encoding, m, false),
        Rejection::Busy(m) => error(StatusCode::TOO_MANY_REQUESTS, 8, encoding, m, true),
        Rejection::Unavailable(m) => error(StatusCode::SERVICE_UNAVAILABLE, 14, encoding, m, true),
    }
}

async fn handle(
    c: &Collector,
    signal: Signal,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            c.stats.received(signal);
            let r = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Rejection::TooLarge(format!(
                    "request body is over the {}-byte limit ([collector] max_request_bytes)",
                    c.config().max_request_bytes
                ))
            } else {
                Rejection::Malformed(format!(
                    "could not read the request body: {}",
                    e.body_text()
                ))
            };
            c.stats.rejected(&r);
            return rejection(&r, encoding_of(headers).unwrap_or(Encoding::Json));
        }
    };
    let Some(encoding) = encoding_of(headers) else {
        c.stats.received(signal);
        let r = Rejection::Malformed(
            "unsupported Content-Type: send application/x-protobuf or application/json".into(),
        );
        c.stats.rejected(&r);
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            3,
            Encoding::Json,
            r.message(),
            false,
        );
    };
    let gzip = match headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase())
    {
        None => false,
        Some(e) if e.is_empty() || e == "identity" => false,
        Some(e) if e == "gzip" => true,
        Some(other) => {
            c.stats.received(signal);
            let r = Rejection::Malformed(format!(
                "unsupported Content-Encoding {other}: send gzip or none"
            ));
            c.stats.rejected(&r);
            return error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                3,
                encoding,
                r.message(),
                false,
            );
        }
    };
    let admission = match c.admit(signal, body.len() as u64) {
        Ok(a) => a,
        Err(r) => return rejection(&r, encoding),
    };
    let plain: Bytes = if gzip {
        match gunzip(&body, c.config().max_request_bytes) {
            Ok(b) => Bytes::from(b),
            Err(e) => {
                let r = if e.message().starts_with(TOO_LARGE) {
                    Rejection::TooLarge(e.message().to_string())
                } else {
                    Rejection::Malformed(e.message().to_string())
                };
                c.stats.rejected(&r);
                return rejection(&r, encoding);
            }
        }
    } else {
        body
    };
    let req = match decode(signal, encoding, &plain) {
        Ok(r) => r,
        Err(e) => {
            let r = Rejection::Malformed(e.message().to_string());
            c.stats.rejected(&r);
            tracing::debug!(signal = signal.name(), error = %e.message(), "rejected a malformed request");
            return rejection(&r, encoding);
        }
    };
    let items = req.items();
    // A protobuf body that decoded is stored as it came; JSON is stored as protobuf.
    let stored = match encoding {
        Encoding::Protobuf => plain,
        Encoding::Json => Bytes::from(req.to_protobuf()),
    };
    if let Err(r) = c.store(signal, stored, items).await {
        return rejection(&r, encoding);
    }
    drop(admission);
    let body = match (signal, encoding) {
        (Signal::Traces, Encoding::Protobuf) => {
            ExportTraceServiceResponse::default().encode_to_vec()
        }
        (Signal::Logs, Encoding::Protobuf) => ExportLogsServiceResponse::default().encode_to_vec(),
        (Signal::Metrics, Encoding::Protobuf) => {
            ExportMetricsServiceResponse::default().encode_to_vec()
        }
        (_, Encoding::Json) => b"{}".to_vec(),
    };
    let ct = match encoding {
        Encoding::Protobuf => "application/x-protobuf",
        Encoding::Json => "application/json",
    };
    (StatusCode::OK, [(header::CONTENT_TYPE, ct)], body).into_response()
}
