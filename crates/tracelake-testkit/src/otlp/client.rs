//! An OTLP exporter as the SDKs are: protobuf or JSON over HTTP (optionally gzip), or gRPC
//! through the generated tonic clients (and, for a traces request the caller keeps, tonic's
//! generic client with the same prost codec). Replies keep what a test needs to check: the
//! HTTP status (or the gRPC code), the message, and the retry hint.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use tonic::codec::CompressionEncoding;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;
use tracelake_ingest::otlp::decode::{Encoding, Request, Signal, decode};

/// How requests travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Transport {
    /// OTLP/HTTP with `application/json` bodies.
    HttpJson,
    /// OTLP/HTTP with `application/x-protobuf` bodies.
    HttpProtobuf,
    /// OTLP/gRPC.
    Grpc,
}

impl Transport {
    /// Every transport.
    pub const ALL: [Transport; 3] = [
        Transport::HttpJson,
        Transport::HttpProtobuf,
        Transport::Grpc,
    ];

    /// `http/json`, `http/protobuf` or `grpc` (the `OTEL_EXPORTER_OTLP_PROTOCOL` spelling).
    pub fn name(self) -> &'static str {
        match self {
            Transport::HttpJson => "http/json",
            Transport::HttpProtobuf => "http/protobuf",
            Transport::Grpc => "grpc",
        }
    }
}

/// The outcome of one export.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status; for gRPC, 200 for OK and otherwise the gRPC code + 1000.
    pub status: u16,
    /// The error message, if any.
    pub message: String,
    /// A `Retry-After` header (HTTP) or a retryable code (gRPC) was present.
    pub retry_hint: bool,
}

impl Reply {
    /// The request was accepted.
    pub fn ok(&self) -> bool {
        self.status == 200
    }

    /// The gRPC code, when the reply came over gRPC.
    pub fn grpc_code(&self) -> Option<i32> {
        (self.status >= 1000).then(|| i32::from(self.status) - 1000)
    }
}

/// A connected exporter.
pub struct OtlpClient {
    transport: Transport,
    gzip: bool,
    http: reqwest::Client,
    base: String,
    traces: Option<TraceServiceClient<Channel>>,
    logs: Option<LogsServiceClient<Channel>>,
    metrics: Option<MetricsServiceClient<Channel>>,
    /// The traces service called with a shared request ([`OtlpClient::send_traces_shared`]).
    shared: Option<tonic::client::Grpc<Channel>>,
}

/// A traces request shared with the caller: encoding it for gRPC reads it in place, so a
/// load generator can send the same request again with new ids without copying it.
#[derive(Debug, Clone, Default)]
struct SharedTraces(Arc<ExportTraceServiceRequest>);

impl Message for SharedTraces {
    fn encode_raw(&self, buf: &mut impl prost::bytes::BufMut) {
        self.0.encode_raw(buf)
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: prost::encoding::WireType,
        buf: &mut impl prost::bytes::Buf,
        ctx: prost::encoding::DecodeContext,
    ) -> Result<(), prost::DecodeError> {
        Arc::make_mut(&mut self.0).merge_field(tag, wire_type, buf, ctx)
    }

    fn encoded_len(&self) -> usize {
        self.0.encoded_len()
    }

    fn clear(&mut self) {
        self.0 = Arc::default();
    }
}

/// A traces request encoded already: sent as its bytes (the load generator renews its
/// requests in their protobuf bytes and sends them again).
#[derive(Debug, Clone, Default)]
struct EncodedTraces(Arc<Vec<u8>>);

impl Message for EncodedTraces {
    fn encode_raw(&self, buf: &mut impl prost::bytes::BufMut) {
        buf.put_slice(&self.0)
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: prost::encoding::WireType,
        buf: &mut impl prost::bytes::Buf,
        ctx: prost::encoding::DecodeContext,
    ) -> Result<(), prost::DecodeError> {
        // Only ever sent, never received.
        prost::encoding::skip_field(wire_type, tag, buf, ctx)
    }

    fn encoded_len(&self) -> usize {
        self.0.len()
    }

    fn clear(&mut self) {
        self.0 = Arc::default();
    }
}

