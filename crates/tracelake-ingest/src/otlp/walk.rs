//! One walk over everything a decoded OTLP request holds that is text or a double, at any
//! depth: names, messages, attribute keys and values (in arrays and key-value lists too), log
//! bodies, scope, schema and entity fields, and every double of an attribute or a metric
//! point. The masker ([`super::mask`]) visits the strings; the JSON reader
//! ([`super::decode`]) the doubles. A field added to a visited message is visited in one
//! place.

use opentelemetry_proto::tonic::common::v1::{
    AnyValue, EntityRef, InstrumentationScope, KeyValue, any_value,
};
use opentelemetry_proto::tonic::metrics::v1::{Exemplar, exemplar, metric, number_data_point};
use opentelemetry_proto::tonic::resource::v1::Resource;

use super::decode::Request;

/// What a walk calls for each string and double it meets.
pub(crate) trait Visit {
    /// A string that is text, not an attribute's value (a name, a message, a key).
    fn text(&mut self, _text: &mut String) {}
    /// A string attribute value under `key` (empty for a log body or an array element).
    fn string_value(&mut self, _key: &str, _value: &mut String) {}
    /// A double: an attribute's, or a metric point's value, sum, bound or quantile.
    fn double(&mut self, _value: &mut f64) {}
}

/// Visits every string and double of `req`.
pub(crate) fn walk(req: &mut Request, v: &mut impl Visit) {
    match req {
        Request::Traces(r) => {
            for rs in &mut r.resource_spans {
                resource(v, rs.resource.as_mut());
                v.text(&mut rs.schema_url);
                for ss in &mut rs.scope_spans {
                    scope(v, ss.scope.as_mut());
                    v.text(&mut ss.schema_url);
                    for span in &mut ss.spans {
                        v.text(&mut span.name);
                        v.text(&mut span.trace_state);
                        attributes(v, &mut span.attributes);
                        for event in &mut span.events {
                            v.text(&mut event.name);
                            attributes(v, &mut event.attributes);
                        }
                        for link in &mut span.links {
                            v.text(&mut link.trace_state);
                            attributes(v, &mut link.attributes);
                        }
                        if let Some(status) = &mut span.status {
                            v.text(&mut status.message);
                        }
                    }
                }
            }
        }
        Request::Logs(r) => {
            for rl in &mut r.resource_logs {
                resource(v, rl.resource.as_mut());
                v.text(&mut rl.schema_url);
                for sl in &mut rl.scope_logs {
                    scope(v, sl.scope.as_mut());
                    v.text(&mut sl.schema_url);
                    for record in &mut sl.log_records {
                        v.text(&mut record.severity_text);
                        v.text(&mut record.event_name);
                        if let Some(body) = &mut record.body {
                            value(v, "", body);
                        }
                        attributes(v, &mut record.attributes);
                    }
                }
            }
        }
        Request::Metrics(r) => {
            for rm in &mut r.resource_metrics {
                resource(v, rm.resource.as_mut());
                v.text(&mut rm.schema_url);
                for sm in &mut rm.scope_metrics {
                    scope(v, sm.scope.as_mut());
                    v.text(&mut sm.schema_url);
                    for metric in &mut sm.metrics {
                        v.text(&mut metric.name);
                        v.text(&mut metric.description);
                        v.text(&mut metric.unit);
                        attributes(v, &mut metric.metadata);
                        points(v, metric.data.as_mut());
                    }
                }
            }
        }
    }
}

fn attributes(v: &mut impl Visit, kvs: &mut [KeyValue]) {
    for kv in kvs {
        if let Some(val) = &mut kv.value {
            value(v, &kv.key, val);
        }
        v.text(&mut kv.key);
    }
}

fn value(v: &mut impl Visit, key: &str, val: &mut AnyValue) {
    match &mut val.value {
        Some(any_value::Value::StringValue(s)) => v.string_value(key, s),
        Some(any_value::Value::DoubleValue(d)) => v.double(d),
        Some(any_value::Value::ArrayValue(a)) => {
            for item in &mut a.values {
                value(v, key, item);
            }
        }
        Some(any_value::Value::KvlistValue(l)) => attributes(v, &mut l.values),
        _ => {}
    }
}

