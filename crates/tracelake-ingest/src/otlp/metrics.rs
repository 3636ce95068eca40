//! OTLP metric data points into the `metrics` table, one row per point (sums, gauges,
//! histograms, exponential histograms, summaries), attributes kept as JSON.

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as NumberValue;
use opentelemetry_proto::tonic::metrics::v1::{AggregationTemporality, Metric};
use tracelake_model::MetricPoint;

use super::ResourceCtx;
use super::attrs::{Attrs, object};
use super::traces::micros;

fn temporality(t: i32) -> Option<String> {
    match AggregationTemporality::try_from(t) {
        Ok(AggregationTemporality::Delta) => Some("delta".into()),
        Ok(AggregationTemporality::Cumulative) => Some("cumulative".into()),
        _ => None,
    }
}

/// Maps every data point of one metric.
pub fn map_metric(ctx: &ResourceCtx, m: &Metric, request: &str, out: &mut Vec<MetricPoint>) {
    let point = |attributes: &[KeyValue], time: u64, start: u64, ty: &str| {
        let a = Attrs(attributes);
        MetricPoint {
            metric_name: m.name.clone(),
            description: (!m.description.is_empty()).then(|| m.description.clone()),
            unit: (!m.unit.is_empty()).then(|| m.unit.clone()),
            metric_type: ty.to_string(),
            time: micros(time),
            start_time: (start > 0).then(|| micros(start)),
            session_id: a.str(&["session.id"]),
            user_id: a.str(&["user.id"]).or_else(|| ctx.user_id.clone()),
            model: a.str(&["model", "gen_ai.request.model"]),
            service_name: ctx.service_name.clone(),
            attributes: Some(crate::json::object_text(&object(attributes))),
            resource_attributes: Some(ctx.resource_json.clone()),
            source: "otlp".into(),
            source_ref: Some(request.to_string()),
            ..MetricPoint::default()
        }
    };
    let number = |v: &Option<NumberValue>| match v {
        Some(NumberValue::AsDouble(d)) => Some(*d),
        Some(NumberValue::AsInt(i)) => Some(*i as f64),
        None => None,
    };
    match &m.data {
        Some(Data::Sum(sum)) => {
            for p in &sum.data_points {
                let mut row = point(
                    &p.attributes,
                    p.time_unix_nano,
                    p.start_time_unix_nano,
                    "sum",
                );
                row.value = number(&p.value);
                row.temporality = temporality(sum.aggregation_temporality);
                row.is_monotonic = Some(sum.is_monotonic);
                out.push(row);
            }
        }
        Some(Data::Gauge(g)) => {
            for p in &g.data_points {
                let mut row = point(
                    &p.attributes,
                    p.time_unix_nano,
                    p.start_time_unix_nano,
                    "gauge",
                );
                row.value = number(&p.value);
                out.push(row);
            }
        }
        Some(Data::Histogram(h)) => {
            for p in &h.data_points {
                let mut row = point(
                    &p.attributes,
                    p.time_unix_nano,
                    p.start_time_unix_nano,
                    "histogram",
                );
                row.value = p.sum;
                row.count = Some(p.count as i64);
                row.min = p.min;
                row.max = p.max;
                row.temporality = temporality(h.aggregation_temporality);
                out.push(row);
            }
        }
        Some(Data::ExponentialHistogram(h)) => {
            for p in &h.data_points {
                let mut row = point(
                    &p.attributes,
                    p.time_unix_nano,
                    p.start_time_unix_nano,
                    "exponential_histogram",
                );
                row.value = p.sum;
                row.count = Some(p.count as i64);
                row.min = p.min;
                row.max = p.max;
                row.temporality = temporality(h.aggregation_temporality);
                out.push(row);
            }
        }
        Some(Data::Summary(sm)) => {
            for p in &sm.data_points {
                let mut row = point(
                    &p.attributes,
                    p.time_unix_nano,
                    p.start_time_unix_nano,
                    "summary",
                );
                row.value = Some(p.sum);
                row.count = Some(p.count as i64);
                out.push(row);
            }
        }
        None => {}
    }
}
