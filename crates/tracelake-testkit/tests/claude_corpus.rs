//! Checks of the Claude Code corpus generator against its own output: determinism, record
//! shape, subagent layout, size, and `truth.json` against an independent recount done by
//! parsing every generated line (deduplicating responses by `message.id` + `requestId`).

// Test helpers (outside `#[test]` functions) should fail loudly on any I/O or parse error.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use tracelake_testkit::claude_corpus::{ClaudeCorpusSpec, CorpusTruth, generate, price_of};

fn fresh_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("claude_corpus")
        .join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn spec(seed: u64, bytes: u64) -> ClaudeCorpusSpec {
    ClaudeCorpusSpec {
        seed,
        target_bytes: bytes,
        days: 7,
        projects: 6,
        ..ClaudeCorpusSpec::default()
    }
}

/// Every file under `dir`, relative path (with `/`) to contents, sorted.
fn read_tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel, fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

const TRANSCRIPT_TYPES: &[&str] = &["user", "assistant", "attachment", "system"];
const ENVELOPE: &[&str] = &[
    "parentUuid",
    "isSidechain",
    "uuid",
    "timestamp",
    "cwd",
    "sessionId",
    "version",
    "gitBranch",
    "userType",
    "entrypoint",
];

#[derive(Default, Debug, PartialEq)]
struct Recount {
    /// (date, model) -> [input, output, cache_creation, cache_read, responses]
    daily: BTreeMap<(String, String), [u64; 5]>,
    tool_calls: u64,
    tool_errors: u64,
    lines: u64,
    bytes: u64,
    files: u64,
    jsonl_files: u64,
    subagents: u64,
    malformed: BTreeSet<(String, u64)>,
}

