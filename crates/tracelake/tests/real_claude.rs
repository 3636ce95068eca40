//! The importer against what the current Claude Code CLI really writes: the real `claude`
//! binary (npm @anthropic-ai/claude-code, pinned in tools/test/package.json) runs headless
//! against a loopback model stand-in (tools/real-agents), and the lake's tokens equal the
//! stand-in's log and its cost equals the CLI's own `total_cost_usd`. Re-running this on a
//! new CLI version checks the importer against that version.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    clippy::print_stdout
)] // test code: a failed unwrap is a failed test

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Server, Tl, as_f64, as_i64, repo, tools};
use serde_json::Value;

fn claude_bin(tools: &Path) -> PathBuf {
    let bin = tools.join("npm/node_modules/@anthropic-ai/claude-code-linux-x64/claude");
    assert!(
        bin.exists(),
        "{} missing: run scripts/test.sh",
        bin.display()
    );
    bin
}

/// Runs one scenario; returns its output folder.
fn scenario(
    tools: &Path,
    out: &Path,
    prompt: &str,
    script: &str,
    allowed: &str,
    sub: &str,
    usage: Option<&str>,
) -> PathBuf {
    scenario_to(tools, out, prompt, script, allowed, sub, usage, None)
}

/// Runs one scenario with its OTLP sent to `otlp` = (endpoint, protocol) instead of the
/// capture server.
#[expect(
    clippy::too_many_arguments,
    reason = "a test helper mirroring the script's arguments"
)]
fn scenario_to(
    tools: &Path,
    out: &Path,
    prompt: &str,
    script: &str,
    allowed: &str,
    sub: &str,
    usage: Option<&str>,
    otlp: Option<(&str, &str)>,
) -> PathBuf {
    let mut c = Command::new(repo().join("tools/real-agents/run-claude-scenario.sh"));
    c.args([out.to_str().unwrap(), prompt, script, allowed, sub])
        .env("CLAUDE_BIN", claude_bin(tools))
        .env("MODEL", "claude-sonnet-4-5-20250929");
    if let Some((endpoint, protocol)) = otlp {
        c.env("OTLP_ENDPOINT_OVERRIDE", endpoint)
            .env("OTLP_PROTOCOL", protocol);
    }
    if let Some(u) = usage {
        c.env("USAGE_JSON", u);
    }
    let r = c.output().expect("runner starts");
    let result = out.join("result.json");
    assert!(
        result.exists() && std::fs::metadata(&result).unwrap().len() > 0,
        "the CLI produced no result\n{}\n{}",
        String::from_utf8_lossy(&r.stdout),
        String::from_utf8_lossy(&r.stderr)
    );
    out.to_path_buf()
}

fn truth_tokens(out: &Path) -> [i64; 4] {
    common::truth_usage(&out.join("truth.json"))
}

/// The run's model calls in the lake: tokens exactly the stand-in's, cost exactly the CLI's
/// own `total_cost_usd`. Returns the session id.
fn assert_exact(tl: &Tl, out: &Path) -> String {
    let r: Value =
        serde_json::from_slice(&std::fs::read(out.join("result.json")).unwrap()).unwrap();
    let session = r["session_id"].as_str().unwrap().to_string();
    let row = &tl.sql(&format!(
        "SELECT sum(input_tokens) AS i, sum(output_tokens) AS o, sum(cache_write_tokens) AS w, \
         sum(cache_read_tokens) AS r, sum(cost_usd) AS cost FROM spans \
         WHERE kind = 'llm' AND session_id = '{session}'"
    ))[0];
    let tokens = [
        as_i64(&row["i"]),
        as_i64(&row["o"]),
        as_i64(&row["w"]),
        as_i64(&row["r"]),
    ];
    assert_eq!(tokens, truth_tokens(out), "{}", out.display());
    let theirs = r["total_cost_usd"].as_f64().unwrap();
    assert!(
        (as_f64(&row["cost"]) - theirs).abs() < 1e-9,
        "{}: {} vs {theirs}",
        out.display(),
        row["cost"]
    );
    session
}

