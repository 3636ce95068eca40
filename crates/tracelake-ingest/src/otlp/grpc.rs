//! OTLP/gRPC: the trace, logs and metrics services, with gzip and a configurable message
//! size limit; rejections use the codes the OTLP specification makes retryable
//! (RESOURCE_EXHAUSTED, UNAVAILABLE) or not (INVALID_ARGUMENT).

use std::convert::Infallible;
use std::marker::PhantomData;
use std::sync::Arc;

use bytes::{Buf, Bytes};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tonic::codec::{
    BufferSettings, Codec, CompressionEncoding, DecodeBuf, Decoder, EnabledCompressionEncodings,
};
use tonic::codegen::{Body, BoxFuture, StdError, http};
use tonic::server::{NamedService, UnaryService};
use tonic::{Request as GrpcRequest, Response as GrpcResponse, Status};

use super::collector::{Collector, Rejection};
use super::decode::{Request, Signal};

fn status(r: &Rejection) -> Status {
    match r {
        Rejection::Malformed(m) => Status::invalid_argument(m.clone()),
        Rejection::TooLarge(m) | Rejection::Busy(m) => Status::resource_exhausted(m.clone()),
        Rejection::Unavailable(m) => Status::unavailable(m.clone()),
    }
}

/// One OTLP export service: its gRPC name, messages and signal.
pub trait Export: Send + Sync + 'static {
    /// The request message.
    type Req: prost::Message + Default + Send + 'static;
    /// The response message.
    type Resp: prost::Message + Default + Send + 'static;
    /// The fully qualified gRPC service name.
    const SERVICE: &'static str;
    /// The route of its one method.
    const PATH: &'static str;
    /// What it carries.
    const SIGNAL: Signal;
    /// Wraps a decoded request.
    fn wrap(req: Self::Req) -> Request;
}

/// `opentelemetry.proto.collector.trace.v1.TraceService`.
pub enum Traces {}
/// `opentelemetry.proto.collector.logs.v1.LogsService`.
pub enum Logs {}
/// `opentelemetry.proto.collector.metrics.v1.MetricsService`.
pub enum Metrics {}

impl Export for Traces {
    type Req = ExportTraceServiceRequest;
    type Resp = ExportTraceServiceResponse;
    const SERVICE: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
    const PATH: &'static str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
    const SIGNAL: Signal = Signal::Traces;
    fn wrap(req: Self::Req) -> Request {
        Request::Traces(req)
    }
}

impl Export for Logs {
    type Req = ExportLogsServiceRequest;
    type Resp = ExportLogsServiceResponse;
    const SERVICE: &'static str = "opentelemetry.proto.collector.logs.v1.LogsService";
    const PATH: &'static str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";
    const SIGNAL: Signal = Signal::Logs;
    fn wrap(req: Self::Req) -> Request {
        Request::Logs(req)
    }
}

impl Export for Metrics {
    type Req = ExportMetricsServiceRequest;
    type Resp = ExportMetricsServiceResponse;
    const SERVICE: &'static str = "opentelemetry.proto.collector.metrics.v1.MetricsService";
    const PATH: &'static str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";
    const SIGNAL: Signal = Signal::Metrics;
    fn wrap(req: Self::Req) -> Request {
        Request::Metrics(req)
    }
}

/// A request as it arrived: its protobuf bytes (what the WAL keeps, so nothing is encoded
/// twice), proven valid by decoding, and how many spans, records or points it holds.
struct Received {
    bytes: Bytes,
    items: u64,
}

/// Decodes with prost, keeping the bytes it decoded. An undecodable message is refused with
/// INVALID_ARGUMENT (the OTLP specification's code for data the client must not retry) and
/// counted here, since the service never sees it.
struct KeepBytesCodec<E> {
    collector: Arc<Collector>,
    _service: PhantomData<E>,
}

struct KeepBytesDecoder<E> {
    collector: Arc<Collector>,
    _service: PhantomData<E>,
}

impl<E: Export> Codec for KeepBytesCodec<E> {
    type Encode = E::Resp;
    type Decode = Received;
    type Encoder = tonic_prost::ProstEncoder<E::Resp>;
    type Decoder = KeepBytesDecoder<E>;

