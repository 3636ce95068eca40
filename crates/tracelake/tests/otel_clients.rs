//! Real GenAI instrumentation libraries from PyPI (OpenTelemetry's openai-v2 in both of its
//! modes, OpenInference, OpenLLMetry/Traceloop current and pre-0.55) wrapping the official
//! `openai` client against a loopback Chat Completions stand-in (tools/otel-clients), exporting
//! to `tracelake serve`: each convention's model, tokens, messages and tool calls land in the
//! right columns, checked against what the stand-in billed. Once from the captured payloads in
//! testdata/otel-clients (no Python needed), once live.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    clippy::print_stdout
)] // test code: a failed unwrap is a failed test

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{Server, Tl, as_i64, repo, testdata, tools};
use serde_json::Value;
use tracelake_testkit::otlp::{OtlpClient, Transport, load_captures};

const LIBS: [&str; 5] = [
    "openai-v2",
    "openai-v2-latest",
    "openinference",
    "traceloop",
    "traceloop-legacy",
];

fn billing(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The lake against the stand-in's billing for one library's run.
fn check(tl: &Tl, lib: &str, billed: &[Value]) {
    let service = format!("otel-client-{lib}");
    let llm = tl.sql(&format!(
        "SELECT model, input_tokens, output_tokens, cache_read_tokens, stop_reason, input_text, \
         output_text, cost_usd FROM spans WHERE kind = 'llm' AND service_name = '{service}' \
         ORDER BY start_time"
    ));
    assert_eq!(
        llm.len(),
        billed.len(),
        "{lib}: one model call per response: {llm:?}"
    );
    // Libraries that report cached prompt tokens; openai-v2 does not for chat completions.
    let reports_cache = !lib.starts_with("openai-v2");
    for (row, bill) in llm.iter().zip(billed) {
        let u = &bill["usage"];
        let prompt = as_i64(&u["prompt_tokens"]);
        let cached = as_i64(&u["prompt_tokens_details"]["cached_tokens"]);
        assert_eq!(row["model"], bill["model"], "{lib}");
        assert_eq!(
            as_i64(&row["output_tokens"]),
            as_i64(&u["completion_tokens"]),
            "{lib}"
        );
        if reports_cache {
            assert_eq!(
                as_i64(&row["input_tokens"]),
                prompt - cached,
                "{lib}: uncached input"
            );
            assert_eq!(as_i64(&row["cache_read_tokens"]), cached, "{lib}");
        } else {
            assert_eq!(as_i64(&row["input_tokens"]), prompt, "{lib}");
        }
        assert!(row["cost_usd"].as_f64().unwrap() > 0.0, "{lib}: priced");
        let want_stop = bill["finish_reason"].as_str().unwrap();
        let stop = row["stop_reason"].as_str().unwrap_or_default();
        assert!(
            stop.contains(want_stop.trim_end_matches('s')),
            "{lib}: stop reason {stop:?}, billed {want_stop}"
        );
    }
    // Messages: on the span, or (openai-v2) from its content events folded into it.
    {
        let first_in = llm[0]["input_text"].as_str().unwrap_or_default();
        assert!(
            first_in.contains("Say hello to the tracelake test suite"),
            "{lib}: {first_in:?}"
        );
        let first_out = llm[0]["output_text"].as_str().unwrap_or_default();
        assert!(
            first_out.contains(billed[0]["content"].as_str().unwrap()),
            "{lib}: {first_out:?}"
        );
        // The model's tool call reads as one.
        let call = billed
            .iter()
            .position(|b| b["finish_reason"] == "tool_calls")
            .unwrap();
        let out = llm[call]["output_text"].as_str().unwrap_or_default();
        assert!(
            out.contains("get_weather"),
            "{lib}: tool call output {out:?}"
        );
    }
    if lib == "openai-v2" {
        let events = as_i64(&tl.scalar(&format!(
            "SELECT count(*) FROM spans WHERE service_name = '{service}' AND kind = 'event' \
             AND output_text LIKE '%tracelake%'"
        )));
        assert!(events >= 1, "{lib}: its message events are kept as well");
    }
    // The tool the agent ran, where the library records one.
    if lib != "openai-v2" {
        let tools = tl.sql(&format!(
            "SELECT tool_name, tool_call_id, session_id FROM spans WHERE kind = 'tool' AND service_name = '{service}'"
        ));
        assert!(
            tools.iter().any(|t| t["tool_name"]
                .as_str()
                .unwrap_or_default()
                .contains("get_weather")),
            "{lib}: {tools:?}"
        );
        if lib == "openai-v2-latest" || lib == "openinference" {
            let id = billed
                .iter()
                .find_map(|b| b["tool_calls"][0]["id"].as_str())
                .unwrap();
            assert!(
                tools.iter().any(|t| t["tool_call_id"] == id),
                "{lib}: {tools:?} vs {id}"
            );
        }
    }
}

fn send(endpoint: &str, reqs: &[tracelake_ingest::otlp::decode::Request]) {
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let mut c = OtlpClient::connect(Transport::HttpProtobuf, endpoint, false)
            .await
            .unwrap();
        for r in reqs {
            let reply = c.send(r).await.unwrap();
            assert!(reply.ok(), "{reply:?}");
        }
    });
}

