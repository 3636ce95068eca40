//! An `s3://` warehouse against a real S3-protocol server on loopback (moto's server, started
//! by the test): import, query, show, compact, and PyIceberg reading the tables from S3.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    clippy::print_stdout
)] // test code: a failed unwrap is a failed test

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use common::{Tl, as_i64, python, repo, testdata, tools};

struct S3Server {
    child: Child,
    port: u16,
}

impl S3Server {
    fn start(tools: &std::path::Path, bucket: &str) -> Self {
        let mut child = Command::new(tools.join("venv/bin/python"))
            .arg(repo().join("tools/test/s3_server.py"))
            .arg(bucket)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("S3 server starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("READY line");
        let port = line
            .trim()
            .strip_prefix("READY ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("S3 server said {line:?}"));
        Self { child, port }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn an_s3_warehouse_works_like_a_local_one() {
    let Some(tools) = tools() else { return };
    let server = S3Server::start(&tools, "lake-test");
    let tl = Tl::new()
        .with_env("AWS_ACCESS_KEY_ID", "test")
        .with_env("AWS_SECRET_ACCESS_KEY", "test")
        .with_env("AWS_REGION", "us-east-1")
        .with_env("TRACELAKE_WAREHOUSE", "s3://lake-test/warehouse")
        .with_env("TRACELAKE_S3_ENDPOINT", &server.endpoint());
    let summary = tl
        .import(&testdata().join("claude-code/projects"))
        .ok()
        .json();
    assert_eq!(summary["malformed"], 0);
    assert_eq!(
        as_i64(&tl.scalar("SELECT sum(input_tokens) FROM llm_calls")),
        50_321
    );
    assert_eq!(as_i64(&tl.scalar("SELECT count(*) FROM sessions")), 5);
    // Nothing went to the local disk but the catalog.
    assert!(!tl.home().join("warehouse").exists());
    let show = tl.run(&["show", "9bb336ca"]).ok().stdout;
    assert!(show.contains("files changed: src/calc.py"), "{show}");
    // Re-import adds nothing; a second import of more data appends.
    assert_eq!(
        tl.import(&testdata().join("claude-code/projects"))
            .ok()
            .json()["spans"],
        0
    );
    tl.import(&testdata().join("claude-code-log-fixtures/representative_messages.jsonl"));
    let rows = as_i64(&tl.scalar("SELECT count(*) FROM spans"));
    tl.run(&["compact"]).ok();
    assert_eq!(as_i64(&tl.scalar("SELECT count(*) FROM spans")), rows);
    // Another engine reads the same tables from the bucket.
    let catalog = tl.home().join("catalog.db");
    let pi = python(
        &tools,
        &repo().join("tools/test/read_with_pyiceberg.py"),
        &[catalog.to_str().unwrap(), &server.endpoint()],
    )
    .ok()
    .json();
    assert_eq!(as_i64(&pi["spans"]["rows"]), rows);
    assert!(as_i64(&pi["spans"]["input_tokens"]) >= 50_321);
}

#[test]
fn search_on_s3_reads_indexes_by_range_and_answers_like_local() {
    let Some(tools) = tools() else { return };
    let server = S3Server::start(&tools, "search-test");
    let s3 = Tl::new()
        .with_env("AWS_ACCESS_KEY_ID", "test")
        .with_env("AWS_SECRET_ACCESS_KEY", "test")
        .with_env("AWS_REGION", "us-east-1")
        .with_env("TRACELAKE_WAREHOUSE", "s3://search-test/warehouse")
        .with_env("TRACELAKE_S3_ENDPOINT", &server.endpoint());
    let local = Tl::new();
    for tl in [&s3, &local] {
        tl.import(&testdata().join("claude-code/projects")).ok();
        tl.import(&testdata().join("claude-code-log-fixtures/representative_messages.jsonl"));
    }
    let search = |tl: &Tl, args: &[&str]| {
        let mut all = vec!["search", "--format", "json", "--limit", "0", "--explain"];
        all.extend_from_slice(args);
        let r = tl.run(&all);
        assert!(r.code == 0 || r.code == 1, "{}", r.stderr);
        let explain: serde_json::Value =
            serde_json::from_str(r.stderr.lines().next().unwrap()).unwrap();
        (r.stdout, explain)
    };
    assert!(as_i64(&local.scalar("SELECT count(*) FROM spans")) > 0);
    for args in [
        &["calc.py"][..],
        &["-i", "TRACEBACK"],
        &["-e", r"def \w+\("],
        &["no such text anywhere"],
        &["错误"],
    ] {
        let (hits_s3, explain) = search(&s3, args);
        let stats = &explain["index"];
        let (hits_local, _) = search(&local, args);
        assert_eq!(hits_s3, hits_local, "{args:?}");
        if stats["used_index"] == true {
            assert_eq!(
                stats["files_unindexed"], 0,
                "indexes were uploaded: {stats}"
            );
            assert!(as_i64(&stats["index_requests"]) > 0, "{stats}");
        }
    }
    // A search that matches nothing reads only index bytes, a few ranges per file, and
    // less than the data it rules out.
    let (_, explain) = search(&s3, &["no such text anywhere"]);
    let stats = &explain["index"];
    assert_eq!(stats["files_skipped"], stats["files"], "{explain}");
    assert!(
        as_i64(&stats["index_requests"]) <= 6 * as_i64(&stats["files"]),
        "{explain}"
    );
    let io = &explain["io"];
    assert!(
        as_i64(&io["get_requests"]) <= as_i64(&stats["index_requests"]),
        "{explain}"
    );
    assert!(
        as_i64(&io["get_bytes"]) < as_i64(&stats["data_bytes"]),
        "{explain}"
    );
}

#[test]
fn an_unreachable_store_is_a_clear_error() {
    let tl = Tl::new()
        .with_env("AWS_ACCESS_KEY_ID", "test")
        .with_env("AWS_SECRET_ACCESS_KEY", "test")
        .with_env("AWS_REGION", "us-east-1")
        .with_env("TRACELAKE_WAREHOUSE", "s3://nobucket/w")
        .with_env("TRACELAKE_S3_ENDPOINT", "http://127.0.0.1:9");
    tl.write_config("[lake.s3]\nretry_timeout_secs = 1\nmax_retries = 1\n");
    let r = tl.import(&testdata().join("claude-code/projects"));
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("s3://nobucket/w"), "{}", r.stderr);
    assert_eq!(r.stderr.trim().lines().count(), 1, "one line: {}", r.stderr);
}

/// A loopback TCP relay to the S3 server that the test can cut and restore.
struct Relay {
    port: u16,
    down: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Relay {
    fn start(to: u16) -> Self {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let down = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = down.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if flag.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let Ok(upstream) = std::net::TcpStream::connect(("127.0.0.1", to)) else {
                    continue;
                };
                for (mut from, mut into) in [
                    (client.try_clone().unwrap(), upstream.try_clone().unwrap()),
                    (upstream, client),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut into);
                        let _ = into.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        Self { port, down }
    }

    fn set_down(&self, down: bool) {
        self.down.store(down, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The object store goes away while the collector is receiving: requests are still
/// acknowledged (they are in the WAL), commits fail with a clear log line and are retried,
/// and once the store is back everything lands exactly once; no table is left broken.
#[test]
fn the_collector_buffers_while_the_object_store_is_away() {
    use common::Server;
    use tracelake_testkit::otlp::{OtlpClient, Transport, load_captures};

    let Some(tools) = tools() else { return };
    let s3 = S3Server::start(&tools, "lake-test");
    let relay = Relay::start(s3.port);
    let tl = Tl::new()
        .with_env("AWS_ACCESS_KEY_ID", "test")
        .with_env("AWS_SECRET_ACCESS_KEY", "test")
        .with_env("AWS_REGION", "us-east-1")
        .with_env("TRACELAKE_WAREHOUSE", "s3://lake-test/warehouse")
        .with_env(
            "TRACELAKE_S3_ENDPOINT",
            &format!("http://127.0.0.1:{}", relay.port),
        );
    tl.write_config("[collector]\ncommit_interval_ms = 200\n[lake.s3]\nretry_timeout_secs = 1\nmax_retries = 1\n");
    let server = Server::start(&tl);
    let send = |dir: &str| {
        let reqs = load_captures(&testdata().join("claude-code-otlp").join(dir)).unwrap();
        tokio::runtime::Runtime::new().unwrap().block_on(async {
            let mut c = OtlpClient::connect(Transport::HttpProtobuf, &server.otlp_http, false)
                .await
                .unwrap();
            for r in &reqs {
                assert!(
                    c.send(r).await.unwrap().ok(),
                    "acknowledged while the store is away"
                );
            }
        });
        reqs.len()
    };
    let mut sent = send("happy");
    server.wait_for(&tl, "first commit", |s| {
        s["wal_bytes"] == 0 && s["commits"].as_u64() >= Some(1)
    });
    relay.set_down(true);
    sent += send("permission-denied");
    let st = server.wait_for(&tl, "a failed commit", |s| {
        s["commit_failures"].as_u64() >= Some(2)
    });
    assert!(
        st["wal_bytes"].as_u64().unwrap() > 0,
        "the data waits in the WAL: {st}"
    );
    relay.set_down(false);
    server.wait_for(&tl, "the retry to land", |s| s["wal_bytes"] == 0);
    let log = server.stop();
    assert!(
        log.contains("commit failed; the data stays in the WAL and is retried"),
        "{log}"
    );
    assert_eq!(as_i64(&tl.scalar("SELECT count(*) FROM raw")), sent as i64);
    assert_eq!(
        as_i64(
            &tl.scalar(
                "SELECT count(*) FROM spans WHERE kind = 'permission' AND decision = 'deny'"
            )
        ),
        1
    );
    assert_eq!(
        as_i64(&tl.scalar("SELECT count(distinct session_id) FROM spans WHERE kind = 'llm'")),
        2
    );
}
