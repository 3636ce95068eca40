//! OpenTelemetry attribute lists: typed lookups by key (with the older and newer names a
//! convention has used) and lossless conversion to JSON for the `attributes` columns.

use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValueKind;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use serde_json::{Map, Number, Value};

/// An attribute value as JSON (bytes as lowercase hex, non-finite doubles as strings).
pub fn to_json(v: &AnyValue) -> Value {
    match &v.value {
        None => Value::Null,
        Some(AnyValueKind::StringValue(s)) => Value::String(s.clone()),
        Some(AnyValueKind::BoolValue(b)) => Value::Bool(*b),
        Some(AnyValueKind::IntValue(i)) => Value::Number((*i).into()),
        Some(AnyValueKind::DoubleValue(d)) => Number::from_f64(*d)
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(d.to_string())),
        Some(AnyValueKind::ArrayValue(a)) => Value::Array(a.values.iter().map(to_json).collect()),
        Some(AnyValueKind::KvlistValue(kv)) => Value::Object(object(&kv.values)),
        Some(AnyValueKind::BytesValue(b)) => Value::String(hex(b)),
        #[allow(unreachable_patterns)]
        Some(_) => Value::Null,
    }
}

/// Lowercase hex of bytes (trace and span ids).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// An attribute list as a JSON object.
pub fn object(kvs: &[KeyValue]) -> Map<String, Value> {
    kvs.iter().map(entry).collect()
}

/// One attribute as a JSON object entry.
pub fn entry(kv: &KeyValue) -> (String, Value) {
    (
        kv.key.clone(),
        kv.value.as_ref().map_or(Value::Null, to_json),
    )
}

/// Looks up attributes by key.
#[derive(Clone, Copy)]
pub struct Attrs<'a>(pub &'a [KeyValue]);

impl<'a> Attrs<'a> {
    /// The value of the first of `keys` present.
    pub fn get(&self, keys: &[&str]) -> Option<&'a AnyValue> {
        keys.iter().find_map(|k| {
            self.0
                .iter()
                .find(|kv| kv.key == *k)
                .and_then(|kv| kv.value.as_ref())
        })
    }

    /// A string (numbers and booleans are written out).
    pub fn str(&self, keys: &[&str]) -> Option<String> {
        match &self.get(keys)?.value {
            Some(AnyValueKind::StringValue(s)) if !s.is_empty() => Some(s.clone()),
            Some(AnyValueKind::IntValue(i)) => Some(i.to_string()),
            Some(AnyValueKind::DoubleValue(d)) => Some(d.to_string()),
            Some(AnyValueKind::BoolValue(b)) => Some(b.to_string()),
            Some(AnyValueKind::ArrayValue(a)) => {
                // A one-element string array (finish_reasons) reads as its element.
                match a.values.first().and_then(|v| v.value.as_ref()) {
                    Some(AnyValueKind::StringValue(s)) => Some(s.clone()),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// An integer (strings holding integers are accepted: some exporters send them so).
    pub fn int(&self, keys: &[&str]) -> Option<i64> {
        match &self.get(keys)?.value {
            Some(AnyValueKind::IntValue(i)) => Some(*i),
            Some(AnyValueKind::DoubleValue(d)) if d.is_finite() => Some(*d as i64),
            Some(AnyValueKind::StringValue(s)) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// A float (integers and numeric strings are accepted).
    pub fn float(&self, keys: &[&str]) -> Option<f64> {
        match &self.get(keys)?.value {
            Some(AnyValueKind::DoubleValue(d)) => Some(*d),
            Some(AnyValueKind::IntValue(i)) => Some(*i as f64),
            Some(AnyValueKind::StringValue(s)) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// A boolean (`"true"`/`"false"` strings are accepted).
    pub fn bool(&self, keys: &[&str]) -> Option<bool> {
        match &self.get(keys)?.value {
            Some(AnyValueKind::BoolValue(b)) => Some(*b),
            Some(AnyValueKind::StringValue(s)) => match s.as_str() {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            },
            _ => None,
        }
    }

    /// Every attribute whose key starts with `prefix`, in order.
    pub fn with_prefix(
        &self,
        prefix: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a AnyValue)> + 'a {
        self.0.iter().filter_map(move |kv| {
            kv.key
                .strip_prefix(prefix)
                .and_then(|rest| kv.value.as_ref().map(|v| (rest, v)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(k: &str, v: AnyValueKind) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: Some(AnyValue { value: Some(v) }),
            ..Default::default()
        }
    }

    #[test]
    fn lookups_accept_older_names_and_loose_types() {
        let list = vec![
            kv("gen_ai.usage.prompt_tokens", AnyValueKind::IntValue(12)),
            kv("duration_ms", AnyValueKind::StringValue("84".into())),
            kv("success", AnyValueKind::StringValue("true".into())),
            kv("ratio", AnyValueKind::DoubleValue(0.5)),
        ];
        let a = Attrs(&list);
        assert_eq!(
            a.int(&["gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"]),
            Some(12)
        );
        assert_eq!(a.int(&["duration_ms"]), Some(84));
        assert_eq!(a.bool(&["success"]), Some(true));
        assert_eq!(a.float(&["ratio"]), Some(0.5));
        assert_eq!(a.str(&["missing"]), None);
        let json = Value::Object(object(&list)).to_string();
        assert!(json.contains("\"duration_ms\":\"84\""), "{json}");
        assert_eq!(hex(&[0xab, 0x01]), "ab01");
    }
}
