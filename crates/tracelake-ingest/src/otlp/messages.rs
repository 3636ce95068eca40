//! The readable text of GenAI messages (`gen_ai.input.messages`, `gen_ai.output.messages`,
//! message event bodies): `role: text` per message, text parts joined, tool calls and their
//! results named.
//!
//! Messages mostly arrive as a JSON string of a few KB on every model call, so they are read
//! straight from that string into borrowed, typed messages: no JSON tree, and the text is
//! copied once, into the result. The types accept any JSON (a field of an unexpected type
//! reads as absent), so every message shape gives the same text whichever way it arrives, as
//! a string or as an OTLP value already turned into JSON.

use std::borrow::Cow;
use std::fmt;

use opentelemetry_proto::tonic::common::v1::AnyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValueKind;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, de::value::MapAccessDeserializer};
use serde_json::Value;

use super::attrs::to_json;

/// The text of a messages attribute or event body.
pub(crate) fn messages_of(v: &AnyValue) -> Option<String> {
    match &v.value {
        Some(AnyValueKind::StringValue(s)) => text_of_json(s),
        _ => messages_text(&to_json(v)),
    }
}

/// The text of a messages value (see the module header).
pub(crate) fn messages_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => text_of_json(s),
        Value::Array(_) | Value::Object(_) => match Doc::deserialize(v) {
            Ok(Doc::List(list)) => render(&list, 0),
            _ => None,
        },
        _ => None,
    }
}

/// The text of messages given as JSON text; text that holds no message is kept as it is.
pub(crate) fn text_of_json(s: &str) -> Option<String> {
    match serde_json::from_str::<Doc<'_>>(s) {
        Ok(Doc::List(list)) => render(&list, s.len()).or_else(|| Some(s.to_string())),
        // A JSON string holding JSON, or a key repeated in an object (which the typed read
        // refuses and a JSON tree resolves, the last one winning).
        Ok(Doc::Other) | Err(_) => serde_json::from_str::<Value>(s)
            .ok()
            .and_then(|v| messages_text(&v))
            .or_else(|| Some(s.to_string())),
    }
}

/// `size`: about how long the result will be (the JSON it is read from).
fn render(list: &[Message<'_>], size: usize) -> Option<String> {
    let mut out = String::with_capacity(size);
    let mut text = String::with_capacity(size);
    for m in list {
        text.clear();
        m.text_into(&mut text);
        if text.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push('\n');
        }
        if let Some(role) = m.role.0.as_deref().filter(|r| !r.is_empty()) {
            out.push_str(role);
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    (!out.is_empty()).then_some(out)
}

/// A whole messages document: a list of messages, one message, or something else.
enum Doc<'a> {
    List(Vec<Message<'a>>),
    Other,
}

#[derive(Deserialize)]
struct Message<'a> {
    #[serde(default, borrow)]
    role: Str<'a>,
    #[serde(default, borrow)]
    content: Str<'a>,
    #[serde(default, borrow)]
    parts: Objects<Part<'a>>,
    /// Small, and read as JSON exactly as any shape of it is meant.
    #[serde(default)]
    tool_calls: Option<Value>,
}

#[derive(Deserialize)]
struct Part<'a> {
    #[serde(default, borrow, rename = "type")]
    kind: Str<'a>,
    #[serde(default, borrow)]
    content: Str<'a>,
    #[serde(default, borrow)]
    text: Str<'a>,
    // A `tool_call` part is the call: `{function: {name, arguments}}` or `{name, arguments}`.
    #[serde(default, deserialize_with = "present")]
    function: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    name: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    arguments: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    response: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    result: Option<Value>,
}

impl Message<'_> {
    fn text_into(&self, text: &mut String) {
        for p in &self.parts.0 {
            if let Some(t) = p.content.0.as_deref().or(p.text.0.as_deref()) {
                text.push_str(t);
            }
        }
        if let Some(t) = self.content.0.as_deref() {
            text.push_str(t);
        }
        // Tool calls and results carry no text: name them, so a model call that only calls
        // a tool still reads as what it did.
        let calls = self.tool_calls.as_ref().and_then(Value::as_array);
        for c in calls.into_iter().flatten() {
            let f = c.get("function").unwrap_or(c);
            push_call(text, f.get("name"), f.get("arguments"));
        }
        for p in &self.parts.0 {
            if p.kind.0.as_deref() == Some("tool_call") {
                match &p.function {
                    Some(f) => push_call(text, f.get("name"), f.get("arguments")),
                    None => push_call(text, p.name.as_ref(), p.arguments.as_ref()),
                }
            }
        }
        for p in &self.parts.0 {
            if p.kind.0.as_deref() == Some("tool_call_response") {
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str("[tool result ");
                push_value(text, p.response.as_ref().or(p.result.as_ref()));
                text.push(']');
            }
        }
    }
}

