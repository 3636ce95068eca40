//! Search is exact: on a lake of multilingual spans (several files, several row groups and
//! index blocks each), every pattern — literal or regex, case-sensitive or not, shorter than
//! a trigram or not, in any script — finds exactly the hits a brute-force scan of the same
//! rows finds; with the index, without it, with a stale one, and after compaction.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    clippy::print_stdout
)] // test code: a failed unwrap is a failed test

use std::collections::BTreeSet;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use regex::Regex;
use tracelake_lake::textindex::index_location;
use tracelake_lake::{Lake, LakeConfig};
use tracelake_model::{Span, SpanBatchBuilder, SpanKind, TableKind};
use tracelake_query::QueryEngine;
use tracelake_query::search::{self, SearchField, SearchRequest};

const WORDS: &[&str] = &[
    "error",
    "cargo",
    "test",
    "failed",
    "src/lib.rs",
    "fn",
    "let",
    "panicked",
    "warning",
    "错误",
    "文件未找到",
    "خطأ في الملف",
    "🔥",
    "🚀",
    "ΣΊΣΥΦΟΣ",
    "σίσυφος",
    "Straße",
    "STRASSE",
    "İstanbul",
    "ıstanbul",
    "ſecret",
    "SECRET",
    "\u{212A}elvin",
    "kelvin",
    "naïve",
    "NAÏVE",
    "a",
    "ab",
    "x\ny",
    "timeout after 30 ms",
    "connection refused",
    "exit code 1",
];

struct Row {
    span_id: String,
    session: String,
    fields: [Option<String>; 6],
}

fn text(rng: &mut ChaCha8Rng, n: usize, needle: Option<usize>) -> String {
    let mut s = String::new();
    for i in 0..n {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(WORDS[rng.random_range(0..WORDS.len())]);
    }
    if let Some(k) = needle {
        s.push_str(&format!(" needle-{k} "));
    }
    s
}

/// Writes `n` spans over two days in two commits (so several files); returns them.
async fn build(home: &std::path::Path, n: usize) -> (Lake, Vec<Row>) {
    let mut config = LakeConfig::default();
    // Small row groups: the index's blocks cross row-group boundaries.
    config.write.row_group_bytes = 256 * 1024;
    let lake = Lake::open(home, &config).await.unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut rows = Vec::new();
    let base = 1_795_000_000_000_000i64;
    for commit in 0..2 {
        let mut write = lake.begin_write().await.unwrap();
        let mut b = SpanBatchBuilder::new(0);
        for i in 0..n / 2 {
            let id = format!("{:016x}", rows.len());
            let session = format!("session-{}", rows.len() / 100);
            let t = base + (commit * 86_400 + i as i64) * 1_000_000;
            let mut s = Span::new(id.clone(), session.clone(), "test", SpanKind::Tool, t);
            // A needle in 1 span of 2000: selective patterns.
            let needle = (rng.random_range(0..2000) == 0).then(|| rng.random_range(0..40));
            s.input_text = Some(text(&mut rng, 6, None));
            s.output_text = rng.random_bool(0.8).then(|| text(&mut rng, 12, needle));
            s.tool_input = rng.random_bool(0.5).then(|| text(&mut rng, 4, None));
            s.tool_output = rng.random_bool(0.5).then(|| text(&mut rng, 20, None));
            s.error_message = rng.random_bool(0.05).then(|| text(&mut rng, 5, None));
            s.command = rng.random_bool(0.2).then(|| text(&mut rng, 3, None));
            b.append(&s);
            rows.push(Row {
                span_id: id,
                session,
                fields: [
                    s.input_text.clone(),
                    s.output_text.clone(),
                    s.tool_input.clone(),
                    s.tool_output.clone(),
                    s.error_message.clone(),
                    s.command.clone(),
                ],
            });
        }
        write
            .append(TableKind::Spans, &b.finish().unwrap())
            .unwrap();
        lake.commit(write).await.unwrap();
    }
    (lake, rows)
}

/// (span, field) hits by brute force: `str::contains` for case-sensitive literals, an
/// independently built regex otherwise.
fn brute(rows: &[Row], pattern: &str, regex: bool, ci: bool) -> BTreeSet<(String, usize)> {
    let re = Regex::new(&match (regex, ci) {
        (false, false) => String::new(),
        (false, true) => format!("(?i){}", regex::escape(pattern)),
        (true, false) => pattern.to_string(),
        (true, true) => format!("(?i){pattern}"),
    })
    .unwrap();
    let mut out = BTreeSet::new();
    for r in rows {
        for (i, f) in r.fields.iter().enumerate() {
            if let Some(t) = f {
                let hit = if !regex && !ci {
                    t.contains(pattern)
                } else {
                    re.is_match(t)
                };
                if hit {
                    out.insert((r.span_id.clone(), i));
                }
            }
        }
    }
    out
}

