//! Secrets never land: masking API keys, bearer tokens, private keys, passwords in URLs and
//! similar values in every text column before anything is written.
//!
//! All rules compile into one regex (literal prefixes make it a fast prefilter over text that
//! holds no secret, which is nearly all of it). A rule masks its whole match, or only the
//! capture group named `s` when it has one (so `https://user:PASSWORD@host` keeps the user and
//! host). Masks read `[REDACTED:<rule>]`, so a reader knows what was there.

use std::borrow::Cow;

use regex::{Captures, Regex};
use serde::{Deserialize, Serialize};
use tracelake_model::{Error, Result};

/// A masking rule: a name and a regular expression (group `s`, if present, is what is masked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedactionRule {
    /// Short name, shown in the mask.
    pub name: String,
    /// Regular expression (Rust `regex` syntax).
    pub pattern: String,
}

/// The `[redact]` section of the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedactionConfig {
    /// Mask secrets (on by default).
    pub enabled: bool,
    /// Built-in rules to turn off, by name.
    pub disable: Vec<String>,
    /// Extra rules.
    pub rules: Vec<RedactionRule>,
}

impl Default for RedactionConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            disable: Vec::new(),
            rules: Vec::new(),
        }
    }
}

/// The built-in rules, in priority order.
pub const BUILTIN_RULES: &[(&str, &str)] = &[
    (
        "private-key",
        r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY( BLOCK)?-----(?s:.)*?-----END[A-Z0-9 ]{0,40}PRIVATE KEY( BLOCK)?-----",
    ),
    // A key cut off before its END line (a truncated output) is still masked, its line breaks
    // escaped once or more (JSON text inside JSON, as in `raw`).
    (
        "private-key",
        r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY( BLOCK)?-----(?:[A-Za-z0-9+/=\s]|\\+[nr])+",
    ),
    ("anthropic-key", r"sk-ant-[A-Za-z0-9_\-]{20,}"),
    (
        "openai-key",
        r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}",
    ),
    ("aws-access-key", r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    (
        "aws-secret",
        r#"(?i)aws_?secret_?access_?key["']?\s*[:=]\s*["']?(?P<s>[A-Za-z0-9/+=]{40})"#,
    ),
    (
        "github-token",
        r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})",
    ),
    ("gitlab-token", r"\bglpat-[A-Za-z0-9_\-]{20,}"),
    ("slack-token", r"\bxox[abposr]-[A-Za-z0-9\-]{10,}"),
    ("google-api-key", r"\bAIza[0-9A-Za-z_\-]{35}"),
    ("stripe-key", r"\b[rs]k_live_[0-9A-Za-z]{20,}"),
    (
        "jwt",
        r"\beyJ[A-Za-z0-9_\-]{10,}\.eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}",
    ),
    (
        "bearer-token",
        r"(?i)\b(?:bearer|token)\s+(?P<s>[A-Za-z0-9\-._~+/]{20,}=*)",
    ),
    (
        "url-password",
        r"\b[a-zA-Z][a-zA-Z0-9+.\-]{1,20}://[^/\s:@'`]{1,100}:(?P<s>[^@\s/'`]{1,200})@[A-Za-z0-9.\-\[]",
    ),
    (
        "password-assignment",
        r#"(?i)\b(?:password|passwd|pwd|secret|api[_-]?key|access[_-]?token|auth[_-]?token|client[_-]?secret)\\?["']?\s*[:=]\s*\\?["']?(?P<s>[^\s"'\\,;]{8,})"#,
    ),
    // The same assignment as an OpenTelemetry attribute in OTLP JSON (the `raw` rows of the
    // collector): `{"key":"db.password","value":{"stringValue":"…"}}`.
    (
        "password-assignment",
        r#"(?i)"key":\s*"(?:[^"]*[^A-Za-z0-9"])?(?:password|passwd|pwd|secret|api[_-]?key|access[_-]?token|auth[_-]?token|client[_-]?secret)",\s*"value":\s*\{\s*"stringValue":\s*"(?P<s>[^\s"'\\,;]{8,})"#,
    ),
];