fn push_call(text: &mut String, name: Option<&Value>, args: Option<&Value>) {
    if !text.is_empty() {
        text.push('\n');
    }
    text.push_str("[tool call ");
    text.push_str(name.and_then(Value::as_str).unwrap_or(""));
    text.push('(');
    push_value(text, args);
    text.push_str(")]");
}

/// A string as itself, anything else as JSON, nothing as nothing.
fn push_value(text: &mut String, v: Option<&Value>) {
    match v {
        Some(Value::String(s)) => text.push_str(s),
        Some(v) => text.push_str(&v.to_string()),
        None => {}
    }
}

/// A field that is there, `null` included (`Option<Value>` would read `null` as absent).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// A string field; any other JSON reads as absent.
#[derive(Default)]
struct Str<'a>(Option<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Str(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Str(Some(Cow::Owned(v))))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                IgnoredAny.visit_seq(seq).map(|_| Str(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                IgnoredAny.visit_map(map).map(|_| Str(None))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Str(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Str(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Str(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Str(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Str(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Str(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// A list field's objects; elements that are not objects, and a field that is not a list,
/// read as nothing.
struct Objects<T>(Vec<T>);

impl<T> Default for Objects<T> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

/// One element of [`Objects`]: `Some` when it is an object.
struct Object<T>(Option<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(AnyOr::<T> {
            lists: false,
            of: std::marker::PhantomData,
        })
        .map(|v| Object(v.and_then(|one| one.into_iter().next())))
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Objects<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(AnyOr::<T> {
            lists: true,
            of: std::marker::PhantomData,
        })
        .map(|v| Objects(v.unwrap_or_default()))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Doc<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(AnyOr::<Message<'a>> {
            lists: true,
            of: std::marker::PhantomData,
        })
        .map(|v| v.map_or(Doc::Other, Doc::List))
    }
}

