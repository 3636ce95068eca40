//! Importing real Claude Code sessions (CLI 2.1.328, testdata/claude-code): exact token
//! totals against the model stand-in's ground truth, cost against Claude Code's own
//! accounting, idempotent and incremental re-imports, malformed input, secrets.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    clippy::print_stdout
)] // test code: a failed unwrap is a failed test

mod common;

use std::collections::BTreeMap;
use std::io::Write;

use common::{Tl, as_f64, as_i64, testdata};
use serde_json::Value;

fn truth_totals() -> [i64; 4] {
    let mut t = [0i64; 4];
    for entry in std::fs::read_dir(testdata().join("claude-code-truth")).unwrap() {
        let sums = common::truth_usage(&entry.unwrap().path());
        for (a, b) in t.iter_mut().zip(sums) {
            *a += b;
        }
    }
    t
}

fn lake_totals(tl: &Tl) -> [i64; 4] {
    let row = &tl.sql(
        "SELECT sum(input_tokens) AS i, sum(output_tokens) AS o, sum(cache_write_tokens) AS w, \
         sum(cache_read_tokens) AS r FROM llm_calls",
    )[0];
    [
        as_i64(&row["i"]),
        as_i64(&row["o"]),
        as_i64(&row["w"]),
        as_i64(&row["r"]),
    ]
}

fn samples() -> std::path::PathBuf {
    testdata().join("claude-code/projects")
}

#[test]
fn token_totals_equal_the_ground_truth_exactly() {
    let tl = Tl::new();
    let summary = tl.import(&samples()).ok().json();
    assert_eq!(summary["malformed"], 0, "{summary}");
    let truth = truth_totals();
    // The samples' own provenance states these; the truth files must agree with it.
    assert_eq!(truth, [50_321, 2_142, 5_600, 84_000]);
    assert_eq!(lake_totals(&tl), truth);
    // One row per billed response: streamed fragments and subagent files counted once.
    let responses: usize = std::fs::read_dir(testdata().join("claude-code-truth"))
        .unwrap()
        .map(|e| {
            let v: Value =
                serde_json::from_slice(&std::fs::read(e.unwrap().path()).unwrap()).unwrap();
            v["responses"].as_array().unwrap().len()
        })
        .sum();
    assert_eq!(
        as_i64(&tl.scalar("SELECT count(*) FROM llm_calls")),
        responses as i64
    );
    assert_eq!(
        as_i64(&tl.scalar("SELECT count(DISTINCT span_id) FROM spans")),
        as_i64(&tl.scalar("SELECT count(*) FROM spans"))
    );
    // Every source line is in raw with its file and line.
    let lines: i64 = common::testdata()
        .join("claude-code/projects")
        .read_dir()
        .unwrap()
        .flat_map(|p| walk(&p.unwrap().path()))
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .map(|p| std::fs::read_to_string(p).unwrap().lines().count() as i64)
        .sum();
    assert_eq!(as_i64(&tl.scalar("SELECT count(*) FROM raw")), lines);
    assert_eq!(
        as_i64(&tl.scalar("SELECT count(*) FROM raw WHERE file IS NULL OR line IS NULL")),
        0
    );
}

fn walk(p: &std::path::Path) -> Vec<std::path::PathBuf> {
    if p.is_dir() {
        p.read_dir()
            .unwrap()
            .flat_map(|e| walk(&e.unwrap().path()))
            .collect()
    } else {
        vec![p.to_path_buf()]
    }
}

/// Claude Code's own per-request cost (`claude_code.api_request` events), per session.
fn otlp_costs() -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for scenario in testdata().join("claude-code-otlp").read_dir().unwrap() {
        for f in scenario.unwrap().path().read_dir().unwrap() {
            let path = f.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if !name.contains("logs") || !name.ends_with(".json") {
                continue;
            }
            let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            for rl in v["resourceLogs"].as_array().unwrap() {
                for sl in rl["scopeLogs"].as_array().unwrap() {
                    for lr in sl["logRecords"].as_array().unwrap() {
                        let attrs: BTreeMap<String, Value> = lr["attributes"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|a| {
                                let v = a["value"]
                                    .as_object()
                                    .unwrap()
                                    .values()
                                    .next()
                                    .unwrap()
                                    .clone();
                                (a["key"].as_str().unwrap().to_string(), v)
                            })
                            .collect();
                        if attrs.get("event.name").and_then(|v| v.as_str()) == Some("api_request") {
                            let session = attrs["session.id"].as_str().unwrap().to_string();
                            *out.entry(session).or_default() += as_f64(&attrs["cost_usd"]);
                        }
                    }
                }
            }
        }
    }
    out
}

fn cents(x: f64) -> i64 {
    (x * 100.0).round() as i64
}