/// The keys of `password-assignment`, as a whole attribute key (`db.password`,
/// `OPENAI_API_KEY`, `client-secret`): the word ends the key and starts it or follows a
/// non-alphanumeric character, so `password_hint` and `secretary` are not secret keys.
const SECRET_KEY: &str = r"(?i)(?:^|[^A-Za-z0-9])(?:password|passwd|pwd|secret|api[_-]?key|access[_-]?token|auth[_-]?token|client[_-]?secret)$";

/// What `password-assignment` masks after such a key: the value's first run of 8 or more
/// characters that are not space, quote, backslash, comma or semicolon.
const SECRET_VALUE: &str = r#"^[^\s"'\\,;]{8,}"#;

/// Masks secrets in text.
#[derive(Debug, Clone)]
pub struct Redactor {
    regex: Option<Regex>,
    names: Vec<String>,
    /// `password-assignment` for a value given with its key ([`Redactor::redact_value`]),
    /// unless that rule is disabled.
    secret_key: Option<(Regex, Regex)>,
}

impl Redactor {
    /// Builds the redactor a configuration describes.
    pub fn new(config: &RedactionConfig) -> Result<Self> {
        if !config.enabled {
            return Ok(Self {
                regex: None,
                names: Vec::new(),
                secret_key: None,
            });
        }
        let mut names = Vec::new();
        let mut alternatives = Vec::new();
        let rules = BUILTIN_RULES
            .iter()
            .filter(|(name, _)| !config.disable.iter().any(|d| d == name))
            .map(|(n, p)| (n.to_string(), p.to_string()))
            .chain(
                config
                    .rules
                    .iter()
                    .map(|r| (r.name.clone(), r.pattern.clone())),
            );
        for (i, (name, pattern)) in rules.enumerate() {
            Regex::new(&pattern).map_err(|e| {
                Error::invalid_input(format!("redaction rule {name}: invalid pattern"))
                    .with_source(e)
            })?;
            // Each rule gets its own group r<i>; its secret group s becomes s<i>. Word
            // boundaries are ASCII: a Unicode \b makes the regex engine leave its fast DFA
            // for non-ASCII text (25x slower on real logs), and secrets are ASCII anyway.
            let pattern = pattern
                .replace("(?P<s>", &format!("(?P<s{i}>"))
                .replace(r"\b", r"(?-u:\b)");
            alternatives.push(format!("(?P<r{i}>{pattern})"));
            names.push(name);
        }
        let regex = regex::RegexBuilder::new(&alternatives.join("|"))
            .dfa_size_limit(64 << 20)
            .size_limit(64 << 20)
            .build()
            .map_err(|e| Error::invalid_input("compiling redaction rules").with_source(e))?;
        let secret_key = if config.disable.iter().any(|d| d == "password-assignment") {
            None
        } else {
            let compile = |p: &str| {
                Regex::new(p)
                    .map_err(|e| Error::internal("compiling the secret key rule").with_source(e))
            };
            Some((compile(SECRET_KEY)?, compile(SECRET_VALUE)?))
        };
        Ok(Self {
            regex: Some(regex),
            names,
            secret_key,
        })
    }

    /// The default redactor (built-in rules, enabled).
    pub fn default_rules() -> Result<Self> {
        Self::new(&RedactionConfig::default())
    }

