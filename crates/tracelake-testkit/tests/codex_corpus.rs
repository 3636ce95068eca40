//! Checks of the Codex corpus generator against its own output: determinism, size, the
//! rollout layout, and `truth.json` against an independent recount done by parsing every
//! generated line (one model call per `token_count` whose running totals changed).

// Test helpers (outside `#[test]` functions) should fail loudly on any I/O or parse error.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use tracelake_testkit::codex_corpus::{CodexCorpusSpec, CodexTruth, CodexUsage, generate};

fn fresh_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("codex_corpus")
        .join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn recount(dir: &Path) -> (CodexUsage, u64, u64) {
    let mut total = CodexUsage::default();
    let mut lines = 0;
    let mut sessions = 0;
    for f in files(&dir.join("sessions")) {
        let name = f.file_name().unwrap().to_str().unwrap().to_string();
        assert!(
            name.starts_with("rollout-") && name.ends_with(".jsonl"),
            "{name}"
        );
        sessions += 1;
        let mut last_total: Option<Value> = None;
        let mut model = String::new();
        for (i, line) in fs::read_to_string(&f).unwrap().lines().enumerate() {
            lines += 1;
            let v: Value = serde_json::from_str(line).unwrap();
            if i == 0 {
                assert_eq!(v["type"], "session_meta");
                assert!(name.contains(v["payload"]["id"].as_str().unwrap()));
            }
            if v["type"] == "turn_context" {
                model = v["payload"]["model"].as_str().unwrap().to_string();
            }
            if v["type"] == "event_msg" && v["payload"]["type"] == "token_count" {
                let info = &v["payload"]["info"];
                if last_total.as_ref() == Some(&info["total_token_usage"]) {
                    continue;
                }
                last_total = Some(info["total_token_usage"].clone());
                let u = &info["last_token_usage"];
                assert!(!model.is_empty());
                total.calls += 1;
                total.input_tokens += u["input_tokens"].as_i64().unwrap();
                total.cached_input_tokens += u["cached_input_tokens"].as_i64().unwrap();
                total.output_tokens += u["output_tokens"].as_i64().unwrap();
                total.reasoning_output_tokens += u["reasoning_output_tokens"].as_i64().unwrap();
            }
        }
    }
    (total, lines, sessions)
}

#[test]
fn truth_equals_an_independent_recount_and_output_is_deterministic() {
    let spec = CodexCorpusSpec {
        seed: 3,
        target_bytes: 2_000_000,
        days: 3,
        ..CodexCorpusSpec::default()
    };
    let a = fresh_dir("a");
    let b = fresh_dir("b");
    let ta: CodexTruth = generate(&spec, &a).unwrap();
    let tb = generate(&spec, &b).unwrap();
    assert_eq!(ta, tb);
    for (fa, fb) in files(&a.join("sessions"))
        .iter()
        .zip(files(&b.join("sessions")))
    {
        assert_eq!(fs::read(fa).unwrap(), fs::read(&fb).unwrap());
    }
    assert!(ta.bytes >= spec.target_bytes && ta.bytes < spec.target_bytes * 2);
    let (total, lines, sessions) = recount(&a);
    assert_eq!(total, ta.totals);
    assert_eq!(lines, ta.lines);
    assert_eq!(sessions, ta.sessions);
    assert!(ta.repeated_token_counts > 0 && ta.tool_errors > 0);
    let by_day: i64 = ta
        .daily
        .values()
        .flat_map(|m| m.values())
        .map(|u| u.input_tokens)
        .sum();
    assert_eq!(by_day, ta.totals.input_tokens);
    let truth: Value = serde_json::from_slice(&fs::read(a.join("truth.json")).unwrap()).unwrap();
    assert_eq!(truth["totals"]["calls"], ta.totals.calls);
}