#[test]
fn session_cost_equals_claude_codes_own_accounting() {
    let tl = Tl::new();
    tl.import(&samples()).ok();
    let ours: BTreeMap<String, (f64, Option<f64>, i64)> = tl
        .sql("SELECT session_id, cost_usd, source_cost_usd, unpriced_calls FROM sessions")
        .into_iter()
        .map(|r| {
            (
                r["session_id"].as_str().unwrap().to_string(),
                (
                    as_f64(&r["cost_usd"]),
                    r["source_cost_usd"].as_f64(),
                    as_i64(&r["unpriced_calls"]),
                ),
            )
        })
        .collect();
    assert_eq!(ours.len(), 5);
    // `claude -p --output-format json`'s total_cost_usd.
    let mut checked = 0;
    for entry in testdata().join("claude-code-results").read_dir().unwrap() {
        let v: Value =
            serde_json::from_slice(&std::fs::read(entry.unwrap().path()).unwrap()).unwrap();
        let session = v["session_id"].as_str().unwrap();
        let (cost, source_cost, unpriced) = ours[session];
        assert_eq!(unpriced, 0, "{session} has unpriced calls");
        let theirs = v["total_cost_usd"].as_f64().unwrap();
        assert_eq!(
            cents(cost),
            cents(theirs),
            "{session}: ours {cost} vs Claude Code {theirs}"
        );
        assert!(
            (cost - theirs).abs() < 1e-9,
            "{session}: ours {cost} vs Claude Code {theirs}"
        );
        // The session's own cost-state record is kept too.
        assert!((source_cost.unwrap() - theirs).abs() < 1e-9, "{session}");
        checked += 1;
    }
    assert_eq!(checked, 5);
    // The OTLP api_request events' cost_usd, summed per session.
    let otlp = otlp_costs();
    assert!(otlp.len() >= 4, "{otlp:?}");
    for (session, theirs) in otlp {
        let (cost, _, _) = ours[&session];
        assert_eq!(
            cents(cost),
            cents(theirs),
            "{session}: ours {cost} vs OTLP {theirs}"
        );
    }
    // Per call, too: each llm span equals its api_request event (same request id).
    let calls = tl.sql("SELECT attributes, cost_usd FROM llm_calls");
    assert_eq!(calls.len(), 28);
}

#[test]
fn reimport_adds_nothing() {
    let tl = Tl::new();
    tl.import(&samples()).ok();
    let count = |tl: &Tl| {
        (
            as_i64(&tl.scalar("SELECT count(*) FROM spans")),
            as_i64(&tl.scalar("SELECT count(*) FROM raw")),
        )
    };
    let first = count(&tl);
    let again = tl.import(&samples()).ok().json();
    assert_eq!(again["files_read"], 0, "{again}");
    assert_eq!(again["spans"], 0, "{again}");
    assert_eq!(count(&tl), first);
    // A copy of the same session under another folder does not double its model calls.
    let copy = tl.dir.path().join("copy");
    common::copy_dir(&samples(), &copy);
    tl.import(&copy).ok();
    assert_eq!(lake_totals(&tl), truth_totals());
}

#[test]
fn incremental_import_reads_only_what_was_appended() {
    let source = samples().join("-home-dev-happy/9bb336ca-b56d-4b73-a183-015587119ec2.jsonl");
    let text = std::fs::read_to_string(&source).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // Cut between the two fragments of one response (lines 21/22 share message.id), and
    // leave a half-written line at the end of the first part.
    let cut = 21;
    let tl = Tl::new();
    let dir = tl.dir.path().join("live/-home-dev-happy");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("9bb336ca-b56d-4b73-a183-015587119ec2.jsonl");
    let mut f = std::fs::File::create(&file).unwrap();
    for l in &lines[..cut] {
        writeln!(f, "{l}").unwrap();
    }
    let half = &lines[cut][..40];
    write!(f, "{half}").unwrap();
    drop(f);
    let first = tl.import(&dir).ok().json();
    assert_eq!(first["lines"], cut as i64, "{first}");
    assert!(first["pending_bytes"].as_i64().unwrap() > 0);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .unwrap();
    writeln!(f, "{}", &lines[cut][40..]).unwrap();
    for l in &lines[cut + 1..] {
        writeln!(f, "{l}").unwrap();
    }
    drop(f);
    let second = tl.import(&dir).ok().json();
    assert_eq!(second["lines"], (lines.len() - cut) as i64, "{second}");
    // Same lake as one import of the whole file.
    let whole = Tl::new();
    whole.import(&source).ok();
    let q = "SELECT span_id, kind, status, input_tokens, output_tokens, cache_read_tokens, \
             cache_write_tokens, tool_name, is_error FROM spans ORDER BY span_id";
    assert_eq!(tl.sql(q), whole.sql(q));
    assert_eq!(
        as_i64(&tl.scalar("SELECT count(*) FROM raw")),
        lines.len() as i64
    );
}

