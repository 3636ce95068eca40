//! The Codex importer against what the current Codex CLI really writes: the real `codex`
//! binary (npm @openai/codex, pinned in tools/test/package.json) runs `codex exec` offline
//! against a loopback Responses API stand-in (tools/real-agents/run-codex-scenario.sh), and the
//! lake's tokens equal the stand-in's log of every response it sent. Re-running this on a new
//! CLI version checks the importer against that version.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    clippy::print_stdout
)] // test code: a failed unwrap is a failed test

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Tl, as_i64, codex_lake_totals, codex_truth, repo, tools};
use serde_json::Value;

/// The platform binary npm installs with @openai/codex, or None (the test is skipped, saying
/// so) when the CLI is not installed.
fn codex_bin(tools: &Path) -> Option<PathBuf> {
    let vendor = tools.join("npm/node_modules/@openai/codex-linux-x64/vendor");
    let found = std::fs::read_dir(&vendor).ok().and_then(|entries| {
        entries
            .filter_map(Result::ok)
            .map(|e| e.path().join("bin/codex"))
            .find(|p| p.exists())
    });
    if found.is_none() {
        eprintln!(
            "SKIPPED: the Codex CLI is not installed ({} has no */bin/codex); scripts/test.sh \
             installs it (npm @openai/codex in tools/test/package.json)",
            vendor.display()
        );
    }
    found
}

/// Runs one scenario; returns its output folder (rollouts in `codex-sessions/`, the
/// stand-in's log in `truth.json`).
fn scenario(bin: &Path, out: &Path, prompt: &str, script: &str) -> PathBuf {
    let r = Command::new(repo().join("tools/real-agents/run-codex-scenario.sh"))
        .args([out.to_str().unwrap(), prompt, script])
        .env("CODEX_BIN", bin)
        .env("OTEL_SIGNALS", "none")
        .output()
        .expect("runner starts");
    let truth = out.join("truth.json");
    assert!(
        truth.exists() && out.join("codex-sessions").exists(),
        "the run produced nothing\n{}\n{}",
        String::from_utf8_lossy(&r.stdout),
        String::from_utf8_lossy(&r.stderr)
    );
    out.to_path_buf()
}

fn first_file(p: &Path) -> Option<PathBuf> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for e in entries {
        if e.is_dir() {
            if let Some(f) = first_file(&e) {
                return Some(f);
            }
        } else if e.extension().is_some_and(|x| x == "jsonl") {
            return Some(e);
        }
    }
    None
}

fn rollout_text(out: &Path) -> String {
    let file = first_file(&out.join("codex-sessions")).expect("a rollout file");
    std::fs::read_to_string(file).unwrap()
}

/// The exit codes Codex itself wrote into its rollout's tool outputs, in order.
fn recorded_exit_codes(out: &Path) -> Vec<i64> {
    let mut codes = Vec::new();
    for line in rollout_text(out).lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        if v["type"] == "response_item" && v["payload"]["type"] == "function_call_output" {
            let output = v["payload"]["output"].as_str().unwrap_or("");
            if let Some(rest) = output.split("Process exited with code ").nth(1) {
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                codes.push(digits.parse().unwrap());
            }
        }
    }
    codes
}

fn session_of(out: &Path) -> String {
    let text = rollout_text(out);
    let meta: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(meta["type"], "session_meta");
    meta["payload"]["id"].as_str().unwrap().to_string()
}

#[test]
fn the_real_cli_rollouts_import_exactly() {
    let Some(tools) = tools() else { return };
    let Some(bin) = codex_bin(&tools) else { return };
    let tl = Tl::new();
    let runs = tl.dir.path().join("runs");
    let failing = scenario(
        &bin,
        &runs.join("failing-command"),
        "Run the project's check script and tell me if it passes.",
        r#"[{"name":"exec_command","arguments":{"cmd":"sh scripts/check.sh"}}]"#,
    );
    let fix = scenario(
        &bin,
        &runs.join("fix-and-test"),
        "Fix the bug in src/calc.py so that add(2, 3) == 5, and check it.",
        r#"[{"name":"exec_command","arguments":{"cmd":"ls -la"}},
            {"name":"exec_command","arguments":{"cmd":"cat src/calc.py"}},
            {"name":"exec_command","arguments":{"cmd":"python3 -c \"import sys; sys.path.insert(0, 'src'); import calc; assert calc.add(2, 3) == 5, calc.add(2, 3)\""}},
            {"name":"exec_command","arguments":{"cmd":"sed -i s/a\\ -\\ b/a\\ +\\ b/ src/calc.py && cat src/calc.py"}},
            {"name":"exec_command","arguments":{"cmd":"python3 -c \"import sys; sys.path.insert(0, 'src'); import calc; assert calc.add(2, 3) == 5\" && echo ok"}}]"#,
    );
    for out in [&failing, &fix] {
        let summary = tl.import_codex(&out.join("codex-sessions")).ok().json();
        assert_eq!(summary["malformed"], 0, "{summary}");
        let session = session_of(out);
        let truth = codex_truth(&out.join("truth.json"));
        assert!(truth[4] >= 2, "the stand-in answered: {truth:?}");
        assert_eq!(
            codex_lake_totals(&tl, &format!("session_id = '{session}'")),
            truth,
            "{}",
            out.display()
        );
    }
    // The failing command: exit status 2, an error, its output kept.
    let s = session_of(&failing);
    let tool = &tl.sql(&format!(
        "SELECT command, exit_code, status, tool_output FROM tool_calls WHERE session_id = '{s}'"
    ))[0];
    assert_eq!(tool["command"], "sh scripts/check.sh");
    assert_eq!(as_i64(&tool["exit_code"]), 2);
    assert_eq!(tool["status"], "error");
    assert!(
        tool["tool_output"]
            .as_str()
            .unwrap()
            .contains("scripts/check.sh"),
        "{tool}"
    );
    // The multi-step fix: five commands, the first assert fails (exit 1), the fix and the
    // second assert pass; every call is joined with its output and its model call.
    let s = session_of(&fix);
    let tools = tl.sql(&format!(
        "SELECT exit_code, status, caused_by FROM tool_calls WHERE session_id = '{s}' \
         ORDER BY start_time"
    ));
    let exits: Vec<i64> = tools.iter().map(|t| as_i64(&t["exit_code"])).collect();
    // Exactly what Codex recorded (whether its sandbox let the fix through varies by
    // machine): the first assert fails before the fix either way.
    assert_eq!(exits, recorded_exit_codes(&fix));
    assert_eq!(exits.len(), 5);
    assert_eq!(&exits[..3], [0, 0, 1]);
    assert_eq!(
        as_i64(&tl.scalar(&format!(
            "SELECT count(*) FROM tool_calls t JOIN llm_calls l ON t.caused_by = l.span_id \
             WHERE t.session_id = '{s}'"
        ))),
        5
    );
    let sessions = tl.run(&["sessions", "--format", "json"]).ok().json();
    for row in sessions.as_array().unwrap() {
        assert_eq!(row["agent"], "codex");
        assert_eq!(as_i64(&row["tasks"]), 1, "{row}");
    }
}