fn resource(v: &mut impl Visit, resource: Option<&mut Resource>) {
    if let Some(r) = resource {
        attributes(v, &mut r.attributes);
        for e in &mut r.entity_refs {
            entity(v, e);
        }
    }
}

fn entity(v: &mut impl Visit, e: &mut EntityRef) {
    v.text(&mut e.schema_url);
    v.text(&mut e.r#type);
    for k in e.id_keys.iter_mut().chain(&mut e.description_keys) {
        v.text(k);
    }
}

fn scope(v: &mut impl Visit, scope: Option<&mut InstrumentationScope>) {
    if let Some(s) = scope {
        v.text(&mut s.name);
        v.text(&mut s.version);
        attributes(v, &mut s.attributes);
    }
}

fn points(v: &mut impl Visit, data: Option<&mut metric::Data>) {
    let Some(data) = data else { return };
    let number = |v: &mut _, value: &mut Option<number_data_point::Value>| {
        if let Some(number_data_point::Value::AsDouble(d)) = value {
            Visit::double(v, d);
        }
    };
    match data {
        metric::Data::Gauge(g) => {
            for p in &mut g.data_points {
                attributes(v, &mut p.attributes);
                exemplars(v, &mut p.exemplars);
                number(v, &mut p.value);
            }
        }
        metric::Data::Sum(s) => {
            for p in &mut s.data_points {
                attributes(v, &mut p.attributes);
                exemplars(v, &mut p.exemplars);
                number(v, &mut p.value);
            }
        }
        metric::Data::Histogram(h) => {
            for p in &mut h.data_points {
                attributes(v, &mut p.attributes);
                exemplars(v, &mut p.exemplars);
                for d in [&mut p.sum, &mut p.min, &mut p.max].into_iter().flatten() {
                    v.double(d);
                }
                for d in &mut p.explicit_bounds {
                    v.double(d);
                }
            }
        }
        metric::Data::ExponentialHistogram(h) => {
            for p in &mut h.data_points {
                attributes(v, &mut p.attributes);
                exemplars(v, &mut p.exemplars);
                for d in [&mut p.sum, &mut p.min, &mut p.max].into_iter().flatten() {
                    v.double(d);
                }
            }
        }
        metric::Data::Summary(s) => {
            for p in &mut s.data_points {
                attributes(v, &mut p.attributes);
                v.double(&mut p.sum);
                for q in &mut p.quantile_values {
                    v.double(&mut q.quantile);
                    v.double(&mut q.value);
                }
            }
        }
    }
}

fn exemplars(v: &mut impl Visit, exemplars: &mut [Exemplar]) {
    for e in exemplars {
        attributes(v, &mut e.filtered_attributes);
        if let Some(exemplar::Value::AsDouble(d)) = &mut e.value {
            v.double(d);
        }
    }
}

/// The non-finite doubles, as the protobuf JSON mapping writes them.
pub(crate) const NON_FINITE: [(f64, &str); 3] = [
    (f64::NAN, "NaN"),
    (f64::INFINITY, "Infinity"),
    (f64::NEG_INFINITY, "-Infinity"),
];

/// Finite stand-ins for [`NON_FINITE`], where `opentelemetry-proto`'s serde takes or writes
/// finite numbers only: negative subnormal numbers, a set per `attempt`, so that a set one of
/// which is a value of the request can be traded for the next.
pub(crate) fn stand_ins(attempt: u64) -> [f64; 3] {
    let base = 0x8000_0000_7E1A_CE00 + attempt * 4;
    [1, 2, 3].map(|i| f64::from_bits(base + i))
}

/// Swaps each double of one set for the double at the same place in the other, counting the
/// swaps: non-finite doubles for their stand-ins, or back.
pub(crate) struct Swap {
    /// The doubles to swap, compared by their bits (a NaN by being one).
    pub from: [f64; 3],
    /// What each becomes.
    pub to: [f64; 3],
    /// Swaps made.
    pub count: u64,
}

impl Visit for Swap {
    fn double(&mut self, value: &mut f64) {
        let same = |a: f64, b: f64| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
        if let Some(i) = self.from.iter().position(|f| same(*f, *value)) {
            *value = self.to[i];
            self.count += 1;
        }
    }
}
