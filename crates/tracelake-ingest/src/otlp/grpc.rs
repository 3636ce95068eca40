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
