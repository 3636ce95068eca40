#!/usr/bin/env python3
"""tracelake's end-to-end benchmarks, each next to the peer named in its issue, same run.

Measures (results as JSON in BENCH_DIR/results.json and as a Markdown table on stdout):
  - import throughput on generated corpora (MB/s, spans/s, peak RSS), 1 GB and 5 GB, of Claude
    Code session logs (`import claude-code`) and of Codex rollouts (`import codex`), both
    importers in the same run;
  - `tracelake cost --by day` (from the lake) vs `ccusage daily --offline` / `ccusage codex
    daily --offline` (re-parse the logs);
  - lake bytes on disk vs raw JSONL bytes;
  - `tracelake sql` on 10 M spans vs DuckDB over the same Iceberg table: GROUP BY model, and a
    per-session aggregate.

usage: scripts/bench.sh [--sizes 1,5] [--agents claude-code,codex] [--spans 10000000] [--runs 3]
env: BENCH_DIR (default /tmp/tracelake-bench), TRACELAKE_BIN, TESTKIT_BIN, TRACELAKE_TEST_TOOLS
"""
import argparse
import json
import os
import platform
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from datetime import date

tools = os.environ.get("TRACELAKE_TEST_TOOLS", os.path.expanduser("~/.cache/tracelake"))
target = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/tracelake/target"))
tl = os.environ.get("TRACELAKE_BIN", f"{target}/debug/tracelake")
testkit = os.environ.get("TESTKIT_BIN", f"{target}/debug/tracelake-testkit")
ccusage = f"{tools}/npm/node_modules/.bin/ccusage"
bench = os.environ.get("BENCH_DIR", "/tmp/tracelake-bench")


