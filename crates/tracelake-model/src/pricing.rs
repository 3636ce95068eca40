//! The versioned pricing table (`pricing/models.toml`, compiled in) and cost computation.
//!
//! A model without a price gets no cost (`None`), never $0: callers list it as unpriced.

use std::collections::HashMap;
use std::sync::LazyLock;

use serde::Deserialize;

use crate::error::{Error, Result};

const EMBEDDED: &str = include_str!("../../../pricing/models.toml");

/// Prices of one model, USD per million tokens.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ModelPrice {
    /// Canonical model id (without a date suffix).
    pub id: String,
    /// Other names the model is reported under.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// anthropic, openai, ...
    pub provider: String,
    /// Uncached input.
    pub input: f64,
    /// Output (reasoning included).
    pub output: f64,
    /// Input read from the prompt cache.
    pub cache_read: f64,
    /// Input written to the prompt cache (5-minute writes).
    pub cache_write: f64,
    /// Input written to the one-hour prompt cache.
    pub cache_write_1h: f64,
    /// The date the price was taken.
    pub taken: String,
    /// Where it was taken from.
    pub source: String,
}

#[derive(Debug, Deserialize)]
struct PricingFile {
    version: String,
    models: Vec<ModelPrice>,
}

/// Token counts of one model call, as the cost formula needs them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenUsage {
    /// Uncached input tokens.
    pub input: i64,
    /// Output tokens.
    pub output: i64,
    /// Cache reads.
    pub cache_read: i64,
    /// Cache writes at the 5-minute price.
    pub cache_write_5m: i64,
    /// Cache writes at the one-hour price.
    pub cache_write_1h: i64,
}

/// All model prices of one table version.
#[derive(Debug, Clone)]
pub struct PricingTable {
    version: String,
    models: Vec<ModelPrice>,
    by_name: HashMap<String, usize>,
}

impl PricingTable {
    /// The table compiled into this binary.
    pub fn embedded() -> &'static PricingTable {
        static TABLE: LazyLock<PricingTable> = LazyLock::new(|| {
            // The embedded file is checked by a unit test; an empty table is the safe fallback.
            PricingTable::parse(EMBEDDED).unwrap_or_else(|_| PricingTable {
                version: "invalid".into(),
                models: Vec::new(),
                by_name: HashMap::new(),
            })
        });
        &TABLE
    }

    /// Parses a pricing file (the format of `pricing/models.toml`).
    pub fn parse(text: &str) -> Result<Self> {
        let file: PricingFile = toml::from_str(text)
            .map_err(|e| Error::invalid_input("reading the pricing table").with_source(e))?;
        let mut by_name = HashMap::new();
        for (i, m) in file.models.iter().enumerate() {
            for name in std::iter::once(&m.id).chain(&m.aliases) {
                if by_name.insert(name.clone(), i).is_some() {
                    return Err(Error::invalid_input(format!(
                        "pricing table: model name {name} appears twice"
                    )));
                }
            }
        }
        Ok(Self {
            version: file.version,
            models: file.models,
            by_name,
        })
    }

    /// The table's version (the date of its last change).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Every priced model.
    pub fn models(&self) -> &[ModelPrice] {
        &self.models
    }

    /// The price of `model`, trying the name as given, without a provider prefix, and
    /// without a date or version suffix.
    pub fn price(&self, model: &str) -> Option<&ModelPrice> {
        let mut name = model.trim();
        if let Some(i) = self.by_name.get(name) {
            return Some(&self.models[*i]);
        }
        for prefix in [
            "anthropic/",
            "openai/",
            "us.anthropic.",
            "eu.anthropic.",
            "anthropic.",
        ] {
            if let Some(rest) = name.strip_prefix(prefix) {
                name = rest;
            }
        }
        // Bedrock/Vertex style suffixes: "-v1:0", "@20250929".
        if let Some((base, _)) = name.split_once('@') {
            name = base;
        }
        if let Some((base, _)) = name.rsplit_once("-v1:") {
            name = base;
        }
        if let Some(i) = self.by_name.get(name) {
            return Some(&self.models[*i]);
        }
        let undated = strip_date_suffix(name);
        self.by_name.get(undated).map(|i| &self.models[*i])
    }

    /// Cost in USD of one call to `model`, or `None` when the model has no price.
    pub fn cost(&self, model: &str, usage: TokenUsage) -> Option<f64> {
        let p = self.price(model)?;
        let micro = usage.input as f64 * p.input
            + usage.output as f64 * p.output
            + usage.cache_read as f64 * p.cache_read
            + usage.cache_write_5m as f64 * p.cache_write
            + usage.cache_write_1h as f64 * p.cache_write_1h;
        Some(micro / 1_000_000.0)
    }
}

/// "claude-sonnet-4-5-20250929" -> "claude-sonnet-4-5"; "gpt-4o-2024-08-06" -> "gpt-4o".
fn strip_date_suffix(name: &str) -> &str {
    let bytes = name.as_bytes();
    let n = bytes.len();
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    if n > 9 && bytes[n - 9] == b'-' && digits(&bytes[n - 8..]) {
        return &name[..n - 9];
    }
    if n > 11
        && bytes[n - 11] == b'-'
        && bytes[n - 6] == b'-'
        && bytes[n - 3] == b'-'
        && digits(&bytes[n - 10..n - 6])
        && digits(&bytes[n - 5..n - 3])
        && digits(&bytes[n - 2..])
    {
        return &name[..n - 11];
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_table_parses_and_has_prices() {
        let table = PricingTable::parse(EMBEDDED).unwrap();
        assert!(table.models().len() >= 10);
        assert_eq!(PricingTable::embedded().version(), table.version());
        for m in table.models() {
            assert!(m.input > 0.0 && m.output > 0.0, "{}", m.id);
            assert!(!m.taken.is_empty() && !m.source.is_empty(), "{}", m.id);
        }
    }

    #[test]
    fn lookup_strips_dates_and_prefixes() {
        let t = PricingTable::embedded();
        for name in [
            "claude-sonnet-4-5-20250929",
            "claude-sonnet-4-5",
            "anthropic/claude-sonnet-4-5",
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "claude-sonnet-4-5@20250929",
        ] {
            assert_eq!(
                t.price(name).map(|p| p.id.as_str()),
                Some("claude-sonnet-4-5"),
                "{name}"
            );
        }
        assert_eq!(
            t.price("gpt-4o-2024-08-06").map(|p| p.id.as_str()),
            Some("gpt-4o")
        );
        assert!(t.price("claude-experimental-x").is_none());
    }

    #[test]
    fn cost_matches_claude_codes_own_accounting() {
        // Claude Code 2.1.328 billed this request $0.008127 (samples/claude-code-otlp/happy).
        let usage = TokenUsage {
            input: 1789,
            output: 74,
            cache_read: 3000,
            cache_write_5m: 200,
            cache_write_1h: 0,
        };
        let cost = PricingTable::embedded()
            .cost("claude-sonnet-4-5-20250929", usage)
            .unwrap();
        assert!((cost - 0.008127).abs() < 1e-12, "{cost}");
        assert_eq!(PricingTable::embedded().cost("nope-1", usage), None);
    }
}
