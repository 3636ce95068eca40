//! A small harness for end-to-end tests: the real `tracelake` binary with a throw-away home
//! (and a throw-away HOME, so no test can ever read this machine's own agent logs), plus the
//! external tools the suite compares against (PyIceberg, DuckDB, ccusage, an S3 server).
#![allow(dead_code)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    clippy::print_stdout
)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The repository's testdata folder.
pub fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A tracelake home for one test.
pub struct Tl {
    pub dir: tempfile::TempDir,
    pub extra_env: Vec<(String, String)>,
}

/// What a command printed and how it ended.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn ok(self) -> Self {
        assert_eq!(
            self.code, 0,
            "command failed\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Self {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Tl {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
            extra_env: Vec::new(),
        }
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn with_env(mut self, k: &str, v: &str) -> Self {
        self.extra_env.push((k.to_string(), v.to_string()));
        self
    }

    pub fn command(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_tracelake"));
        let fake_home = self.dir.path().join("user-home");
        std::fs::create_dir_all(&fake_home).expect("fake home");
        c.arg("--home")
            .arg(self.home())
            .env("HOME", &fake_home)
            .env_remove("CLAUDE_CONFIG_DIR")
            .env_remove("TRACELAKE_HOME")
            .env_remove("TRACELAKE_WAREHOUSE")
            .env("TZ", "UTC");
        for (k, v) in &self.extra_env {
            c.env(k, v);
        }
        c
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.command()
            .args(args)
            .output()
            .expect("tracelake runs")
            .into()
    }

    pub fn import(&self, path: &Path) -> Run {
        self.run(&[
            "import",
            "claude-code",
            path.to_str().expect("utf-8 path"),
            "--format",
            "json",
        ])
    }

    /// Rows of a query as JSON objects.
    pub fn sql(&self, query: &str) -> Vec<Value> {
        let r = self.run(&["sql", query, "--format", "json"]).ok();
        match r.json() {
            Value::Array(rows) => rows,
            other => panic!("expected an array: {other}"),
        }
    }

    /// The single value of a one-row, one-column query.
    pub fn scalar(&self, query: &str) -> Value {
        let rows = self.sql(query);
        assert_eq!(rows.len(), 1, "{query}: {rows:?}");
        rows[0]
            .as_object()
            .and_then(|o| o.values().next().cloned())
            .unwrap_or(Value::Null)
    }
}

pub fn as_i64(v: &Value) -> i64 {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("not an integer: {v}"))
}

pub fn as_f64(v: &Value) -> f64 {
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("not a number: {v}"))
}

/// The external test tools folder (`TRACELAKE_TEST_TOOLS`, set by scripts/test.sh).
/// Returns None only when `TRACELAKE_SKIP_EXTERNAL=1` says to skip tests that need them.
pub fn tools() -> Option<PathBuf> {
    if std::env::var("TRACELAKE_SKIP_EXTERNAL").is_ok_and(|v| v == "1") {
        eprintln!("TRACELAKE_SKIP_EXTERNAL=1: skipping a test that needs external tools");
        return None;
    }
    let dir = std::env::var_os("TRACELAKE_TEST_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::home_dir()
                .unwrap_or_default()
                .join(".cache/tracelake")
        });
    assert!(
        dir.join("venv/bin/python").exists(),
        "external test tools are missing in {} — run scripts/test.sh (it installs them), \
         or set TRACELAKE_SKIP_EXTERNAL=1 to skip these tests explicitly",
        dir.display()
    );
    Some(dir)
}

/// Runs a Python script with the test venv's interpreter.
pub fn python(tools: &Path, script: &Path, args: &[&str]) -> Run {
    let r: Run = Command::new(tools.join("venv/bin/python"))
        .arg(script)
        .args(args)
        .output()
        .expect("python runs")
        .into();
    r
}

/// Token sums `[input, output, cache write, cache read]` of a model stand-in's log
/// (`{"responses": [{"usage": …}, …]}`): the ground truth of a real-CLI run.
pub fn truth_usage(path: &Path) -> [i64; 4] {
    let v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let mut t = [0i64; 4];
    for r in v["responses"].as_array().unwrap() {
        let u = &r["usage"];
        t[0] += u["input_tokens"].as_i64().unwrap();
        t[1] += u["output_tokens"].as_i64().unwrap();
        t[2] += u["cache_creation_input_tokens"].as_i64().unwrap_or(0);
        t[3] += u["cache_read_input_tokens"].as_i64().unwrap_or(0);
    }
    t
}

/// Copies a folder recursively.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}
