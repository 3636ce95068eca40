//! Importing real Codex CLI 0.169 rollouts (testdata/codex, testdata/codex-otlp): token
//! totals exactly the model stand-in's (cached input once, as cache reads; reasoning apart),
//! every record type mapped or kept in `raw`, idempotent and incremental re-imports,
//! malformed input, secrets, and Codex sessions next to Claude Code ones in the reports.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    clippy::print_stdout
)] // test code: a failed unwrap is a failed test

mod common;

use std::io::Write;
use std::path::PathBuf;

use common::{Tl, as_f64, as_i64, codex_lake_totals, codex_truth, testdata};
use serde_json::{Value, json};

const SESSION: &str = "01a2041e-9886-7690-9eb6-4afd13e89bd1";

fn sample_dir() -> PathBuf {
    testdata().join("codex/sessions")
}

fn sample_file() -> PathBuf {
    sample_dir().join(format!(
        "2026/11/22/rollout-2026-11-22T16-37-23-{SESSION}.jsonl"
    ))
}

fn all() -> &'static str {
    "true"
}

#[test]
fn token_totals_equal_the_ground_truth_exactly() {
    let tl = Tl::new();
    let summary = tl.import_codex(&sample_dir()).ok().json();
    assert_eq!(summary["malformed"], 0, "{summary}");
    let truth = codex_truth(&testdata().join("codex-truth/fix-and-test.json"));
    // The sample's provenance states these; the truth file must agree with it.
    assert_eq!(truth, [11_065, 4_000, 320, 100, 5]);
    assert_eq!(codex_lake_totals(&tl, all()), truth);
    // Cached input counted once, as cache reads: input + cache read = Codex's input.
    assert_eq!(summary["input_tokens"], 7_065, "{summary}");
    assert_eq!(summary["cache_read_tokens"], 4_000, "{summary}");
    assert_eq!(summary["output_tokens"], 320, "{summary}");
    assert_eq!(summary["reasoning_tokens"], 100, "{summary}");
    assert_eq!(summary["cache_write_tokens"], 0, "{summary}");
    // Each model call carries the id of the response the stand-in sent, in order.
    let v: Value = serde_json::from_slice(
        &std::fs::read(testdata().join("codex-truth/fix-and-test.json")).unwrap(),
    )
    .unwrap();
    let ids: Vec<String> = v["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    let ours: Vec<String> = tl
        .sql("SELECT attributes FROM spans WHERE kind = 'llm' ORDER BY start_time")
        .iter()
        .map(|r| {
            let a: Value = serde_json::from_str(r["attributes"].as_str().unwrap()).unwrap();
            a["response_id"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(ours, ids);
    // Cost from the pricing table: gpt-5-codex at $1.25 / $0.125 cached / $10 per M tokens.
    let cost = as_f64(&tl.scalar("SELECT sum(cost_usd) FROM llm_calls"));
    let expected = (7_065.0 * 1.25 + 4_000.0 * 0.125 + 320.0 * 10.0) / 1e6;
    assert!((cost - expected).abs() < 1e-12, "{cost} vs {expected}");
    assert_eq!(
        tl.scalar("SELECT count(DISTINCT model) FROM llm_calls"),
        json!(1)
    );
    assert_eq!(tl.scalar("SELECT min(model) FROM llm_calls"), "gpt-5-codex");
}

#[test]
fn the_four_otlp_runs_rollouts_equal_their_truth() {
    let tl = Tl::new();
    let root = testdata().join("codex-otlp");
    let mut runs = 0;
    for scenario in ["failing-command", "fix-and-test"] {
        for protocol in ["json", "binary"] {
            let run = root.join(scenario).join(protocol);
            let summary = tl.import_codex(&run.join("codex-sessions")).ok().json();
            assert_eq!(summary["malformed"], 0, "{summary}");
            let file = walk(&run.join("codex-sessions"));
            let first = std::fs::read_to_string(&file[0]).unwrap();
            let meta: Value = serde_json::from_str(first.lines().next().unwrap()).unwrap();
            let session = meta["payload"]["id"].as_str().unwrap();
            assert_eq!(
                codex_lake_totals(&tl, &format!("session_id = '{session}'")),
                codex_truth(&run.join("truth.json")),
                "{scenario}/{protocol}"
            );
            runs += 1;
        }
    }
    assert_eq!(runs, 4);
    // failing-command: one exec_command exiting 2. fix-and-test: five; in these captures the
    // sed fix was over-escaped and failed too, so the assert after it failed again: exits
    // 0, 0, 1, 1, 1 (the items' own `exit_code`s).
    let mut exits: Vec<i64> = tl
        .sql("SELECT exit_code FROM tool_calls")
        .iter()
        .map(|r| as_i64(&r["exit_code"]))
        .collect();
    exits.sort();
    assert_eq!(exits, [0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2]);
    let errors = as_i64(&tl.scalar("SELECT count(*) FROM tool_calls WHERE status = 'error'"));
    assert_eq!(errors, 8);
    assert_eq!(
        as_i64(&tl.scalar(
            "SELECT count(*) FROM tool_calls WHERE status = 'error' AND exit_code = 2 \
             AND command = 'sh scripts/check.sh'"
        )),
        2
    );
}

fn walk(p: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(p).unwrap() {
        let path = e.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

#[test]
fn every_record_is_mapped_or_kept_in_raw() {
    let tl = Tl::new();
    tl.import_codex(&sample_dir()).ok();
    let lines = std::fs::read_to_string(sample_file())
        .unwrap()
        .lines()
        .count() as i64;
    assert_eq!(as_i64(&tl.scalar("SELECT count(*) FROM raw")), lines);
    assert_eq!(
        as_i64(&tl.scalar("SELECT count(*) FROM raw WHERE parse_error IS NOT NULL")),
        0
    );
    // The session, from session_meta.
    let s = &tl.sql(
        "SELECT session_id, agent, agent_version, project, tasks, llm_calls, tool_calls, errors \
         FROM sessions",
    )[0];
    assert_eq!(s["session_id"], SESSION);
    assert_eq!(s["agent"], "codex");
    assert_eq!(s["agent_version"], "0.169.0");
    assert_eq!(s["project"], "/home/dev/fix-and-test");
    assert_eq!(as_i64(&s["tasks"]), 1);
    assert_eq!(as_i64(&s["llm_calls"]), 5);
    assert_eq!(as_i64(&s["tool_calls"]), 4);
    // The task: the typed prompt, once (the rollout says it as a message and as an event).
    assert_eq!(
        tl.scalar("SELECT input_text FROM spans WHERE kind = 'task'"),
        "Fix the bug in src/calc.py and run a check"
    );
    // Tool calls: function_call joined with its output by call_id.
    let tools = tl.sql(
        "SELECT tool_name, command, exit_code, status, tool_output, duration_ms, caused_by, \
         task_id FROM tool_calls ORDER BY start_time",
    );
    let commands: Vec<&str> = tools
        .iter()
        .map(|t| t["command"].as_str().unwrap())
        .collect();
    assert_eq!(
        commands,
        [
            "ls -la",
            "cat src/calc.py",
            "sh tests/run_tests.sh",
            "sed -i s/a\\ -\\ b/a\\ +\\ b/ src/calc.py && cat src/calc.py"
        ]
    );
    let exits: Vec<i64> = tools.iter().map(|t| as_i64(&t["exit_code"])).collect();
    assert_eq!(exits, [0, 0, 2, 0]);
    let status: Vec<&str> = tools
        .iter()
        .map(|t| t["status"].as_str().unwrap())
        .collect();
    assert_eq!(status, ["ok", "ok", "error", "ok"]);
    assert!(
        tools[2]["tool_output"]
            .as_str()
            .unwrap()
            .contains("cannot open tests/run_tests.sh")
    );
    for t in &tools {
        assert_eq!(t["tool_name"], "exec_command");
        assert!(!t["duration_ms"].is_null());
        assert!(!t["task_id"].is_null());
    }
    // Each tool call points at the model call that asked for it.
    assert_eq!(
        as_i64(&tl.scalar(
            "SELECT count(*) FROM tool_calls t JOIN llm_calls l ON t.caused_by = l.span_id"
        )),
        4
    );
    // The agent's answer: one message event, and the last model call's output.
    assert_eq!(
        tl.scalar("SELECT output_text FROM spans WHERE kind = 'event' AND name = 'agent_message'"),
        "Done. Everything is in order."
    );
    assert_eq!(
        as_i64(&tl.scalar(
            "SELECT count(*) FROM llm_calls WHERE output_text = 'Done. Everything is in order.'"
        )),
        1
    );
    assert_eq!(
        as_i64(
            &tl.scalar(
                "SELECT count(*) FROM spans WHERE kind = 'event' AND name = 'task_complete'"
            )
        ),
        1
    );
    // The injected environment context is an event, not a task.
    assert_eq!(
        as_i64(&tl.scalar("SELECT count(*) FROM spans WHERE kind = 'event' AND name = 'context'")),
        1
    );
}

#[test]
fn reimport_adds_nothing_and_copies_do_not_double() {
    let tl = Tl::new();
    tl.import_codex(&sample_dir()).ok();
    let count = |tl: &Tl| {
        (
            as_i64(&tl.scalar("SELECT count(*) FROM spans")),
            as_i64(&tl.scalar("SELECT count(*) FROM raw")),
        )
    };
    let first = count(&tl);
    let again = tl.import_codex(&sample_dir()).ok().json();
    assert_eq!(again["files_read"], 0, "{again}");
    assert_eq!(again["spans"], 0, "{again}");
    assert_eq!(count(&tl), first);
    let copy = tl.dir.path().join("copy");
    common::copy_dir(&sample_dir(), &copy);
    let copied = tl.import_codex(&copy).ok().json();
    assert_eq!(copied["spans"], 0, "{copied}");
    assert_eq!(codex_lake_totals(&tl, all()), [11_065, 4_000, 320, 100, 5]);
}

#[test]
fn incremental_import_reads_only_what_was_appended() {
    let text = std::fs::read_to_string(sample_file()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // Cut after a tool call's output and before the token_count of the model call that asked
    // for it (a tool call waiting for its output would be written as unfinished: the sample
    // is older than an hour), with a half-written line at the end.
    let cut = 13;
    let tl = Tl::new();
    let dir = tl.dir.path().join("live/2026/11/22");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(sample_file().file_name().unwrap());
    let mut f = std::fs::File::create(&file).unwrap();
    for l in &lines[..cut] {
        writeln!(f, "{l}").unwrap();
    }
    write!(f, "{}", &lines[cut][..50]).unwrap();
    drop(f);
    let first = tl.import_codex(&dir).ok().json();
    assert_eq!(first["lines"], cut as i64, "{first}");
    assert!(first["pending_bytes"].as_i64().unwrap() > 0);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .unwrap();
    writeln!(f, "{}", &lines[cut][50..]).unwrap();
    for l in &lines[cut + 1..] {
        writeln!(f, "{l}").unwrap();
    }
    drop(f);
    let second = tl.import_codex(&dir).ok().json();
    assert_eq!(second["lines"], (lines.len() - cut) as i64, "{second}");
    let whole = Tl::new();
    whole.import_codex(&sample_file()).ok();
    let q = "SELECT span_id, kind, name, status, input_tokens, output_tokens, cache_read_tokens, \
             reasoning_tokens, tool_name, command, exit_code, caused_by, task_id, output_text \
             FROM spans ORDER BY span_id";
    assert_eq!(tl.sql(q), whole.sql(q));
    assert_eq!(
        as_i64(&tl.scalar("SELECT count(*) FROM raw")),
        lines.len() as i64
    );
}

fn rollout(dir: &std::path::Path, session: &str, lines: &[String]) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let file = dir.join(format!("rollout-2026-11-20T10-00-00-{session}.jsonl"));
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&file, text).unwrap();
    file
}

fn rec(ts: &str, ty: &str, payload: Value) -> String {
    json!({"timestamp": ts, "type": ty, "payload": payload}).to_string()
}

fn usage(i: i64, c: i64, o: i64, r: i64) -> Value {
    json!({"input_tokens": i, "cached_input_tokens": c, "output_tokens": o,
           "reasoning_output_tokens": r, "total_tokens": i + o})
}

#[test]
fn malformed_lines_are_reported_counted_and_everything_else_kept() {
    let tl = Tl::new();
    let session = "11111111-2222-4333-8444-555555555555";
    let lines = vec![
        rec(
            "2026-11-20T10:00:00Z",
            "session_meta",
            json!({"id": session, "cwd": "/w", "cli_version": "0.169.0"}),
        ),
        rec(
            "2026-11-20T10:00:01Z",
            "turn_context",
            json!({"model": "gpt-5-codex"}),
        ),
        r#"{"timestamp":"2026-11-20T10:00:02Z","type":"event_msg","payload":{"type":"token_cou"#
            .to_string(),
        "[1, 2, 3]".to_string(),
        rec(
            "2026-11-20T10:00:03Z",
            "event_msg",
            json!({"type": "token_count", "info": {"last_token_usage": "lots"}}),
        ),
        rec(
            "2026-11-20T10:00:04Z",
            "event_msg",
            json!({"type": "token_count", "info": {"last_token_usage": usage(100, 40, 10, 5),
                   "total_token_usage": usage(100, 40, 10, 5)}}),
        ),
        rec(
            "2026-11-20T10:00:05Z",
            "some_future_record",
            json!({"anything": [1, 2]}),
        ),
    ];
    let file = rollout(&tl.dir.path().join("bad"), session, &lines);
    let r = tl.run(&["import", "codex", file.to_str().unwrap()]);
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    let name = file.file_name().unwrap().to_str().unwrap();
    for line in [3, 4, 5] {
        assert!(
            r.stderr.contains(&format!("{name}:{line}: ")),
            "line {line} reported\n{}",
            r.stderr
        );
    }
    assert!(!r.stderr.contains(&format!("{name}:7: ")), "{}", r.stderr);
    assert_eq!(as_i64(&tl.scalar("SELECT count(*) FROM raw")), 7);
    assert_eq!(
        as_i64(&tl.scalar("SELECT count(*) FROM raw WHERE parse_error IS NOT NULL")),
        3
    );
    // The valid model call around the bad lines is mapped.
    assert_eq!(codex_lake_totals(&tl, all()), [100, 40, 10, 5, 1]);
}

#[test]
fn repeated_token_counts_and_running_totals_count_each_call_once() {
    let tl = Tl::new();
    let session = "aaaaaaaa-2222-4333-8444-555555555555";
    let t1 = usage(1000, 200, 50, 10);
    let t2 = usage(2500, 700, 80, 30);
    let lines = vec![
        rec(
            "2026-11-20T10:00:00Z",
            "session_meta",
            json!({"id": session}),
        ),
        rec(
            "2026-11-20T10:00:01Z",
            "turn_context",
            json!({"model": "gpt-5"}),
        ),
        rec(
            "2026-11-20T10:00:02Z",
            "event_msg",
            json!({"type": "token_count", "info": {"last_token_usage": t1.clone(), "total_token_usage": t1.clone()}}),
        ),
        // The same totals again (a rate-limit update): not a new call.
        rec(
            "2026-11-20T10:00:03Z",
            "event_msg",
            json!({"type": "token_count", "info": {"last_token_usage": t1.clone(), "total_token_usage": t1.clone()}}),
        ),
        // Rate limits only.
        rec(
            "2026-11-20T10:00:04Z",
            "event_msg",
            json!({"type": "token_count", "info": null, "rate_limits": {}}),
        ),
        // Only the running total: the call is the difference.
        rec(
            "2026-11-20T10:00:05Z",
            "event_msg",
            json!({"type": "token_count", "info": {"total_token_usage": t2}}),
        ),
    ];
    let file = rollout(&tl.dir.path().join("rep"), session, &lines);
    let summary = tl.import_codex(&file).ok().json();
    assert_eq!(summary["malformed"], 0, "{summary}");
    assert_eq!(codex_lake_totals(&tl, all()), [2500, 700, 80, 30, 2]);
}

#[test]
fn secrets_never_land() {
    let tl = Tl::new();
    let session = "bbbbbbbb-2222-4333-8444-555555555555";
    let key = "sk-proj-SECRETSECRETSECRETSECRET0123456789";
    let aws = "AKIAIOSFODNN7EXAMPLE";
    let pw = "s3cr3t-p4ssw0rd";
    let lines = vec![
        rec(
            "2026-11-20T10:00:00Z",
            "session_meta",
            json!({"id": session}),
        ),
        rec(
            "2026-11-20T10:00:01Z",
            "response_item",
            json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": format!("deploy with OPENAI_API_KEY={key}")}]}),
        ),
        rec(
            "2026-11-20T10:00:02Z",
            "response_item",
            json!({"type": "function_call", "name": "exec_command", "call_id": "call_1",
                   "arguments": json!({"cmd": format!("psql postgres://admin:{pw}@db.internal/app")}).to_string()}),
        ),
        rec(
            "2026-11-20T10:00:03Z",
            "response_item",
            json!({"type": "function_call_output", "call_id": "call_1", "output": format!("Process exited with code 0\nOutput:\nAWS_ACCESS_KEY_ID={aws}")}),
        ),
        // Still waiting for its output when the import runs: kept in the ledger.
        rec(
            "2099-01-01T00:00:00Z",
            "response_item",
            json!({"type": "function_call", "name": "exec_command", "call_id": "call_2",
                   "arguments": json!({"cmd": format!("export TOKEN={key}")}).to_string()}),
        ),
    ];
    let file = rollout(&tl.dir.path().join("secret"), session, &lines);
    let summary = tl.import_codex(&file).ok().json();
    assert!(
        summary["masked_secrets"].as_i64().unwrap() >= 4,
        "{summary}"
    );
    let dump = tl
        .run(&["sql", "SELECT * FROM raw", "--format", "csv"])
        .ok()
        .stdout
        + &tl
            .run(&["sql", "SELECT * FROM spans", "--format", "csv"])
            .ok()
            .stdout;
    for secret in [key, aws, pw] {
        assert!(!dump.contains(secret), "{secret} landed in the lake");
    }
    assert!(dump.contains("[REDACTED:openai-key]"), "{dump}");
    assert!(dump.contains("[REDACTED:url-password]"));
    let catalog = std::fs::read(tl.home().join("catalog.db")).unwrap();
    let catalog = String::from_utf8_lossy(&catalog);
    assert!(
        catalog.contains("call_2"),
        "the pending call is in the ledger"
    );
    assert!(!catalog.contains(key));
}

#[test]
fn unpriced_models_are_shown_as_unpriced() {
    // ccusage's own Codex fixture: two models our table has no price for, and no
    // session_meta (the session comes from the file name).
    let tl = Tl::new();
    let dir = testdata().join("ccusage-fixtures/codex/sessions");
    let summary = tl.import_codex(&dir).ok().json();
    assert_eq!(summary["unpriced_models"]["gpt-5.2-codex"], 1, "{summary}");
    assert_eq!(summary["unpriced_models"]["gpt-5.3-codex"], 1, "{summary}");
    assert_eq!(codex_lake_totals(&tl, all()), [3_500, 750, 425, 275, 2]);
    assert!(tl.scalar("SELECT max(cost_usd) FROM llm_calls").is_null());
    let cost = tl.run(&["cost", "--by", "model"]).ok();
    assert!(
        cost.stderr.contains("unpriced: gpt-5.2-codex (1 calls"),
        "{}",
        cost.stderr
    );
}

#[test]
fn sessions_show_and_cost_treat_codex_like_claude_code() {
    let tl = Tl::new();
    tl.import(&testdata().join("claude-code/projects")).ok();
    tl.import_codex(&sample_dir()).ok();
    let sessions = tl.run(&["sessions", "--format", "json"]).ok().json();
    let agents: std::collections::BTreeMap<String, usize> = sessions
        .as_array()
        .unwrap()
        .iter()
        .fold(Default::default(), |mut m, s| {
            *m.entry(s["agent"].as_str().unwrap().to_string())
                .or_default() += 1;
            m
        });
    assert_eq!(agents.get("codex"), Some(&1), "{agents:?}");
    assert_eq!(agents.get("claude-code"), Some(&5), "{agents:?}");

    let show = tl.run(&["show", "01a2041e"]).ok().stdout;
    for needle in [
        "session 01a2041e-9886-7690-9eb6-4afd13e89bd1  codex 0.169.0  /home/dev/fix-and-test",
        "1 task, 5 model calls, 4 tool calls, 1 error",
        "prompt  \"Fix the bug in src/calc.py and run a check\"",
        "tool    exec_command `ls -la`  ok",
        "tool    exec_command `sh tests/run_tests.sh`  error (exit 2)",
        "gpt-5-codex  in 1,387 out 57 cache r 800 w 0  $0.0024",
        "agent_message",
    ] {
        assert!(show.contains(needle), "missing {needle:?} in\n{show}");
    }

    let by_day = tl
        .run(&["cost", "--by", "day", "--format", "json"])
        .ok()
        .json();
    let rows = by_day.as_array().unwrap();
    let codex: Vec<&Value> = rows.iter().filter(|r| r["agent"] == "codex").collect();
    let claude: Vec<&Value> = rows
        .iter()
        .filter(|r| r["agent"] == "claude-code")
        .collect();
    assert_eq!(codex.len(), 1, "{by_day}");
    assert_eq!(claude.len(), 1, "{by_day}");
    assert_eq!(as_i64(&codex[0]["input_tokens"]), 7_065);
    assert_eq!(as_i64(&codex[0]["cache_read_tokens"]), 4_000);
    assert_eq!(as_i64(&claude[0]["input_tokens"]), 50_321);
    let by_agent = tl
        .run(&["cost", "--by", "model", "--format", "json"])
        .ok()
        .json();
    assert!(
        by_agent
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["model"] == "gpt-5-codex"),
        "{by_agent}"
    );
}

#[test]
fn default_folder_is_codex_home_sessions() {
    let tl = Tl::new();
    let codex_home = tl.dir.path().join("codex-home");
    common::copy_dir(&sample_dir(), &codex_home.join("sessions"));
    let tl = tl.with_env("CODEX_HOME", codex_home.to_str().unwrap());
    let summary = tl.run(&["import", "codex", "--format", "json"]).ok().json();
    assert_eq!(summary["files"], 1, "{summary}");
    // Without CODEX_HOME, ~/.codex/sessions of the (fake) HOME; none there: a clear error.
    let bare = Tl::new();
    let r = bare.run(&["import", "codex"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("no Codex sessions at") && r.stderr.contains(".codex/sessions"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_generated_corpus_imports_exactly() {
    let tl = Tl::new();
    let corpus = tl.dir.path().join("corpus");
    let spec = tracelake_testkit::codex_corpus::CodexCorpusSpec {
        seed: 11,
        target_bytes: 6 * 1024 * 1024,
        days: 3,
        ..Default::default()
    };
    let truth = tracelake_testkit::codex_corpus::generate(&spec, &corpus).expect("corpus");
    assert!(
        truth.repeated_token_counts > 0,
        "the corpus repeats some token counts"
    );
    let summary = tl.import_codex(&corpus.join("sessions")).ok().json();
    assert_eq!(summary["malformed"], 0, "{summary}");
    assert_eq!(summary["lines"], truth.lines, "{summary}");
    assert_eq!(summary["sessions"], truth.sessions, "{summary}");
    assert_eq!(summary["tasks"], truth.tasks, "{summary}");
    assert_eq!(summary["tool_calls"], truth.tool_calls, "{summary}");
    assert_eq!(summary["tool_errors"], truth.tool_errors, "{summary}");
    let t = &truth.totals;
    assert_eq!(
        codex_lake_totals(&tl, all()),
        [
            t.input_tokens,
            t.cached_input_tokens,
            t.output_tokens,
            t.reasoning_output_tokens,
            t.calls as i64
        ]
    );
    // Per day and model.
    let rows = tl.sql(
        "SELECT CAST(CAST(date_trunc('day', start_time) AS DATE) AS VARCHAR) AS day, model, \
         sum(input_tokens) + sum(cache_read_tokens) AS i, sum(cache_read_tokens) AS c, \
         sum(output_tokens) AS o, sum(reasoning_tokens) AS r, count(*) AS n \
         FROM llm_calls GROUP BY 1, 2",
    );
    let mut seen = 0;
    for row in &rows {
        let u = &truth.daily[row["day"].as_str().unwrap()][row["model"].as_str().unwrap()];
        assert_eq!(
            [
                as_i64(&row["i"]),
                as_i64(&row["c"]),
                as_i64(&row["o"]),
                as_i64(&row["r"]),
                as_i64(&row["n"])
            ],
            [
                u.input_tokens,
                u.cached_input_tokens,
                u.output_tokens,
                u.reasoning_output_tokens,
                u.calls as i64
            ],
            "{row}"
        );
        seen += 1;
    }
    assert_eq!(
        seen,
        truth.daily.values().map(|m| m.len()).sum::<usize>(),
        "same days and models"
    );
    // The unpriced model is listed, never priced at $0.
    assert!(
        summary["unpriced_models"]["gpt-experimental-codex"]
            .as_i64()
            .is_some(),
        "{summary}"
    );
}

/// Record shapes of older Codex versions and the tools the real sample does not use:
/// `local_shell_call`, `custom_tool_call` (apply_patch), `web_search_call`, `event_msg`
/// prompts / agent messages / reasoning said twice, `exec_command_end`, `turn_aborted`,
/// `error`, `compacted`, and the older `{"output", "metadata"}` tool output.
#[test]
fn older_and_rarer_record_types_are_mapped() {
    let tl = Tl::new();
    let session = "cccccccc-2222-4333-8444-555555555555";
    let u1 = usage(500, 100, 40, 10);
    let u2 = usage(700, 300, 60, 0);
    let t2 = usage(1200, 400, 100, 10);
    let lines = vec![
        rec(
            "2026-11-20T10:00:00Z",
            "session_meta",
            json!({"id": session, "cwd": "/w", "cli_version": "0.46.0", "git": {"branch": "feature-x"}}),
        ),
        rec(
            "2026-11-20T10:00:00Z",
            "turn_context",
            json!({"model": "gpt-5-codex", "cwd": "/w"}),
        ),
        rec(
            "2026-11-20T10:00:01Z",
            "response_item",
            json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": "<user_instructions>be brief</user_instructions>"}]}),
        ),
        rec(
            "2026-11-20T10:00:01Z",
            "response_item",
            json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": "patch the readme"}]}),
        ),
        rec(
            "2026-11-20T10:00:01Z",
            "event_msg",
            json!({"type": "user_message", "message": "patch the readme", "images": []}),
        ),
        rec(
            "2026-11-20T10:00:02Z",
            "event_msg",
            json!({"type": "agent_reasoning", "text": "Looking at README"}),
        ),
        rec(
            "2026-11-20T10:00:02Z",
            "response_item",
            json!({"type": "reasoning", "summary": [{"type": "summary_text", "text": "Looking at README"}], "encrypted_content": "gAAAA"}),
        ),
        rec(
            "2026-11-20T10:00:03Z",
            "response_item",
            json!({"type": "local_shell_call", "call_id": "ls_1", "status": "completed", "action": {"type": "exec", "command": ["bash", "-lc", "cat README.md"]}}),
        ),
        rec(
            "2026-11-20T10:00:03Z",
            "response_item",
            json!({"type": "custom_tool_call", "call_id": "ct_1", "name": "apply_patch", "input": "*** Begin Patch\n*** Update File: README.md\n@@\n-a\n+b\n*** Add File: NOTES.md\n+n\n*** End Patch"}),
        ),
        rec(
            "2026-11-20T10:00:03Z",
            "response_item",
            json!({"type": "web_search_call", "id": "ws_1", "status": "completed", "action": {"type": "search", "query": "codex rollout format"}}),
        ),
        rec(
            "2026-11-20T10:00:04Z",
            "event_msg",
            json!({"type": "token_count", "info": {"last_token_usage": u1.clone(), "total_token_usage": u1}}),
        ),
        rec(
            "2026-11-20T10:00:05Z",
            "event_msg",
            json!({"type": "exec_command_end", "call_id": "ls_1", "exit_code": 1, "duration": {"secs": 0, "nanos": 5000000}}),
        ),
        rec(
            "2026-11-20T10:00:05Z",
            "response_item",
            json!({"type": "function_call_output", "call_id": "ls_1", "output": "{\"output\":\"cat: README.md: No such file\\n\",\"metadata\":{\"exit_code\":1,\"duration_seconds\":0.005}}"}),
        ),
        rec(
            "2026-11-20T10:00:06Z",
            "response_item",
            json!({"type": "custom_tool_call_output", "call_id": "ct_1", "output": "{\"output\":\"Success. Updated the following files:\\nM README.md\\nA NOTES.md\\n\",\"metadata\":{\"exit_code\":0,\"duration_seconds\":0.01}}"}),
        ),
        rec(
            "2026-11-20T10:00:07Z",
            "event_msg",
            json!({"type": "agent_message", "message": "Patched."}),
        ),
        rec(
            "2026-11-20T10:00:07Z",
            "response_item",
            json!({"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Patched."}]}),
        ),
        rec(
            "2026-11-20T10:00:08Z",
            "event_msg",
            json!({"type": "token_count", "info": {"last_token_usage": u2, "total_token_usage": t2}}),
        ),
        rec(
            "2026-11-20T10:00:09Z",
            "event_msg",
            json!({"type": "error", "message": "stream disconnected before completion"}),
        ),
        rec(
            "2026-11-20T10:00:10Z",
            "event_msg",
            json!({"type": "turn_aborted", "reason": "interrupted"}),
        ),
        rec(
            "2026-11-20T10:00:11Z",
            "compacted",
            json!({"message": "summary of the work so far"}),
        ),
    ];
    let file = rollout(&tl.dir.path().join("old"), session, &lines);
    let summary = tl.import_codex(&file).ok().json();
    assert_eq!(summary["malformed"], 0, "{summary}");
    assert_eq!(summary["tasks"], 1, "one prompt said twice: {summary}");
    assert_eq!(codex_lake_totals(&tl, all()), [1200, 400, 100, 10, 2]);
    let tools = tl.sql(
        "SELECT tool_name, command, exit_code, status, files_written, input_text, caused_by \
         FROM spans WHERE kind = 'tool' ORDER BY tool_name",
    );
    assert_eq!(tools.len(), 3, "{tools:?}");
    assert_eq!(tools[0]["tool_name"], "apply_patch");
    assert_eq!(tools[0]["status"], "ok");
    assert_eq!(tools[0]["files_written"], json!(["README.md", "NOTES.md"]));
    assert_eq!(tools[1]["tool_name"], "local_shell");
    assert_eq!(tools[1]["command"], "cat README.md");
    assert_eq!(as_i64(&tools[1]["exit_code"]), 1);
    assert_eq!(tools[1]["status"], "error");
    assert_eq!(tools[2]["tool_name"], "web_search");
    assert_eq!(tools[2]["input_text"], "codex rollout format");
    // The first model call asked for all three.
    let first_llm = tl.scalar("SELECT span_id FROM llm_calls ORDER BY start_time LIMIT 1");
    for t in &tools[..2] {
        assert_eq!(t["caused_by"], first_llm, "{t}");
    }
    let events = tl.sql(
        "SELECT name, status, count(*) AS n FROM spans WHERE kind = 'event' GROUP BY 1, 2 \
         ORDER BY 1",
    );
    let got: Vec<(String, String, i64)> = events
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                e["status"].as_str().unwrap().to_string(),
                as_i64(&e["n"]),
            )
        })
        .collect();
    let want: Vec<(String, String, i64)> = [
        ("agent_message", "ok"),
        ("compact", "ok"),
        ("context", "ok"),
        ("error", "error"),
        ("interrupted", "error"),
        ("reasoning", "ok"),
    ]
    .iter()
    .map(|(n, s)| (n.to_string(), s.to_string(), 1))
    .collect();
    assert_eq!(got, want);
    assert_eq!(summary["spans_by_kind"]["event"], 6, "{summary}");
    let s = &tl.sql("SELECT agent_version, git_branch FROM sessions")[0];
    assert_eq!(s["agent_version"], "0.46.0");
    assert_eq!(s["git_branch"], "feature-x");
    assert_eq!(
        tl.scalar("SELECT output_text FROM llm_calls ORDER BY start_time DESC LIMIT 1"),
        "Patched."
    );
}
