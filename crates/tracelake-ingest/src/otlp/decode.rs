//! OTLP request bodies: protobuf or JSON, optionally gzip-compressed, into the generated
//! protobuf types (`opentelemetry-proto`); and back to canonical protobuf for the WAL.

use std::io::Read;
use std::sync::LazyLock;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use prost::Message;
use tracelake_model::{Error, Result};

use super::walk::{NON_FINITE, Swap, stand_ins, walk};

/// Flag on the WAL kind of a record the committer appended again, because an entity in it
/// waits for its other views: only its keyed rows count the second time.
pub const CARRIED: u8 = 0x80;

/// The three OTLP signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    /// `/v1/traces`
    Traces,
    /// `/v1/logs`
    Logs,
    /// `/v1/metrics`
    Metrics,
}

impl Signal {
    /// Every signal.
    pub const ALL: [Signal; 3] = [Signal::Traces, Signal::Logs, Signal::Metrics];

    /// The record kind stored in the WAL.
    pub fn wal_kind(self) -> u8 {
        match self {
            Signal::Traces => 1,
            Signal::Logs => 2,
            Signal::Metrics => 3,
        }
    }

    /// The signal of a WAL record kind (carried or not).
    pub fn from_wal_kind(kind: u8) -> Option<Signal> {
        match kind & !CARRIED {
            1 => Some(Signal::Traces),
            2 => Some(Signal::Logs),
            3 => Some(Signal::Metrics),
            _ => None,
        }
    }

    /// `traces`, `logs` or `metrics`.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Logs => "logs",
            Signal::Metrics => "metrics",
        }
    }
}

/// Body encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `application/x-protobuf`
    Protobuf,
    /// `application/json`
    Json,
}

/// A decoded export request.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// Spans.
    Traces(ExportTraceServiceRequest),
    /// Log records (events).
    Logs(ExportLogsServiceRequest),
    /// Metric data points.
    Metrics(ExportMetricsServiceRequest),
}

impl Request {
    /// The signal.
    pub fn signal(&self) -> Signal {
        match self {
            Request::Traces(_) => Signal::Traces,
            Request::Logs(_) => Signal::Logs,
            Request::Metrics(_) => Signal::Metrics,
        }
    }

    /// Spans, log records or data points in the request.
    pub fn items(&self) -> u64 {
        match self {
            Request::Traces(r) => r
                .resource_spans
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .map(|ss| ss.spans.len() as u64)
                .sum(),
            Request::Logs(r) => r
                .resource_logs
                .iter()
                .flat_map(|rl| &rl.scope_logs)
                .map(|sl| sl.log_records.len() as u64)
                .sum(),
            Request::Metrics(r) => r
                .resource_metrics
                .iter()
                .flat_map(|rm| &rm.scope_metrics)
                .flat_map(|sm| &sm.metrics)
                .map(|m| match &m.data {
                    Some(Data::Sum(s)) => s.data_points.len() as u64,
                    Some(Data::Gauge(g)) => g.data_points.len() as u64,
                    Some(Data::Histogram(h)) => h.data_points.len() as u64,
                    Some(Data::ExponentialHistogram(h)) => h.data_points.len() as u64,
                    Some(Data::Summary(s)) => s.data_points.len() as u64,
                    None => 0,
                })
                .sum(),
        }
    }

    /// Canonical protobuf bytes (what the WAL stores).
    pub fn to_protobuf(&self) -> Vec<u8> {
        match self {
            Request::Traces(r) => r.encode_to_vec(),
            Request::Logs(r) => r.encode_to_vec(),
            Request::Metrics(r) => r.encode_to_vec(),
        }
    }

    /// The size of the request encoded as protobuf, without encoding it.
    pub fn encoded_len(&self) -> usize {
        match self {
            Request::Traces(r) => r.encoded_len(),
            Request::Logs(r) => r.encoded_len(),
            Request::Metrics(r) => r.encoded_len(),
        }
    }

    /// The request as OTLP JSON (for the `raw` table; traces and logs without their
    /// default-valued fields, [`super::json`]).
    pub fn to_json(&self) -> String {
        match self {
            Request::Traces(r) => super::json::traces(r),
            Request::Logs(r) => super::json::logs(r),
            Request::Metrics(r) => super::json::metrics(r),
        }
    }
}

