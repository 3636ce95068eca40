//! Identifiers and timestamps in the exact textual forms Claude Code writes: UUIDs, `msg_…`,
//! `req_…`, `toolu_…`, agent ids, 64-hex hashes, and RFC 3339 UTC timestamps with
//! milliseconds. Everything is drawn from the caller's seeded RNG; nothing reads the clock.

use rand::RngCore;

const HEX: &[u8; 16] = b"0123456789abcdef";
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Milliseconds in a day.
pub(crate) const DAY_MS: i64 = 86_400_000;

/// A random (version 4) UUID, lower-case and hyphenated.
pub(crate) fn uuid_v4(rng: &mut impl RngCore) -> String {
    let mut b = [0u8; 16];
    rng.fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let mut s = String::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push(HEX[(byte >> 4) as usize] as char);
        s.push(HEX[(byte & 0x0f) as usize] as char);
    }
    s
}

fn push_base62(rng: &mut impl RngCore, s: &mut String, n: usize) {
    for _ in 0..n {
        s.push(BASE62[(rng.next_u32() % 62) as usize] as char);
    }
}

fn push_hex(rng: &mut impl RngCore, s: &mut String, n: usize) {
    let mut left = n;
    while left > 0 {
        let mut v = rng.next_u64();
        for _ in 0..left.min(16) {
            s.push(HEX[(v & 0xf) as usize] as char);
            v >>= 4;
        }
        left -= left.min(16);
    }
}

/// An Anthropic message id (`msg_01` and 22 base-62 characters).
pub(crate) fn msg_id(rng: &mut impl RngCore) -> String {
    let mut s = String::with_capacity(28);
    s.push_str("msg_01");
    push_base62(rng, &mut s, 22);
    s
}

/// An Anthropic request id (`req_011C` and 20 base-62 characters).
pub(crate) fn req_id(rng: &mut impl RngCore) -> String {
    let mut s = String::with_capacity(28);
    s.push_str("req_011C");
    push_base62(rng, &mut s, 20);
    s
}

/// A tool-use id (`toolu_01` and 22 base-62 characters).
pub(crate) fn tool_use_id(rng: &mut impl RngCore) -> String {
    let mut s = String::with_capacity(30);
    s.push_str("toolu_01");
    push_base62(rng, &mut s, 22);
    s
}

/// A subagent id as Claude Code 2.1 writes it (`a` and 16 hex digits).
pub(crate) fn agent_id(rng: &mut impl RngCore) -> String {
    let mut s = String::with_capacity(17);
    s.push('a');
    push_hex(rng, &mut s, 16);
    s
}

/// A 64-hex-digit digest (shape hashes, blob hashes, request digests).
pub(crate) fn hex64(rng: &mut impl RngCore) -> String {
    let mut s = String::with_capacity(64);
    push_hex(rng, &mut s, 64);
    s
}

/// `n` random hex digits (git commit ids and the like).
pub(crate) fn hex_n(rng: &mut impl RngCore, n: usize) -> String {
    let mut s = String::with_capacity(n);
    push_hex(rng, &mut s, n);
    s
}

/// A base-64-looking thinking signature of `n` characters.
pub(crate) fn signature(rng: &mut impl RngCore, n: usize) -> String {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(n + 4);
    s.push_str("Eq");
    for _ in 0..n {
        s.push(B64[(rng.next_u32() & 63) as usize] as char);
    }
    s
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day).
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day) to days since 1970-01-01.
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn push2(out: &mut Vec<u8>, v: u32) {
    out.push(b'0' + (v / 10) as u8);
    out.push(b'0' + (v % 10) as u8);
}

/// Appends `YYYY-MM-DD` for the UTC day of `ms` (milliseconds since the epoch).
pub(crate) fn push_date(out: &mut Vec<u8>, ms: i64) {
    let (y, m, d) = civil_from_days(ms.div_euclid(DAY_MS));
    let y = y.clamp(0, 9999) as u32;
    push2(out, y / 100);
    push2(out, y % 100);
    out.push(b'-');
    push2(out, m);
    out.push(b'-');
    push2(out, d);
}

/// Appends an RFC 3339 UTC timestamp with milliseconds: `2026-11-22T15:56:06.488Z`.
pub(crate) fn push_timestamp(out: &mut Vec<u8>, ms: i64) {
    push_date(out, ms);
    let in_day = ms.rem_euclid(DAY_MS);
    let secs = (in_day / 1000) as u32;
    let millis = (in_day % 1000) as u32;
    out.push(b'T');
    push2(out, secs / 3600);
    out.push(b':');
    push2(out, (secs / 60) % 60);
    out.push(b':');
    push2(out, secs % 60);
    out.push(b'.');
    out.push(b'0' + (millis / 100) as u8);
    push2(out, millis % 100);
    out.push(b'Z');
}

/// The UTC day of `ms` as `YYYY-MM-DD`.
pub(crate) fn date_string(ms: i64) -> String {
    let mut v = Vec::with_capacity(10);
    push_date(&mut v, ms);
    String::from_utf8_lossy(&v).into_owned()
}

/// The RFC 3339 timestamp of `ms` as a string.
pub(crate) fn timestamp_string(ms: i64) -> String {
    let mut v = Vec::with_capacity(24);
    push_timestamp(&mut v, ms);
    String::from_utf8_lossy(&v).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn timestamps_match_claude_code_form() {
        // 2026-11-22T15:56:06.488Z
        let ms = days_from_civil(2026, 11, 22) * DAY_MS + ((15 * 3600 + 56 * 60 + 6) * 1000) + 488;
        assert_eq!(timestamp_string(ms), "2026-11-22T15:56:06.488Z");
        assert_eq!(date_string(ms), "2026-11-22");
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
        assert_eq!(timestamp_string(0), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn ids_have_the_real_shapes() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let u = uuid_v4(&mut rng);
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(msg_id(&mut rng).starts_with("msg_01"));
        assert_eq!(req_id(&mut rng).len(), 28);
        assert_eq!(tool_use_id(&mut rng).len(), 30);
        let a = agent_id(&mut rng);
        assert_eq!(a.len(), 17);
        assert!(a.starts_with('a'));
        assert_eq!(hex64(&mut rng).len(), 64);
    }
}
