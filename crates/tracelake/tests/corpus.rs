//! Generated corpora (`tracelake-testkit`) with their own ground truth: every billed response
//! once (resumed sessions copy records; subagents live in other files), every tool call once,
//! every malformed line reported by file and line and everything else kept; two processes
//! importing into one lake at the same time lose nothing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    clippy::print_stdout
)] // test code: a failed unwrap is a failed test

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{Tl, as_f64, as_i64};
use tracelake_testkit::claude_corpus::{ClaudeCorpusSpec, CorpusTruth, generate};

fn corpus(dir: &Path, seed: u64, mb: u64, malformed_every: Option<u64>) -> CorpusTruth {
    let spec = ClaudeCorpusSpec {
        seed,
        target_bytes: mb * 1024 * 1024,
        malformed_every,
        ..ClaudeCorpusSpec::default()
    };
    generate(&spec, dir).expect("corpus generates")
}

fn check_totals(tl: &Tl, truth: &CorpusTruth, clean: bool) {
    let t = &truth.totals;
    let row = &tl.sql(
        "SELECT count(*) AS calls, sum(input_tokens) AS i, sum(output_tokens) AS o, \
         sum(cache_write_tokens) AS w, sum(cache_read_tokens) AS r, sum(cost_usd) AS cost, \
         sum(CASE WHEN cost_usd IS NULL THEN 1 ELSE 0 END) AS unpriced FROM llm_calls",
    )[0];
    assert_eq!(as_i64(&row["calls"]) as u64, t.billed_responses);
    assert_eq!(as_i64(&row["i"]) as u64, t.input_tokens);
    assert_eq!(as_i64(&row["o"]) as u64, t.output_tokens);
    assert_eq!(as_i64(&row["w"]) as u64, t.cache_creation_input_tokens);
    assert_eq!(as_i64(&row["r"]) as u64, t.cache_read_input_tokens);
    assert_eq!(as_i64(&row["unpriced"]) as u64, t.unpriced_responses);
    assert!(
        (as_f64(&row["cost"]) - t.cost_usd).abs() < 1e-6,
        "{} vs {}",
        row["cost"],
        t.cost_usd
    );
    // The truth counts the tool_use ids of intact lines; a result whose tool_use line was
    // malformed is still kept by us (with no tool name), so compare named calls.
    let tools = &tl.sql(
        "SELECT count(*) AS n, sum(CASE WHEN status = 'error' THEN 1 ELSE 0 END) AS errors \
         FROM tool_calls WHERE tool_name IS NOT NULL",
    )[0];
    assert_eq!(as_i64(&tools["n"]) as u64, t.tool_calls);
    if clean {
        assert_eq!(as_i64(&tools["errors"]) as u64, t.tool_errors);
        assert_eq!(
            as_i64(&tl.scalar("SELECT count(*) FROM tool_calls")) as u64,
            t.tool_calls
        );
    }
    assert_eq!(
        as_i64(&tl.scalar("SELECT count(*) FROM sessions")) as u64,
        t.sessions
    );
    assert_eq!(
        as_i64(&tl.scalar("SELECT count(*) FROM spans WHERE kind = 'agent'")) as u64,
        t.subagents
    );
    assert_eq!(
        as_i64(&tl.scalar("SELECT count(DISTINCT span_id) FROM spans")),
        as_i64(&tl.scalar("SELECT count(*) FROM spans")),
        "span ids are unique"
    );
    assert_eq!(
        as_i64(&tl.scalar("SELECT count(*) FROM raw")) as u64,
        t.lines
    );
}

#[test]
fn a_generated_corpus_matches_its_ground_truth() {
    let tl = Tl::new();
    let dir = tl.dir.path().join("corpus");
    let truth = corpus(&dir, 16, 8, None);
    assert!(
        truth.totals.resumed_sessions > 0,
        "the corpus exercises copied records"
    );
    let summary = tl.import(&dir.join("projects")).ok().json();
    assert_eq!(summary["malformed"], 0, "{summary}");
    check_totals(&tl, &truth, true);
}