    fn encoder(&mut self) -> Self::Encoder {
        tonic_prost::ProstEncoder::new(BufferSettings::default())
    }

    fn decoder(&mut self) -> Self::Decoder {
        KeepBytesDecoder {
            collector: self.collector.clone(),
            _service: PhantomData,
        }
    }
}

impl<E: Export> Decoder for KeepBytesDecoder<E> {
    type Item = Received;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<Received>, Status> {
        // Zero-copy: the frame's bytes are split off tonic's buffer. Decoding from one
        // contiguous slice is also several times cheaper than through `DecodeBuf`.
        let bytes = buf.copy_to_bytes(buf.remaining());
        match <E::Req as prost::Message>::decode(bytes.as_ref()) {
            Ok(message) => Ok(Some(Received {
                bytes,
                items: E::wrap(message).items(),
            })),
            Err(e) => {
                let r = Rejection::Malformed(format!(
                    "undecodable OTLP {} protobuf: {e}",
                    E::SIGNAL.name()
                ));
                self.collector.stats.received(E::SIGNAL);
                self.collector.stats.rejected(&r);
                Err(status(&r))
            }
        }
    }
}

/// The unary `Export` method of one service.
struct ExportMethod<E> {
    collector: Arc<Collector>,
    _service: PhantomData<E>,
}

impl<E: Export> UnaryService<Received> for ExportMethod<E> {
    type Response = E::Resp;
    type Future = BoxFuture<GrpcResponse<E::Resp>, Status>;

    fn call(&mut self, request: GrpcRequest<Received>) -> Self::Future {
        let collector = self.collector.clone();
        Box::pin(async move {
            let Received { bytes, items } = request.into_inner();
            let _admission = collector
                .admit(E::SIGNAL, bytes.len() as u64)
                .map_err(|r| status(&r))?;
            collector
                .store(E::SIGNAL, bytes, items)
                .await
                .map_err(|r| status(&r))?;
            Ok(GrpcResponse::new(E::Resp::default()))
        })
    }
}

/// One OTLP gRPC service over the collector, with gzip and the configured size limit.
pub struct ExportServer<E> {
    collector: Arc<Collector>,
    _service: PhantomData<E>,
}

impl<E> Clone for ExportServer<E> {
    fn clone(&self) -> Self {
        Self {
            collector: self.collector.clone(),
            _service: PhantomData,
        }
    }
}

impl<E: Export> NamedService for ExportServer<E> {
    const NAME: &'static str = E::SERVICE;
}

impl<E, B> tower::Service<http::Request<B>> for ExportServer<E>
where
    E: Export,
    B: Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        if req.uri().path() != E::PATH {
            return Box::pin(async { Ok(Status::unimplemented("").into_http()) });
        }
        let limit = self.collector.config().max_request_bytes;
        let collector = self.collector.clone();
        let method = ExportMethod::<E> {
            collector: collector.clone(),
            _service: PhantomData,
        };
        Box::pin(async move {
            let mut gzip = EnabledCompressionEncodings::default();
            gzip.enable(CompressionEncoding::Gzip);
            let codec = KeepBytesCodec::<E> {
                collector,
                _service: PhantomData,
            };
            let mut grpc = tonic::server::Grpc::new(codec)
                .apply_compression_config(gzip, gzip)
                .apply_max_message_size_config(Some(limit), None);
            Ok(grpc.unary(method, req).await)
        })
    }
}

fn server<E: Export>(collector: &Arc<Collector>) -> ExportServer<E> {
    ExportServer {
        collector: collector.clone(),
        _service: PhantomData,
    }
}

/// Counts the requests tonic refuses before the services see them: over the size limit
/// (OUT_OF_RANGE, while decoding) as too large, undecodable gzip (INTERNAL) as malformed.
/// The codec counts undecodable protobuf; the services count their own refusals.
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

fn signal_of_path(path: &str) -> Option<Signal> {
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
    tonic::service::Routes::new(server::<Traces>(&collector))
        .add_service(server::<Logs>(&collector))
        .add_service(server::<Metrics>(&collector))
}