    /// Masks secrets in `text` in place; returns how many values were masked.
    pub fn redact(&self, text: &mut String) -> usize {
        let Some(regex) = &self.regex else {
            return 0;
        };
        if !regex.is_match(text) {
            return 0;
        }
        let mut count = 0;
        let replaced = regex.replace_all(text, |caps: &Captures<'_>| {
            count += 1;
            self.mask(caps)
        });
        if let Cow::Owned(new) = replaced {
            *text = new;
        }
        count
    }

    /// Masks a value given with its key (an OpenTelemetry attribute): the value of a
    /// secret-named key (`db.password`, `OPENAI_API_KEY`) as `password-assignment` masks
    /// `password=…` in text, then every rule on the value itself. The key is not masked
    /// here. Returns how many values were masked.
    pub fn redact_value(&self, key: &str, value: &mut String) -> usize {
        let mut count = 0;
        if let Some((key_rule, value_rule)) = &self.secret_key
            && key_rule.is_match(key)
            && let Some(m) = value_rule.find(value)
        {
            value.replace_range(m.range(), "[REDACTED:password-assignment]");
            count += 1;
        }
        count + self.redact(value)
    }

    fn mask(&self, caps: &Captures<'_>) -> String {
        let whole = caps.get(0).map_or("", |m| m.as_str());
        for (i, name) in self.names.iter().enumerate() {
            let Some(rule) = caps.name(&format!("r{i}")) else {
                continue;
            };
            return match caps.name(&format!("s{i}")) {
                Some(secret) => {
                    let start = secret.start() - rule.start();
                    let end = secret.end() - rule.start();
                    format!("{}[REDACTED:{name}]{}", &whole[..start], &whole[end..])
                }
                None => format!("[REDACTED:{name}]"),
            };
        }
        "[REDACTED]".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redact(s: &str) -> (String, usize) {
        let r = Redactor::default_rules().unwrap();
        let mut t = s.to_string();
        let n = r.redact(&mut t);
        (t, n)
    }

    #[test]
    fn masks_known_secret_shapes() {
        let cases = [
            (
                "key sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123 end",
                "anthropic-key",
            ),
            ("OPENAI=sk-proj-ABCDEFGHIJKLMNOPQRSTUVWX12", "openai-key"),
            ("id AKIAIOSFODNN7EXAMPLE ok", "aws-access-key"),
            ("ghp_abcdefghijklmnopqrstuvwxyz0123456789AB", "github-token"),
            (
                "curl -H 'Authorization: Bearer abcdefghijklmnopqrstuvwxyz012345'",
                "bearer-token",
            ),
            (
                "postgres://admin:hunter2hunter2@db.internal:5432/x",
                "url-password",
            ),
            (
                "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
                "private-key",
            ),
            (
                "-----BEGIN OPENSSH PRIVATE KEY-----\\nb3BlbnNzaC1rZXktdjEAAAA",
                "private-key",
            ),
            (
                "{\"password\": \"correct-horse-battery\"}",
                "password-assignment",
            ),
            (
                r#"[{"key":"db.password","value":{"stringValue":"correct-horse-battery"}}]"#,
                "password-assignment",
            ),
            (
                r#"{"key":"OPENAI_API_KEY","value":{"stringValue":"abcd1234efgh5678"}}"#,
                "password-assignment",
            ),
            (
                r#"{"content":"-----BEGIN RSA PRIVATE KEY-----\\nMIIEowIBAAKCAQEA"}"#,
                "private-key",
            ),
            (
                "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEYAB",
                "aws-secret",
            ),
            ("token: glpat-abcdefghij0123456789", "gitlab-token"),
            ("SLACK xoxb-1234567890-abcdefghij", "slack-token"),
            (
                "maps AIzaSyA1234567890abcdefghijklmnopqrstuv",
                "google-api-key",
            ),
            ("charge with sk_live_abcdefghij0123456789AB", "stripe-key"),
            (
                "auth eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
                "jwt",
            ),
            (
                "git push with token abcdefghijklmnopqrstuvwx0123",
                "bearer-token",
            ),
            // Unicode case folding: the long s is an `s` and the Kelvin sign a `k` to `(?i)`.
            (
                "pa\u{17F}\u{17F}word=correct-horse-battery",
                "password-assignment",
            ),
            ("api_\u{212A}ey: abcd1234efgh5678", "password-assignment"),
        ];
        // Every built-in rule has a case above.
        let tested: std::collections::BTreeSet<&str> = cases.iter().map(|(_, r)| *r).collect();
        for (name, _) in BUILTIN_RULES {
            assert!(tested.contains(name), "no case for rule {name}");
        }
        for (input, rule) in cases {
            let (out, n) = redact(input);
            assert_eq!(n, 1, "{input} -> {out}");
            assert!(
                out.contains(&format!("[REDACTED:{rule}]")),
                "{input} -> {out}"
            );
        }
    }

    #[test]
    fn keeps_context_around_group_secrets() {
        let (out, _) = redact("postgres://admin:hunter2hunter2@db.internal/x");
        assert_eq!(
            out,
            "postgres://admin:[REDACTED:url-password]@db.internal/x"
        );
    }

    #[test]
    fn leaves_ordinary_text_alone() {
        for s in [
            "input_tokens: 1789, cache_read_input_tokens: 3000",
            "https://example.com/path?q=1",
            "the password field is validated in src/auth.rs",
            r#"{"key":"password_hint","value":{"stringValue":"the-usual-one"}}"#,
            r#"{"key":"secretary","value":{"stringValue":"frances-smith"}}"#,
            r#"{"key":"api_key","value":{"intValue":"12345678901"}}"#,
            "sk-short",
        ] {
            assert_eq!(redact(s), (s.to_string(), 0), "{s}");
        }
    }

    #[test]
    fn a_value_is_masked_by_its_secret_named_key_as_in_an_assignment() {
        let r = Redactor::default_rules().unwrap();
        let cases = [
            (
                "db.password",
                "correct-horse-battery",
                "[REDACTED:password-assignment]",
            ),
            (
                "OPENAI_API_KEY",
                "abcd1234efgh5678",
                "[REDACTED:password-assignment]",
            ),
            (
                "user_password",
                "hunter2hunter2 (old)",
                "[REDACTED:password-assignment] (old)",
            ),
            (
                "client-secret",
                "s3cr3t-v4lue",
                "[REDACTED:password-assignment]",
            ),
            // Not secret keys, or values too short to be one.
            ("password_hint", "the-usual-one", "the-usual-one"),
            ("secretary", "frances-smith", "frances-smith"),
            ("db.password", "short", "short"),
            // Every rule still applies to the value itself.
            (
                "note",
                "key sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123",
                "key [REDACTED:anthropic-key]",
            ),
        ];
        for (key, value, expected) in cases {
            let mut v = value.to_string();
            let n = r.redact_value(key, &mut v);
            assert_eq!(v, expected, "{key}={value}");
            assert_eq!(n, usize::from(value != expected), "{key}={value}");
        }
        let off = Redactor::new(&RedactionConfig {
            disable: vec!["password-assignment".into()],
            ..RedactionConfig::default()
        })
        .unwrap();
        let mut v = "correct-horse-battery".to_string();
        assert_eq!(off.redact_value("db.password", &mut v), 0);
        assert_eq!(v, "correct-horse-battery");
    }

    #[test]
    fn disabled_and_custom_rules() {
        let off = Redactor::new(&RedactionConfig {
            enabled: false,
            ..RedactionConfig::default()
        })
        .unwrap();
        let mut t = "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123".to_string();
        assert_eq!(off.redact(&mut t), 0);
        let custom = Redactor::new(&RedactionConfig {
            rules: vec![RedactionRule {
                name: "employee-id".into(),
                pattern: r"EMP-\d{6}".into(),
            }],
            ..RedactionConfig::default()
        })
        .unwrap();
        let mut t = "ticket for EMP-123456".to_string();
        assert_eq!(custom.redact(&mut t), 1);
        assert_eq!(t, "ticket for [REDACTED:employee-id]");
        assert!(
            Redactor::new(&RedactionConfig {
                rules: vec![RedactionRule {
                    name: "bad".into(),
                    pattern: "(".into()
                }],
                ..RedactionConfig::default()
            })
            .is_err()
        );
    }
}
