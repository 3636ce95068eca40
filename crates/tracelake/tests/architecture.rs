//! The crate dependency rules of ARCHITECTURE.md, checked against `cargo metadata` so the
//! arrows cannot quietly break.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    clippy::print_stdout
)] // test code: a failed unwrap is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;

struct Graph {
    /// package name -> normal (non-dev, non-build) dependency names
    deps: BTreeMap<String, BTreeSet<String>>,
}

impl Graph {
    fn load() -> Self {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
        let out = Command::new(cargo)
            .args(["metadata", "--format-version", "1", "--locked"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("cargo metadata runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let meta: Value = serde_json::from_slice(&out.stdout).expect("metadata is JSON");
        let names: BTreeMap<String, String> = meta["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["id"].as_str().unwrap().to_string(),
                    p["name"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let mut deps = BTreeMap::new();
        for node in meta["resolve"]["nodes"].as_array().unwrap() {
            let name = names[node["id"].as_str().unwrap()].clone();
            let normal: BTreeSet<String> = node["deps"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| {
                    d["dep_kinds"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|k| k["kind"].is_null())
                })
                .map(|d| names[d["pkg"].as_str().unwrap()].clone())
                .collect();
            deps.entry(name)
                .or_insert_with(BTreeSet::new)
                .extend(normal);
        }
        Self { deps }
    }

    fn direct(&self, pkg: &str) -> &BTreeSet<String> {
        &self.deps[pkg]
    }

    fn closure(&self, pkg: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![pkg.to_string()];
        while let Some(p) = todo.pop() {
            for d in self.deps.get(&p).into_iter().flatten() {
                if seen.insert(d.clone()) {
                    todo.push(d.clone());
                }
            }
        }
        seen
    }
}

fn assert_none(pkg: &str, set: &BTreeSet<String>, forbidden: &[&str], what: &str) {
    for f in forbidden {
        assert!(!set.contains(*f), "{pkg} must not depend on {f} ({what})");
    }
}

#[test]
fn crate_dependency_rules_hold() {
    let g = Graph::load();
    // The model is light: no runtime, no Iceberg, no query engine, no HTTP.
    assert_none(
        "tracelake-model",
        &g.closure("tracelake-model"),
        &[
            "tokio",
            "iceberg",
            "datafusion",
            "axum",
            "parquet",
            "object_store",
        ],
        "the model crate owns types only",
    );
    // Only the lake knows Iceberg, and the write path never links the query planner.
    for pkg in ["tracelake-lake", "tracelake-ingest"] {
        assert_none(pkg, &g.closure(pkg), &["datafusion"], "write path");
    }
    // The receivers (OTLP over gRPC and HTTP) live in ingest; the lake speaks no protocol.
    assert_none(
        "tracelake-lake",
        g.direct("tracelake-lake"),
        &["axum", "tonic", "opentelemetry-proto"],
        "the lake stores; it does not receive",
    );
    for pkg in ["tracelake-ingest", "tracelake-query", "tracelake"] {
        assert_none(
            pkg,
            g.direct(pkg),
            &["iceberg"],
            "only tracelake-lake knows Iceberg",
        );
    }
    // Write path and read path meet only in the lake.
    assert_none(
        "tracelake-ingest",
        &g.closure("tracelake-ingest"),
        &["tracelake-query"],
        "ingest never imports query",
    );
    assert_none(
        "tracelake-query",
        &g.closure("tracelake-query"),
        &["tracelake-ingest"],
        "query never imports ingest",
    );
    // The test kit is never a normal dependency.
    for (pkg, deps) in &g.deps {
        assert!(
            !deps.contains("tracelake-testkit"),
            "{pkg} has tracelake-testkit in [dependencies]"
        );
    }
}
