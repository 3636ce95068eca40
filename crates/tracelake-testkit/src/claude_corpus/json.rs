//! The hand-rolled JSON line builder the generator writes every record with. Records are
//! assembled key by key (so the key order matches Claude Code's own output) into one reused
//! byte buffer; strings are escaped with a table-driven fast path. This is the hot path of
//! the generator: no intermediate `serde_json::Value` trees.

use std::io::Write as _;

/// Escape classes: 0 = copy, 1 = two-character escape, 2 = `\u00XX`.
static ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = 2;
        i += 1;
    }
    t[b'\n' as usize] = 1;
    t[b'\r' as usize] = 1;
    t[b'\t' as usize] = 1;
    t[0x08] = 1;
    t[0x0c] = 1;
    t[b'"' as usize] = 1;
    t[b'\\' as usize] = 1;
    t
};

/// Appends `s` as a quoted, escaped JSON string.
pub(crate) fn escape_into(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    for (i, &c) in bytes.iter().enumerate() {
        let class = ESCAPE[c as usize];
        if class == 0 {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        if class == 1 {
            out.push(b'\\');
            out.push(match c {
                b'\n' => b'n',
                b'\r' => b'r',
                b'\t' => b't',
                0x08 => b'b',
                0x0c => b'f',
                other => other,
            });
        } else {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(c >> 4) as usize]);
            out.push(HEX[(c & 0xf) as usize]);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// A reusable buffer that one JSON value (usually one whole line) is written into.
#[derive(Default)]
pub(crate) struct JsonBuf {
    pub(crate) b: Vec<u8>,
}

impl JsonBuf {
    pub(crate) fn with_capacity(n: usize) -> Self {
        Self {
            b: Vec::with_capacity(n),
        }
    }

    pub(crate) fn clear(&mut self) {
        self.b.clear();
    }

    /// Appends raw, already valid JSON text (keys, punctuation, pre-serialized values).
    pub(crate) fn raw(&mut self, s: &str) -> &mut Self {
        self.b.extend_from_slice(s.as_bytes());
        self
    }

    pub(crate) fn raw_bytes(&mut self, s: &[u8]) -> &mut Self {
        self.b.extend_from_slice(s);
        self
    }

    /// Appends a quoted, escaped string.
    pub(crate) fn str(&mut self, s: &str) -> &mut Self {
        escape_into(&mut self.b, s);
        self
    }

    /// Appends a string or `null`.
    pub(crate) fn opt_str(&mut self, s: Option<&str>) -> &mut Self {
        match s {
            Some(s) => escape_into(&mut self.b, s),
            None => self.b.extend_from_slice(b"null"),
        }
        self
    }

    pub(crate) fn u64(&mut self, mut n: u64) -> &mut Self {
        let mut tmp = [0u8; 20];
        let mut i = tmp.len();
        loop {
            i -= 1;
            tmp[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.b.extend_from_slice(&tmp[i..]);
        self
    }

    pub(crate) fn i64(&mut self, n: i64) -> &mut Self {
        if n < 0 {
            self.b.push(b'-');
        }
        self.u64(n.unsigned_abs())
    }

    /// Appends a finite float in its shortest round-trip form (non-finite becomes `null`).
    pub(crate) fn f64(&mut self, x: f64) -> &mut Self {
        if x.is_finite() {
            // Writing into a Vec cannot fail.
            let _ = write!(self.b, "{x}");
        } else {
            self.b.extend_from_slice(b"null");
        }
        self
    }

    pub(crate) fn bool(&mut self, v: bool) -> &mut Self {
        self.b
            .extend_from_slice(if v { b"true" as &[u8] } else { b"false" });
        self
    }

    /// Appends an RFC 3339 timestamp string.
    pub(crate) fn ts(&mut self, ms: i64) -> &mut Self {
        self.b.push(b'"');
        super::ids::push_timestamp(&mut self.b, ms);
        self.b.push(b'"');
        self
    }

    /// Appends a JSON array of strings.
    pub(crate) fn str_array<S: AsRef<str>>(&mut self, items: &[S]) -> &mut Self {
        self.b.push(b'[');
        for (i, s) in items.iter().enumerate() {
            if i > 0 {
                self.b.push(b',');
            }
            escape_into(&mut self.b, s.as_ref());
        }
        self.b.push(b']');
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_round_trips_through_serde() {
        let s = "a\"b\\c\nd\te\r\u{1}\u{1f} é 中文 🎉 \u{7f}";
        let mut b = JsonBuf::default();
        b.str(s);
        let back: String = serde_json::from_slice(&b.b).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn numbers_and_floats() {
        let mut b = JsonBuf::default();
        b.raw("[")
            .u64(0)
            .raw(",")
            .u64(u64::MAX)
            .raw(",")
            .i64(-42)
            .raw(",")
            .f64(0.041181)
            .raw(",")
            .f64(f64::NAN)
            .raw("]");
        let v: serde_json::Value = serde_json::from_slice(&b.b).unwrap();
        assert_eq!(v[1], serde_json::json!(u64::MAX));
        assert_eq!(v[3], serde_json::json!(0.041181));
        assert!(v[4].is_null());
    }
}