#[test]
fn the_real_cli_sessions_import_exactly() {
    let Some(tools) = tools() else { return };
    let tl = Tl::new();
    let runs = tl.dir.path().join("runs");
    let fix = scenario(
        &tools,
        &runs.join("fix"),
        "Fix the bug in src/calc.py and check it",
        r#"[{"name":"Read","input":{"file_path":"src/calc.py"}},
            {"name":"Edit","input":{"file_path":"src/calc.py","old_string":"return a - b","new_string":"return a + b"}},
            {"name":"Bash","input":{"command":"python3 -c 'import sys; sys.exit(3)'","description":"Run a failing check"}}]"#,
        "Bash,Read,Edit",
        "[]",
        // Different cache mixes per response, so every price class is exercised.
        Some(
            r#"[{"cache_read_input_tokens":9000},{"cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":700}},{"input_tokens":4321}]"#,
        ),
    );
    let denied = scenario(
        &tools,
        &runs.join("denied"),
        "Clean up the build folder",
        r#"[{"name":"Bash","input":{"command":"rm -rf build","description":"Remove build folder"}}]"#,
        "Read",
        "[]",
        None,
    );
    let sub = scenario(
        &tools,
        &runs.join("sub"),
        "Survey the repository using a helper agent",
        r#"[{"name":"Agent","input":{"description":"Survey src","subagent_type":"general-purpose","prompt":"SUB: survey src and report"}}]"#,
        "Bash,Read,Agent",
        r#"[{"name":"Read","input":{"file_path":"notes.txt"}}]"#,
        None,
    );
    for out in [&fix, &denied, &sub] {
        let projects = out.join("claude-projects");
        let summary = tl.import(&projects).ok().json();
        assert_eq!(summary["malformed"], 0, "{summary}");
    }
    // Tokens: exactly the stand-in's log, per run (each run is its own session).
    let result = |out: &Path| -> Value {
        serde_json::from_slice(&std::fs::read(out.join("result.json")).unwrap()).unwrap()
    };
    for out in [&fix, &denied, &sub] {
        assert_exact(&tl, out);
    }
    // What happened is there: the failing command's exit code, the refusal, the subagent.
    let fix_session = result(&fix)["session_id"].as_str().unwrap().to_string();
    let exit = tl.scalar(&format!(
        "SELECT exit_code FROM tool_calls WHERE session_id = '{fix_session}' AND tool_name = 'Bash'"
    ));
    assert_eq!(as_i64(&exit), 3);
    let edits = tl.scalar(&format!(
        "SELECT array_to_string(files_written, ',') FROM tool_calls WHERE session_id = '{fix_session}' AND tool_name = 'Edit'"
    ));
    assert_eq!(edits, "src/calc.py");
    let denied_session = result(&denied)["session_id"].as_str().unwrap().to_string();
    let denials = tl.sql(&format!(
        "SELECT tool_name, decision FROM permissions WHERE session_id = '{denied_session}' AND decision = 'deny'"
    ));
    assert_eq!(denials.len(), 1, "{denials:?}");
    assert_eq!(denials[0]["tool_name"], "Bash");
    assert_eq!(
        result(&denied)["permission_denials"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let sub_session = result(&sub)["session_id"].as_str().unwrap().to_string();
    // As many subagents as the CLI itself says it spawned (the stand-in's subagents may
    // spawn their own, as in the bundled sample).
    let spawned = result(&sub)["subagent_stats"]["spawned"].as_i64().unwrap();
    assert!(spawned >= 1);
    assert_eq!(
        as_i64(&tl.scalar(&format!(
            "SELECT subagents FROM sessions WHERE session_id = '{sub_session}'"
        ))),
        spawned
    );
    assert!(
        as_i64(&tl.scalar(&format!(
            "SELECT count(*) FROM tool_calls WHERE session_id = '{sub_session}' AND agent_id IS NOT NULL"
        ))) >= 1,
        "the subagent's own tool call is in its parent's session"
    );
}

/// The same CLI exporting its telemetry straight to `tracelake serve`, once over each OTLP
/// transport: the lake holds its sessions, model calls (tokens exactly the stand-in's, cost
/// exactly the CLI's own), tool calls and permission decisions, the refusal as a `deny` row.
#[test]
fn the_real_cli_exports_to_the_collector_over_every_transport() {
    let Some(tools) = tools() else { return };
    let tl = Tl::new();
    let server = Server::start(&tl);
    let runs = tl.dir.path().join("runs");
    let fix_script = r#"[{"name":"Read","input":{"file_path":"src/calc.py"}},
        {"name":"Edit","input":{"file_path":"src/calc.py","old_string":"return a - b","new_string":"return a + b"}},
        {"name":"Bash","input":{"command":"python3 -c 'print(1)'","description":"Check"}}]"#;
    let deny_script = r#"[{"name":"Bash","input":{"command":"rm -rf build","description":"Remove build folder"}}]"#;
    let runs: Vec<(PathBuf, bool)> = [
        ("json", "http/json", fix_script, "Bash,Read,Edit", false),
        ("protobuf", "http/protobuf", deny_script, "Read", true),
        ("grpc", "grpc", fix_script, "Bash,Read,Edit", false),
    ]
    .into_iter()
    .map(|(name, protocol, script, allowed, denied)| {
        let endpoint = if protocol == "grpc" {
            server.otlp_grpc.clone()
        } else {
            server.otlp_http.clone()
        };
        let out = scenario_to(
            &tools,
            &runs.join(name),
            "Fix the bug in src/calc.py and check it",
            script,
            allowed,
            "[]",
            None,
            Some((&endpoint, protocol)),
        );
        (out, denied)
    })
    .collect();
    let status = server.status(&tl);
    server.stop();
    for signal in ["traces", "logs", "metrics"] {
        assert!(
            status["accepted"][signal].as_u64().unwrap() >= 3,
            "{signal} from every run: {status}"
        );
    }
    assert_eq!(status["rejected"]["malformed"], 0, "{status}");
    for (out, denied) in &runs {
        let session = assert_exact(&tl, out);
        let tools_used = as_i64(&tl.scalar(&format!(
            "SELECT count(*) FROM spans WHERE kind = 'tool' AND session_id = '{session}'"
        )));
        let decisions = tl.sql(&format!(
            "SELECT tool_name, decision FROM spans WHERE kind = 'permission' AND session_id = '{session}' ORDER BY start_time"
        ));
        if *denied {
            assert!(
                decisions
                    .iter()
                    .any(|d| d["decision"] == "deny" && d["tool_name"] == "Bash"),
                "{}: {decisions:?}",
                out.display()
            );
        } else {
            assert_eq!(tools_used, 3, "{}", out.display());
            assert_eq!(decisions.len(), 3, "{decisions:?}");
            assert!(decisions.iter().all(|d| d["decision"] == "allow"));
        }
    }
    assert!(
        as_i64(
            &tl.scalar("SELECT count(*) FROM metrics WHERE metric_name = 'claude_code.cost.usage'")
        ) >= 3
    );
}
