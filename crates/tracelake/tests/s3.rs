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
fn an_unreachable_store_is_a_clear_error() {
    let tl = Tl::new()
        .with_env("AWS_ACCESS_KEY_ID", "test")
        .with_env("AWS_SECRET_ACCESS_KEY", "test")
        .with_env("AWS_REGION", "us-east-1")
        .with_env("TRACELAKE_WAREHOUSE", "s3://nobucket/w")
        .with_env("TRACELAKE_S3_ENDPOINT", "http://127.0.0.1:9");
    std::fs::create_dir_all(tl.home()).unwrap();
    std::fs::write(
        tl.home().join("tracelake.toml"),
        "[lake.s3]\nretry_timeout_secs = 1\nmax_retries = 1\n",
    )
    .unwrap();
    let r = tl.import(&testdata().join("claude-code/projects"));
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("s3://nobucket/w"), "{}", r.stderr);
    assert_eq!(r.stderr.trim().lines().count(), 1, "one line: {}", r.stderr);
}