def run(cmd, env=None, quiet=True):
    """Runs a command; returns (seconds, peak RSS of the child in MB, stdout)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.perf_counter()
    p = subprocess.run(cmd, env={**os.environ, **(env or {})}, capture_output=True, text=True)
    secs = time.perf_counter() - t
    if p.returncode not in (0, 3):
        sys.exit(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr}")
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return secs, max(rss, before) / 1024, p.stdout


def median_time(cmd, runs, env=None):
    times = [run(cmd, env)[0] for _ in range(runs)]
    return statistics.median(times)


def du(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            total += os.path.getsize(os.path.join(root, f))
    return total


AGENTS = {
    # agent: (generator, corpus subfolder, ccusage arguments, ccusage environment variable)
    "claude-code": ("gen-claude", "projects", ["daily"], "CLAUDE_CONFIG_DIR"),
    "codex": ("gen-codex", "sessions", ["codex", "daily"], "CODEX_HOME"),
}


def corpus(gb, agent):
    gen = AGENTS[agent][0]
    out = f"{bench}/corpus-{gb}g" if agent == "claude-code" else f"{bench}/corpus-{agent}-{gb}g"
    if not os.path.exists(f"{out}/truth.json"):
        shutil.rmtree(out, ignore_errors=True)
        run([testkit, gen, "--out", out, "--size", f"{gb}GB", "--seed", "42"])
    return out


def import_bench(gb, runs, agent="claude-code"):
    _, sub, ccusage_args, env_var = AGENTS[agent]
    src = corpus(gb, agent)
    raw_bytes = du(f"{src}/{sub}")
    home = f"{bench}/home-{gb}g" if agent == "claude-code" else f"{bench}/home-{agent}-{gb}g"
    shutil.rmtree(home, ignore_errors=True)
    # Each import measures its own peak RSS, so run it in a fresh Python child.
    probe = subprocess.run(
        [sys.executable, "-c", "import resource,subprocess,sys,time,json;"
         "t=time.perf_counter();p=subprocess.run(sys.argv[1:],capture_output=True,text=True);"
         "s=time.perf_counter()-t;print(json.dumps({'secs':s,'rss':resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss/1024,'code':p.returncode,'out':p.stdout}))",
         tl, "--home", home, "import", agent, f"{src}/{sub}", "--format", "json"],
        capture_output=True, text=True)
    r = json.loads(probe.stdout)
    if r["code"] != 0:
        sys.exit(f"import failed: {probe.stderr}")
    summary = json.loads(r["out"])
    lake_bytes = du(f"{home}/warehouse")
    env = {env_var: src, "TZ": "UTC", "HOME": src}
    ours = median_time([tl, "--home", home, "cost", "--by", "day", "--format", "json"], runs)
    theirs = median_time([ccusage, *ccusage_args, "--json", "--offline"], runs, env)
    return {
        "agent": agent,
        "corpus_gb": gb,
        "raw_bytes": raw_bytes,
        "lines": summary["lines"],
        "import_secs": r["secs"],
        "import_mb_per_s": raw_bytes / 1e6 / r["secs"],
        "spans": summary["spans"],
        "spans_per_s": summary["spans"] / r["secs"],
        "import_peak_rss_mb": r["rss"],
        "lake_bytes": lake_bytes,
        "lake_fraction": lake_bytes / raw_bytes,
        "cost_by_day_secs": ours,
        "ccusage_daily_secs": theirs,
        "cost_speedup": theirs / ours,
    }


QUERIES = {
    "group_by_model": "SELECT model, count(*) AS calls, sum(input_tokens) AS i, sum(output_tokens) AS o, "
                      "sum(cache_read_tokens) AS r, sum(cost_usd) AS cost FROM spans WHERE kind = 'llm' "
                      "GROUP BY model ORDER BY model",
    "per_session": "SELECT session_id, count(*) AS spans, sum(input_tokens + output_tokens) AS tokens, "
                   "sum(CASE WHEN status = 'error' THEN 1 ELSE 0 END) AS errors, max(end_time) AS last "
                   "FROM spans GROUP BY session_id ORDER BY tokens DESC NULLS LAST LIMIT 10",
}


def sql_bench(spans, runs):
    home = f"{bench}/home-spans-{spans}"
    if not os.path.exists(f"{home}/catalog.db"):
        shutil.rmtree(home, ignore_errors=True)
        run([testkit, "gen-spans", "--home", home, "--spans", str(spans)])
    import duckdb, duckdb_extension_avro, duckdb_extension_iceberg  # noqa: E401
    con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    for m in (duckdb_extension_avro, duckdb_extension_iceberg):
        for folder, _, files in os.walk(os.path.dirname(m.__file__)):
            for f in files:
                if f.endswith(".duckdb_extension"):
                    con.execute(f"LOAD '{os.path.join(folder, f)}'")
    loc = sqlite3.connect(f"{home}/catalog.db").execute(
        "SELECT metadata_location FROM iceberg_tables WHERE table_name = 'spans'").fetchone()[0]
    con.execute(f"CREATE VIEW spans AS SELECT * FROM iceberg_scan('{loc.removeprefix('file://')}')")
    out = {"spans": spans, "duckdb": duckdb.__version__}
    for name, q in QUERIES.items():
        ours = median_time([tl, "--home", home, "sql", q, "--format", "csv"], runs)
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            con.execute(q).fetchall()
            times.append(time.perf_counter() - t)
        theirs = statistics.median(times)
        # Same answer?
        a = run([tl, "--home", home, "sql", q, "--format", "json"])[2]
        ours_rows = len(json.loads(a))
        theirs_rows = len(con.execute(q).fetchall())
        assert ours_rows == theirs_rows, (name, ours_rows, theirs_rows)
        out[name] = {"tracelake_secs": ours, "duckdb_secs": theirs, "ratio_duckdb_over_tracelake": theirs / ours}
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1,5")
    ap.add_argument("--agents", default="claude-code,codex")
    ap.add_argument("--spans", type=int, default=10_000_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    os.makedirs(bench, exist_ok=True)
    results = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {round(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30)} GiB",
        "imports": [import_bench(int(s), args.runs, a) for s in args.sizes.split(",") if s
                    for a in args.agents.split(",") if a],
        "sql": sql_bench(args.spans, args.runs) if args.spans else None,
    }
    with open(f"{bench}/results.json", "w") as f:
        json.dump(results, f, indent=1)
    print(f"machine: {results['machine']}; date {results['date']}\n")
    print("| importer | corpus | import MB/s | spans/s | peak RSS | lake / raw | cost --by day | ccusage daily | speedup |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results["imports"]:
        print(f"| {r['agent']} | {r['corpus_gb']} GB ({r['raw_bytes']/1e9:.2f} GB, {r['lines']:,} lines) | {r['import_mb_per_s']:.0f} | {r['spans_per_s']:,.0f} | "
              f"{r['import_peak_rss_mb']:.0f} MB | {r['lake_fraction']:.1%} | {r['cost_by_day_secs']:.2f} s | "
              f"{r['ccusage_daily_secs']:.2f} s | {r['cost_speedup']:.1f}x |")
    if results["sql"]:
        s = results["sql"]
        print(f"\n| query on {s['spans']:,} spans | tracelake sql | DuckDB {s['duckdb']} (iceberg_scan) | DuckDB / tracelake |")
        print("|---|---|---|---|")
        for name in QUERIES:
            q = s[name]
            print(f"| {name} | {q['tracelake_secs']:.2f} s | {q['duckdb_secs']:.2f} s | {q['ratio_duckdb_over_tracelake']:.2f} |")


main()