#[test]
fn malformed_lines_are_reported_counted_and_everything_else_kept() {
    let tl = Tl::new();
    let fixture = testdata().join("claude-code-log-fixtures/edge_cases.jsonl");
    let r = tl.run(&["import", "claude-code", fixture.to_str().unwrap()]);
    assert_eq!(
        r.code, 3,
        "exit status says lines were skipped\n{}\n{}",
        r.stdout, r.stderr
    );
    for line in [10, 11, 13, 15, 16, 18] {
        assert!(
            r.stderr.contains(&format!("edge_cases.jsonl:{line}: ")),
            "line {line} reported\n{}",
            r.stderr
        );
    }
    assert!(r.stdout.contains("malformed lines skipped"), "{}", r.stdout);
    let total_lines = std::fs::read_to_string(&fixture).unwrap().lines().count() as i64;
    assert_eq!(as_i64(&tl.scalar("SELECT count(*) FROM raw")), total_lines);
    assert!(as_i64(&tl.scalar("SELECT count(*) FROM raw WHERE parse_error IS NOT NULL")) >= 4);
    // The valid records around the bad ones are mapped.
    assert!(as_i64(&tl.scalar("SELECT count(*) FROM llm_calls")) >= 3);
    assert!(as_i64(&tl.scalar("SELECT count(*) FROM spans WHERE kind = 'task'")) >= 3);
}

#[test]
fn secrets_never_land() {
    let tl = Tl::new();
    let dir = tl.dir.path().join("secret/-home-dev-x");
    std::fs::create_dir_all(&dir).unwrap();
    let key = "sk-ant-api03-SECRETSECRETSECRETSECRET0123456789";
    let aws = "AKIAIOSFODNN7EXAMPLE";
    let pw = "s3cr3t-p4ssw0rd";
    let lines = [
        serde_json::json!({"type":"user","sessionId":"sess-secret","uuid":"u1","timestamp":"2026-11-20T10:00:00Z","cwd":"/home/dev/x",
            "message":{"role":"user","content":format!("deploy with ANTHROPIC_API_KEY={key}")}}),
        serde_json::json!({"type":"assistant","sessionId":"sess-secret","uuid":"a1","timestamp":"2026-11-20T10:00:01Z","requestId":"req_1",
            "message":{"id":"msg_1","model":"claude-sonnet-4-5-20250929","content":[{"type":"tool_use","id":"toolu_1","name":"Bash",
            "input":{"command":format!("psql postgres://admin:{pw}@db.internal/app")}}],"usage":{"input_tokens":5,"output_tokens":2}}}),
        serde_json::json!({"type":"user","sessionId":"sess-secret","uuid":"u2","timestamp":"2026-11-20T10:00:02Z",
            "message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":format!("AWS_ACCESS_KEY_ID={aws}")}]}}),
        // A tool call still waiting for its result when the import runs: kept in the ledger.
        serde_json::json!({"type":"assistant","sessionId":"sess-secret","uuid":"a2","timestamp":"2099-01-01T00:00:00Z","requestId":"req_2",
            "message":{"id":"msg_2","model":"claude-sonnet-4-5-20250929","content":[{"type":"tool_use","id":"toolu_2","name":"Bash",
            "input":{"command":format!("export TOKEN={key}")}}],"usage":{"input_tokens":5,"output_tokens":2}}}),
    ];
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(dir.join("sess-secret.jsonl"), text).unwrap();
    let summary = tl.import(&dir).ok().json();
    assert!(
        summary["masked_secrets"].as_i64().unwrap() >= 4,
        "{summary}"
    );
    // No text column of any table holds a secret.
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
    assert!(dump.contains("[REDACTED:anthropic-key]"));
    assert!(dump.contains("[REDACTED:url-password]"));
    // Nor does the catalog's ledger (which keeps the pending tool call).
    let catalog = std::fs::read(tl.home().join("catalog.db")).unwrap();
    let catalog = String::from_utf8_lossy(&catalog);
    assert!(
        catalog.contains("toolu_2"),
        "the pending call is in the ledger"
    );
    assert!(!catalog.contains(key));
}

