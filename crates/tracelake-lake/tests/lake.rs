//! The lake's write path end to end on a local warehouse: append, concurrent appends from
//! independent writers, compaction, retention and snapshot expiry.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    clippy::print_stdout
)] // test code: a failed unwrap is a failed test

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use tracelake_lake::{Lake, LakeConfig, SourceState};
use tracelake_model::{Span, SpanBatchBuilder, SpanKind, TableKind};

const DAY: i64 = 86_400_000_000;
const BASE: i64 = 1_790_000_000_000_000; // 2026-09-21

fn spans(session: &str, n: usize, day: i64) -> arrow_array::RecordBatch {
    let mut b = SpanBatchBuilder::new(0);
    for i in 0..n {
        let mut s = Span::new(
            format!("{session}-{day}-{i}"),
            session,
            "test",
            SpanKind::Llm,
            BASE + day * DAY + (n - i) as i64 * 1_000,
        );
        s.input_tokens = Some(i as i64);
        b.append(&s);
    }
    b.finish().unwrap()
}

async fn open(home: &Path) -> Lake {
    Lake::open(home, &LakeConfig::default()).await.unwrap()
}

async fn rows(lake: &Lake, kind: TableKind) -> u64 {
    lake.files(kind).await.unwrap().iter().map(|f| f.rows).sum()
}

#[tokio::test]
async fn appends_commit_files_and_ledger_together() {
    let dir = tempfile::tempdir().unwrap();
    let lake = open(dir.path()).await;
    assert_eq!(rows(&lake, TableKind::Spans).await, 0);
    let mut w = lake.begin_write().await.unwrap();
    w.append(TableKind::Spans, &spans("a", 100, 0)).unwrap();
    w.append(TableKind::Spans, &spans("b", 50, 1)).unwrap();
    w.set_source_state(SourceState {
        source: "test".into(),
        key: "file-1".into(),
        state: "{\"offset\":10}".into(),
    });
    w.add_once_key([1; 16]);
    let report = lake.commit(w).await.unwrap();
    assert_eq!(report.files_added, 2, "one file per day partition");
    assert_eq!(report.attempts, 1);
    let files = lake.files(TableKind::Spans).await.unwrap();
    assert_eq!(files.iter().map(|f| f.rows).sum::<u64>(), 150);
    let days: HashSet<i32> = files.iter().filter_map(|f| f.day).collect();
    assert_eq!(days.len(), 2);
    // Files are sorted by session and time, and record their session bounds.
    assert!(
        files
            .iter()
            .all(|f| f.text_bounds.contains_key("session_id"))
    );
    assert_eq!(
        lake.source_states("test").unwrap()["file-1"],
        "{\"offset\":10}"
    );
    assert_eq!(
        lake.keys_seen(&[[1; 16], [2; 16]]).unwrap(),
        vec![true, false]
    );
    // A reopened lake sees the same.
    let again = open(dir.path()).await;
    assert_eq!(rows(&again, TableKind::Spans).await, 150);
}

#[tokio::test]
async fn abandoned_writes_leave_no_rows() {
    let dir = tempfile::tempdir().unwrap();
    let lake = open(dir.path()).await;
    let mut w = lake.begin_write().await.unwrap();
    w.append(TableKind::Spans, &spans("a", 10, 0)).unwrap();
    w.abandon();
    assert_eq!(rows(&lake, TableKind::Spans).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().to_path_buf();
    open(&home).await;
    let mut tasks = Vec::new();
    for writer in 0..4 {
        let home = home.clone();
        tasks.push(tokio::spawn(async move {
            // Each writer has its own catalog connection, like a separate process.
            let lake = open(&home).await;
            let mut attempts = 0;
            for commit in 0..10 {
                let mut w = lake.begin_write().await.unwrap();
                w.append(
                    TableKind::Spans,
                    &spans(&format!("w{writer}-{commit}"), 7, commit % 3),
                )
                .unwrap();
                attempts += lake.commit(w).await.unwrap().attempts;
            }
            attempts
        }));
    }
    let mut attempts = 0;
    for t in tasks {
        attempts += t.await.unwrap();
    }
    let lake = open(&home).await;
    assert_eq!(rows(&lake, TableKind::Spans).await, 4 * 10 * 7);
    // 40 commits; with four writers racing, some had to retry on top of others.
    assert!(attempts >= 40);
    let table = lake.table(TableKind::Spans).await.unwrap();
    assert_eq!(table.metadata.snapshots().count(), 40);
}

#[tokio::test]
async fn compaction_rewrites_small_files_keeping_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let lake = open(dir.path()).await;
    for i in 0..6 {
        let mut w = lake.begin_write().await.unwrap();
        w.append(TableKind::Spans, &spans(&format!("s{i}"), 20, i % 2))
            .unwrap();
        lake.commit(w).await.unwrap();
    }
    assert_eq!(lake.files(TableKind::Spans).await.unwrap().len(), 6);
    let report = lake.compact(TableKind::Spans, 2).await.unwrap();
    assert_eq!(report.partitions, 2);
    assert_eq!(report.files_before, 6);
    assert_eq!(report.files_after, 2);
    assert_eq!(report.rows, 120);
    assert_eq!(rows(&lake, TableKind::Spans).await, 120);
    assert_eq!(lake.files(TableKind::Spans).await.unwrap().len(), 2);
    // Nothing left to do the second time.
    assert_eq!(
        lake.compact(TableKind::Spans, 2).await.unwrap().partitions,
        0
    );
}