impl OtlpClient {
    /// An exporter to `endpoint` (`http://host:port`, the HTTP or gRPC port per transport).
    pub async fn connect(transport: Transport, endpoint: &str, gzip: bool) -> Result<Self> {
        let base = endpoint.trim_end_matches('/').to_string();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .context("building the HTTP client")?;
        let (mut traces, mut logs, mut metrics, mut shared) = (None, None, None, None);
        if transport == Transport::Grpc {
            let channel = Channel::from_shared(base.clone())
                .with_context(|| format!("bad gRPC endpoint {base}"))?
                .timeout(Duration::from_secs(60))
                .connect()
                .await
                .with_context(|| format!("connecting to {base}"))?;
            let mut t =
                TraceServiceClient::new(channel.clone()).max_encoding_message_size(usize::MAX);
            let mut l =
                LogsServiceClient::new(channel.clone()).max_encoding_message_size(usize::MAX);
            let mut m =
                MetricsServiceClient::new(channel.clone()).max_encoding_message_size(usize::MAX);
            let mut g = tonic::client::Grpc::new(channel).max_encoding_message_size(usize::MAX);
            if gzip {
                t = t.send_compressed(CompressionEncoding::Gzip);
                l = l.send_compressed(CompressionEncoding::Gzip);
                m = m.send_compressed(CompressionEncoding::Gzip);
                g = g.send_compressed(CompressionEncoding::Gzip);
            }
            (traces, logs, metrics, shared) = (Some(t), Some(l), Some(m), Some(g));
        }
        Ok(Self {
            transport,
            gzip,
            http,
            base,
            traces,
            logs,
            metrics,
            shared,
        })
    }

    /// Sends one request (over gRPC, a copy of it: see [`OtlpClient::send_owned`]).
    pub async fn send(&mut self, req: &Request) -> Result<Reply> {
        match self.transport {
            Transport::Grpc => self.send_grpc(req.clone()).await,
            Transport::HttpJson => {
                let body = req.to_json().into_bytes();
                self.send_http(req.signal(), "application/json", body).await
            }
            Transport::HttpProtobuf => {
                let body = req.to_protobuf();
                self.send_http(req.signal(), "application/x-protobuf", body)
                    .await
            }
        }
    }

    /// Sends one request the caller no longer needs: tonic's client takes the message by
    /// value, and copying every string of a large request cost the load generator more CPU
    /// than encoding it.
    pub async fn send_owned(&mut self, req: Request) -> Result<Reply> {
        match self.transport {
            Transport::Grpc => self.send_grpc(req).await,
            _ => self.send(&req).await,
        }
    }

    /// Sends a traces request the caller keeps: over gRPC it is encoded where it is, not
    /// copied first (the load generator renews its requests in place and sends them again).
    pub async fn send_traces_shared(
        &mut self,
        req: Arc<ExportTraceServiceRequest>,
    ) -> Result<Reply> {
        match self.transport {
            Transport::Grpc => self.export_traces(SharedTraces(req)).await,
            Transport::HttpJson => {
                let body = serde_json::to_vec(&*req).context("encoding OTLP JSON")?;
                self.send_http(Signal::Traces, "application/json", body)
                    .await
            }
            Transport::HttpProtobuf => {
                let body = req.encode_to_vec();
                self.send_http(Signal::Traces, "application/x-protobuf", body)
                    .await
            }
        }
    }

    /// Sends a traces request encoded already (`ExportTraceServiceRequest` protobuf), as
    /// it is over gRPC and OTLP/HTTP protobuf; for OTLP/HTTP JSON it is decoded first.
    pub async fn send_traces_encoded(&mut self, protobuf: Arc<Vec<u8>>) -> Result<Reply> {
        match self.transport {
            Transport::Grpc => self.export_traces(EncodedTraces(protobuf)).await,
            Transport::HttpProtobuf => {
                self.send_http(Signal::Traces, "application/x-protobuf", protobuf.to_vec())
                    .await
            }
            Transport::HttpJson => {
                let req = ExportTraceServiceRequest::decode(protobuf.as_slice())
                    .context("decoding the encoded request")?;
                self.send_traces_shared(Arc::new(req)).await
            }
        }
    }