/// Reads one `T` object as a list of one, and (when `lists`) a list of `T` objects, skipping
/// elements that are not objects; `None` for any other JSON.
struct AnyOr<T> {
    lists: bool,
    of: std::marker::PhantomData<T>,
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for AnyOr<T> {
    type Value = Option<Vec<T>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        if !self.lists {
            return IgnoredAny.visit_seq(seq).map(|_| None);
        }
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(Object(item)) = seq.next_element::<Object<T>>()? {
            out.extend(item);
        }
        Ok(Some(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map)).map(|t| Some(vec![t]))
    }
    fn visit_borrowed_str<E: de::Error>(self, _: &'de str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::KeyValue;
    use serde_json::json;

    use super::*;
    use crate::otlp::decode::decode;
    use crate::otlp::{Encoding, Request, Signal};

    /// The text as the JSON-tree reading defined it before the typed reading replaced it.
    fn reference(v: &Value) -> Option<String> {
        let list = match v {
            Value::String(s) => {
                return serde_json::from_str::<Value>(s)
                    .ok()
                    .and_then(|v| reference(&v))
                    .or_else(|| Some(s.clone()));
            }
            Value::Array(a) => a,
            Value::Object(_) => return reference(&Value::Array(vec![v.clone()])),
            _ => return None,
        };
        let mut out = Vec::new();
        for m in list {
            let role = m.get("role").and_then(Value::as_str).unwrap_or("");
            let mut text = String::new();
            let parts = m.get("parts").and_then(Value::as_array);
            for p in parts.into_iter().flatten() {
                if let Some(t) = p
                    .get("content")
                    .and_then(Value::as_str)
                    .or_else(|| p.get("text").and_then(Value::as_str))
                {
                    text.push_str(t);
                }
            }
            if let Some(t) = m.get("content").and_then(Value::as_str) {
                text.push_str(t);
            }
            let calls = m
                .get("tool_calls")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .chain(
                    parts
                        .into_iter()
                        .flatten()
                        .filter(|p| p.get("type").and_then(Value::as_str) == Some("tool_call")),
                );
            for c in calls {
                let f = c.get("function").unwrap_or(c);
                let name = f.get("name").and_then(Value::as_str).unwrap_or("");
                let args = match f.get("arguments") {
                    Some(Value::String(s)) => s.clone(),
                    Some(v) => v.to_string(),
                    None => String::new(),
                };
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str(&format!("[tool call {name}({args})]"));
            }
            for p in parts
                .into_iter()
                .flatten()
                .filter(|p| p.get("type").and_then(Value::as_str) == Some("tool_call_response"))
            {
                let result = match p.get("response").or_else(|| p.get("result")) {
                    Some(Value::String(s)) => s.clone(),
                    Some(v) => v.to_string(),
                    None => String::new(),
                };
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str(&format!("[tool result {result}]"));
            }
            if !text.is_empty() {
                out.push(if role.is_empty() {
                    text
                } else {
                    format!("{role}: {text}")
                });
            }
        }
        (!out.is_empty()).then(|| out.join("\n"))
    }

    fn same(v: &Value) {
        assert_eq!(messages_text(v), reference(v), "tree: {v}");
        let text = v.to_string();
        assert_eq!(
            text_of_json(&text),
            reference(&Value::String(text.clone())),
            "text: {text}"
        );
    }

    #[test]
    fn reads_every_shape_as_the_tree_does() {
        let shapes = [
            json!([{"role": "user", "parts": [{"type": "text", "content": "hi \"there\"\n"}]}]),
            json!([{"role": "system", "content": "be brief"}, {"role": "user", "content": "q"}]),
            json!({"role": "assistant", "parts": [{"type": "text", "text": "one"}, {"content": "two"}]}),
            json!([{"role": "assistant", "tool_calls": [
                {"id": "c1", "function": {"name": "read", "arguments": "{\"p\":1}"}},
                {"name": "bare", "arguments": {"p": 2}},
                "not an object",
                {"function": null},
            ]}]),
            json!([{"role": "assistant", "parts": [
                {"type": "tool_call", "name": "grep", "arguments": {"q": "x"}},
                {"type": "tool_call", "function": {"name": "ls"}},
                {"type": "tool_call_response", "response": {"ok": true}},
                {"type": "tool_call_response", "result": "done"},
                {"type": "tool_call_response", "response": null},
                {"type": "tool_call_response"},
                "stray",
                7,
            ]}]),
            json!([{"role": 3, "content": ["a", "b"], "parts": "no"}, "x", null, {"content": "no role"}]),
            json!([{"role": "user", "content": ""}, {"role": "user"}]),
            json!([]),
            json!({}),
            json!([[{"role": "nested", "content": "in a list"}]]),
            json!([{"role": "user", "content": {"text": "object content"}, "tool_calls": {"a": 1}}]),
        ];
        for v in &shapes {
            same(v);
        }
        // Text that is not a messages document, or JSON holding JSON.
        for text in [
            "plain prompt",
            "",
            "42",
            "null",
            "\"[{\\\"role\\\":\\\"user\\\",\\\"content\\\":\\\"twice encoded\\\"}]\"",
            "[{\"role\":\"user\",\"content\":\"first\",\"content\":\"last wins\"}]",
            "[{\"role\":\"user\",\"content\":\"cut off",
        ] {
            assert_eq!(
                text_of_json(text),
                reference(&Value::String(text.to_string())),
                "{text}"
            );
        }
        assert_eq!(
            text_of_json("[{\"role\":\"user\",\"content\":\"first\",\"content\":\"last\"}]")
                .as_deref(),
            Some("user: last")
        );
    }

    /// Every string and body in the requests real instrumentations sent reads the same.
    #[test]
    fn reads_the_captured_instrumentations_as_the_tree_does() {
        let root =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/otel-clients");
        let mut messages = 0;
        for client in std::fs::read_dir(&root).expect("captures") {
            for file in std::fs::read_dir(client.expect("entry").path()).expect("client") {
                let path = file.expect("entry").path();
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                let signal = if name.ends_with("v1_traces.pb") {
                    Signal::Traces
                } else if name.ends_with("v1_logs.pb") {
                    Signal::Logs
                } else {
                    continue;
                };
                let body = std::fs::read(&path).expect("capture");
                let mut values: Vec<AnyValue> = Vec::new();
                let take = |values: &mut Vec<AnyValue>, kvs: &[KeyValue]| {
                    values.extend(kvs.iter().filter_map(|kv| kv.value.clone()));
                };
                match decode(signal, Encoding::Protobuf, &body).expect("decodes") {
                    Request::Traces(r) => {
                        for s in r.resource_spans.iter().flat_map(|r| &r.scope_spans) {
                            for span in &s.spans {
                                take(&mut values, &span.attributes);
                                for e in &span.events {
                                    take(&mut values, &e.attributes);
                                }
                            }
                        }
                    }
                    Request::Logs(r) => {
                        for s in r.resource_logs.iter().flat_map(|r| &r.scope_logs) {
                            for l in &s.log_records {
                                take(&mut values, &l.attributes);
                                values.extend(l.body.clone());
                            }
                        }
                    }
                    Request::Metrics(_) => {}
                }
                for v in &values {
                    let tree = to_json(v);
                    assert_eq!(
                        messages_of(v),
                        reference(&tree),
                        "{}: {tree}",
                        path.display()
                    );
                    // Counts the values read as messages (not kept as they are).
                    if messages_of(v).is_some_and(|t| Some(t.as_str()) != tree.as_str()) {
                        messages += 1;
                    }
                }
            }
        }
        assert!(
            messages >= 10,
            "only {messages} messages values in the captures"
        );
    }
}