async fn live_manifests(lake: &Lake, kind: TableKind) -> usize {
    let state = lake.table(kind).await.unwrap();
    state.live_manifests(lake.warehouse()).await.unwrap().len()
}

#[tokio::test]
async fn manifests_are_merged_so_listing_stays_cheap() {
    let dir = tempfile::tempdir().unwrap();
    let lake = open(dir.path()).await;
    let mut most = 0;
    for i in 0..25 {
        let mut w = lake.begin_write().await.unwrap();
        w.append(TableKind::Spans, &spans(&format!("m{i}"), 3, i % 4))
            .unwrap();
        lake.commit(w).await.unwrap();
        most = most.max(live_manifests(&lake, TableKind::Spans).await);
    }
    // Without merging there would be 25 (one per commit).
    assert!(
        most <= tracelake_lake::commit::MERGE_MIN_COUNT,
        "{most} manifests"
    );
    let files = lake.files(TableKind::Spans).await.unwrap();
    assert_eq!(files.len(), 25);
    assert_eq!(files.iter().map(|f| f.rows).sum::<u64>(), 75);
    // Merged entries keep the snapshot that added them (Iceberg's inheritance rules).
    let state = lake.table(TableKind::Spans).await.unwrap();
    let snapshots: HashSet<i64> = state
        .live_files(lake.warehouse())
        .await
        .unwrap()
        .iter()
        .filter_map(|f| f.entry.snapshot_id)
        .collect();
    assert_eq!(snapshots.len(), 25, "each file keeps its own snapshot id");
    // Compaction ends with one manifest, without compacting anything else.
    let report = lake.compact(TableKind::Spans, 100).await.unwrap();
    assert_eq!(report.partitions, 0);
    assert!(report.manifests_before > 1);
    assert_eq!(report.manifests_after, 1);
    assert_eq!(live_manifests(&lake, TableKind::Spans).await, 1);
    assert_eq!(rows(&lake, TableKind::Spans).await, 75);
    // A reopened lake reads the same files through the merged manifest.
    let again = open(dir.path()).await;
    assert_eq!(again.files(TableKind::Spans).await.unwrap().len(), 25);
    // More commits, then compaction removing files from merged and unmerged manifests
    // alike: every row survives, one file per day, one manifest.
    for i in 0..12 {
        let mut w = lake.begin_write().await.unwrap();
        w.append(TableKind::Spans, &spans(&format!("n{i}"), 2, i % 4))
            .unwrap();
        lake.commit(w).await.unwrap();
    }
    let report = lake.compact(TableKind::Spans, 2).await.unwrap();
    assert_eq!(report.files_before, 37);
    assert_eq!(report.files_after, 4);
    assert_eq!(rows(&lake, TableKind::Spans).await, 75 + 24);
    assert_eq!(live_manifests(&lake, TableKind::Spans).await, 1);
}

#[tokio::test]
async fn retention_drops_whole_old_days_and_expiry_deletes_their_files() {
    let dir = tempfile::tempdir().unwrap();
    let lake = open(dir.path()).await;
    for day in 0..5 {
        let mut w = lake.begin_write().await.unwrap();
        w.append(TableKind::Spans, &spans("s", 10, day)).unwrap();
        lake.commit(w).await.unwrap();
    }
    let old_files: Vec<String> = lake
        .files(TableKind::Spans)
        .await
        .unwrap()
        .into_iter()
        .filter(|f| f.day.is_some_and(|d| i64::from(d) < BASE / DAY + 2))
        .map(|f| f.location)
        .collect();
    assert_eq!(old_files.len(), 2);
    // Cut in the middle of day 2: days 0 and 1 go, day 2 stays whole.
    let report = lake
        .delete_older_than(TableKind::Spans, (BASE / DAY + 2) * DAY + DAY / 2)
        .await
        .unwrap();
    assert_eq!(report.files, 2);
    assert_eq!(report.rows, 20);
    assert_eq!(rows(&lake, TableKind::Spans).await, 30);
    // The files stay until no snapshot needs them.
    for f in &old_files {
        assert!(Path::new(f.trim_start_matches("file://")).exists());
    }
    let expiry = lake
        .expire_snapshots(TableKind::Spans, Duration::ZERO, 1)
        .await
        .unwrap();
    assert_eq!(expiry.snapshots, 5);
    assert!(expiry.files_deleted >= 2);
    for f in &old_files {
        assert!(
            !Path::new(f.trim_start_matches("file://")).exists(),
            "{f} deleted"
        );
    }
    assert_eq!(rows(&lake, TableKind::Spans).await, 30);
    for f in lake.files(TableKind::Spans).await.unwrap() {
        assert!(Path::new(f.location.trim_start_matches("file://")).exists());
    }
}
