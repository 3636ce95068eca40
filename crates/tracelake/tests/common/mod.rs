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

    /// Writes the home's `tracelake.toml`.
    pub fn write_config(&self, toml: &str) {
        std::fs::create_dir_all(self.home()).expect("home");
        std::fs::write(self.home().join("tracelake.toml"), toml).expect("config written");
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
            .env_remove("CODEX_HOME")
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

    /// `import codex PATH --format json`.
    pub fn import_codex(&self, path: &Path) -> Run {
        self.run(&[
            "import",
            "codex",
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

/// Token sums of a Codex run's stand-in log (`{"responses": [{"usage": …}, …]}`, the
/// Responses API's usage): `[input (cached included), cached, output (reasoning included),
/// reasoning, responses]`.
pub fn codex_truth(path: &Path) -> [i64; 5] {
    let v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let mut t = [0i64; 5];
    for r in v["responses"].as_array().unwrap() {
        let u = &r["usage"];
        t[0] += u["input_tokens"].as_i64().unwrap();
        t[1] += u["input_tokens_details"]["cached_tokens"]
            .as_i64()
            .unwrap_or(0);
        t[2] += u["output_tokens"].as_i64().unwrap();
        t[3] += u["output_tokens_details"]["reasoning_tokens"]
            .as_i64()
            .unwrap_or(0);
        t[4] += 1;
    }
    t
}

/// The same sums over the lake's Codex model calls (`WHERE` clause on `spans`): input is
/// stored without the cached tokens, so it is added back.
pub fn codex_lake_totals(tl: &Tl, filter: &str) -> [i64; 5] {
    let row = &tl.sql(&format!(
        "SELECT sum(input_tokens) AS i, sum(cache_read_tokens) AS c, sum(output_tokens) AS o, \
         sum(reasoning_tokens) AS r, count(*) AS n FROM spans WHERE kind = 'llm' AND {filter}"
    ))[0];
    let c = as_i64(&row["c"]);
    [
        as_i64(&row["i"]) + c,
        c,
        as_i64(&row["o"]),
        as_i64(&row["r"]),
        as_i64(&row["n"]),
    ]
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

/// A running `tracelake serve` on free ports, for one test.
pub struct Server {
    pub child: std::process::Child,
    pub otlp_grpc: String,
    pub otlp_http: String,
    pub http: String,
    pub log: PathBuf,
}

impl Server {
    /// Starts the collector on `tl`'s home and waits until it listens.
    pub fn start(tl: &Tl) -> Self {
        let home = tl.home();
        std::fs::create_dir_all(&home).unwrap();
        let run_file = home.join("collector.json");
        let _ = std::fs::remove_file(&run_file);
        let log = tl.dir.path().join(format!(
            "serve-{}.log",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let child = tl
            .command()
            .args([
                "serve",
                "--otlp-grpc",
                "127.0.0.1:0",
                "--otlp-http",
                "127.0.0.1:0",
                "--http",
                "127.0.0.1:0",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("tracelake serve starts");
        let started = std::time::Instant::now();
        let info: Value = loop {
            if let Ok(b) = std::fs::read(&run_file)
                && let Ok(v) = serde_json::from_slice::<Value>(&b)
            {
                break v;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(60),
                "serve did not start: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        Self {
            child,
            otlp_grpc: format!("http://{}", info["otlp_grpc"].as_str().unwrap()),
            otlp_http: format!("http://{}", info["otlp_http"].as_str().unwrap()),
            http: info["http"].as_str().unwrap().to_string(),
            log,
        }
    }

    /// The endpoint of a transport.
    pub fn endpoint(&self, t: tracelake_testkit::otlp::Transport) -> &str {
        match t {
            tracelake_testkit::otlp::Transport::Grpc => &self.otlp_grpc,
            _ => &self.otlp_http,
        }
    }

    /// The collector's counters.
    pub fn status(&self, tl: &Tl) -> Value {
        tl.run(&["status", "--json", "--http", &self.http])
            .ok()
            .json()
    }

    /// Polls the collector's counters until `holds` says so (60 s at most, then fails
    /// naming `what`); returns them.
    pub fn wait_for(&self, tl: &Tl, what: &str, holds: impl Fn(&Value) -> bool) -> Value {
        let started = std::time::Instant::now();
        loop {
            let st = self.status(tl);
            if holds(&st) {
                return st;
            }
            assert!(started.elapsed().as_secs() < 60, "{what}: {st}");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// SIGTERM, then waits: everything acknowledged must be committed and the exit clean.
    pub fn stop(mut self) -> String {
        let pid = self.child.id().to_string();
        let ok = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -TERM {pid}");
        let status = self.child.wait().unwrap();
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        assert!(status.success(), "serve exited with {status}: {log}");
        log
    }

    /// SIGKILL: no chance to commit or clean up.
    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    /// A test that fails before `stop` leaves no collector behind.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A small disk for one test: a tmpfs mounted at a folder, which fills up for real (ENOSPC
/// from the kernel, not an injected fault). Unmounted when dropped.
pub struct SmallDisk {
    path: PathBuf,
}

impl SmallDisk {
    /// Mounts a tmpfs of `bytes` at `path` (created if missing). Mounting needs root (as CI
    /// runs); `TRACELAKE_SKIP_MOUNT=1` skips the test explicitly where it cannot.
    pub fn mount(path: &Path, bytes: u64) -> Option<Self> {
        if std::env::var("TRACELAKE_SKIP_MOUNT").is_ok_and(|v| v == "1") {
            eprintln!("TRACELAKE_SKIP_MOUNT=1: skipping a test that mounts a small disk");
            return None;
        }
        std::fs::create_dir_all(path).unwrap();
        let r: Run = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(path)
            .output()
            .expect("mount runs")
            .into();
        assert_eq!(
            r.code,
            0,
            "cannot mount a tmpfs at {} ({}): this test fills a real disk and needs root; \
             set TRACELAKE_SKIP_MOUNT=1 to skip it explicitly",
            path.display(),
            r.stderr.trim()
        );
        Some(Self {
            path: path.to_path_buf(),
        })
    }

    /// Fills the disk to its last byte with a ballast file, and returns the file.
    pub fn fill(&self) -> PathBuf {
        use std::io::Write;
        let ballast = self.path.join("ballast");
        let mut f = std::fs::File::create(&ballast).unwrap();
        let mut chunk = 1 << 20;
        while chunk > 0 {
            match f.write(&vec![0xA5; chunk]) {
                Ok(n) if n > 0 => {}
                _ => chunk /= 2,
            }
        }
        let _ = f.sync_all();
        ballast
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazily: a process of the test that still has a file open does not keep it mounted.
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}
