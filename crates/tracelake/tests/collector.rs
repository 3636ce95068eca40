//! The collector end to end: the real `tracelake serve` on free ports, real OTLP exporters
//! (HTTP JSON, HTTP protobuf, gRPC; gzip), and the lake read back with `tracelake sql`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    clippy::print_stdout
)] // test code: a failed unwrap is a failed test

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{Server, Tl, as_f64, as_i64, testdata};
use serde_json::Value;
use tracelake_ingest::otlp::decode::{Request, Signal};
use tracelake_testkit::otlp::{Acked, LoadSpec, OtlpClient, Transport, load_captures};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

fn captures() -> Vec<Request> {
    let mut all = Vec::new();
    for dir in [
        "happy",
        "permission-denied",
        "retry-loop",
        "subagent",
        "protobuf",
    ] {
        all.extend(load_captures(&testdata().join("claude-code-otlp").join(dir)).unwrap());
    }
    all
}

fn send_all(endpoint: &str, transport: Transport, gzip: bool, reqs: &[Request]) {
    runtime().block_on(async {
        let mut c = OtlpClient::connect(transport, endpoint, gzip)
            .await
            .unwrap();
        for r in reqs {
            let reply = c.send(r).await.unwrap();
            assert!(reply.ok(), "{}: {reply:?}", transport.name());
        }
    });
}

/// What the lake holds, in a form two lakes can be compared by.
fn summary(tl: &Tl) -> Value {
    let spans = tl.sql(
        "select kind, count(*) as n, count(distinct session_id) as sessions, \
         sum(input_tokens) as input, sum(output_tokens) as output, \
         sum(cache_read_tokens) as cache_read, sum(cache_write_tokens) as cache_write, \
         round(sum(cost_usd), 9) as cost, round(sum(source_cost_usd), 9) as source_cost, \
         count(decision) as decisions, sum(length(input_text)) as input_chars, \
         sum(length(tool_output)) as tool_output_chars \
         from spans group by kind order by kind",
    );
    let metrics = tl.sql(
        "select metric_name, count(*) as n, round(sum(value), 6) as total from metrics \
         group by metric_name order by metric_name",
    );
    let raw = tl.scalar("select count(*) from raw");
    serde_json::json!({"spans": spans, "metrics": metrics, "raw": raw})
}

#[test]
fn claude_code_captures_land_the_same_over_every_transport() {
    let reqs = captures();
    let mut results = Vec::new();
    for (transport, gzip) in [
        (Transport::HttpJson, false),
        (Transport::HttpProtobuf, true),
        (Transport::Grpc, false),
        (Transport::Grpc, true),
    ] {
        let tl = Tl::new();
        // One commit at the end: each event meets its trace span in the same WAL segment.
        tl.write_config("[collector]\ncommit_interval_ms = 600000\n");
        let server = Server::start(&tl);
        send_all(server.endpoint(transport), transport, gzip, &reqs);
        let status = server.status(&tl);
        let requests: u64 = ["traces", "logs", "metrics"]
            .iter()
            .map(|s| status["accepted"][s].as_u64().unwrap())
            .sum();
        assert_eq!(requests, reqs.len() as u64, "{status}");
        server.stop();
        results.push((transport.name(), gzip, summary(&tl), tl));
    }
    let (_, _, first, tl) = &results[0];
    for (name, gzip, s, _) in &results[1..] {
        assert_eq!(s, first, "{name} (gzip {gzip}) differs from http/json");
    }
    // And what landed is right: Claude Code's own cost on every model call, its sessions,
    // the permission-denied scenario's refusal as a deny row, one raw row per request.
    let llm = tl.sql(
        "select count(*) as n, sum(case when abs(cost_usd - source_cost_usd) < 1e-9 then 1 else 0 end) as equal \
         from spans where kind = 'llm'",
    );
    assert!(as_i64(&llm[0]["n"]) > 10, "{llm:?}");
    assert_eq!(
        llm[0]["n"], llm[0]["equal"],
        "our cost equals Claude Code's"
    );
    assert!(
        as_i64(
            &tl.scalar(
                "select count(*) from spans where kind = 'permission' and decision = 'deny'"
            )
        ) >= 1
    );
    assert_eq!(as_i64(&first["raw"]), reqs.len() as i64);
    let sessions =
        as_i64(&tl.scalar("select count(distinct session_id) from spans where kind = 'llm'"));
    assert!(sessions >= 4, "one per scenario: {sessions}");
    assert!(
        as_i64(
            &tl.scalar(
                "select count(*) from metrics where metric_name = 'claude_code.token.usage'"
            )
        ) > 0
    );
}