#[test]
fn sessions_show_and_cost_reports() {
    let tl = Tl::new();
    tl.import(&samples()).ok();
    let sessions = tl.run(&["sessions", "--format", "json"]).ok().json();
    let sessions = sessions.as_array().unwrap();
    assert_eq!(sessions.len(), 5);
    let starts: Vec<&str> = sessions
        .iter()
        .map(|s| s["start_time"].as_str().unwrap())
        .collect();
    let mut sorted = starts.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(starts, sorted, "newest first");
    for key in [
        "session_id",
        "agent",
        "project",
        "tasks",
        "llm_calls",
        "tool_calls",
        "errors",
        "tokens",
        "cost_usd",
    ] {
        assert!(sessions[0].get(key).is_some(), "{key}");
    }
    let table = tl.run(&["sessions"]).ok().stdout;
    assert!(
        table.contains("9bb336ca-b56d-4b73-a183-015587119ec2"),
        "{table}"
    );

    let show = tl.run(&["show", "9bb336ca"]).ok().stdout;
    for needle in [
        "prompt  \"Look at the files here and fix the bug in src/calc.py\"",
        "tool    Bash `ls -la`  ok",
        "tool    Read src/calc.py  ok",
        "tool    Edit src/calc.py  ok",
        "claude-sonnet-4-5-20250929  in 1,789 out 74 cache r 3,000 w 200  $0.0081",
        "files read:    src/calc.py",
        "files changed: src/calc.py",
    ] {
        assert!(show.contains(needle), "missing {needle:?} in\n{show}");
    }
    let retry = tl.run(&["show", "8cb1aa8c"]).ok().stdout;
    assert_eq!(retry.matches("error (exit 2)").count(), 3, "{retry}");
    let denied = tl.run(&["show", "6278474d"]).ok().stdout;
    assert!(denied.contains("denied"), "{denied}");
    let sub = tl.run(&["show", "be44ea2d"]).ok().stdout;
    assert_eq!(sub.matches("agent   general-purpose").count(), 3, "{sub}");
    let missing = tl.run(&["show", "nope"]);
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.contains("no session nope"),
        "{}",
        missing.stderr
    );

    let by_day = tl
        .run(&["cost", "--by", "day", "--format", "json"])
        .ok()
        .json();
    let days = by_day.as_array().unwrap();
    assert_eq!(days.len(), 1);
    assert_eq!(days[0]["agent"], "claude-code");
    assert_eq!(as_i64(&days[0]["input_tokens"]), 50_321);
    let by_model = tl
        .run(&["cost", "--by", "model", "--format", "json"])
        .ok()
        .json();
    assert_eq!(by_model.as_array().unwrap().len(), 3);
    let by_session = tl
        .run(&["cost", "--by", "session", "--format", "csv"])
        .ok()
        .stdout;
    assert_eq!(by_session.lines().count(), 6, "{by_session}");
}

#[test]
fn unpriced_models_are_never_a_silent_zero() {
    let tl = Tl::new();
    let dir = tl.dir.path().join("unpriced/-home-dev-y");
    std::fs::create_dir_all(&dir).unwrap();
    let line = serde_json::json!({"type":"assistant","sessionId":"s-unpriced","uuid":"a1","timestamp":"2026-11-20T10:00:01Z","requestId":"req_1",
        "message":{"id":"msg_1","model":"claude-experimental-x","content":[{"type":"text","text":"hi"}],"usage":{"input_tokens":100,"output_tokens":20}}});
    std::fs::write(dir.join("s-unpriced.jsonl"), format!("{line}\n")).unwrap();
    let summary = tl.import(&dir).ok().json();
    assert_eq!(
        summary["unpriced_models"]["claude-experimental-x"], 1,
        "{summary}"
    );
    let text = tl.import(&dir);
    assert_eq!(text.code, 0);
    assert!(tl.scalar("SELECT cost_usd FROM llm_calls").is_null());
    let cost = tl.run(&["cost", "--by", "day"]).ok();
    assert!(
        cost.stderr
            .contains("unpriced: claude-experimental-x (1 calls"),
        "{}",
        cost.stderr
    );
    let json = tl
        .run(&["cost", "--by", "model", "--format", "json"])
        .ok()
        .json();
    assert_eq!(json[0]["unpriced_models"], "claude-experimental-x");
    assert!(json[0]["cost_usd"].is_null(), "{json}");
}

#[test]
fn sql_errors_name_the_problem_and_the_tables() {
    let tl = Tl::new();
    tl.import(&samples()).ok();
    let r = tl.run(&["sql", "SELECT * FROM nope"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("nope"), "{}", r.stderr);
    assert!(
        r.stderr.contains("spans") && r.stderr.contains("sessions"),
        "{}",
        r.stderr
    );
    let r = tl.run(&["sql", "SELEC 1"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.to_lowercase().contains("selec"), "{}", r.stderr);
    let out = tl.dir.path().join("out.parquet");
    tl.run(&[
        "sql",
        "SELECT * FROM tool_calls",
        "--format",
        "parquet",
        "--output",
        out.to_str().unwrap(),
    ])
    .ok();
    assert!(std::fs::metadata(&out).unwrap().len() > 100);
}
