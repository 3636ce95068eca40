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

use super::decode::Request;
use super::walk::{Visit, walk};
use crate::redact::Redactor;

/// Masks every string of `req` in place; returns how many values were masked.
pub fn mask_request(req: &mut Request, redactor: &Redactor) -> u64 {
    let mut m = Masker { redactor, count: 0 };
    walk(req, &mut m);
    m.count
}

struct Masker<'a> {
    redactor: &'a Redactor,
    count: u64,
}

impl Visit for Masker<'_> {
    fn text(&mut self, s: &mut String) {
        if !s.is_empty() {
            self.count += self.redactor.redact(s) as u64;
        }
    }

    fn string_value(&mut self, key: &str, s: &mut String) {
        if !s.is_empty() {
            self.count += self.redactor.redact_value(key, s) as u64;
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