/// Which views of the keyed entities landed: the trace span brings ids, parents and
/// time to first token, the event brings Claude Code's cost.
fn views(tl: &Tl) -> Vec<Value> {
    tl.sql(
        "select kind, count(*) as n, count(trace_id) as traced, count(parent_span_id) as parented, \
         count(ttft_ms) as ttft, count(source_cost_usd) as source_cost, count(end_time) as ended, \
         count(distinct span_id) as ids from spans group by kind order by kind",
    )
}

#[test]
fn views_of_one_entity_in_different_commits_merge_into_one_row() {
    let reqs = captures();
    let whole = Tl::new();
    whole.write_config("[collector]\ncommit_interval_ms = 600000\n");
    let server = Server::start(&whole);
    send_all(&server.otlp_http, Transport::HttpJson, false, &reqs);
    server.stop();

    // Every request in a commit of its own: a model call's event and its trace span are
    // committed seconds apart, in different WAL segments.
    let split = Tl::new();
    split.write_config("[collector]\ncommit_interval_ms = 50\nmerge_window_ms = 60000\n");
    let server = Server::start(&split);
    for (i, r) in reqs.iter().enumerate() {
        send_all(
            &server.otlp_http,
            Transport::HttpJson,
            false,
            std::slice::from_ref(r),
        );
        // Its raw row is written with its first commit: then the next one goes to a new segment.
        let started = std::time::Instant::now();
        while as_i64(&split.scalar("select count(*) from raw")) <= i as i64 {
            assert!(
                started.elapsed().as_secs() < 30,
                "request {i} never committed"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    server.stop();
    let commits = as_i64(&split.scalar("select count(*) from raw"));
    assert_eq!(commits, reqs.len() as i64);
    assert_eq!(views(&split), views(&whole));
    assert_eq!(summary(&split), summary(&whole));
    let merged = views(&whole);
    let llm = merged.iter().find(|r| r["kind"] == "llm").unwrap();
    assert!(
        as_i64(&llm["traced"]) > 0 && llm["traced"] == llm["source_cost"],
        "{llm}"
    );

    // Without a stop, a waiting entity is written once its window has passed.
    let live = Tl::new();
    live.write_config("[collector]\ncommit_interval_ms = 50\nmerge_window_ms = 500\n");
    let server = Server::start(&live);
    let happy = load_captures(&testdata().join("claude-code-otlp/happy")).unwrap();
    send_all(&server.otlp_http, Transport::HttpJson, false, &happy);
    let started = std::time::Instant::now();
    while server.status(&live)["wal_bytes"] != 0 {
        assert!(started.elapsed().as_secs() < 30, "the WAL never drained");
        std::thread::sleep(Duration::from_millis(50));
    }
    let llm = as_i64(&live.scalar("select count(*) from spans where kind = 'llm'"));
    server.stop();
    assert_eq!(
        llm, 5,
        "the happy scenario's model calls, written while serving"
    );
}

#[test]
fn one_session_seen_through_otlp_and_its_log_is_one_session() {
    let tl = Tl::new();
    let session = "9bb336ca-b56d-4b73-a183-015587119ec2";
    let log_dir = tempfile::tempdir().unwrap();
    let project = log_dir.path().join("projects/-home-dev-happy");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::copy(
        testdata().join(format!(
            "claude-code/projects/-home-dev-happy/{session}.jsonl"
        )),
        project.join(format!("{session}.jsonl")),
    )
    .unwrap();
    tl.import(log_dir.path()).ok();
    let q = format!(
        "select kind, count(*) as n, round(sum(cost_usd), 9) as cost from spans \
         where session_id = '{session}' and kind in ('llm', 'tool', 'task', 'permission') \
         group by kind order by kind"
    );
    let from_log = tl.sql(&q);
    let server = Server::start(&tl);
    let happy = load_captures(&testdata().join("claude-code-otlp/happy")).unwrap();
    send_all(&server.otlp_http, Transport::HttpJson, false, &happy);
    server.stop();
    let both = tl.sql(&q);
    let n = |rows: &[Value], kind: &str| {
        rows.iter()
            .find(|r| r["kind"] == kind)
            .map_or(0, |r| as_i64(&r["n"]))
    };
    assert_eq!(n(&both, "llm"), 5, "{both:?}");
    assert_eq!(n(&both, "llm"), n(&from_log, "llm"));
    assert_eq!(n(&both, "tool"), n(&from_log, "tool"));
    assert_eq!(n(&both, "task"), n(&from_log, "task"));
    let cost = |rows: &[Value]| {
        rows.iter()
            .find(|r| r["kind"] == "llm")
            .map_or(0.0, |r| as_f64(&r["cost"]))
    };
    assert!((cost(&both) - cost(&from_log)).abs() < 1e-9);
    // The OTLP side adds what the log does not have (permission decisions), under the same
    // session.
    assert_eq!(n(&both, "permission"), 4, "{both:?}");
    assert_eq!(
        as_i64(&tl.scalar("select count(*) from sessions")),
        1,
        "one session, not two"
    );
}

#[test]
fn bad_requests_are_answered_counted_and_harm_nothing() {
    let tl = Tl::new();
    tl.write_config("[collector]\nmax_request_bytes = 1048576\n");
    let server = Server::start(&tl);
    let good = load_captures(&testdata().join("claude-code-otlp/happy")).unwrap();
    let rt = runtime();
    rt.block_on(async {
        let http = OtlpClient::connect(Transport::HttpProtobuf, &server.otlp_http, false)
            .await
            .unwrap();
        let cases: Vec<(&str, &[u8], u16, &str)> = vec![
            (
                "application/x-protobuf",
                b"\xff\xff\xff\xff not protobuf",
                400,
                "protobuf",
            ),
            ("application/json", b"{\"resourceSpans\": [", 400, "JSON"),
            ("text/plain", b"hello", 415, "Content-Type"),
        ];
        for (ct, body, status, says) in cases {
            let r = http
                .post_raw(Signal::Traces, ct, body.to_vec())
                .await
                .unwrap();
            assert_eq!(r.status, status, "{ct}: {r:?}");
            assert!(r.message.contains(says), "{ct}: {}", r.message);
        }
        // Past the size limit: 413 over HTTP, an error over gRPC, saying why.
        let big = big_request(2 << 20);
        let mut h = OtlpClient::connect(Transport::HttpProtobuf, &server.otlp_http, false)
            .await
            .unwrap();
        let r = h.send(&big).await.unwrap();
        assert_eq!(r.status, 413, "{r:?}");
        let mut g = OtlpClient::connect(Transport::Grpc, &server.otlp_grpc, false)
            .await
            .unwrap();
        let r = g.send(&big).await.unwrap();
        // tonic refuses it while decoding, before our code sees it: OUT_OF_RANGE, naming
        // the limit (and counted by the layer around the gRPC server).
        assert_eq!(r.grpc_code(), Some(tonic::Code::OutOfRange as i32), "{r:?}");
        assert!(r.message.contains("1048576"), "{r:?}");
        // Undecodable protobuf over gRPC: INVALID_ARGUMENT (not retryable), saying why.
        let r = g
            .grpc_raw(Signal::Traces, b"\xff\xff\xff\xff not protobuf")
            .await
            .unwrap();
        assert_eq!(
            r.grpc_code(),
            Some(tonic::Code::InvalidArgument as i32),
            "{r:?}"
        );
        assert!(
            r.message.contains("undecodable OTLP traces protobuf"),
            "{r:?}"
        );
        assert!(g.send(&good[0]).await.unwrap().ok());
        // Good requests before and after are unaffected.
        for req in &good {
            assert!(h.send(req).await.unwrap().ok());
        }
    });
    let status = server.status(&tl);
    assert_eq!(status["rejected"]["malformed"], 4, "{status}");
    // One over HTTP (413), one over gRPC (OUT_OF_RANGE).
    assert_eq!(status["rejected"]["too_large"], 2, "{status}");
    // The same counters for Prometheus, and in `tracelake status` for a person.
    let prom = rt.block_on(async {
        reqwest::get(format!("http://{}/metrics", server.http))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    assert!(
        prom.contains("tracelake_requests_rejected_total{reason=\"malformed\"} 4"),
        "{prom}"
    );
    assert!(prom.contains("# TYPE tracelake_wal_bytes gauge"), "{prom}");
    let text = tl.run(&["status", "--http", &server.http]).ok().stdout;
    assert!(text.contains("4 malformed"), "{text}");
    server.stop();
    assert_eq!(
        as_i64(&tl.scalar("select count(*) from raw")),
        good.len() as i64 + 1,
        "only the good requests landed (one of them twice)"
    );
    assert_eq!(
        as_i64(&tl.scalar("select count(*) from spans where kind = 'llm'")),
        5
    );
}

/// A traces request of one span whose prompt is `bytes` long.
fn big_request(bytes: usize) -> Request {
    let text = "All work and no play makes Jack a dull boy. ".repeat(bytes / 44 + 1);
    let json = serde_json::json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "big-agent"}}]},
        "scopeSpans": [{"scope": {"name": "test"}, "spans": [{
            "traceId": "5b8efff798038103d269b633813fc60c",
            "spanId": "eee19b7ec3c1b174",
            "name": "chat gpt-4o",
            "kind": 3,
            "startTimeUnixNano": "1795362966498000000",
            "endTimeUnixNano": "1795362967498000000",
            "attributes": [
                {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
                {"key": "gen_ai.input.messages", "value": {"stringValue":
                    serde_json::json!([{"role": "user", "parts": [{"type": "text", "content": text}]}]).to_string()}}
            ]
        }]}]
    }]});
    tracelake_ingest::otlp::decode::decode(
        Signal::Traces,
        tracelake_ingest::otlp::decode::Encoding::Json,
        json.to_string().as_bytes(),
    )
    .unwrap()
}

