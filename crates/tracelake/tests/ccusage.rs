//! A peer computes the same answer: `ccusage daily --json --offline` (ccusage 20.0.24) and
//! `tracelake cost --by day` agree on every day's tokens, and on the cost of every model
//! ccusage has a price for; `ccusage codex daily --json --offline` (the same ccusage, its
//! `codex` command reading `$CODEX_HOME/sessions`) agrees with the Codex import likewise.
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

fn ccusage_codex(tools: &Path, codex_home: &Path) -> Value {
    let bin = tools.join("npm/node_modules/.bin/ccusage");
    assert!(
        bin.exists(),
        "{} missing: run scripts/test.sh",
        bin.display()
    );
    let r: Run = Command::new(bin)
        .args(["codex", "daily", "--json", "--offline"])
        .env("CODEX_HOME", codex_home)
        .env("TZ", "UTC")
        .env("HOME", codex_home)
        .env_remove("CLAUDE_CONFIG_DIR")
        .output()
        .expect("ccusage runs")
        .into();
    r.ok().json()
}

/// Compares per day and model: ccusage's input is without cached tokens, like ours. Returns
/// how many (day, model) costs were compared (models ccusage prices without a fallback).
fn compare_codex(tl: &Tl, theirs: &Value) -> usize {
    let rows = tl.sql(
        "SELECT CAST(CAST(date_trunc('day', start_time) AS DATE) AS VARCHAR) AS day, model, \
         sum(input_tokens) AS i, sum(output_tokens) AS o, sum(cache_read_tokens) AS r, \
         sum(reasoning_tokens) AS reasoning, sum(cost_usd) AS cost FROM llm_calls \
         WHERE agent = 'codex' GROUP BY 1, 2",
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
    let mut compared = 0;
    let mut pairs = 0;
    for day in theirs["daily"].as_array().unwrap() {
        let date = day["date"].as_str().unwrap();
        for (model, m) in day["models"].as_object().unwrap() {
            let row = ours
                .get(&(date.to_string(), model.clone()))
                .unwrap_or_else(|| panic!("{date} {model} missing in the lake"));
            pairs += 1;
            for (col, key) in [
                ("i", "inputTokens"),
                ("o", "outputTokens"),
                ("r", "cacheReadTokens"),
                ("reasoning", "reasoningOutputTokens"),
            ] {
                assert_eq!(as_i64(&row[col]), as_i64(&m[key]), "{date} {model} {key}");
            }
            assert_eq!(as_i64(&m["cacheCreationTokens"]), 0);
            if m["isFallback"].as_bool() == Some(true) || row["cost"].is_null() {
                continue;
            }
            compared += 1;
        }
        // Day totals, cost included when every model of the day is priced by both.
        let all_priced = day["models"].as_object().unwrap().iter().all(|(model, m)| {
            m["isFallback"].as_bool() != Some(true)
                && !ours[&(date.to_string(), model.clone())]["cost"].is_null()
        });
        if all_priced {
            let cost: f64 = ours
                .iter()
                .filter(|((d, _), _)| d == date)
                .map(|(_, v)| as_f64(&v["cost"]))
                .sum();
            let theirs = as_f64(&day["costUSD"]);
            assert!(
                (cost - theirs).abs() < 1e-6,
                "{date}: ours {cost} vs ccusage {theirs}"
            );
        }
    }
    assert_eq!(pairs, ours.len(), "same days and models");
    compared
}

#[test]
fn codex_daily_totals_equal_ccusage_on_the_real_sample() {
    let Some(tools) = tools() else { return };
    let tl = Tl::new();
    tl.import_codex(&testdata().join("codex/sessions")).ok();
    let theirs = ccusage_codex(&tools, &testdata().join("codex"));
    assert_eq!(
        compare_codex(&tl, &theirs),
        1,
        "gpt-5-codex is priced by both"
    );
    assert_eq!(as_i64(&theirs["totals"]["inputTokens"]), 7_065);
    let by_day = tl
        .run(&["cost", "--by", "day", "--format", "json"])
        .ok()
        .json();
    assert_eq!(by_day[0]["agent"], "codex");
    assert_eq!(
        as_i64(&by_day[0]["input_tokens"]),
        as_i64(&theirs["totals"]["inputTokens"])
    );
    assert!((as_f64(&by_day[0]["cost_usd"]) - as_f64(&theirs["totals"]["costUSD"])).abs() < 1e-9);
}

#[test]
fn codex_daily_totals_equal_ccusage_on_its_own_fixture_and_a_generated_corpus() {
    let Some(tools) = tools() else { return };
    let tl = Tl::new();
    tl.import_codex(&testdata().join("ccusage-fixtures/codex/sessions"))
        .ok();
    let theirs = ccusage_codex(&tools, &testdata().join("ccusage-fixtures/codex"));
    compare_codex(&tl, &theirs);

    let tl = Tl::new();
    let corpus = tl.dir.path().join("corpus");
    let spec = tracelake_testkit::codex_corpus::CodexCorpusSpec {
        seed: 5,
        target_bytes: 4 * 1024 * 1024,
        days: 4,
        ..Default::default()
    };
    tracelake_testkit::codex_corpus::generate(&spec, &corpus).expect("corpus");
    tl.import_codex(&corpus.join("sessions")).ok();
    let theirs = ccusage_codex(&tools, &corpus);
    assert!(compare_codex(&tl, &theirs) >= 4);
}
