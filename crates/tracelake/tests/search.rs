//! `tracelake search` and `tracelake index` on the real Claude Code samples: hits, fields and
//! snippets as CLI.md promises, exit codes like grep's, and the same answer with the index,
//! without it (with a note) and after `tracelake index`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    clippy::print_stdout
)] // test code: a failed unwrap is a failed test

mod common;

use common::{Tl, as_i64, testdata};
use serde_json::Value;

fn hits(tl: &Tl, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["search", "--format", "json", "--limit", "0"];
    all.extend_from_slice(args);
    let r = tl.run(&all).ok();
    match r.json() {
        Value::Array(a) => a,
        other => panic!("not an array: {other}"),
    }
}

fn index_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in walk(dir) {
        if e.extension().is_some_and(|x| x == "tlidx") {
            out.push(e);
        }
    }
    out
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn search_finds_what_sql_finds_with_and_without_the_index() {
    let tl = Tl::new();
    tl.import(&testdata().join("claude-code/projects")).ok();
    // Every spans data file got its index when it was written.
    let data: Vec<_> = walk(&tl.home().join("warehouse"))
        .into_iter()
        .filter(|p| {
            p.to_string_lossy().contains("/spans/") && p.extension().is_some_and(|x| x == "parquet")
        })
        .collect();
    assert!(!data.is_empty());
    assert_eq!(index_files(&tl.home().join("warehouse")).len(), data.len());

    let found = hits(&tl, &["calc.py"]);
    // The same spans SQL's LIKE finds, field by field.
    let mut want = 0;
    for f in [
        "input_text",
        "output_text",
        "tool_input",
        "tool_output",
        "error_message",
        "command",
    ] {
        want += as_i64(&tl.scalar(&format!(
            "SELECT count(*) FROM spans WHERE {f} LIKE '%calc.py%'"
        )));
    }
    assert_eq!(found.len() as i64, want);
    assert!(want >= 4, "{found:?}");
    let mut last = String::from("9999");
    for h in &found {
        for k in [
            "session_id",
            "span_id",
            "field",
            "snippet",
            "start_time",
            "kind",
        ] {
            assert!(h.get(k).is_some(), "{k} missing: {h}");
        }
        let snippet = h["snippet"].as_str().unwrap();
        let (a, b) = (
            h["match"][0].as_u64().unwrap() as usize,
            h["match"][1].as_u64().unwrap() as usize,
        );
        assert_eq!(&snippet[a..b], "calc.py");
        let t = h["start_time"].as_str().unwrap().to_string();
        assert!(t <= last, "newest first");
        last = t;
    }
    // --count, --field, -i, regex, and grep's exit codes.
    let count = tl.run(&["search", "calc.py", "--count"]).ok();
    assert_eq!(count.stdout.trim(), found.len().to_string());
    let tool_only = hits(&tl, &["calc.py", "--field", "tool_input"]);
    assert!(!tool_only.is_empty() && tool_only.len() < found.len());
    assert!(tool_only.iter().all(|h| h["field"] == "tool_input"));
    assert_eq!(hits(&tl, &["-i", "CALC.PY"]).len(), found.len());
    assert!(hits(&tl, &["-e", r"calc\.p[y]"]).len() == found.len());
    let none = tl.run(&["search", "no such text anywhere"]);
    assert_eq!(none.code, 1, "{}", none.stderr);
    assert!(none.stdout.is_empty());
    let bad = tl.run(&["search", "-e", "("]);
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("pattern"), "{}", bad.stderr);
    let limited = tl.run(&["search", "calc.py", "--limit", "1"]).ok();
    assert_eq!(limited.stdout.lines().count(), 1);
    assert!(limited.stderr.contains("newest hits"), "{}", limited.stderr);

    // The index was used: files without a match were not read.
    let explained = tl.run(&["search", "no such text anywhere", "--explain"]);
    let stats: Value = serde_json::from_str(explained.stderr.lines().next().unwrap()).unwrap();
    assert_eq!(stats["index"]["used_index"], true);
    assert_eq!(stats["index"]["files_skipped"], stats["index"]["files"]);

    // Without indexes: the same hits, and a note saying so.
    for f in index_files(&tl.home().join("warehouse")) {
        std::fs::remove_file(f).unwrap();
    }
    let r = tl
        .run(&["search", "calc.py", "--format", "json", "--limit", "0"])
        .ok();
    assert_eq!(r.json().as_array().unwrap(), &found);
    assert!(r.stderr.contains("no current text index"), "{}", r.stderr);
    let built = tl.run(&["index"]).ok();
    assert!(
        built
            .stdout
            .contains(&format!("{} indexes built", data.len())),
        "{}",
        built.stdout
    );
    let r = tl
        .run(&["search", "calc.py", "--format", "json", "--limit", "0"])
        .ok();
    assert_eq!(r.json().as_array().unwrap(), &found);
    assert!(!r.stderr.contains("no current text index"), "{}", r.stderr);
    let again = tl.run(&["index"]).ok();
    assert!(again.stdout.contains("0 indexes built"), "{}", again.stdout);
    let rebuilt = tl.run(&["index", "--rebuild"]).ok();
    assert!(
        rebuilt
            .stdout
            .contains(&format!("{} indexes built", data.len())),
        "{}",
        rebuilt.stdout
    );
}

#[test]
fn the_collector_serves_the_same_search_over_http() {
    let tl = Tl::new();
    tl.import(&testdata().join("claude-code/projects")).ok();
    let cli = hits(&tl, &["calc.py"]);
    let server = common::Server::start(&tl);
    let get = |query: &str| {
        let url = format!("http://{}/api/search?{query}", server.http);
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let r = reqwest::get(url).await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        })
    };
    let (status, body) = get("q=calc.py&limit=0");
    assert_eq!(status, 200, "{body}");
    let api: Value = serde_json::from_str(&body).unwrap();
    let api_hits = api["hits"].as_array().unwrap();
    assert_eq!(api_hits.len(), cli.len());
    // The same hits, in the same shape as `search --format json`.
    assert_eq!(api_hits, &cli);
    assert_eq!(api["index"]["used_index"], true);
    let (status, body) = get("q=CALC.PY&i=true&field=tool_input");
    assert_eq!(status, 200, "{body}");
    let api: Value = serde_json::from_str(&body).unwrap();
    assert!(!api["hits"].as_array().unwrap().is_empty());
    let (status, body) = get("q=(&regex=true");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("pattern"), "{body}");
    server.stop();
}
