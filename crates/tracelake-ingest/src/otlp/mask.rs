//! Secrets are masked once per request, in the decoded request itself: every string it holds
//! (attribute keys and values at any depth, names, status and log messages, log bodies, scope
//! and schema fields) goes through the [`Redactor`] before the committer writes the request
//! as `raw` JSON and maps it into spans. Both are built from masked strings, so neither is
//! scanned again: the JSON and the span columns repeat the same text, and masking it twice
//! was a fifth of the committer's work (docs/adr/0007).
//!
//! A string attribute is masked with its key ([`Redactor::redact_value`]): the value of
//! `db.password` is a secret although it looks like any other word, as `password=…` is in
//! text.

use opentelemetry_proto::tonic::common::v1::{
    AnyValue, EntityRef, InstrumentationScope, KeyValue, any_value,
};
use opentelemetry_proto::tonic::metrics::v1::{Exemplar, metric};
use opentelemetry_proto::tonic::resource::v1::Resource;

use super::decode::Request;
use crate::redact::Redactor;

/// Masks every string of `req` in place; returns how many values were masked.
pub fn mask_request(req: &mut Request, redactor: &Redactor) -> u64 {
    let mut m = Masker { redactor, count: 0 };
    match req {
        Request::Traces(r) => {
            for rs in &mut r.resource_spans {
                m.resource(rs.resource.as_mut());
                m.text(&mut rs.schema_url);
                for ss in &mut rs.scope_spans {
                    m.scope(ss.scope.as_mut());
                    m.text(&mut ss.schema_url);
                    for span in &mut ss.spans {
                        m.text(&mut span.name);
                        m.text(&mut span.trace_state);
                        m.attributes(&mut span.attributes);
                        for event in &mut span.events {
                            m.text(&mut event.name);
                            m.attributes(&mut event.attributes);
                        }
                        for link in &mut span.links {
                            m.text(&mut link.trace_state);
                            m.attributes(&mut link.attributes);
                        }
                        if let Some(status) = &mut span.status {
                            m.text(&mut status.message);
                        }
                    }
                }
            }
        }
        Request::Logs(r) => {
            for rl in &mut r.resource_logs {
                m.resource(rl.resource.as_mut());
                m.text(&mut rl.schema_url);
                for sl in &mut rl.scope_logs {
                    m.scope(sl.scope.as_mut());
                    m.text(&mut sl.schema_url);
                    for record in &mut sl.log_records {
                        m.text(&mut record.severity_text);
                        m.text(&mut record.event_name);
                        if let Some(body) = &mut record.body {
                            m.value("", body);
                        }
                        m.attributes(&mut record.attributes);
                    }
                }
            }
        }
        Request::Metrics(r) => {
            for rm in &mut r.resource_metrics {
                m.resource(rm.resource.as_mut());
                m.text(&mut rm.schema_url);
                for sm in &mut rm.scope_metrics {
                    m.scope(sm.scope.as_mut());
                    m.text(&mut sm.schema_url);
                    for metric in &mut sm.metrics {
                        m.text(&mut metric.name);
                        m.text(&mut metric.description);
                        m.text(&mut metric.unit);
                        m.attributes(&mut metric.metadata);
                        m.points(metric.data.as_mut());
                    }
                }
            }
        }
    }
    m.count
}

struct Masker<'a> {
    redactor: &'a Redactor,
    count: u64,
}