/// Decodes a body of `signal` in `encoding`.
pub fn decode(signal: Signal, encoding: Encoding, body: &[u8]) -> Result<Request> {
    let bad = |e: &dyn std::fmt::Display| {
        Error::invalid_input(format!(
            "the body is not a valid OTLP {} {} request: {e}",
            signal.name(),
            match encoding {
                Encoding::Protobuf => "protobuf",
                Encoding::Json => "JSON",
            }
        ))
    };
    Ok(match (signal, encoding) {
        (Signal::Traces, Encoding::Protobuf) => {
            Request::Traces(ExportTraceServiceRequest::decode(body).map_err(|e| bad(&e))?)
        }
        (Signal::Logs, Encoding::Protobuf) => {
            Request::Logs(ExportLogsServiceRequest::decode(body).map_err(|e| bad(&e))?)
        }
        (Signal::Metrics, Encoding::Protobuf) => {
            Request::Metrics(ExportMetricsServiceRequest::decode(body).map_err(|e| bad(&e))?)
        }
        (_, Encoding::Json) => match from_json_with_string_doubles(signal, body) {
            Some(req) => req,
            None => from_json(signal, body).map_err(|e| bad(&e))?,
        },
    })
}

fn from_json(signal: Signal, body: &[u8]) -> serde_json::Result<Request> {
    Ok(match signal {
        Signal::Traces => Request::Traces(serde_json::from_slice(body)?),
        Signal::Logs => Request::Logs(serde_json::from_slice(body)?),
        Signal::Metrics => Request::Metrics(serde_json::from_slice(body)?),
    })
}

/// A JSON body with doubles written as strings, read whole; None if it has none, or could
/// not be read so (then the plain reader's error says why). The protobuf JSON mapping, which
/// OTLP/JSON follows, writes `"NaN"`, `"Infinity"` and `"-Infinity"` so (as our `raw` JSON
/// does) and allows any double in quotes, but `opentelemetry-proto`'s reader takes numbers
/// only for attribute values and metric points (but a summary's quantiles): it refuses such a
/// request, or silently drops the point's value or the metric's data. Each such string is
/// rewritten: a quoted number unquoted, a non-finite value as a stand-in, a double that
/// appears nowhere else in the request, put back once it is decoded.
fn from_json_with_string_doubles(signal: Signal, body: &[u8]) -> Option<Request> {
    use regex::bytes::Regex;
    // Candidates are found at ~10 GB/s (every JSON body is scanned); reading them starts at
    // the key's opening quote, which runs ~6 times slower.
    static DOUBLES: LazyLock<Option<[Regex; 3]>> = LazyLock::new(|| {
        let keys = "(?:doubleValue|asDouble|sum|min|max)";
        Some([
            Regex::new(&format!(
                r#"{keys}"\s*:\s*"|explicitBounds"\s*:\s*\[[^\]"]*""#
            ))
            .ok()?,
            Regex::new(&format!(
                r#""{keys}"\s*:\s*("[^"\\]*")|"explicitBounds"\s*:\s*\[([^\]]*)\]"#
            ))
            .ok()?,
            Regex::new(r#""[^"\\]*""#).ok()?,
        ])
    });
    let [candidates, doubles, string] = DOUBLES.as_ref()?;
    if !candidates.is_match(body) {
        return None;
    }
    // Where the strings are: a value's, or each one in a list of bounds.
    let mut strings = Vec::new();
    for caps in doubles.captures_iter(body) {
        if let Some(one) = caps.get(1) {
            strings.push(one.range());
        } else if let Some(list) = caps.get(2) {
            let at = list.start();
            strings.extend(
                string
                    .find_iter(list.as_bytes())
                    .map(|m| at + m.start()..at + m.end()),
            );
        }
    }
    for attempt in 0..4 {
        let stand_ins = stand_ins(attempt);
        let mut used = 0;
        let mut rewritten = Vec::with_capacity(body.len());
        let mut copied = 0;
        for quoted in &strings {
            let text = body.get(quoted.start + 1..quoted.end - 1)?;
            let value = match NON_FINITE.iter().position(|(_, s)| s.as_bytes() == text) {
                Some(i) => {
                    used += 1;
                    stand_ins[i]
                }
                None => match std::str::from_utf8(text).ok()?.parse::<f64>() {
                    Ok(d) if d.is_finite() => d,
                    _ => continue,
                },
            };
            rewritten.extend_from_slice(body.get(copied..quoted.start)?);
            rewritten.extend_from_slice(serde_json::to_string(&value).ok()?.as_bytes());
            copied = quoted.end;
        }
        rewritten.extend_from_slice(body.get(copied..)?);
        let mut req = from_json(signal, &rewritten).ok()?;
        let mut put_back = Swap {
            from: stand_ins,
            to: NON_FINITE.map(|(d, _)| d),
            count: 0,
        };
        walk(&mut req, &mut put_back);
        // More than were put in: a value of the request is a stand-in; the next set.
        if put_back.count == used {
            return Some(req);
        }
    }
    None
}

/// Error message prefix of a body over the size limit (mapped to 413).
pub const TOO_LARGE: &str = "request too large";

/// Decompresses a gzip body, refusing to inflate past `limit` bytes.
pub fn gunzip(body: &[u8], limit: usize) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut reader = flate2::read::GzDecoder::new(body).take(limit as u64 + 1);
    reader
        .read_to_end(&mut out)
        .map_err(|e| Error::invalid_input(format!("the gzip body is corrupt: {e}")))?;
    if out.len() > limit {
        return Err(Error::invalid_input(format!(
            "{TOO_LARGE}: more than {limit} bytes after decompression (raise [collector] max_request_bytes)"
        )));
    }
    Ok(out)
}

