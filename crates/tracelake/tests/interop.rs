//! Other engines read our tables: PyIceberg (through the same SQLite catalog) and DuckDB's
//! iceberg extension see the same rows and token sums as tracelake, after appends, after a
//! compaction (a `replace` snapshot) and after retention (a `delete` snapshot).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    clippy::print_stdout
)] // test code: a failed unwrap is a failed test

mod common;

use common::{Tl, as_f64, as_i64, python, repo, testdata, tools};
use serde_json::Value;

fn ours(tl: &Tl) -> Value {
    let row = tl.sql(
        "SELECT (SELECT count(*) FROM spans) AS spans, (SELECT count(*) FROM raw) AS raw, \
         coalesce(sum(input_tokens), 0) AS input_tokens, coalesce(sum(output_tokens), 0) AS output_tokens, \
         coalesce(sum(cache_read_tokens), 0) AS cache_read_tokens, coalesce(sum(cache_write_tokens), 0) AS cache_write_tokens, \
         coalesce(sum(cost_usd), 0) AS cost_usd FROM llm_calls",
    );
    row[0].clone()
}

fn check_same(tl: &Tl, what: &str, theirs: &Value) {
    let ours = ours(tl);
    assert_eq!(
        as_i64(&theirs["spans"]["rows"]),
        as_i64(&ours["spans"]),
        "{what}: spans rows"
    );
    assert_eq!(
        as_i64(&theirs["raw"]["rows"]),
        as_i64(&ours["raw"]),
        "{what}: raw rows"
    );
    for col in [
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
    ] {
        assert_eq!(
            as_i64(&theirs["spans"][col]),
            as_i64(&ours[col]),
            "{what}: {col}"
        );
    }
    assert!(
        (as_f64(&theirs["spans"]["cost_usd"]) - as_f64(&ours["cost_usd"])).abs() < 1e-9,
        "{what}: cost"
    );
}

#[test]
fn pyiceberg_and_duckdb_read_what_we_wrote() {
    let Some(tools) = tools() else { return };
    // Small commits, so there is something to compact.
    let tl = Tl::new();
    tl.write_config("[import]\ncommit_every_mib = 1\n");
    for scenario in [
        "-home-dev-happy",
        "-home-dev-retry-loop",
        "-home-dev-subagent",
        "-home-dev-permission-denied",
        "-home-dev-protobuf",
    ] {
        tl.import(&testdata().join("claude-code/projects").join(scenario))
            .ok();
    }
    assert_eq!(as_i64(&ours(&tl)["input_tokens"]), 50_321);
    let catalog = tl.home().join("catalog.db");
    let catalog = catalog.to_str().unwrap();
    let py = |script: &str| {
        let r = python(&tools, &repo().join("tools/test").join(script), &[catalog]).ok();
        r.json()
    };
    let pi = py("read_with_pyiceberg.py");
    check_same(&tl, "pyiceberg after import", &pi);
    assert_eq!(
        pi["tables"],
        serde_json::json!(["tracelake.metrics", "tracelake.raw", "tracelake.spans"])
    );
    assert!(
        pi["spans"]["partition"].as_str().unwrap().contains("day"),
        "{pi}"
    );
    assert_eq!(pi["spans"]["sessions"], 5);
    let dd = py("read_with_duckdb.py");
    check_same(&tl, "duckdb after import", &dd);
    assert!(
        dd["spans"]["start_time_type"]
            .as_str()
            .unwrap()
            .contains("WITH TIME ZONE"),
        "{dd}"
    );

    // Compaction: a replace snapshot both engines follow.
    let before_files = as_i64(&tl.scalar("SELECT count(DISTINCT source_ref) FROM raw"));
    tl.run(&["compact"]).ok();
    let pi = py("read_with_pyiceberg.py");
    check_same(&tl, "pyiceberg after compaction", &pi);
    assert!(
        pi["spans"]["operations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o == "replace"),
        "{pi}"
    );
    check_same(&tl, "duckdb after compaction", &py("read_with_duckdb.py"));
    assert_eq!(
        as_i64(&tl.scalar("SELECT count(DISTINCT source_ref) FROM raw")),
        before_files
    );

    // Retention of everything older than today: the samples are from 2026-11-22.
    tl.run(&["retention", "--older-than", "1s"]).ok();
    let pi = py("read_with_pyiceberg.py");
    assert_eq!(pi["spans"]["rows"], 0, "{pi}");
    assert!(
        pi["spans"]["operations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o == "delete"),
        "{pi}"
    );
    check_same(&tl, "pyiceberg after retention", &pi);
    check_same(&tl, "duckdb after retention", &py("read_with_duckdb.py"));
    tl.run(&["expire-snapshots", "--older-than", "0s"]).ok();
    check_same(&tl, "pyiceberg after expiry", &py("read_with_pyiceberg.py"));
}