#[test]
fn large_messages_pass_whole() {
    let tl = Tl::new();
    let server = Server::start(&tl);
    // 12 MiB: three times gRPC's default 4 MiB limit.
    let big = big_request(12 << 20);
    for t in [Transport::Grpc, Transport::HttpProtobuf] {
        send_all(server.endpoint(t), t, false, std::slice::from_ref(&big));
    }
    server.stop();
    let rows = tl.sql("select length(input_text) as n from spans where kind = 'llm'");
    assert_eq!(rows.len(), 2, "{rows:?}");
    for r in rows {
        assert!(as_i64(&r["n"]) >= 12 << 20, "{r}");
    }
}

/// Full disks, for real (tmpfs mounts that run out of space): with the warehouse's disk
/// full, requests are still acknowledged (the WAL holds them) while commits fail with a clear
/// log line and are retried, and the lake still reads; with the WAL's disk full too, requests
/// are refused with a retry hint and a log line. Once there is space again, what was
/// acknowledged, and what was refused and sent again, lands exactly once: the lake equals
/// that of a collector that never ran out of space.
#[test]
fn full_disks_refuse_or_buffer_and_lose_nothing() {
    let sets: Vec<Vec<Request>> = ["happy", "permission-denied", "retry-loop"]
        .iter()
        .map(|d| load_captures(&testdata().join("claude-code-otlp").join(d)).unwrap())
        .collect();
    let config = "[collector]\ncommit_interval_ms = 200\n";
    let tl = Tl::new();
    let warehouse = tl.dir.path().join("warehouse");
    let tl = tl.with_env("TRACELAKE_WAREHOUSE", warehouse.to_str().unwrap());
    tl.write_config(config);
    let Some(lake_disk) = common::SmallDisk::mount(&warehouse, 24 << 20) else {
        return;
    };
    let Some(wal_disk) = common::SmallDisk::mount(&tl.home().join("wal"), 8 << 20) else {
        return;
    };
    let server = Server::start(&tl);
    let rt = runtime();
    let send = |reqs: &[Request]| -> Vec<(Request, tracelake_testkit::otlp::Reply)> {
        rt.block_on(async {
            let mut c = OtlpClient::connect(Transport::HttpProtobuf, &server.otlp_http, false)
                .await
                .unwrap();
            let mut out = Vec::new();
            for r in reqs {
                out.push((r.clone(), c.send(r).await.unwrap()));
            }
            out
        })
    };
    let all_ok = |replies: &[(Request, tracelake_testkit::otlp::Reply)]| {
        for (_, r) in replies {
            assert!(r.ok(), "{r:?}");
        }
    };

    all_ok(&send(&sets[0]));
    server.wait_for(&tl, "the first commit", |s| {
        s["wal_bytes"] == 0 && s["commits"].as_u64() >= Some(1)
    });

    // The warehouse's disk is full: acknowledged all the same, committed later.
    let lake_ballast = lake_disk.fill();
    all_ok(&send(&sets[1]));
    let st = server.wait_for(&tl, "commits failing on the full disk", |s| {
        s["commit_failures"].as_u64() >= Some(2)
    });
    assert!(st["wal_bytes"].as_u64() > Some(0), "{st}");
    assert_eq!(
        as_i64(&tl.scalar("select count(*) from raw")),
        sets[0].len() as i64,
        "the lake reads, as it was before its disk filled"
    );

    // The WAL's disk is full too: refused with a retry hint, never acknowledged.
    let wal_ballast = wal_disk.fill();
    let replies = send(&sets[2]);
    let refused: Vec<Request> = replies
        .iter()
        .filter(|(_, r)| !r.ok())
        .map(|(req, _)| req.clone())
        .collect();
    assert!(!refused.is_empty(), "a full WAL disk refuses: {replies:?}");
    for (_, r) in replies.iter().filter(|(_, r)| !r.ok()) {
        assert_eq!(r.status, 503, "{r:?}");
        assert!(r.retry_hint, "{r:?}");
        assert!(r.message.contains("write-ahead log"), "{r:?}");
    }
    let st = server.status(&tl);
    assert_eq!(
        st["rejected"]["unavailable"].as_u64(),
        Some(refused.len() as u64),
        "{st}"
    );

    // Space again: the buffered requests land, the refused ones are sent again and land.
    std::fs::remove_file(wal_ballast).unwrap();
    std::fs::remove_file(lake_ballast).unwrap();
    all_ok(&send(&refused));
    server.wait_for(&tl, "the backlog to land", |s| s["wal_bytes"] == 0);
    let log = server.stop();
    for line in [
        "commit failed; the data stays in the WAL and is retried",
        "the write-ahead log refused a request",
        "No space left on device",
    ] {
        assert!(log.contains(line), "the log says {line:?}:\n{log}");
    }

    // The same lake as a collector's that never ran out of space.
    let control = Tl::new();
    control.write_config(config);
    let server = Server::start(&control);
    for set in &sets {
        send_all(&server.otlp_http, Transport::HttpProtobuf, false, set);
    }
    server.stop();
    assert_eq!(summary(&tl), summary(&control));
    assert_eq!(
        as_i64(&tl.scalar("select count(*) from raw")),
        sets.iter().map(Vec::len).sum::<usize>() as i64,
        "every request once"
    );
}