/// The OTLP requests real clients sent (Claude Code, Codex, the Python instrumentations),
/// as captured in `testdata/`, decoded: name, signal and request, in file-name order.
#[cfg(test)]
pub(crate) fn captured_requests() -> Vec<(String, Signal, Request)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata");
    let mut out = Vec::new();
    for dir in ["claude-code-otlp", "codex-otlp", "otel-clients"] {
        for entry in walkdir::WalkDir::new(root.join(dir)).sort_by_file_name() {
            let path = entry.expect("testdata").into_path();
            let name = path.to_string_lossy().into_owned();
            let Some(signal) = Signal::ALL
                .into_iter()
                .find(|s| name.contains(&format!("v1_{}", s.name())))
            else {
                continue;
            };
            let encoding = if name.ends_with(".json") {
                Encoding::Json
            } else if name.ends_with(".pb") {
                Encoding::Protobuf
            } else {
                continue;
            };
            let body = std::fs::read(&path).expect("capture");
            let req = decode(signal, encoding, &body).expect("a capture decodes");
            out.push((name, signal, req));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn json_and_protobuf_decode_to_the_same_request() {
        let json = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../testdata/claude-code-otlp/happy/00004-v1_traces.json"),
        )
        .unwrap();
        let from_json = decode(Signal::Traces, Encoding::Json, &json).unwrap();
        assert!(from_json.items() > 10);
        let pb = from_json.to_protobuf();
        let from_pb = decode(Signal::Traces, Encoding::Protobuf, &pb).unwrap();
        assert_eq!(from_json, from_pb);
        let e = decode(Signal::Logs, Encoding::Protobuf, b"\xff\xff\xff").unwrap_err();
        assert!(
            e.message().contains("not a valid OTLP logs protobuf"),
            "{}",
            e.message()
        );
        let e = decode(Signal::Metrics, Encoding::Json, b"{\"resourceMetrics\": 3}").unwrap_err();
        assert!(e.message().contains("JSON"), "{}", e.message());
    }

    /// A double in a JSON body is read as the nearest double, as the client meant it:
    /// serde_json's default parser is off by one unit in the last place for some 17-digit
    /// numbers (its `float_roundtrip` feature is on; this value was found by the fuzzer).
    #[test]
    fn json_doubles_are_read_exactly() {
        use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
        for text in [
            "0.19532294273376466",
            "0.019532294273376466",
            "1.7976931348623157e308",
        ] {
            let body = format!(
                r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","name":"s","attributes":[{{"key":"d","value":{{"doubleValue":{text}}}}}]}}]}}]}}]}}"#
            );
            let Request::Traces(r) = decode(Signal::Traces, Encoding::Json, body.as_bytes())
                .unwrap_or_else(|e| panic!("{}", e.report()))
            else {
                panic!("traces")
            };
            let got = &r.resource_spans[0].scope_spans[0].spans[0].attributes[0].value;
            let want: f64 = text.parse().unwrap();
            match got.as_ref().and_then(|v| v.value.as_ref()) {
                Some(V::DoubleValue(d)) => assert_eq!(d.to_bits(), want.to_bits(), "{text}"),
                other => panic!("{other:?}"),
            }
        }
    }

    /// Doubles written as strings, as the protobuf JSON mapping allows (and our `raw` JSON
    /// writes the non-finite ones), at any depth of an attribute and in metric points; a
    /// string attribute that reads "NaN" stays a string.
    #[test]
    fn json_doubles_written_as_strings_are_read() {
        use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
        use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
        let stand_in = super::stand_ins(0)[0];
        let body = format!(
            r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"name":"s","attributes":[
            {{"key":"nan","value":{{"doubleValue":"NaN"}}}},
            {{"key":"inf","value":{{"doubleValue": "Infinity"}}}},
            {{"key":"list","value":{{"arrayValue":{{"values":[{{"doubleValue":"-Infinity"}},{{"doubleValue":"1.5"}}]}}}}}},
            {{"key":"text","value":{{"stringValue":"NaN"}}}},
            {{"key":"literal","value":{{"doubleValue":{stand_in:e}}}}}]}}]}}]}}]}}"#
        );
        let Request::Traces(r) = decode(Signal::Traces, Encoding::Json, body.as_bytes())
            .unwrap_or_else(|e| panic!("{}", e.report()))
        else {
            panic!("traces")
        };
        let values: Vec<V> = r.resource_spans[0].scope_spans[0].spans[0]
            .attributes
            .iter()
            .map(|kv| kv.value.clone().unwrap().value.unwrap())
            .collect();
        assert!(matches!(values[0], V::DoubleValue(d) if d.is_nan()));
        assert!(matches!(values[1], V::DoubleValue(d) if d == f64::INFINITY));
        let V::ArrayValue(list) = &values[2] else {
            panic!("{values:?}")
        };
        let list: Vec<_> = list.values.iter().map(|v| v.value.clone()).collect();
        assert_eq!(
            list,
            [
                Some(V::DoubleValue(f64::NEG_INFINITY)),
                Some(V::DoubleValue(1.5))
            ]
        );
        assert_eq!(values[3], V::StringValue("NaN".into()));
        // A value that happens to be the first stand-in stays what it was.
        assert!(matches!(values[4], V::DoubleValue(d) if d.to_bits() == stand_in.to_bits()));

        let metrics = r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[
            {"name":"g","gauge":{"dataPoints":[{"asDouble":"NaN"}]}},
            {"name":"h","histogram":{"dataPoints":[{"count":"1","sum":"Infinity","min":"2.5"}]}}]}]}]}"#;
        let Request::Metrics(m) = decode(Signal::Metrics, Encoding::Json, metrics.as_bytes())
            .unwrap_or_else(|e| panic!("{}", e.report()))
        else {
            panic!("metrics")
        };
        let ms = &m.resource_metrics[0].scope_metrics[0].metrics;
        let Some(metric::Data::Gauge(g)) = &ms[0].data else {
            panic!("{ms:?}")
        };
        assert!(matches!(
            g.data_points[0].value,
            Some(number_data_point::Value::AsDouble(d)) if d.is_nan()
        ));
        let Some(metric::Data::Histogram(h)) = &ms[1].data else {
            panic!("{ms:?}")
        };
        assert_eq!(
            (h.data_points[0].sum, h.data_points[0].min),
            (Some(f64::INFINITY), Some(2.5))
        );

        // Still refused, and said why: a string that is no double.
        let e = decode(
            Signal::Traces,
            Encoding::Json,
            br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{"key":"d","value":{"doubleValue":"many"}}]}]}]}]}"#,
        )
        .unwrap_err();
        assert!(e.message().contains("expected f64"), "{}", e.message());
    }

    #[test]
    fn gzip_is_bounded() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&vec![b'a'; 10_000]).unwrap();
        let body = gz.finish().unwrap();
        assert_eq!(gunzip(&body, 20_000).unwrap().len(), 10_000);
        assert!(
            gunzip(&body, 1_000)
                .unwrap_err()
                .message()
                .starts_with(TOO_LARGE)
        );
        assert!(gunzip(b"not gzip", 1_000).is_err());
    }
}
