//! The `raw` table's OTLP JSON, written straight from a decoded trace or logs request.
//!
//! The JSON is the OTLP/JSON encoding as `opentelemetry-proto`'s serde derives write it
//! (camelCase names, hex trace and span ids, 64-bit integers as strings, enums as numbers),
//! with two differences:
//! - fields holding their default value (empty strings and lists, zero counts and flags) are
//!   left out, as the OTLP/JSON encoding allows and as the OpenTelemetry Collector writes it,
//!   except where `opentelemetry-proto`'s reader requires the field;
//! - a double that is not finite is written as `"NaN"`, `"Infinity"` or `"-Infinity"` (the
//!   protobuf JSON mapping) instead of serde's `null`, which loses the value.
//!
//! Writing it here instead of through serde halves the cost of the request's `raw` row, the
//! largest single cost of the collector's commit path (BENCHMARKS.md, stop 19): strings are
//! scanned for characters to escape eight bytes at a time, and nothing is allocated per
//! field. Every struct is destructured without `..`, so a field added to `opentelemetry-proto`
//! fails the build here instead of going missing from `raw`. Metrics requests (a few small
//! ones per minute from Claude Code; their non-finite doubles written as above, through
//! stand-ins) and the rare attribute kinds (bytes, string-table references) still go through
//! serde.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, EntityRef, InstrumentationScope, KeyValue, any_value,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use serde::Serialize;

use super::decode::Request;
use super::walk::{NON_FINITE, Swap, stand_ins, walk};

/// A trace export request as OTLP JSON.
pub fn traces(req: &ExportTraceServiceRequest) -> String {
    let ExportTraceServiceRequest { resource_spans } = req;
    let mut w = Json::with_capacity(req_size_hint(resource_spans.len()));
    let mut o = w.begin();
    // Always written: the reader requires it.
    w.key(&mut o, "resourceSpans");
    w.array(resource_spans, Json::resource_spans);
    w.end(o);
    w.finish()
}

/// A logs export request as OTLP JSON.
pub fn logs(req: &ExportLogsServiceRequest) -> String {
    let ExportLogsServiceRequest { resource_logs } = req;
    let mut w = Json::with_capacity(req_size_hint(resource_logs.len()));
    let mut o = w.begin();
    w.key(&mut o, "resourceLogs");
    w.array(resource_logs, Json::resource_logs);
    w.end(o);
    w.finish()
}

/// A metrics export request as OTLP JSON, through `opentelemetry-proto`'s serde (metrics are
/// few and small), which writes a non-finite double as `null` (but a summary's quantiles):
/// those are written as stand-ins, whose text is then replaced by the protobuf JSON
/// mapping's strings.
pub fn metrics(req: &ExportMetricsServiceRequest) -> String {
    let write = |r: &ExportMetricsServiceRequest| {
        serde_json::to_string(r)
            .unwrap_or_else(|e| format!("{{\"error\":\"not representable as JSON: {e}\"}}"))
    };
    for attempt in 0..4 {
        let stand_ins = stand_ins(attempt);
        let mut swapped = Request::Metrics(req.clone());
        let mut swap = Swap {
            from: NON_FINITE.map(|(d, _)| d),
            to: stand_ins,
            count: 0,
        };
        walk(&mut swapped, &mut swap);
        let Request::Metrics(swapped) = swapped else {
            break;
        };
        if swap.count == 0 {
            return write(&swapped);
        }
        let mut json = write(&swapped);
        let texts = stand_ins.map(|d| serde_json::to_string(&d).unwrap_or_default());
        // Each stand-in's text once per swap: then none is a value of the request.
        if texts
            .iter()
            .map(|t| json.matches(t.as_str()).count() as u64)
            .sum::<u64>()
            != swap.count
        {
            continue;
        }
        for (text, (_, special)) in texts.iter().zip(NON_FINITE) {
            json = json.replace(text.as_str(), &format!("\"{special}\""));
        }
        return json;
    }
    write(req)
}

fn req_size_hint(resources: usize) -> usize {
    4096 * resources.max(1)
}

/// An object being written: whether a field was written yet (for the commas).
struct Obj {
    first: bool,
}

struct Json {
    out: String,
}

impl Json {
    fn with_capacity(bytes: usize) -> Self {
        Self {
            out: String::with_capacity(bytes),
        }
    }