async fn found(
    engine: &QueryEngine,
    pattern: &str,
    regex: bool,
    ci: bool,
) -> (BTreeSet<(String, usize)>, tracelake_query::GrepStats) {
    let req = SearchRequest {
        pattern: pattern.to_string(),
        regex,
        ignore_case: ci,
        ..Default::default()
    };
    let r = search::search(engine, &req).await.unwrap();
    let hits = r
        .hits
        .iter()
        .map(|h| {
            let i = SearchField::ALL.iter().position(|f| *f == h.field).unwrap();
            (h.span_id.clone(), i)
        })
        .collect();
    // Newest first.
    assert!(
        r.hits
            .windows(2)
            .all(|w| w[0].start_time >= w[1].start_time)
    );
    let (count, _) = search::count(engine, &req).await.unwrap();
    assert_eq!(count as usize, r.hits.len(), "count of {pattern:?}");
    (hits, r.index)
}

fn patterns(rows: &[Row]) -> Vec<(String, bool, bool)> {
    let mut out: Vec<(String, bool, bool)> = [
        ("needle-17", false, false),
        ("NEEDLE-3 ", false, true),
        ("错误", false, false),
        ("错", false, false),
        ("文件未找到", false, true),
        ("خطأ", false, false),
        ("🔥", false, false),
        ("σίσυφος", false, true),
        ("ΣΊΣΥΦΟΣ", false, false),
        ("straße", false, true),
        ("strasse", false, true),
        ("secret", false, true),
        ("KELVIN", false, true),
        ("İstanbul", false, true),
        ("NAÏVE", false, true),
        ("x\ny", false, false),
        ("a", false, false),
        ("ab", false, true),
        ("not present anywhere", false, false),
        (r"needle-1\d ", true, false),
        ("(错误|خطأ) في", true, false),
        (r"timeout after \d+ ms", true, false),
        (r"exit code [0-9]", true, true),
        ("conn.*refused", true, false),
        (r"\bfn\b", true, false),
        (".", true, false),
    ]
    .iter()
    .map(|(p, r, c)| (p.to_string(), *r, *c))
    .collect();
    // Random substrings of the data, any length, case-sensitive and not.
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    while out.len() < 60 {
        let r = &rows[rng.random_range(0..rows.len())];
        let Some(t) = r.fields.iter().flatten().next() else {
            continue;
        };
        let chars: Vec<char> = t.chars().collect();
        let start = rng.random_range(0..chars.len());
        let len = rng.random_range(1..=12).min(chars.len() - start);
        let p: String = chars[start..start + len].iter().collect();
        let ci = rng.random_bool(0.5);
        out.push((if ci { p.to_uppercase() } else { p }, false, ci));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_pattern_finds_exactly_what_a_scan_finds() {
    let dir = tempfile::tempdir().unwrap();
    let (lake, rows) = build(dir.path(), 40_000).await;
    let files = lake.files(TableKind::Spans).await.unwrap();
    assert!(files.len() >= 2, "{files:?}");
    let engine = QueryEngine::open(&lake).await.unwrap();
    let cases = patterns(&rows);
    let mut pruned = 0;
    for (p, regex, ci) in &cases {
        let want = brute(&rows, p, *regex, *ci);
        let (got, stats) = found(&engine, p, *regex, *ci).await;
        assert_eq!(got, want, "pattern {p:?} regex={regex} ci={ci}: {stats:?}");
        assert_eq!(stats.files_unindexed, 0, "{p:?}");
        if stats.used_index && stats.candidate_blocks < stats.blocks {
            pruned += 1;
        }
    }
    // The index did prune: selective patterns read a fraction of the blocks.
    let (hits, stats) = found(&engine, "needle-17", false, false).await;
    assert!(stats.used_index);
    assert!(
        stats.candidate_blocks * 4 <= stats.blocks,
        "needle-17 ({} hits) read {} of {} blocks",
        hits.len(),
        stats.candidate_blocks,
        stats.blocks
    );
    // Vocabulary words occur in every block; the needles, the absent phrase and the needle
    // regex are the selective ones.
    assert!(pruned >= 4, "only {pruned} patterns pruned anything");
    // Short patterns cannot use the index and still answer exactly (checked above).
    let (_, stats) = found(&engine, "ab", false, false).await;
    assert!(!stats.used_index);

    // Without indexes: the same answers, and the search says it scanned.
    let warehouse = lake.warehouse();
    for f in &files {
        let idx = index_location(&f.location);
        warehouse.delete(&idx).await.unwrap();
    }
    let engine = QueryEngine::open(&lake).await.unwrap();
    for (p, regex, ci) in cases.iter().take(20) {
        let (got, stats) = found(&engine, p, *regex, *ci).await;
        assert_eq!(got, brute(&rows, p, *regex, *ci), "unindexed {p:?}");
        if stats.used_index {
            assert_eq!(stats.files_unindexed, files.len() as u64);
        }
    }

    // A stale index (another file's) is detected and not trusted.
    let report = tracelake_lake::textindex::build_indexes(&lake, false, |_| {})
        .await
        .unwrap();
    assert_eq!(report.built, files.len() as u64);
    let a = warehouse
        .read(&index_location(&files[0].location))
        .await
        .unwrap();
    warehouse
        .write(&index_location(&files[1].location), a)
        .await
        .unwrap();
    let engine = QueryEngine::open(&lake).await.unwrap();
    for (p, regex, ci) in cases.iter().take(20) {
        let (got, _) = found(&engine, p, *regex, *ci).await;
        assert_eq!(got, brute(&rows, p, *regex, *ci), "stale {p:?}");
    }
    let rebuilt = tracelake_lake::textindex::build_indexes(&lake, false, |_| {})
        .await
        .unwrap();
    assert!(rebuilt.built >= 1, "{rebuilt:?}");

    // Compaction writes new files with their own indexes.
    lake.compact(TableKind::Spans, 1).await.unwrap();
    let after = lake.files(TableKind::Spans).await.unwrap();
    for f in &after {
        assert!(
            tracelake_lake::textindex::is_current(warehouse, &f.location, f.size, f.rows).await,
            "{} has no index after compaction",
            f.location
        );
    }
    let engine = QueryEngine::open(&lake).await.unwrap();
    for (p, regex, ci) in &cases {
        let (got, stats) = found(&engine, p, *regex, *ci).await;
        assert_eq!(got, brute(&rows, p, *regex, *ci), "compacted {p:?}");
        assert_eq!(stats.files_unindexed, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_and_sql_use_the_same_grep() {
    let dir = tempfile::tempdir().unwrap();
    let (lake, rows) = build(dir.path(), 4_000).await;
    let engine = QueryEngine::open(&lake).await.unwrap();
    // A session filter and a field restriction.
    let session = rows[150].session.clone();
    let req = SearchRequest {
        pattern: "错误".into(),
        fields: vec![SearchField::OutputText],
        session: Some(session.clone()),
        ..Default::default()
    };
    let got: BTreeSet<String> = search::search(&engine, &req)
        .await
        .unwrap()
        .hits
        .into_iter()
        .map(|h| h.span_id)
        .collect();
    let want: BTreeSet<String> = rows
        .iter()
        .filter(|r| r.session == session)
        .filter(|r| r.fields[1].as_deref().is_some_and(|t| t.contains("错误")))
        .map(|r| r.span_id.clone())
        .collect();
    assert!(!want.is_empty());
    assert_eq!(got, want);
    // SQL: grep() and grep_regex() in WHERE agree with the brute force.
    let sql = "select count(*) as n from spans where grep(output_text, 'straße', 'i') \
               or grep_regex(command, 'exit code [0-9]')";
    engine.take_grep_stats();
    let batches = engine.query(sql).await.unwrap();
    assert!(
        engine.take_grep_stats().used_index,
        "SQL grep() uses the index"
    );
    let n = batches[0]
        .column(0)
        .as_any()
        .downcast_ref::<arrow::array::Int64Array>()
        .unwrap()
        .value(0);
    let re_s = Regex::new("(?i)straße").unwrap();
    let re_e = Regex::new("exit code [0-9]").unwrap();
    let want = rows
        .iter()
        .filter(|r| {
            r.fields[1].as_deref().is_some_and(|t| re_s.is_match(t))
                || r.fields[5].as_deref().is_some_and(|t| re_e.is_match(t))
        })
        .count();
    assert_eq!(n as usize, want);
    // A bad pattern is an error naming it, not a panic or an empty answer.
    let err = engine
        .query("select count(*) from spans where grep_regex(output_text, '(')")
        .await
        .unwrap_err();
    assert!(err.report().contains("grep_regex"), "{}", err.report());
}