#[test]
fn malformed_lines_in_a_corpus_are_each_reported_and_the_rest_is_exact() {
    let tl = Tl::new();
    let dir = tl.dir.path().join("corpus");
    let truth = corpus(&dir, 5, 4, Some(53));
    assert!(!truth.malformed.is_empty());
    let r = tl.import(&dir.join("projects"));
    assert_eq!(r.code, 3, "{}", r.stderr);
    let summary = r.json();
    assert_eq!(
        summary["malformed"].as_u64().unwrap(),
        truth.malformed.len() as u64
    );
    let reported: BTreeSet<String> = summary["malformed_lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let m = m.as_str().unwrap();
            let at = m.find("/projects/").expect("path in message") + 1;
            m[at..].split(": ").next().unwrap().to_string()
        })
        .collect();
    let expected: BTreeSet<String> = truth
        .malformed
        .iter()
        .take(200)
        .map(|m| format!("{}:{}", m.file, m.line))
        .collect();
    assert_eq!(reported, expected);
    check_totals(&tl, &truth, false);
    assert_eq!(
        as_i64(&tl.scalar("SELECT count(*) FROM raw WHERE parse_error IS NOT NULL")) as usize,
        truth.malformed.len()
    );
}

#[test]
fn two_processes_importing_at_once_lose_nothing() {
    let tl = Tl::new();
    let a = tl.dir.path().join("a");
    let b = tl.dir.path().join("b");
    let ta = corpus(&a, 21, 6, None);
    let tb = corpus(&b, 22, 6, None);
    // Small commits, so the two processes race on the catalog many times.
    tl.write_config("[import]\ncommit_every_mib = 1\n");
    tl.run(&["sql", "SELECT 1"]).ok(); // create the lake before the race
    let spawn = |dir: &Path| {
        tl.command()
            .args([
                "import",
                "claude-code",
                dir.join("projects").to_str().unwrap(),
                "--format",
                "json",
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (pa, pb) = (spawn(&a), spawn(&b));
    for p in [pa, pb] {
        let out = p.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let calls = as_i64(&tl.scalar("SELECT count(*) FROM llm_calls")) as u64;
    assert_eq!(
        calls,
        ta.totals.billed_responses + tb.totals.billed_responses
    );
    let input = as_i64(&tl.scalar("SELECT sum(input_tokens) FROM llm_calls")) as u64;
    assert_eq!(input, ta.totals.input_tokens + tb.totals.input_tokens);
    assert_eq!(
        as_i64(&tl.scalar("SELECT count(*) FROM raw")) as u64,
        ta.totals.lines + tb.totals.lines
    );
    // And re-running both adds nothing.
    for dir in [&a, &b] {
        assert_eq!(tl.import(&dir.join("projects")).ok().json()["spans"], 0);
    }
}

#[test]
fn an_import_killed_midway_resumes_exactly() {
    let tl = Tl::new();
    let dir = tl.dir.path().join("corpus");
    let truth = corpus(&dir, 31, 60, None);
    tl.write_config("[import]\ncommit_every_mib = 2\n");
    let projects = dir.join("projects");
    // How long a whole import takes here, so the kills land inside one on any machine.
    let timing = Tl::new();
    let started = std::time::Instant::now();
    timing.import(&projects).ok();
    let whole = started.elapsed();
    // Kill -9 twice, each after about a third of that: the second run resumes the first.
    for _ in 0..2 {
        let mut child = tl
            .command()
            .args([
                "import",
                "claude-code",
                projects.to_str().unwrap(),
                "--format",
                "json",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(whole / 3);
        let _ = child.kill(); // SIGKILL
        child.wait().unwrap();
    }
    // The kills interrupted the import (not everything is in), after some commits landed.
    let partial = as_i64(&tl.scalar("SELECT count(*) FROM llm_calls")) as u64;
    assert!(
        partial > 0 && partial < truth.totals.billed_responses,
        "{partial}"
    );
    tl.import(&projects).ok();
    check_totals(&tl, &truth, true);
}