    fn finish(self) -> String {
        self.out
    }

    fn begin(&mut self) -> Obj {
        self.out.push('{');
        Obj { first: true }
    }

    fn end(&mut self, _: Obj) {
        self.out.push('}');
    }

    /// Writes `"name":` (names are ASCII identifiers, nothing to escape).
    fn key(&mut self, o: &mut Obj, name: &str) {
        if !o.first {
            self.out.push(',');
        }
        o.first = false;
        self.out.push('"');
        self.out.push_str(name);
        self.out.push_str("\":");
    }

    fn array<T>(&mut self, items: &[T], mut each: impl FnMut(&mut Self, &T)) {
        self.out.push('[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            each(self, item);
        }
        self.out.push(']');
    }

    fn list<T>(&mut self, o: &mut Obj, name: &str, items: &[T], each: impl FnMut(&mut Self, &T)) {
        if !items.is_empty() {
            self.key(o, name);
            self.array(items, each);
        }
    }

    fn str_field(&mut self, o: &mut Obj, name: &str, value: &str) {
        if !value.is_empty() {
            self.key(o, name);
            self.string(value);
        }
    }

    fn num_field(&mut self, o: &mut Obj, name: &str, value: i64) {
        if value != 0 {
            self.key(o, name);
            self.number(value);
        }
    }

    /// A 64-bit integer, written as a string.
    fn u64_field(&mut self, o: &mut Obj, name: &str, value: u64) {
        if value != 0 {
            self.key(o, name);
            self.out.push('"');
            self.unsigned(value);
            self.out.push('"');
        }
    }

    fn hex_field(&mut self, o: &mut Obj, name: &str, bytes: &[u8]) {
        if !bytes.is_empty() {
            self.key(o, name);
            self.out.push('"');
            for b in bytes {
                self.out.push(char::from(HEX[usize::from(b >> 4)]));
                self.out.push(char::from(HEX[usize::from(b & 15)]));
            }
            self.out.push('"');
        }
    }

    fn number(&mut self, value: impl Into<i64>) {
        let value: i64 = value.into();
        if value < 0 {
            self.out.push('-');
        }
        self.unsigned(value.unsigned_abs());
    }

