//! OTLP/gRPC: the trace, logs and metrics services, with gzip and a configurable message
//! size limit; rejections use the codes the OTLP specification makes retryable
//! (RESOURCE_EXHAUSTED, UNAVAILABLE) or not (INVALID_ARGUMENT).

use std::sync::Arc;

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tonic::codec::CompressionEncoding;
use tonic::{Request as GrpcRequest, Response as GrpcResponse, Status};

use super::collector::{Collector, Rejection};
use super::decode::Request;

/// The three OTLP gRPC services over one collector.
#[derive(Clone)]
pub struct OtlpGrpc {
    collector: Arc<Collector>,
}

fn status(r: &Rejection) -> Status {
    match r {
        Rejection::Malformed(m) => Status::invalid_argument(m.clone()),
        Rejection::TooLarge(m) | Rejection::Busy(m) => Status::resource_exhausted(m.clone()),
        Rejection::Unavailable(m) => Status::unavailable(m.clone()),
    }
}

impl OtlpGrpc {
    async fn accept(&self, req: Request) -> Result<(), Status> {
        let signal = req.signal();
        let bytes = req.to_protobuf();
        let _admission = self
            .collector
            .admit(signal, bytes.len() as u64)
            .map_err(|r| status(&r))?;
        self.collector
            .store(signal, bytes::Bytes::from(bytes), req.items())
            .await
            .map_err(|r| status(&r))
    }
}

#[tonic::async_trait]
impl TraceService for OtlpGrpc {
    async fn export(
        &self,
        request: GrpcRequest<ExportTraceServiceRequest>,
    ) -> Result<GrpcResponse<ExportTraceServiceResponse>, Status> {
        self.accept(Request::Traces(request.into_inner())).await?;
        Ok(GrpcResponse::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl LogsService for OtlpGrpc {
    async fn export(
        &self,
        request: GrpcRequest<ExportLogsServiceRequest>,
    ) -> Result<GrpcResponse<ExportLogsServiceResponse>, Status> {
        self.accept(Request::Logs(request.into_inner())).await?;
        Ok(GrpcResponse::new(ExportLogsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for OtlpGrpc {
    async fn export(
        &self,
        request: GrpcRequest<ExportMetricsServiceRequest>,
    ) -> Result<GrpcResponse<ExportMetricsServiceResponse>, Status> {
        self.accept(Request::Metrics(request.into_inner())).await?;
        Ok(GrpcResponse::new(ExportMetricsServiceResponse::default()))
    }
}

/// Counts the requests tonic refuses before the services see them: over the size limit
/// (OUT_OF_RANGE, while decoding) as too large, undecodable protobuf or gzip (INTERNAL) as
/// malformed. The services count their own refusals.
#[derive(Clone)]
pub struct CountRefusals<S> {
    inner: S,
    collector: Arc<Collector>,
}

/// The layer that wraps the gRPC server in [`CountRefusals`].
#[derive(Clone)]
pub struct CountRefusalsLayer {
    collector: Arc<Collector>,
}

impl CountRefusalsLayer {
    /// Counts into `collector`'s statistics.
    pub fn new(collector: Arc<Collector>) -> Self {
        Self { collector }
    }
}

impl<S> tower::Layer<S> for CountRefusalsLayer {
    type Service = CountRefusals<S>;

    fn layer(&self, inner: S) -> CountRefusals<S> {
        CountRefusals {
            inner,
            collector: self.collector.clone(),
        }
    }
}

fn signal_of_path(path: &str) -> Option<super::decode::Signal> {
    use super::decode::Signal;
    if path.contains("TraceService") {
        Some(Signal::Traces)
    } else if path.contains("LogsService") {
        Some(Signal::Logs)
    } else if path.contains("MetricsService") {
        Some(Signal::Metrics)
    } else {
        None
    }
}

impl<S, ReqBody, ResBody> tower::Service<axum::http::Request<ReqBody>> for CountRefusals<S>
where
    S: tower::Service<axum::http::Request<ReqBody>, Response = axum::http::Response<ResBody>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = futures::future::BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: axum::http::Request<ReqBody>) -> Self::Future {
        let signal = signal_of_path(req.uri().path());
        let collector = self.collector.clone();
        let fut = self.inner.call(req);
        Box::pin(async move {
            let response = fut.await?;
            // A refusal before any message is a trailers-only response: the status is in
            // the headers.
            let code = response
                .headers()
                .get("grpc-status")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<i32>().ok());
            let refusal = match code {
                Some(c) if c == tonic::Code::OutOfRange as i32 => Some(Rejection::TooLarge(
                    "over the gRPC message size limit".into(),
                )),
                Some(c) if c == tonic::Code::Internal as i32 => {
                    Some(Rejection::Malformed("undecodable gRPC message".into()))
                }
                _ => None,
            };
            if let (Some(r), Some(signal)) = (refusal, signal) {
                collector.stats.received(signal);
                collector.stats.rejected(&r);
            }
            Ok(response)
        })
    }
}

/// The gRPC router with the three services.
pub fn routes(collector: Arc<Collector>) -> tonic::service::Routes {
    let limit = collector.config().max_request_bytes;
    let svc = OtlpGrpc { collector };
    let traces = TraceServiceServer::new(svc.clone())
        .max_decoding_message_size(limit)
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip);
    let logs = LogsServiceServer::new(svc.clone())
        .max_decoding_message_size(limit)
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip);
    let metrics = MetricsServiceServer::new(svc)
        .max_decoding_message_size(limit)
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip);
    tonic::service::Routes::new(traces)
        .add_service(logs)
        .add_service(metrics)
}
