//! A peer computes the same answer: `ccusage daily --json --offline` (ccusage 20.0.24) and
//! `tracelake cost --by day` agree on every day's tokens, and on the cost of every model
//! ccusage has a price for.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    clippy::print_stdout
)] // test code: a failed unwrap is a failed test

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::{Run, Tl, as_f64, as_i64, testdata, tools};
use serde_json::Value;

fn ccusage(tools: &Path, config_dir: &Path) -> Value {
    let bin = tools.join("npm/node_modules/.bin/ccusage");
    assert!(
        bin.exists(),
        "{} missing: run scripts/test.sh",
        bin.display()
    );
    let r: Run = Command::new(bin)
        .args(["daily", "--json", "--offline"])
        .env("CLAUDE_CONFIG_DIR", config_dir)
        .env("TZ", "UTC")
        .env("HOME", config_dir)
        .output()
        .expect("ccusage runs")
        .into();
    r.ok().json()
}

fn compare(tl: &Tl, theirs: &Value) -> usize {
    // Our per-day, per-model tokens and cost.
    let rows = tl.sql(
        "SELECT CAST(CAST(date_trunc('day', start_time) AS DATE) AS VARCHAR) AS day, model, \
         sum(input_tokens) AS i, sum(output_tokens) AS o, sum(cache_read_tokens) AS r, \
         sum(cache_write_tokens) AS w, sum(cost_usd) AS cost FROM llm_calls GROUP BY 1, 2",
    );
    let ours: BTreeMap<(String, String), &Value> = rows
        .iter()
        .map(|r| {
            (
                (
                    r["day"].as_str().unwrap().to_string(),
                    r["model"].as_str().unwrap().to_string(),
                ),
                r,
            )
        })
        .collect();
    let mut priced_compared = 0;
    let days = theirs["daily"].as_array().unwrap();
    let our_days: std::collections::BTreeSet<&String> = ours.keys().map(|(d, _)| d).collect();
    assert_eq!(days.len(), our_days.len(), "same days");
    for day in days {
        let date = day["period"].as_str().or(day["date"].as_str()).unwrap();
        let sum = |f: &dyn Fn(&Value) -> i64| -> i64 {
            ours.iter()
                .filter(|((d, _), _)| d == date)
                .map(|(_, v)| f(v))
                .sum()
        };
        assert_eq!(
            sum(&|v| as_i64(&v["i"])),
            as_i64(&day["inputTokens"]),
            "{date} input"
        );
        assert_eq!(
            sum(&|v| as_i64(&v["o"])),
            as_i64(&day["outputTokens"]),
            "{date} output"
        );
        assert_eq!(
            sum(&|v| as_i64(&v["r"])),
            as_i64(&day["cacheReadTokens"]),
            "{date} cache read"
        );
        assert_eq!(
            sum(&|v| as_i64(&v["w"])),
            as_i64(&day["cacheCreationTokens"]),
            "{date} cache write"
        );
        for m in day["modelBreakdowns"].as_array().unwrap() {
            let model = m["modelName"].as_str().unwrap();
            let ours = ours[&(date.to_string(), model.to_string())];
            assert_eq!(
                as_i64(&ours["i"]),
                as_i64(&m["inputTokens"]),
                "{date} {model}"
            );
            if m["missingPricing"].as_bool() == Some(true) {
                continue;
            }
            let (a, b) = (as_f64(&ours["cost"]), as_f64(&m["cost"]));
            assert!(
                (a - b).abs() < 1e-6,
                "{date} {model}: ours {a} vs ccusage {b}"
            );
            priced_compared += 1;
        }
    }
    priced_compared
}

#[test]
fn daily_totals_equal_ccusage_on_the_samples() {
    let Some(tools) = tools() else { return };
    let tl = Tl::new();
    tl.import(&testdata().join("claude-code/projects")).ok();
    let theirs = ccusage(&tools, &testdata().join("claude-code"));
    assert_eq!(
        compare(&tl, &theirs),
        2,
        "sonnet and haiku are priced by both"
    );
    // Our cost report gives the same day totals.
    let by_day = tl
        .run(&["cost", "--by", "day", "--format", "json"])
        .ok()
        .json();
    assert_eq!(
        as_i64(&by_day[0]["input_tokens"]),
        as_i64(&theirs["totals"]["inputTokens"])
    );
}

#[test]
fn daily_totals_equal_ccusage_on_a_generated_corpus() {
    let Some(tools) = tools() else { return };
    let tl = Tl::new();
    let corpus = tl.dir.path().join("corpus");
    let spec = tracelake_testkit::claude_corpus::ClaudeCorpusSpec {
        seed: 7,
        target_bytes: 6 * 1024 * 1024,
        ..Default::default()
    };
    tracelake_testkit::claude_corpus::generate(&spec, &corpus).expect("corpus");
    tl.import(&corpus.join("projects")).ok();
    let theirs = ccusage(&tools, &corpus);
    assert!(compare(&tl, &theirs) >= 10);
}