    fn unsigned(&mut self, mut n: u64) {
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        loop {
            at -= 1;
            digits[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        for &d in &digits[at..] {
            self.out.push(char::from(d));
        }
    }

    fn double(&mut self, value: f64) {
        if value.is_nan() {
            self.out.push_str("\"NaN\"");
        } else if value.is_infinite() {
            self.out.push_str(if value > 0.0 {
                "\"Infinity\""
            } else {
                "\"-Infinity\""
            });
        } else {
            self.serde(&value);
        }
    }

    /// A value serde writes (finite doubles, the rare attribute kinds).
    fn serde(&mut self, value: &impl Serialize) {
        match serde_json::to_string(value) {
            Ok(json) => self.out.push_str(&json),
            // Unreachable for the values passed here (numbers, `AnyValue`); keep the JSON
            // valid all the same.
            Err(_) => self.out.push_str("null"),
        }
    }

    /// A JSON string, escaped as serde_json escapes it.
    fn string(&mut self, s: &str) {
        let bytes = s.as_bytes();
        self.out.reserve(bytes.len() + 2);
        self.out.push('"');
        // `s[run..]` is not copied yet. Runs start and end next to escaped bytes, which are
        // ASCII, so they are whole characters.
        let mut run = 0;
        let mut i = 0;
        // Eight bytes at a time: the first byte of the word that needs escaping, if any.
        while let Some(chunk) = bytes.get(i..i + 8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            let mask = escape_mask(u64::from_le_bytes(word));
            if mask == 0 {
                i += 8;
                continue;
            }
            let at = i + (mask.trailing_zeros() / 8) as usize;
            self.escaped(s, run, at);
            run = at + 1;
            i = at + 1;
        }
        while i < bytes.len() {
            if ESCAPE[usize::from(bytes[i])] != 0 {
                self.escaped(s, run, i);
                run = i + 1;
            }
            i += 1;
        }
        self.out.push_str(s.get(run..).unwrap_or_default());
        self.out.push('"');
    }

    /// Copies `s[run..at]`, then the escape of the byte at `at` (ASCII).
    #[inline]
    fn escaped(&mut self, s: &str, run: usize, at: usize) {
        self.out.push_str(s.get(run..at).unwrap_or_default());
        let b = s.as_bytes()[at];
        match ESCAPE[usize::from(b)] {
            b'u' => {
                self.out.push_str("\\u00");
                self.out.push(char::from(HEX[usize::from(b >> 4)]));
                self.out.push(char::from(HEX[usize::from(b & 15)]));
            }
            short => {
                self.out.push('\\');
                self.out.push(char::from(short));
            }
        }
    }

    fn resource_spans(&mut self, rs: &ResourceSpans) {
        let ResourceSpans {
            resource,
            scope_spans,
            schema_url,
        } = rs;
        self.group(
            ("resource", resource.as_ref(), Self::resource),
            ("scopeSpans", scope_spans, Self::scope_spans),
            schema_url,
        );
    }

    fn scope_spans(&mut self, ss: &ScopeSpans) {
        let ScopeSpans {
            scope,
            spans,
            schema_url,
        } = ss;
        self.group(
            ("scope", scope.as_ref(), Self::scope),
            ("spans", spans, Self::span),
            schema_url,
        );
    }

    /// The shape every level above a span or log record has: an optional head (resource or
    /// scope), a list of what it holds, and a schema URL.
    fn group<H, T>(
        &mut self,
        (head_name, head, write_head): (&str, Option<&H>, fn(&mut Self, &H)),
        (items_name, items, write_item): (&str, &[T], fn(&mut Self, &T)),
        schema_url: &str,
    ) {
        let mut o = self.begin();
        if let Some(head) = head {
            self.key(&mut o, head_name);
            write_head(self, head);
        }
        self.list(&mut o, items_name, items, write_item);
        self.str_field(&mut o, "schemaUrl", schema_url);
        self.end(o);
    }

    fn span(&mut self, span: &Span) {
        let Span {
            trace_id,
            span_id,
            trace_state,
            parent_span_id,
            flags,
            name,
            kind,
            start_time_unix_nano,
            end_time_unix_nano,
            attributes,
            dropped_attributes_count,
            events,
            dropped_events_count,
            links,
            dropped_links_count,
            status,
        } = span;
        let mut o = self.begin();
        self.hex_field(&mut o, "traceId", trace_id);
        self.hex_field(&mut o, "spanId", span_id);
        self.str_field(&mut o, "traceState", trace_state);
        self.hex_field(&mut o, "parentSpanId", parent_span_id);
        self.num_field(&mut o, "flags", i64::from(*flags));
        self.str_field(&mut o, "name", name);
        self.num_field(&mut o, "kind", i64::from(*kind));
        self.u64_field(&mut o, "startTimeUnixNano", *start_time_unix_nano);
        self.u64_field(&mut o, "endTimeUnixNano", *end_time_unix_nano);
        self.list(&mut o, "attributes", attributes, Self::key_value);
        self.num_field(
            &mut o,
            "droppedAttributesCount",
            i64::from(*dropped_attributes_count),
        );
        self.list(&mut o, "events", events, Self::event);
        self.num_field(
            &mut o,
            "droppedEventsCount",
            i64::from(*dropped_events_count),
        );
        self.list(&mut o, "links", links, Self::link);
        self.num_field(&mut o, "droppedLinksCount", i64::from(*dropped_links_count));
        if let Some(status) = status {
            self.key(&mut o, "status");
            self.status(status);
        }
        self.end(o);
    }

    fn event(&mut self, event: &Event) {
        let Event {
            time_unix_nano,
            name,
            attributes,
            dropped_attributes_count,
        } = event;
        let mut o = self.begin();
        self.u64_field(&mut o, "timeUnixNano", *time_unix_nano);
        self.str_field(&mut o, "name", name);
        self.list(&mut o, "attributes", attributes, Self::key_value);
        self.num_field(
            &mut o,
            "droppedAttributesCount",
            i64::from(*dropped_attributes_count),
        );
        self.end(o);
    }

    fn link(&mut self, link: &Link) {
        let Link {
            trace_id,
            span_id,
            trace_state,
            attributes,
            dropped_attributes_count,
            flags,
        } = link;
        let mut o = self.begin();
        self.hex_field(&mut o, "traceId", trace_id);
        self.hex_field(&mut o, "spanId", span_id);
        self.str_field(&mut o, "traceState", trace_state);
        self.list(&mut o, "attributes", attributes, Self::key_value);
        self.num_field(
            &mut o,
            "droppedAttributesCount",
            i64::from(*dropped_attributes_count),
        );
        self.num_field(&mut o, "flags", i64::from(*flags));
        self.end(o);
    }

    fn status(&mut self, status: &Status) {
        let Status { message, code } = status;
        let mut o = self.begin();
        // Both always written: the reader requires them.
        self.key(&mut o, "message");
        self.string(message);
        self.key(&mut o, "code");
        self.number(*code);
        self.end(o);
    }

    fn resource_logs(&mut self, rl: &ResourceLogs) {
        let ResourceLogs {
            resource,
            scope_logs,
            schema_url,
        } = rl;
        self.group(
            ("resource", resource.as_ref(), Self::resource),
            ("scopeLogs", scope_logs, Self::scope_logs),
            schema_url,
        );
    }

    fn scope_logs(&mut self, sl: &ScopeLogs) {
        let ScopeLogs {
            scope,
            log_records,
            schema_url,
        } = sl;
        self.group(
            ("scope", scope.as_ref(), Self::scope),
            ("logRecords", log_records, Self::log_record),
            schema_url,
        );
    }

    fn log_record(&mut self, record: &LogRecord) {
        let LogRecord {
            time_unix_nano,
            observed_time_unix_nano,
            severity_number,
            severity_text,
            body,
            attributes,
            dropped_attributes_count,
            flags,
            trace_id,
            span_id,
            event_name,
        } = record;
        let mut o = self.begin();
        self.u64_field(&mut o, "timeUnixNano", *time_unix_nano);
        self.u64_field(&mut o, "observedTimeUnixNano", *observed_time_unix_nano);
        self.num_field(&mut o, "severityNumber", i64::from(*severity_number));
        self.str_field(&mut o, "severityText", severity_text);
        if let Some(body) = body {
            self.key(&mut o, "body");
            self.any_value(body);
        }
        self.list(&mut o, "attributes", attributes, Self::key_value);
        self.num_field(
            &mut o,
            "droppedAttributesCount",
            i64::from(*dropped_attributes_count),
        );
        self.num_field(&mut o, "flags", i64::from(*flags));
        self.hex_field(&mut o, "traceId", trace_id);
        self.hex_field(&mut o, "spanId", span_id);
        self.str_field(&mut o, "eventName", event_name);
        self.end(o);
    }

    fn resource(&mut self, resource: &Resource) {
        let Resource {
            attributes,
            dropped_attributes_count,
            entity_refs,
        } = resource;
        let mut o = self.begin();
        self.list(&mut o, "attributes", attributes, Self::key_value);
        self.num_field(
            &mut o,
            "droppedAttributesCount",
            i64::from(*dropped_attributes_count),
        );
        self.list(&mut o, "entityRefs", entity_refs, Self::entity_ref);
        self.end(o);
    }

    fn entity_ref(&mut self, entity: &EntityRef) {
        let EntityRef {
            schema_url,
            r#type,
            id_keys,
            description_keys,
        } = entity;
        // Every field written: the reader requires them all.
        let mut o = self.begin();
        self.key(&mut o, "schemaUrl");
        self.string(schema_url);
        self.key(&mut o, "type");
        self.string(r#type);
        self.key(&mut o, "idKeys");
        self.array(id_keys, |w, k| w.string(k));
        self.key(&mut o, "descriptionKeys");
        self.array(description_keys, |w, k| w.string(k));
        self.end(o);
    }

    fn scope(&mut self, scope: &InstrumentationScope) {
        let InstrumentationScope {
            name,
            version,
            attributes,
            dropped_attributes_count,
        } = scope;
        let mut o = self.begin();
        self.str_field(&mut o, "name", name);
        self.str_field(&mut o, "version", version);
        self.list(&mut o, "attributes", attributes, Self::key_value);
        self.num_field(
            &mut o,
            "droppedAttributesCount",
            i64::from(*dropped_attributes_count),
        );
        self.end(o);
    }

    fn key_value(&mut self, kv: &KeyValue) {
        let KeyValue {
            key,
            value,
            key_strindex,
        } = kv;
        let mut o = self.begin();
        self.key(&mut o, "key");
        self.string(key);
        if let Some(value) = value {
            self.key(&mut o, "value");
            self.any_value(value);
        }
        self.num_field(&mut o, "keyStrindex", i64::from(*key_strindex));
        self.end(o);
    }

    fn any_value(&mut self, value: &AnyValue) {
        use any_value::Value;
        let AnyValue { value: inner } = value;
        if let Some(Value::BytesValue(_) | Value::StringValueStrindex(_)) = inner {
            // Rare: serde's own form (base64 bytes, the string-table index).
            self.serde(value);
            return;
        }
        let mut o = self.begin();
        match inner {
            Some(Value::StringValue(s)) => {
                self.key(&mut o, "stringValue");
                self.string(s);
            }
            Some(Value::BoolValue(b)) => {
                self.key(&mut o, "boolValue");
                self.out.push_str(if *b { "true" } else { "false" });
            }
            Some(Value::IntValue(i)) => {
                self.key(&mut o, "intValue");
                self.out.push('"');
                self.number(*i);
                self.out.push('"');
            }
            Some(Value::DoubleValue(d)) => {
                self.key(&mut o, "doubleValue");
                self.double(*d);
            }
            Some(Value::ArrayValue(a)) => {
                self.key(&mut o, "arrayValue");
                let mut inner = self.begin();
                // Always written: the reader requires it.
                self.key(&mut inner, "values");
                self.array(&a.values, Self::any_value);
                self.end(inner);
            }
            Some(Value::KvlistValue(kvs)) => {
                self.key(&mut o, "kvlistValue");
                let mut inner = self.begin();
                self.key(&mut inner, "values");
                self.array(&kvs.values, Self::key_value);
                self.end(inner);
            }
            Some(Value::BytesValue(_) | Value::StringValueStrindex(_)) | None => {}
        }
        self.end(o);
    }
}

/// The high bit of each byte of `word` (little-endian) that is below 0x20, `"` or `\\`.
/// Only the lowest set bit is exact (a borrow can mark bytes after it), which is all
/// [`Json::string`] uses: it escapes that byte and looks again after it.
fn escape_mask(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let below_space = word.wrapping_sub(ONES * 0x20) & !word & HIGH;
    below_space | zero(word ^ (ONES * u64::from(b'"'))) | zero(word ^ (ONES * u64::from(b'\\')))
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// How serde_json escapes each byte: 0 not at all, `u` as `\u00XX`, else `\` and this byte.
const ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = b'u';
        b += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0a] = b'n';
    table[0x0c] = b'f';
    table[0x0d] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};
    use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
    use serde_json::Value;

    use super::*;
    use crate::otlp::decode::{Encoding, Request, Signal, decode};

    /// Every trace and logs payload captured from real clients.
    fn captured() -> Vec<(String, Request)> {
        let out: Vec<(String, Request)> = crate::otlp::decode::captured_requests()
            .into_iter()
            .filter(|(_, signal, _)| *signal != Signal::Metrics)
            .map(|(name, _, req)| (name, req))
            .collect();
        assert!(out.len() >= 20, "captured payloads: {}", out.len());
        out
    }

    fn kv(key: &str, value: any_value::Value) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(value) }),
            key_strindex: 0,
        }
    }

    /// Text that exercises the escaping: every control character, quotes and backslashes on
    /// and across eight-byte boundaries, multi-byte characters, JSON inside JSON.
    fn tricky() -> String {
        let mut s: String = (0u8..0x20).map(char::from).collect();
        s.push_str("\"\\/ abcdefg\"hijklmn\\opqrstu\u{7f}ſ K é 日本 🦀 {\"role\":\"user\",\"parts\":[\"a\\nb\"]}");
        s
    }

    /// A request with every field of every message set, and one with every field at its
    /// default where a message is present.
    fn full_traces() -> ExportTraceServiceRequest {
        use any_value::Value as V;
        let attrs = vec![
            kv("s", V::StringValue(tricky())),
            kv("b", V::BoolValue(true)),
            kv("f", V::BoolValue(false)),
            kv("i", V::IntValue(-9_007_199_254_740_993)),
            kv("max", V::IntValue(i64::MAX)),
            kv("min", V::IntValue(i64::MIN)),
            kv("d", V::DoubleValue(0.1)),
            kv("whole", V::DoubleValue(3.0)),
            kv("small", V::DoubleValue(-0.000_125)),
            // 17 digits: read back exactly only with serde_json's `float_roundtrip`.
            kv("long", V::DoubleValue(0.195_322_942_733_764_66)),
            kv("huge", V::DoubleValue(-1.797_693_134_862_315_7e308)),
            kv("bytes", V::BytesValue(vec![0, 1, 2, 254, 255])),
            kv(
                "array",
                V::ArrayValue(ArrayValue {
                    values: vec![
                        AnyValue {
                            value: Some(V::StringValue("x".into())),
                        },
                        AnyValue { value: None },
                        AnyValue {
                            value: Some(V::ArrayValue(ArrayValue { values: vec![] })),
                        },
                    ],
                }),
            ),
            kv(
                "kvlist",
                V::KvlistValue(KeyValueList {
                    values: vec![
                        kv("nested", V::IntValue(7)),
                        KeyValue {
                            key: String::new(),
                            value: None,
                            key_strindex: 3,
                        },
                    ],
                }),
            ),
            kv(
                "empty-kvlist",
                V::KvlistValue(KeyValueList { values: vec![] }),
            ),
            kv("", V::StringValue(String::new())),
        ];
        let span = Span {
            trace_id: (0u8..16).collect(),
            span_id: vec![0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3],
            trace_state: "k=v".into(),
            parent_span_id: vec![9; 8],
            flags: 257,
            name: tricky(),
            kind: SpanKind::Client as i32,
            start_time_unix_nano: u64::MAX,
            end_time_unix_nano: 1_795_617_949_013_742_571,
            attributes: attrs.clone(),
            dropped_attributes_count: 1,
            events: vec![
                Event {
                    time_unix_nano: 5,
                    name: "exception".into(),
                    attributes: attrs.clone(),
                    dropped_attributes_count: 2,
                },
                Event::default(),
            ],
            dropped_events_count: 3,
            links: vec![
                Link {
                    trace_id: vec![1; 16],
                    span_id: vec![2; 8],
                    trace_state: "a=b".into(),
                    attributes: attrs.clone(),
                    dropped_attributes_count: 4,
                    flags: 1,
                },
                Link::default(),
            ],
            dropped_links_count: 5,
            status: Some(Status {
                message: tricky(),
                code: 2,
            }),
        };
        let defaults = Span {
            status: Some(Status::default()),
            ..Span::default()
        };
        ExportTraceServiceRequest {
            resource_spans: vec![
                ResourceSpans {
                    resource: Some(Resource {
                        attributes: attrs.clone(),
                        dropped_attributes_count: 6,
                        entity_refs: vec![
                            EntityRef {
                                schema_url: "https://x/1".into(),
                                r#type: "service".into(),
                                id_keys: vec!["service.name".into(), tricky()],
                                description_keys: vec!["d".into()],
                            },
                            EntityRef::default(),
                        ],
                    }),
                    scope_spans: vec![
                        ScopeSpans {
                            scope: Some(InstrumentationScope {
                                name: "scope".into(),
                                version: "1.0".into(),
                                attributes: attrs.clone(),
                                dropped_attributes_count: 7,
                            }),
                            spans: vec![span, defaults, Span::default()],
                            schema_url: "https://s/2".into(),
                        },
                        ScopeSpans {
                            scope: Some(InstrumentationScope::default()),
                            ..ScopeSpans::default()
                        },
                        ScopeSpans::default(),
                    ],
                    schema_url: "https://r/3".into(),
                },
                ResourceSpans {
                    resource: Some(Resource::default()),
                    ..ResourceSpans::default()
                },
                ResourceSpans::default(),
            ],
        }
    }

    fn full_logs() -> ExportLogsServiceRequest {
        let traces = full_traces();
        let resource = traces.resource_spans[0].resource.clone();
        let scope = traces.resource_spans[0].scope_spans[0].scope.clone();
        let attrs = traces.resource_spans[0].scope_spans[0].spans[0]
            .attributes
            .clone();
        let record = LogRecord {
            time_unix_nano: 1,
            observed_time_unix_nano: u64::MAX,
            severity_number: 9,
            severity_text: "INFO".into(),
            body: Some(AnyValue {
                value: Some(any_value::Value::StringValue(tricky())),
            }),
            attributes: attrs,
            dropped_attributes_count: 1,
            flags: 1,
            trace_id: vec![7; 16],
            span_id: vec![8; 8],
            event_name: "claude_code.api_request".into(),
        };
        let empty_body = LogRecord {
            body: Some(AnyValue { value: None }),
            ..LogRecord::default()
        };
        ExportLogsServiceRequest {
            resource_logs: vec![
                ResourceLogs {
                    resource,
                    scope_logs: vec![
                        ScopeLogs {
                            scope,
                            log_records: vec![record, empty_body, LogRecord::default()],
                            schema_url: "https://s".into(),
                        },
                        ScopeLogs::default(),
                    ],
                    schema_url: "https://r".into(),
                },
                ResourceLogs::default(),
            ],
        }
    }

    fn all_requests() -> Vec<(String, Request)> {
        let mut all = captured();
        all.push(("every trace field".into(), Request::Traces(full_traces())));
        all.push(("every logs field".into(), Request::Logs(full_logs())));
        all.push((
            "empty traces".into(),
            Request::Traces(ExportTraceServiceRequest::default()),
        ));
        all.push((
            "empty logs".into(),
            Request::Logs(ExportLogsServiceRequest::default()),
        ));
        all
    }

    #[test]
    fn the_json_decodes_back_to_the_same_request() {
        for (name, req) in all_requests() {
            let json = req.to_json();
            let signal = match &req {
                Request::Traces(_) => Signal::Traces,
                Request::Logs(_) => Signal::Logs,
                Request::Metrics(_) => Signal::Metrics,
            };
            let back = decode(signal, Encoding::Json, json.as_bytes())
                .unwrap_or_else(|e| panic!("{name}: {}\n{json}", e.message()));
            if back != req {
                let (a, b) = (format!("{back:?}"), format!("{req:?}"));
                let at = a
                    .bytes()
                    .zip(b.bytes())
                    .position(|(x, y)| x != y)
                    .unwrap_or(0);
                panic!(
                    "{name}: differs at {}\n{}",
                    &a[at.saturating_sub(200)..(at + 100).min(a.len())],
                    &b[at.saturating_sub(200)..(at + 100).min(b.len())]
                );
            }
        }
    }

    /// Whether a JSON value is what a left-out field reads as.
    fn is_default(v: &Value) -> bool {
        match v {
            Value::Null => true,
            Value::Bool(b) => !b,
            Value::Number(n) => n.as_f64() == Some(0.0),
            Value::String(s) => s.is_empty() || s == "0",
            Value::Array(a) => a.is_empty(),
            Value::Object(_) => false,
        }
    }

    /// `ours` is `serde`'s JSON without (some of) its default-valued fields.
    fn same_but_defaults(ours: &Value, serde: &Value, at: &str) {
        match (ours, serde) {
            (Value::Object(o), Value::Object(s)) => {
                for (k, v) in o {
                    let sv = s
                        .get(k)
                        .unwrap_or_else(|| panic!("{at}.{k}: not in serde's JSON"));
                    same_but_defaults(v, sv, &format!("{at}.{k}"));
                }
                for (k, v) in s {
                    if !o.contains_key(k) {
                        assert!(is_default(v), "{at}.{k}: left out but {v}");
                    }
                }
            }
            (Value::Array(o), Value::Array(s)) => {
                assert_eq!(o.len(), s.len(), "{at}");
                for (i, (a, b)) in o.iter().zip(s).enumerate() {
                    same_but_defaults(a, b, &format!("{at}[{i}]"));
                }
            }
            _ => assert_eq!(ours, serde, "{at}"),
        }
    }

    #[test]
    fn the_json_is_serdes_without_default_fields() {
        for (name, req) in all_requests() {
            let ours: Value = serde_json::from_str(&req.to_json()).unwrap();
            // Both parsed from text, so doubles go through the same parser.
            let serde = match &req {
                Request::Traces(r) => serde_json::to_string(r),
                Request::Logs(r) => serde_json::to_string(r),
                Request::Metrics(r) => serde_json::to_string(r),
            }
            .unwrap();
            let serde: Value = serde_json::from_str(&serde).unwrap();
            same_but_defaults(&ours, &serde, &name);
        }
        // Defaults are left out: the load generator's spans carry none of these.
        let json = traces(&full_traces());
        let default_span = json
            .find("{\"status\":{\"message\":\"\",\"code\":0}}")
            .is_some();
        assert!(
            default_span,
            "a span of defaults is only its status: {json}"
        );
    }

    #[test]
    fn doubles_that_are_not_finite_keep_their_value() {
        let mut req = ExportTraceServiceRequest::default();
        let mut span = Span::default();
        for (k, d) in [
            ("nan", f64::NAN),
            ("inf", f64::INFINITY),
            ("-inf", f64::NEG_INFINITY),
        ] {
            span.attributes
                .push(kv(k, any_value::Value::DoubleValue(d)));
        }
        req.resource_spans.push(ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![span],
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        });
        let json = traces(&req);
        for expected in [
            "{\"doubleValue\":\"NaN\"}",
            "{\"doubleValue\":\"Infinity\"}",
            "{\"doubleValue\":\"-Infinity\"}",
        ] {
            assert!(json.contains(expected), "{json}");
        }
        // And our reader reads them back.
        let back = decode(Signal::Traces, Encoding::Json, json.as_bytes())
            .unwrap_or_else(|e| panic!("{}", e.report()));
        assert_eq!(back.to_protobuf(), Request::Traces(req).to_protobuf());
    }

    /// Metrics go through serde, which writes a non-finite double as `null`: theirs are
    /// written as the protobuf JSON mapping's strings too, and read back.
    #[test]
    fn metrics_keep_their_doubles_that_are_not_finite() {
        let body = r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[
            {"name":"g","gauge":{"dataPoints":[{"asDouble":"NaN","attributes":[{"key":"k","value":{"doubleValue":"-Infinity"}}]}]}},
            {"name":"h","histogram":{"dataPoints":[{"count":"1","sum":"Infinity","min":-4.5,
                "bucketCounts":["0","1","0"],"explicitBounds":[1, "NaN", "2.5"]}]}},
            {"name":"s","summary":{"dataPoints":[{"sum":2.5,"quantileValues":[{"quantile":0.5,"value":"Infinity"}]}]}}]}]}]}"#;
        let req = decode(Signal::Metrics, Encoding::Json, body.as_bytes())
            .unwrap_or_else(|e| panic!("{}", e.report()));
        let json = req.to_json();
        for special in [
            r#""asDouble":"NaN""#,
            r#""doubleValue":"-Infinity""#,
            r#""sum":"Infinity""#,
            r#""value":"Infinity""#,
            r#""min":-4.5"#,
            r#""explicitBounds":[1.0,"NaN",2.5]"#,
        ] {
            assert!(json.contains(special), "{special}: {json}");
        }
        let back = decode(Signal::Metrics, Encoding::Json, json.as_bytes())
            .unwrap_or_else(|e| panic!("{}\n{json}", e.report()));
        assert_eq!(back.to_json(), json);
        // A finite metrics request is serde's JSON as it is.
        let finite = decode(
            Signal::Metrics,
            Encoding::Json,
            br#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"g","gauge":{"dataPoints":[{"asDouble":1.25}]}}]}]}]}"#,
        )
        .unwrap();
        let Request::Metrics(m) = &finite else {
            panic!("metrics")
        };
        assert_eq!(finite.to_json(), serde_json::to_string(m).unwrap());
    }

    #[test]
    fn strings_are_escaped_exactly_as_serde_json_escapes_them() {
        let alphabet: Vec<char> = "ab \"\\\n\t\r\u{0}\u{1}\u{1f}\u{7f}é日🦀/"
            .chars()
            .collect();
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 40) as usize;
            let s: String = (0..len)
                .map(|i| alphabet[((state >> (i % 48)) as usize + i * 7) % alphabet.len()])
                .collect();
            let mut w = Json::with_capacity(0);
            w.string(&s);
            assert_eq!(w.out, serde_json::to_string(&s).unwrap(), "{s:?}");
        }
        // The lowest byte the mask marks is the first byte to escape, whatever follows it.
        for b in 0u8..=255 {
            for next in [b'a', 0, b'"', 0xff] {
                let word = u64::from_le_bytes([b'a', b'a', b'a', b, next, b'a', 0x80, b'a']);
                let first = [b'a', b'a', b'a', b, next, b'a', 0x80, b'a']
                    .iter()
                    .position(|&c| ESCAPE[usize::from(c)] != 0);
                let mask = escape_mask(word);
                let marked = (mask != 0).then(|| (mask.trailing_zeros() / 8) as usize);
                assert_eq!(marked, first, "{b:#x} then {next:#x}");
            }
        }
    }
}