/// Kills the collector with SIGKILL in the middle of a load, again and again; every
/// acknowledged span and event must be in the lake exactly once after the last restart, and
/// nothing may be there twice.
#[test]
fn kill_9_under_load_keeps_every_acknowledged_row_exactly_once() {
    let tl = Tl::new();
    // Commit often, so kills land before, during and after commits.
    tl.write_config("[collector]\ncommit_interval_ms = 250\n");
    let ack_log = tl.dir.path().join("acked.jsonl");
    let rounds = [
        (Transport::Grpc, 1200),
        (Transport::HttpProtobuf, 2100),
        (Transport::Grpc, 3300),
    ];
    for (transport, kill_after_ms) in rounds {
        let server = Server::start(&tl);
        let spec = LoadSpec {
            transport,
            endpoint: server.endpoint(transport).to_string(),
            rate: None,
            duration: Duration::from_millis(kill_after_ms + 800),
            batch: 50,
            concurrency: 4,
            span_bytes: 1500,
            events_every: Some(4),
            gzip: false,
            seed: kill_after_ms,
            ack_log: Some(ack_log.clone()),
        };
        let load = std::thread::spawn(move || {
            runtime().block_on(tracelake_testkit::otlp::load::run(spec))
        });
        std::thread::sleep(Duration::from_millis(kill_after_ms));
        server.kill9();
        let report = load.join().unwrap().unwrap();
        assert!(report.requests_acked > 0, "{report:?}");
        eprintln!("round {}: {report:?}", transport.name());
    }
    // The last start replays what the kills left; a clean stop commits the rest.
    Server::start(&tl).stop();

    let acked: Vec<Acked> = std::fs::read_to_string(&ack_log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut want_traces: HashMap<String, i64> = HashMap::new();
    let mut want_sessions = Vec::new();
    for a in &acked {
        if a.signal == "traces" {
            // Traces of ten spans, the last one of a request maybe fewer.
            let mut left = a.items as i64;
            for t in &a.trace_ids {
                let n = left.min(10);
                want_traces.insert(t.clone(), n);
                left -= n;
            }
        } else {
            want_sessions.push(a.session_id.clone().unwrap());
        }
    }
    assert!(want_traces.len() > 100 && want_sessions.len() > 10);
    let got_traces: HashMap<String, i64> = tl
        .sql("select trace_id, count(*) as n from spans where source = 'otlp' and trace_id is not null and kind in ('llm', 'tool', 'agent') group by trace_id")
        .iter()
        .map(|r| (r["trace_id"].as_str().unwrap().to_string(), as_i64(&r["n"])))
        .collect();
    for (t, n) in &want_traces {
        assert_eq!(got_traces.get(t), Some(n), "acknowledged trace {t}");
    }
    // Unacknowledged requests (in flight at a kill) may have landed too, but never twice.
    for (t, n) in &got_traces {
        assert!(*n <= 10, "trace {t} has {n} spans: duplicated");
    }
    assert_eq!(
        tl.scalar("select count(*) - count(distinct span_id) from spans"),
        serde_json::json!(0),
        "no span twice"
    );
    let got_sessions: HashMap<String, i64> = tl
        .sql("select session_id, count(*) as n from spans where kind in ('task', 'llm', 'tool', 'permission') group by session_id")
        .iter()
        .map(|r| (r["session_id"].as_str().unwrap().to_string(), as_i64(&r["n"])))
        .collect();
    for s in &want_sessions {
        assert_eq!(
            got_sessions.get(s),
            Some(&10),
            "acknowledged events of session {s}"
        );
    }
    for (s, n) in &got_sessions {
        assert!(*n <= 10, "session {s}: {n} rows");
    }
}

/// Codex 0.169's own OTLP (logs, traces, metrics; JSON and protobuf runs) as the real CLI sent
/// it (testdata/codex-otlp): per session, one model call per billed response with the
/// stand-in's tokens (cached counted once, reasoning kept apart), its tool calls with the
/// failing command's exit code, and its tool decisions.
#[test]
fn codex_telemetry_lands_exact_to_the_token() {
    let tl = Tl::new();
    let server = Server::start(&tl);
    let root = testdata().join("codex-otlp");
    let mut runs = Vec::new();
    for scenario in ["failing-command", "fix-and-test"] {
        for encoding in ["json", "binary"] {
            let dir = root.join(scenario).join(encoding);
            send_all(
                &server.otlp_http,
                Transport::HttpProtobuf,
                false,
                &load_captures(&dir.join("otlp")).unwrap(),
            );
            runs.push((scenario, dir));
        }
    }
    server.stop();
    let (mut truth_input, mut truth_output) = (0i64, 0i64);
    for (scenario, dir) in &runs {
        let rollout = walk(&dir.join("codex-sessions"))
            .into_iter()
            .find(|p| p.extension().is_some_and(|x| x == "jsonl"))
            .unwrap();
        let first: Value = serde_json::from_str(
            std::fs::read_to_string(&rollout)
                .unwrap()
                .lines()
                .next()
                .unwrap(),
        )
        .unwrap();
        let session = first["payload"]["id"].as_str().unwrap();
        let truth: Value =
            serde_json::from_slice(&std::fs::read(dir.join("truth.json")).unwrap()).unwrap();
        let responses = truth["responses"].as_array().unwrap();
        let sum = |f: &dyn Fn(&Value) -> i64| responses.iter().map(|r| f(&r["usage"])).sum::<i64>();
        let want = serde_json::json!({
            "n": responses.len(),
            "input": sum(&|u| u["input_tokens"].as_i64().unwrap()),
            "cached": sum(&|u| u["input_tokens_details"]["cached_tokens"].as_i64().unwrap()),
            "output": sum(&|u| u["output_tokens"].as_i64().unwrap()),
            "reasoning": sum(&|u| u["output_tokens_details"]["reasoning_tokens"].as_i64().unwrap()),
        });
        let got = &tl.sql(&format!(
            "SELECT count(*) AS n, sum(input_tokens + cache_read_tokens) AS input, \
             sum(cache_read_tokens) AS cached, sum(output_tokens) AS output, \
             sum(reasoning_tokens) AS reasoning FROM spans \
             WHERE kind = 'llm' AND agent = 'codex' AND session_id = '{session}'"
        ))[0];
        truth_input += want["input"].as_i64().unwrap();
        truth_output += want["output"].as_i64().unwrap();
        for k in ["n", "input", "cached", "output", "reasoning"] {
            assert_eq!(
                as_i64(&got[k]),
                want[k].as_i64().unwrap(),
                "{scenario} {k}: {got} vs {want}"
            );
        }
        let calls = responses
            .iter()
            .filter(|r| r["item_type"] == "function_call")
            .count() as i64;
        let tools = tl.sql(&format!(
            "SELECT command, exit_code, is_error, tool_call_id FROM spans \
             WHERE kind = 'tool' AND session_id = '{session}'"
        ));
        assert_eq!(tools.len() as i64, calls, "{scenario}: {tools:?}");
        assert!(
            tools
                .iter()
                .all(|t| t["tool_call_id"].is_string() && t["command"].is_string())
        );
        if *scenario == "failing-command" {
            assert!(
                tools
                    .iter()
                    .any(|t| t["is_error"] == true && as_i64(&t["exit_code"]) != 0),
                "{tools:?}"
            );
        }
        // Each tool call's trace span is the same entity as its event: one row, not two.
        let named = as_i64(&tl.scalar(&format!(
            "SELECT count(*) FROM spans WHERE kind IN ('tool', 'event') AND name = 'exec_command' \
             AND session_id = '{session}'"
        )));
        assert_eq!(
            named, calls,
            "{scenario}: tool spans merged with their events"
        );
        let timed = as_i64(&tl.scalar(&format!(
            "SELECT count(*) FROM spans WHERE kind = 'tool' AND session_id = '{session}' \
             AND trace_id IS NOT NULL AND end_time >= start_time"
        )));
        assert_eq!(timed, calls, "{scenario}");
        // Codex's own spans of the conversation's traces land in its session.
        let handled = load_captures(&dir.join("otlp"))
            .unwrap()
            .iter()
            .map(|r| match r {
                Request::Traces(t) => t
                    .resource_spans
                    .iter()
                    .flat_map(|rs| &rs.scope_spans)
                    .flat_map(|ss| &ss.spans)
                    .filter(|s| s.name == "handle_responses")
                    .count() as i64,
                _ => 0,
            })
            .sum::<i64>();
        assert!(handled > 0);
        assert_eq!(
            as_i64(&tl.scalar(&format!(
                "SELECT count(*) FROM spans WHERE name = 'handle_responses' AND session_id = '{session}'"
            ))),
            handled,
            "{scenario}"
        );
        // Outside a turn, Codex names the conversation `thread_id`.
        assert_eq!(
            as_i64(&tl.scalar(&format!(
                "SELECT count(*) FROM spans WHERE name = 'session_loop' AND session_id = '{session}'"
            ))),
            1,
            "{scenario}"
        );
        let decisions = as_i64(&tl.scalar(&format!(
            "SELECT count(*) FROM spans WHERE kind = 'permission' AND decision = 'allow' AND session_id = '{session}'"
        )));
        assert_eq!(decisions, calls, "{scenario}");
        let prompt = tl.scalar(&format!(
            "SELECT count(*) FROM spans WHERE kind = 'task' AND session_id = '{session}'"
        ));
        assert_eq!(as_i64(&prompt), 1, "{scenario}");
    }
    // Codex's metrics (delta histograms, one point per turn and token type) sum to the truth.
    for (token_type, want) in [("input", truth_input), ("output", truth_output)] {
        let got = as_f64(&tl.scalar(&format!(
            "SELECT sum(value) FROM metrics WHERE metric_name = 'codex.turn.token_usage' \
             AND attributes LIKE '%\"token_type\":\"{token_type}\"%'"
        )));
        assert_eq!(got, want as f64, "codex.turn.token_usage {token_type}");
    }
    // The same runs' rollouts, imported after: the same sessions and model names, and each
    // tool call still once (the rollout's tool ids and keys are the OTLP ones). Model calls
    // have no shared id (OTLP carries no response id): they arrive once per source.
    let tools_before = as_i64(&tl.scalar("SELECT count(*) FROM spans WHERE kind = 'tool'"));
    for (_, dir) in &runs {
        tl.import_codex(&dir.join("codex-sessions")).ok();
    }
    assert_eq!(
        as_i64(&tl.scalar("SELECT count(*) FROM spans WHERE kind = 'tool'")),
        tools_before
    );
    assert_eq!(
        as_i64(&tl.scalar("SELECT count(DISTINCT session_id) FROM spans WHERE agent = 'codex' AND kind IN ('task', 'llm', 'tool')")),
        4
    );
    let by_source = tl.sql(
        "SELECT source, count(DISTINCT session_id) AS sessions, min(model) AS lo, max(model) AS hi \
         FROM spans WHERE kind = 'llm' AND agent = 'codex' GROUP BY source ORDER BY source",
    );
    assert_eq!(by_source.len(), 2, "{by_source:?}");
    for row in &by_source {
        assert_eq!(as_i64(&row["sessions"]), 4, "{row}");
        assert_eq!(row["lo"], "gpt-5-codex", "{row}");
        assert_eq!(row["hi"], "gpt-5-codex", "{row}");
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
