//! Stable identities derived from what the source itself says (session ids, message ids,
//! tool-use ids), so the same record always maps to the same span id, and "emit once" keys
//! for rows that must appear once however often their source repeats them.

use xxhash_rust::xxh3::xxh3_128;

fn digest(parts: &[&str]) -> u128 {
    let mut buf = Vec::with_capacity(parts.iter().map(|p| p.len() + 1).sum());
    for p in parts {
        buf.extend_from_slice(p.as_bytes());
        buf.push(0x1f);
    }
    xxh3_128(&buf)
}

/// A row's span id and its emit-once key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The span id (16 hex digits).
    pub span_id: String,
    /// The 128-bit emit-once key.
    pub key: [u8; 16],
}

/// The identity of the entity named by `parts`.
pub fn identity(parts: &[&str]) -> Identity {
    Identity {
        span_id: span_id(parts),
        key: once_key(parts),
    }
}

/// A 16-hex-digit span id (the size of an OpenTelemetry span id) from `parts`.
pub fn span_id(parts: &[&str]) -> String {
    format!("{:016x}", (digest(parts) >> 64) as u64)
}

/// A 32-hex-digit trace id (the size of an OpenTelemetry trace id) from `parts`.
pub fn trace_id(parts: &[&str]) -> String {
    format!("{:032x}", digest(parts))
}

/// A 16-byte emit-once key from `parts`.
pub fn once_key(parts: &[&str]) -> [u8; 16] {
    digest(parts).to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_separate_parts() {
        assert_eq!(
            span_id(&["llm", "msg_1", "req_1"]),
            span_id(&["llm", "msg_1", "req_1"])
        );
        assert_ne!(span_id(&["ab", "c"]), span_id(&["a", "bc"]));
        assert_eq!(span_id(&["x"]).len(), 16);
        assert_eq!(trace_id(&["x"]).len(), 32);
        assert_ne!(once_key(&["a"]), once_key(&["b"]));
    }
}