    /// Calls the traces service's `Export` with `message` as the request (tonic's generic
    /// client: the message encodes itself, a shared request or bytes encoded already).
    async fn export_traces<M>(&mut self, message: M) -> Result<Reply>
    where
        M: Message + Default + Send + Sync + 'static,
    {
        let grpc = self
            .shared
            .as_mut()
            .ok_or_else(|| anyhow!("not connected over gRPC"))?;
        let result = match grpc.ready().await {
            Ok(()) => {
                let path = PathAndQuery::from_static(
                    "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                );
                let codec = tonic_prost::ProstCodec::<M, ExportTraceServiceResponse>::default();
                grpc.unary(tonic::Request::new(message), path, codec)
                    .await
                    .map(|_| ())
            }
            Err(e) => Err(tonic::Status::unavailable(format!("not ready: {e}"))),
        };
        Ok(grpc_reply(result))
    }

    /// Posts a body as it is (for malformed-input tests).
    pub async fn post_raw(
        &self,
        signal: Signal,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<Reply> {
        let url = format!("{}/v1/{}", self.base, signal.name());
        let resp = self
            .http
            .post(&url)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .with_context(|| format!("POST {url}"))?;
        let status = resp.status().as_u16();
        let retry_hint = resp.headers().contains_key("retry-after");
        let message = resp.text().await.unwrap_or_default();
        Ok(Reply {
            status,
            message,
            retry_hint,
        })
    }

    /// Sends `message` as the one gRPC message of an `Export` call, framed by hand over
    /// HTTP/2 (for malformed-input tests: the generated clients only send valid messages).
    pub async fn grpc_raw(&self, signal: Signal, message: &[u8]) -> Result<Reply> {
        let service = match signal {
            Signal::Traces => "trace.v1.TraceService",
            Signal::Logs => "logs.v1.LogsService",
            Signal::Metrics => "metrics.v1.MetricsService",
        };
        let url = format!(
            "{}/opentelemetry.proto.collector.{service}/Export",
            self.base
        );
        let len = u32::try_from(message.len()).context("message over 4 GiB")?;
        // The gRPC frame: an uncompressed flag, the length big-endian, the message.
        let mut body = vec![0u8];
        body.extend_from_slice(&len.to_be_bytes());
        body.extend_from_slice(message);
        let client = reqwest::Client::builder()
            .http2_prior_knowledge()
            .timeout(Duration::from_secs(60))
            .build()
            .context("building the HTTP/2 client")?;
        let resp = client
            .post(&url)
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(body)
            .send()
            .await
            .with_context(|| format!("POST {url}"))?;
        // A refusal before any message is trailers-only: the status is in the headers.
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let code: i32 = header("grpc-status")
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| anyhow!("no grpc-status in the response headers"))?;
        let message = header("grpc-message")
            .map(|m| {
                percent_encoding::percent_decode_str(&m)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .unwrap_or_default();
        Ok(Reply {
            status: if code == 0 { 200 } else { 1000 + code as u16 },
            message,
            retry_hint: false,
        })
    }

    async fn send_http(&self, signal: Signal, content_type: &str, body: Vec<u8>) -> Result<Reply> {
        let url = format!("{}/v1/{}", self.base, signal.name());
        let mut builder = self.http.post(&url).header("content-type", content_type);
        let body = if self.gzip {
            builder = builder.header("content-encoding", "gzip");
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(&body).context("gzip")?;
            enc.finish().context("gzip")?
        } else {
            body
        };
        let resp = builder
            .body(body)
            .send()
            .await
            .with_context(|| format!("POST {url}"))?;
        let status = resp.status().as_u16();
        let retry_hint = resp.headers().contains_key("retry-after");
        let message = if status == 200 {
            String::new()
        } else {
            resp.text().await.unwrap_or_default()
        };
        Ok(Reply {
            status,
            message,
            retry_hint,
        })
    }

    async fn send_grpc(&mut self, req: Request) -> Result<Reply> {
        let result = match req {
            Request::Traces(r) => self
                .traces
                .as_mut()
                .ok_or_else(|| anyhow!("not connected over gRPC"))?
                .export(r)
                .await
                .map(|_| ()),
            Request::Logs(r) => self
                .logs
                .as_mut()
                .ok_or_else(|| anyhow!("not connected over gRPC"))?
                .export(r)
                .await
                .map(|_| ()),
            Request::Metrics(r) => self
                .metrics
                .as_mut()
                .ok_or_else(|| anyhow!("not connected over gRPC"))?
                .export(r)
                .await
                .map(|_| ()),
        };
        Ok(grpc_reply(result))
    }
}

/// What a gRPC call's outcome says, as a [`Reply`] (status 1000 + the gRPC code on failure).
fn grpc_reply(result: std::result::Result<(), tonic::Status>) -> Reply {
    match result {
        Ok(()) => Reply {
            status: 200,
            message: String::new(),
            retry_hint: false,
        },
        Err(s) => {
            let code = s.code() as i32;
            Reply {
                status: 1000 + code as u16,
                message: s.message().to_string(),
                retry_hint: matches!(
                    s.code(),
                    tonic::Code::ResourceExhausted | tonic::Code::Unavailable
                ),
            }
        }
    }
}

/// A captured request file: `NNNNN-v1_traces.json` (OTLP JSON) or `….pb` (protobuf).
pub fn load_capture(path: &Path) -> Result<Request> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let signal = if name.contains("traces") {
        Signal::Traces
    } else if name.contains("logs") {
        Signal::Logs
    } else if name.contains("metrics") {
        Signal::Metrics
    } else {
        bail!("{}: cannot tell the signal from the name", path.display());
    };
    let plain = name.strip_suffix(".gz").unwrap_or(name);
    let encoding = if plain.ends_with(".json") {
        Encoding::Json
    } else {
        Encoding::Protobuf
    };
    let mut body = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if plain.len() != name.len() {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&body[..]), &mut out)
            .with_context(|| format!("gunzip {}", path.display()))?;
        body = out;
    }
    decode(signal, encoding, &body).map_err(|e| anyhow!("{}: {}", path.display(), e.report()))
}

/// Every capture in a folder, in name order.
pub fn load_captures(dir: &Path) -> Result<Vec<Request>> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let n = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            [".json", ".pb", ".json.gz", ".pb.gz"]
                .iter()
                .any(|x| n.ends_with(x))
        })
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().contains("-v1_"))
        })
        .collect();
    names.sort();
    names.iter().map(|p| load_capture(p)).collect()
}