#[test]
fn captured_instrumentation_payloads_map_to_the_right_columns() {
    let tl = Tl::new();
    let server = Server::start(&tl);
    for lib in LIBS {
        let dir = testdata().join("otel-clients").join(lib);
        send(&server.otlp_http, &load_captures(&dir).unwrap());
    }
    server.stop();
    for lib in LIBS {
        let dir = testdata().join("otel-clients").join(lib);
        check(&tl, lib, &billing(&dir.join("stub-billing.jsonl")));
    }
}

#[test]
fn live_instrumentation_libraries_export_to_the_collector() {
    let Some(tools) = tools() else { return };
    let here = repo().join("tools/otel-clients");
    let setup = Command::new(here.join("setup.sh"))
        .env("TRACELAKE_TOOLS", &tools)
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(setup.status.success(), "setup.sh failed");
    let pythons: Vec<(String, String)> = String::from_utf8(setup.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| {
            l.split_once(' ')
                .map(|(a, b)| (a.to_string(), b.to_string()))
        })
        .collect();
    assert_eq!(pythons.len(), LIBS.len(), "{pythons:?}");
    let tl = Tl::new();
    // One commit at the end: openai-v2's content events fold into their model call only when
    // both are in one WAL segment (ADR 0004), and its SDK exports logs and spans separately.
    tl.write_config("[collector]\ncommit_interval_ms = 600000\n");
    let server = Server::start(&tl);
    let mut billed = Vec::new();
    for (lib, python) in &pythons {
        let log = tl.dir.path().join(format!("{lib}-billing.jsonl"));
        let mut stub = Command::new("python3")
            .arg(here.join("stub_openai.py"))
            .args(["0", "--log", log.to_str().unwrap()])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(stub.stdout.as_mut().unwrap()),
            &mut first,
        )
        .unwrap();
        let port = first.trim().strip_prefix("PORT ").unwrap().to_string();
        let run = Command::new(python)
            .arg(here.join("run_client.py"))
            .args([
                "--lib",
                lib,
                "--openai-base",
                &format!("http://127.0.0.1:{port}/v1"),
                "--otlp-endpoint",
                &server.otlp_http,
            ])
            .env("HOME", tl.dir.path())
            .output()
            .unwrap();
        let _ = stub.kill();
        let _ = stub.wait();
        assert!(
            run.status.success(),
            "{lib}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        billed.push((lib.clone(), billing(&log)));
    }
    server.stop();
    for (lib, b) in &billed {
        check(&tl, lib, b);
    }
}