/// Parses the corpus the way an importer should and counts what the truth claims.
fn recount(dir: &Path) -> Recount {
    let mut r = Recount::default();
    let mut seen = BTreeSet::new();
    let mut tools = BTreeSet::new();
    let mut errors = BTreeSet::new();
    for (rel, bytes) in read_tree(dir) {
        if !rel.starts_with("projects/") {
            continue;
        }
        r.files += 1;
        r.bytes += bytes.len() as u64;
        if !rel.ends_with(".jsonl") {
            continue;
        }
        r.jsonl_files += 1;
        if rel.contains("/subagents/") {
            r.subagents += 1;
        }
        let text = String::from_utf8(bytes).expect("transcripts are UTF-8");
        for (i, line) in text.lines().enumerate() {
            r.lines += 1;
            let Ok(v) = serde_json::from_str::<Value>(line) else {
                r.malformed.insert((rel.clone(), i as u64 + 1));
                continue;
            };
            match v["type"].as_str() {
                Some("assistant") => {
                    let m = &v["message"];
                    for b in m["content"].as_array().unwrap() {
                        if b["type"] == "tool_use" {
                            tools.insert(b["id"].as_str().unwrap().to_string());
                        }
                    }
                    let (Some(id), Some(req)) = (m["id"].as_str(), v["requestId"].as_str()) else {
                        continue;
                    };
                    if m["model"] == "<synthetic>"
                        || !seen.insert((id.to_string(), req.to_string()))
                    {
                        continue;
                    }
                    let u = &m["usage"];
                    let day = v["timestamp"].as_str().unwrap()[..10].to_string();
                    let e = r
                        .daily
                        .entry((day, m["model"].as_str().unwrap().to_string()))
                        .or_default();
                    e[0] += u["input_tokens"].as_u64().unwrap();
                    e[1] += u["output_tokens"].as_u64().unwrap();
                    e[2] += u["cache_creation_input_tokens"].as_u64().unwrap();
                    e[3] += u["cache_read_input_tokens"].as_u64().unwrap();
                    e[4] += 1;
                }
                Some("user") => {
                    if let Some(blocks) = v["message"]["content"].as_array() {
                        for b in blocks {
                            if b["type"] == "tool_result" && b["is_error"] == true {
                                errors.insert(b["tool_use_id"].as_str().unwrap().to_string());
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }
    r.tool_calls = tools.len() as u64;
    r.tool_errors = errors.len() as u64;
    r
}

fn truth_of(dir: &Path) -> CorpusTruth {
    serde_json::from_slice(&fs::read(dir.join("truth.json")).unwrap()).unwrap()
}

fn assert_truth_matches(dir: &Path, truth: &CorpusTruth) {
    let r = recount(dir);
    let daily: BTreeMap<(String, String), [u64; 5]> = truth
        .daily
        .iter()
        .map(|d| {
            (
                (d.date.clone(), d.model.clone()),
                [
                    d.input_tokens,
                    d.output_tokens,
                    d.cache_creation_input_tokens,
                    d.cache_read_input_tokens,
                    d.responses,
                ],
            )
        })
        .collect();
    assert_eq!(daily, r.daily, "per-day usage differs from the recount");
    let t = &truth.totals;
    assert_eq!(
        t.billed_responses,
        r.daily.values().map(|v| v[4]).sum::<u64>()
    );
    assert_eq!(t.input_tokens, r.daily.values().map(|v| v[0]).sum::<u64>());
    assert_eq!(t.output_tokens, r.daily.values().map(|v| v[1]).sum::<u64>());
    assert_eq!(
        t.cache_creation_input_tokens,
        r.daily.values().map(|v| v[2]).sum::<u64>()
    );
    assert_eq!(
        t.cache_read_input_tokens,
        r.daily.values().map(|v| v[3]).sum::<u64>()
    );
    assert_eq!(t.tool_calls, r.tool_calls);
    assert_eq!(t.tool_errors, r.tool_errors);
    assert_eq!(t.lines, r.lines);
    assert_eq!(t.bytes, r.bytes);
    assert_eq!(t.files, r.files);
    assert_eq!(t.jsonl_files, r.jsonl_files);
    assert_eq!(t.subagents, r.subagents);
    let listed: BTreeSet<(String, u64)> = truth
        .malformed
        .iter()
        .map(|m| (m.file.clone(), m.line))
        .collect();
    assert_eq!(
        listed, r.malformed,
        "malformed lines differ from the ones that fail to parse"
    );
    assert_eq!(t.malformed_lines, r.malformed.len() as u64);
    // Cost: priced rows sum to the total; unpriced rows have no cost.
    let mut cost = 0.0;
    for d in &truth.daily {
        assert_eq!(
            d.cost_usd.is_some(),
            price_of(&d.model).is_some(),
            "{}",
            d.model
        );
        cost += d.cost_usd.unwrap_or(0.0);
    }
    assert!((cost - t.cost_usd).abs() < 1e-6);
}

#[test]
fn same_seed_gives_identical_bytes_and_other_seeds_differ() {
    let a = fresh_dir("det_a");
    let b = fresh_dir("det_b");
    let c = fresh_dir("det_c");
    let mut s = spec(11, 3_000_000);
    s.threads = Some(2);
    generate(&s, &a).unwrap();
    // A different thread count must not change a byte.
    s.threads = Some(1);
    generate(&s, &b).unwrap();
    let ta = read_tree(&a);
    let tb = read_tree(&b);
    assert_eq!(ta.keys().collect::<Vec<_>>(), tb.keys().collect::<Vec<_>>());
    for (k, v) in &ta {
        assert!(
            v == &tb[k],
            "{k} differs between two runs with the same seed"
        );
    }
    generate(&spec(12, 3_000_000), &c).unwrap();
    let tc = read_tree(&c);
    assert_ne!(ta, tc);
    assert!(
        ta.keys().filter(|k| tc.contains_key(*k)).count() <= 1,
        "session files should not coincide"
    );
}

#[test]
fn every_line_is_json_with_the_claude_code_envelope() {
    let dir = fresh_dir("shape");
    // This seed and size hold every scenario: subagents, a resumed session, compactions,
    // old-style summaries, synthetic API errors, an unpriced model.
    let truth = generate(&spec(27, 12_000_000), &dir).unwrap();
    let mut types: HashMap<String, u64> = HashMap::new();
    let mut attachment_types = BTreeSet::new();
    let mut tool_names = BTreeSet::new();
    let mut saw_string_prompt = false;
    let mut saw_tool_use_result = false;
    for (rel, bytes) in read_tree(&dir) {
        if !rel.ends_with(".jsonl") {
            continue;
        }
        let sub = rel.contains("/subagents/");
        let session_from_path = rel
            .split('/')
            .nth(2)
            .unwrap()
            .trim_end_matches(".jsonl")
            .to_string();
        let mut parents: BTreeSet<String> = BTreeSet::new();
        for line in String::from_utf8(bytes).unwrap().lines() {
            let v: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{rel}: {e}: {line:.200}"));
            let ty = v["type"]
                .as_str()
                .unwrap_or_else(|| panic!("{rel}: no type"))
                .to_string();
            *types.entry(ty.clone()).or_default() += 1;
            if TRANSCRIPT_TYPES.contains(&ty.as_str()) {
                for k in ENVELOPE {
                    assert!(v.get(*k).is_some(), "{rel}: {ty} record without {k}");
                }
                let ts = v["timestamp"].as_str().unwrap();
                assert_eq!(ts.len(), 24, "timestamp {ts}");
                assert!(
                    ts.ends_with('Z') && ts.as_bytes()[19] == b'.',
                    "timestamp {ts}"
                );
                assert_eq!(v["version"], "2.1.328");
                assert_eq!(v["isSidechain"], sub, "{rel}");
                if sub {
                    assert!(
                        v["agentId"].is_string(),
                        "{rel}: subagent record without agentId"
                    );
                }
                // The parentUuid chain only points at records seen earlier in the file.
                if let Some(p) = v["parentUuid"].as_str() {
                    assert!(parents.contains(p), "{rel}: parentUuid {p} not seen before");
                }
                parents.insert(v["uuid"].as_str().unwrap().to_string());
                if !sub {
                    assert_eq!(v["sessionId"].as_str().unwrap(), session_from_path);
                }
            } else if ty != "summary" {
                assert!(v["sessionId"].is_string(), "{rel}: {ty} without sessionId");
            }
            match ty.as_str() {
                "user" => {
                    assert!(
                        v["promptId"].is_string() || v["isCompactSummary"] == true,
                        "{rel}: user without promptId"
                    );
                    saw_string_prompt |= v["message"]["content"].is_string();
                    saw_tool_use_result |= v.get("toolUseResult").is_some();
                }
                "attachment" => {
                    attachment_types.insert(v["attachment"]["type"].as_str().unwrap().to_string());
                }
                "assistant" => {
                    for b in v["message"]["content"].as_array().unwrap() {
                        if b["type"] == "tool_use" {
                            tool_names.insert(b["name"].as_str().unwrap().to_string());
                        }
                    }
                    if v["message"]["model"] != "<synthetic>" {
                        let u = &v["message"]["usage"];
                        for k in [
                            "input_tokens",
                            "output_tokens",
                            "cache_creation_input_tokens",
                            "cache_read_input_tokens",
                        ] {
                            assert!(u[k].is_u64(), "usage.{k}");
                        }
                        assert!(u["cache_creation"]["ephemeral_5m_input_tokens"].is_u64());
                        assert!(v["requestRef"].is_string());
                    }
                }
                _ => {}
            }
        }
    }
    for t in [
        "user",
        "assistant",
        "attachment",
        "system",
        "summary",
        "queue-operation",
        "api-request",
        "api-request-blob",
        "api-request-shape",
        "last-prompt",
        "tools-used",
        "atis-latch",
        "cost-state",
    ] {
        assert!(
            types.contains_key(t),
            "no {t} record in the corpus: {types:?}"
        );
    }
    for a in [
        "environment",
        "model",
        "skill_listing",
        "session_context",
        "date",
        "prompt_snapshot",
    ] {
        assert!(attachment_types.contains(a), "no {a} attachment");
    }
    for t in ["Bash", "Read", "Edit", "Grep"] {
        assert!(tool_names.contains(t), "no {t} tool call: {tool_names:?}");
    }
    assert!(saw_string_prompt && saw_tool_use_result);
    assert!(truth.totals.tool_errors > 0);
    assert_eq!(types["cost-state"], truth.totals.sessions);
}

#[test]
fn truth_equals_a_recount_of_the_files() {
    let dir = fresh_dir("truth");
    let truth = generate(&spec(27, 12_000_000), &dir).unwrap();
    let mut expected = serde_json::to_vec_pretty(&truth).unwrap();
    expected.push(b'\n');
    assert!(
        fs::read(dir.join("truth.json")).unwrap() == expected,
        "returned truth and truth.json differ"
    );
    assert_truth_matches(&dir, &truth);
    let t = &truth.totals;
    assert!(t.billed_responses > 100);
    // The recount only matches because it deduplicates: resumed sessions repeat responses.
    assert!(t.resumed_sessions > 0 && t.duplicated_records > 0);
    assert!(t.compactions > 0 && t.summaries > 0 && t.synthetic_messages > 0);
    assert!(t.unpriced_responses > 0 && t.subagents > 0 && t.retry_loops > 0);
    assert!(t.permission_rejections > 0 && t.interruptions > 0);
    assert!(
        truth.daily.len() > 3,
        "usage should spread over several days and models"
    );
    assert_eq!(truth.totals.sessions as usize, truth.sessions.len());
}

#[test]
fn malformed_lines_are_listed_excluded_and_change_nothing_else() {
    let clean = fresh_dir("malformed_clean");
    let dirty = fresh_dir("malformed_dirty");
    generate(&spec(41, 4_000_000), &clean).unwrap();
    let mut s = spec(41, 4_000_000);
    s.malformed_every = Some(17);
    let truth = generate(&s, &dirty).unwrap();
    assert!(truth.totals.malformed_lines > 50);
    assert_truth_matches(&dirty, &truth);
    // Every other line is byte-identical to the clean run; malformed ones are prefixes.
    let bad: BTreeSet<(String, u64)> = truth
        .malformed
        .iter()
        .map(|m| (m.file.clone(), m.line))
        .collect();
    let tc = read_tree(&clean);
    for (rel, bytes) in read_tree(&dirty) {
        if !rel.ends_with(".jsonl") {
            continue;
        }
        let a = String::from_utf8(tc[&rel].clone()).unwrap();
        let b = String::from_utf8(bytes).unwrap();
        let (la, lb): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
        assert_eq!(la.len(), lb.len(), "{rel}");
        for (i, (x, y)) in la.iter().zip(&lb).enumerate() {
            if bad.contains(&(rel.clone(), i as u64 + 1)) {
                assert!(x.starts_with(y) && x.len() > y.len(), "{rel}:{}", i + 1);
            } else {
                assert_eq!(x, y, "{rel}:{}", i + 1);
            }
        }
    }
    // The clean truth counts at least as much as the dirty one.
    let clean_truth = truth_of(&clean);
    assert!(clean_truth.totals.billed_responses >= truth.totals.billed_responses);
    assert!(clean_truth.totals.output_tokens >= truth.totals.output_tokens);
}

#[test]
fn subagent_transcripts_sit_beside_their_meta_files() {
    let dir = fresh_dir("subagents");
    let truth = generate(&spec(51, 6_000_000), &dir).unwrap();
    assert!(
        truth.totals.subagents > 0,
        "expected subagents in a 6 MB corpus"
    );
    let tree = read_tree(&dir);
    let mut checked = 0;
    for (rel, bytes) in &tree {
        let Some(stem) = rel.strip_suffix(".jsonl") else {
            continue;
        };
        if !rel.contains("/subagents/") {
            continue;
        }
        // projects/<cwd>/<session>/subagents/agent-<id>.jsonl
        let parts: Vec<&str> = rel.split('/').collect();
        assert_eq!(parts.len(), 5, "{rel}");
        let session = parts[2];
        let agent = parts[4]
            .trim_start_matches("agent-")
            .trim_end_matches(".jsonl");
        let meta: Value = serde_json::from_slice(&tree[&format!("{stem}.meta.json")]).unwrap();
        assert!(meta["agentType"].is_string() && meta["description"].is_string());
        assert!(meta["spawnDepth"].as_u64().unwrap() >= 1);
        let tool_use_id = meta["toolUseId"].as_str().unwrap();
        // The Agent call that launched it is in the parent transcript or a parent subagent.
        let parent_rel = match meta["parentAgentId"].as_str() {
            Some(p) => format!("projects/{}/{session}/subagents/agent-{p}.jsonl", parts[1]),
            None => format!("projects/{}/{session}.jsonl", parts[1]),
        };
        let parent = String::from_utf8(tree[&parent_rel].clone()).unwrap();
        assert!(
            parent.contains(&format!(r#""id":"{tool_use_id}","name":"Agent""#)),
            "{rel}: no Agent call {tool_use_id} in {parent_rel}"
        );
        assert!(
            parent.contains(agent),
            "{parent_rel} never names agent {agent}"
        );
        for line in String::from_utf8(bytes.clone()).unwrap().lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["sessionId"], session, "{rel}");
            if v.get("uuid").is_some() {
                assert_eq!(v["isSidechain"], true);
                assert_eq!(v["agentId"], agent);
            }
        }
        checked += 1;
    }
    assert_eq!(checked as u64, truth.totals.subagents);
}

#[test]
fn size_is_within_ten_percent_of_the_target() {
    let dir = fresh_dir("size");
    let target = 5_000_000u64;
    let truth = generate(&spec(61, target), &dir).unwrap();
    let on_disk: u64 = read_tree(&dir)
        .iter()
        .filter(|(k, _)| k.starts_with("projects/"))
        .map(|(_, v)| v.len() as u64)
        .sum();
    assert_eq!(on_disk, truth.totals.bytes);
    let ratio = on_disk as f64 / target as f64;
    assert!(
        (0.9..=1.1).contains(&ratio),
        "{on_disk} bytes for a {target}-byte target"
    );
}

#[test]
fn refuses_to_write_over_an_existing_corpus() {
    let dir = fresh_dir("refuse");
    generate(&spec(71, 300_000), &dir).unwrap();
    let err = generate(&spec(71, 300_000), &dir).unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
}