impl Masker<'_> {
    fn text(&mut self, s: &mut String) {
        if !s.is_empty() {
            self.count += self.redactor.redact(s) as u64;
        }
    }

    fn attributes(&mut self, kvs: &mut [KeyValue]) {
        for kv in kvs {
            if let Some(value) = &mut kv.value {
                self.value(&kv.key, value);
            }
            self.text(&mut kv.key);
        }
    }

    /// A value under `key` (empty for a log body or an array element).
    fn value(&mut self, key: &str, value: &mut AnyValue) {
        match &mut value.value {
            Some(any_value::Value::StringValue(s)) if !s.is_empty() => {
                self.count += self.redactor.redact_value(key, s) as u64;
            }
            Some(any_value::Value::ArrayValue(a)) => {
                for v in &mut a.values {
                    self.value(key, v);
                }
            }
            Some(any_value::Value::KvlistValue(l)) => self.attributes(&mut l.values),
            _ => {}
        }
    }

    fn resource(&mut self, resource: Option<&mut Resource>) {
        if let Some(r) = resource {
            self.attributes(&mut r.attributes);
            for e in &mut r.entity_refs {
                self.entity(e);
            }
        }
    }

    fn entity(&mut self, e: &mut EntityRef) {
        self.text(&mut e.schema_url);
        self.text(&mut e.r#type);
        for k in e.id_keys.iter_mut().chain(&mut e.description_keys) {
            self.text(k);
        }
    }

    fn scope(&mut self, scope: Option<&mut InstrumentationScope>) {
        if let Some(s) = scope {
            self.text(&mut s.name);
            self.text(&mut s.version);
            self.attributes(&mut s.attributes);
        }
    }

    fn points(&mut self, data: Option<&mut metric::Data>) {
        let Some(data) = data else { return };
        match data {
            metric::Data::Gauge(g) => {
                for p in &mut g.data_points {
                    self.attributes(&mut p.attributes);
                    self.exemplars(&mut p.exemplars);
                }
            }
            metric::Data::Sum(s) => {
                for p in &mut s.data_points {
                    self.attributes(&mut p.attributes);
                    self.exemplars(&mut p.exemplars);
                }
            }
            metric::Data::Histogram(h) => {
                for p in &mut h.data_points {
                    self.attributes(&mut p.attributes);
                    self.exemplars(&mut p.exemplars);
                }
            }
            metric::Data::ExponentialHistogram(h) => {
                for p in &mut h.data_points {
                    self.attributes(&mut p.attributes);
                    self.exemplars(&mut p.exemplars);
                }
            }
            metric::Data::Summary(s) => {
                for p in &mut s.data_points {
                    self.attributes(&mut p.attributes);
                }
            }
        }
    }

    fn exemplars(&mut self, exemplars: &mut [Exemplar]) {
        for e in exemplars {
            self.attributes(&mut e.filtered_attributes);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;
    use tracelake_model::PricingTable;

    use super::*;
    use crate::otlp::decode::{Encoding, Signal, decode};
    use crate::otlp::map_request;

    const SECRET: &str = "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123";

    /// Appends the secret to every string of an OTLP JSON request that is text (not an id,
    /// bytes, or a 64-bit number, which OTLP JSON writes as strings); returns how many.
    fn plant(v: &mut Value, key: &str) -> u64 {
        match v {
            Value::String(s)
                if !matches!(key, "traceId" | "spanId" | "parentSpanId" | "bytesValue")
                    && s.parse::<i128>().is_err() =>
            {
                s.push(' ');
                s.push_str(SECRET);
                1
            }
            Value::Array(a) => a.iter_mut().map(|v| plant(v, key)).sum(),
            Value::Object(o) => o.iter_mut().map(|(k, v)| plant(v, k)).sum(),
            _ => 0,
        }
    }

    /// Plants the secret everywhere in `req`, masks it and checks that neither its raw JSON
    /// nor anything mapped from it holds the secret, and that each value was masked once.
    fn check(signal: Signal, req: &Request, what: &str) -> u64 {
        let mut json: Value = serde_json::from_str(&req.to_json()).expect("OTLP JSON");
        let planted = plant(&mut json, "");
        let mut req = decode(signal, Encoding::Json, json.to_string().as_bytes())
            .unwrap_or_else(|e| panic!("{what}: {}", e.report()));
        let redactor = Redactor::default_rules().expect("rules");
        let masked = mask_request(&mut req, &redactor);
        let raw = req.to_json();
        assert!(!raw.contains("sk-ant-"), "{what}: {raw}");
        assert_eq!(
            // (`unit: "token sk-ant-…"` reads as a bearer token: any rule will do)
            raw.matches("[REDACTED:").count() as u64,
            planted,
            "{what}"
        );
        assert_eq!(masked, planted, "{what}");
        for row in map_request(&req, "seg#0", PricingTable::embedded()) {
            let text = match &row {
                crate::otlp::Mapped::Span(s, _) => format!("{s:?}"),
                crate::otlp::Mapped::Metric(m) => format!("{m:?}"),
            };
            assert!(!text.contains("sk-ant-"), "{what}: {text}");
        }
        planted
    }

    fn json_request(signal: Signal, json: &str) -> Request {
        decode(signal, Encoding::Json, json.as_bytes()).unwrap_or_else(|e| panic!("{}", e.report()))
    }

    /// A request of each signal with every kind of string OTLP has, however rare.
    #[test]
    fn every_string_of_every_signal_is_masked_once() {
        let resource = r#"{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}},
            {"key":"tags","value":{"arrayValue":{"values":[{"stringValue":"a"},{"intValue":"3"}]}}},
            {"key":"nested","value":{"kvlistValue":{"values":[{"key":"inner","value":{"stringValue":"b"}}]}}}],
            "entityRefs":[{"schemaUrl":"https://e","type":"host","idKeys":["host.id"],"descriptionKeys":["host.name"]}]}"#;
        let scope = r#"{"name":"scope","version":"1.0","attributes":[{"key":"k","value":{"stringValue":"v"}}]}"#;
        let attrs =
            r#"[{"key":"a","value":{"stringValue":"x"}},{"key":"n","value":{"intValue":"7"}}]"#;
        let traces = format!(
            r#"{{"resourceSpans":[{{"resource":{resource},"schemaUrl":"https://r","scopeSpans":[{{
              "scope":{scope},"schemaUrl":"https://s","spans":[{{
                "traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708",
                "traceState":"vendor=abc","name":"chat model","kind":3,
                "startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000001000000000",
                "attributes":{attrs},
                "events":[{{"timeUnixNano":"1700000000500000000","name":"gen_ai.content.prompt","attributes":{attrs}}}],
                "links":[{{"traceId":"0102030405060708090a0b0c0d0e0f11","spanId":"0102030405060709","traceState":"t=1","attributes":{attrs}}}],
                "status":{{"code":2,"message":"failed"}}}}]}}]}}]}}"#
        );
        let logs = format!(
            r#"{{"resourceLogs":[{{"resource":{resource},"schemaUrl":"https://r","scopeLogs":[{{
              "scope":{scope},"schemaUrl":"https://s","logRecords":[{{
                "timeUnixNano":"1700000000000000000","severityText":"INFO","eventName":"e",
                "body":{{"kvlistValue":{{"values":[{{"key":"msg","value":{{"arrayValue":{{"values":[{{"stringValue":"hello"}}]}}}}}}]}}}},
                "attributes":{attrs}}},{{"timeUnixNano":"1700000000000000000","body":{{"stringValue":"plain"}}}}]}}]}}]}}"#
        );
        let point = format!(
            r#"{{"attributes":{attrs},"timeUnixNano":"1700000000000000000","asInt":"5",
                "exemplars":[{{"filteredAttributes":{attrs},"timeUnixNano":"1700000000000000000","asDouble":1.5}}]}}"#
        );
        let hist = format!(
            r#"{{"attributes":{attrs},"timeUnixNano":"1700000000000000000","count":"2","sum":3.0,
                "bucketCounts":["1","1"],"explicitBounds":[1.0],"exemplars":[{{"filteredAttributes":{attrs},"asInt":"1"}}]}}"#
        );
        let metrics = format!(
            r#"{{"resourceMetrics":[{{"resource":{resource},"schemaUrl":"https://r","scopeMetrics":[{{
              "scope":{scope},"schemaUrl":"https://s","metrics":[
                {{"name":"g","description":"d","unit":"1","metadata":{attrs},"gauge":{{"dataPoints":[{point}]}}}},
                {{"name":"s","sum":{{"dataPoints":[{point}],"aggregationTemporality":1,"isMonotonic":true}}}},
                {{"name":"h","histogram":{{"dataPoints":[{hist}],"aggregationTemporality":2}}}},
                {{"name":"e","exponentialHistogram":{{"dataPoints":[{{"attributes":{attrs},"count":"1","scale":1,
                    "positive":{{"offset":0,"bucketCounts":["1"]}},"exemplars":[{{"filteredAttributes":{attrs}}}]}}]}}}},
                {{"name":"q","summary":{{"dataPoints":[{{"attributes":{attrs},"count":"1","sum":1.0,
                    "quantileValues":[{{"quantile":0.5,"value":1.0}}]}}]}}}}]}}]}}]}}"#
        );
        for (signal, json, at_least) in [
            (Signal::Traces, traces, 25),
            (Signal::Logs, logs, 20),
            (Signal::Metrics, metrics, 40),
        ] {
            let req = json_request(signal, &json);
            let planted = check(signal, &req, signal.name());
            assert!(planted >= at_least, "{}: {planted}", signal.name());
        }
    }

    /// The requests real clients sent (Claude Code, Codex, the Python instrumentations).
    #[test]
    fn every_string_of_the_captured_requests_is_masked_once() {
        let captured = crate::otlp::decode::captured_requests();
        for (name, signal, req) in &captured {
            assert!(check(*signal, req, name) > 0, "{name}");
        }
        assert!(captured.len() >= 30, "{} captures", captured.len());
    }
}
