#!/usr/bin/env python3
"""`tracelake search` next to ripgrep over the raw JSONL and DuckDB over the same Parquet,
same run, on a generated Claude Code corpus (default 5 GB).

Steps (each skipped when its output exists): generate the corpus (`tracelake-testkit
gen-claude --seed 42`), import it, compact and expire (the steady state of a lake), then
`tracelake index --rebuild` (build time, index size vs data size). For each pattern:
  - tracelake: `search --count` (hits = matching fields of spans) and the same count of
    matching spans through SQL `grep()`, which must equal DuckDB's;
  - rg: `rg -c -F` (or `-e` for regexes) over the corpus's JSONL, warm page cache;
  - DuckDB: `ILIKE` (or `regexp_matches`) over the spans table's Parquet files.
Warm runs are the median of --runs; a cold run (page cache dropped) is measured when this
process may write /proc/sys/vm/drop_caches. Prints a Markdown table; JSON in
BENCH_DIR/search.json.

With --s3-size (e.g. 500MB) it instead imports a corpus of that size into an S3 warehouse on
a loopback S3-protocol server (moto, tools/test/s3_server.py) and reports, per pattern, the
GET requests and bytes a search read next to the size of the data it searched.

usage: tools/bench/bench_search.py [--size 5GB] [--runs 3] [--s3-size 500MB]
env: BENCH_DIR (default /tmp/tracelake-bench), CARGO_TARGET_DIR, TRACELAKE_TEST_TOOLS
"""
import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from datetime import date

tools = os.environ.get("TRACELAKE_TEST_TOOLS", os.path.expanduser("~/.cache/tracelake"))
target = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/tracelake/target"))
tl = os.environ.get("TRACELAKE_BIN", f"{target}/debug/tracelake")
testkit = os.environ.get("TESTKIT_BIN", f"{target}/debug/tracelake-testkit")
bench = os.environ.get("BENCH_DIR", "/tmp/tracelake-bench")
python = f"{tools}/venv/bin/python"

# (label, pattern, regex?) — the needles occur in the seed-42 corpus a handful of times.
PATTERNS = [
    ("selective literal (2 hits)", "request 05ada1a", False),
    ("selective literal (4 hits)", "zefeco_handler", False),
    ("selective literal (3 hits)", "timeout after 23074ms", False),
    ("regex", r"timeout after 2307[0-9]ms", True),
    ("common word", "connection refused", False),
]
FIELDS = ["input_text", "output_text", "tool_input", "tool_output", "error_message", "command"]


def sh(cmd, env=None, ok=(0,)):
    t = time.perf_counter()
    p = subprocess.run(cmd, env={**os.environ, **(env or {})}, capture_output=True, text=True)
    secs = time.perf_counter() - t
    if p.returncode not in ok:
        sys.exit(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr}")
    return secs, p.stdout, p.stderr


def median(f, runs):
    results = [f() for _ in range(runs)]
    return statistics.median(r[0] for r in results), results[-1][1]


def du(path, suffix):
    total = 0
    for root, _, files in os.walk(path):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files if f.endswith(suffix))
    return total


def drop_caches():
    try:
        subprocess.run(["sync"], check=True)
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def s3_bench(size):
    corpus = f"{bench}/search-corpus-{size}"
    home = f"{bench}/search-s3-home-{size}"
    if not os.path.exists(f"{corpus}/truth.json"):
        shutil.rmtree(corpus, ignore_errors=True)
        sh([testkit, "gen-claude", "--out", corpus, "--size", size, "--seed", "42"])
    shutil.rmtree(home, ignore_errors=True)
    os.makedirs(f"{home}/user-home")
    here = os.path.dirname(os.path.abspath(__file__))
    server = subprocess.Popen([python, f"{here}/../test/s3_server.py", "bench"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    port = int(server.stdout.readline().split()[1])
    env = {"TRACELAKE_HOME": home, "HOME": f"{home}/user-home", "AWS_ACCESS_KEY_ID": "test",
           "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1",
           "TRACELAKE_WAREHOUSE": "s3://bench/w", "TRACELAKE_S3_ENDPOINT": f"http://127.0.0.1:{port}"}
    try:
        sh([tl, "import", "claude-code", f"{corpus}/projects", "--format", "json"], env, ok=(0, 3))
        sh([tl, "compact"], env)
        rows = []
        for label, p, regex in PATTERNS + [("absent", "no such text anywhere", False)]:
            cmd = [tl, "search", p, "--count", "--explain"] + (["-e"] if regex else [])
            secs, out, err = sh(cmd, env, ok=(0, 1))
            line = next((l for l in err.splitlines() if l.startswith('{"index"')), None)
            if line is None:
                sys.exit(f"{' '.join(cmd)}: no --explain line in:\n{err}")
            ex = json.loads(line)
            rows.append({"label": label, "pattern": p, "hits": int(out.strip()), "secs": secs, **ex})
    finally:
        server.stdin.close()
        server.wait(timeout=30)
    with open(f"{bench}/search-s3.json", "w") as f:
        json.dump(rows, f, indent=2)
    print("| pattern | hits | time | GET requests | bytes read | data searched | read / data | index bytes |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        io, ix = r["io"], r["index"]
        print(f"| {r['label']}: `{r['pattern']}` | {r['hits']} | {r['secs']:.2f} s | {io['get_requests']} | "
              f"{io['get_bytes'] / 1e6:.1f} MB | {ix['data_bytes'] / 1e6:.1f} MB | "
              f"{100 * io['get_bytes'] / max(ix['data_bytes'], 1):.1f} % | {ix['index_bytes'] / 1e6:.1f} MB |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="5GB")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--s3-size")
    args = ap.parse_args()
    if args.s3_size:
        return s3_bench(args.s3_size)
    corpus = f"{bench}/search-corpus-{args.size}"
    home = f"{bench}/search-home-{args.size}"
    env = {"TRACELAKE_HOME": home, "HOME": f"{home}/user-home"}
    if not os.path.exists(f"{corpus}/truth.json"):
        shutil.rmtree(corpus, ignore_errors=True)
        sh([testkit, "gen-claude", "--out", corpus, "--size", args.size, "--seed", "42"])
    raw = du(f"{corpus}/projects", ".jsonl")
    if not os.path.exists(f"{home}/catalog.db"):
        os.makedirs(f"{home}/user-home", exist_ok=True)
        secs, _, _ = sh([tl, "import", "claude-code", f"{corpus}/projects", "--format", "json"], env, ok=(0, 3))
        print(f"import: {secs:.1f} s", file=sys.stderr)
        sh([tl, "compact"], env)
        sh([tl, "expire-snapshots", "--older-than", "0s"], env)
    spans_dir = f"{home}/warehouse/tracelake/spans"
    data = du(spans_dir, ".parquet")
    build_secs, out, _ = sh([tl, "index", "--rebuild"], env)
    index = du(spans_dir, ".tlidx")
    parquet_glob = f"{spans_dir}/data/*/*.parquet"
    rg = shutil.which("rg") or sys.exit("rg (Debian ripgrep) is needed")

    def tl_count(p, regex, ci=False):
        cmd = [tl, "search", p, "--count", "--explain"] + (["-e"] if regex else []) + (["-i"] if ci else [])
        secs, out, err = sh(cmd, env, ok=(0, 1))
        line = next((l for l in err.splitlines() if l.startswith('{"index"')), None)
        if line is None:
            sys.exit(f"{' '.join(cmd)}: no --explain line in:\n{err}")
        return secs, (int(out.strip()), json.loads(line)["index"])

    def tl_sql_spans(p, regex, ci):
        fn = "grep_regex" if regex else "grep"
        flags = "i" if ci else ""
        pat = p.replace("'", "''")
        where = " OR ".join(f"{fn}({f}, '{pat}', '{flags}')" for f in FIELDS)
        secs, out, _ = sh([tl, "sql", f"select count(*) as n from spans where {where}", "--format", "json"], env)
        return secs, json.loads(out)[0]["n"]

    def rg_count(p, regex):
        cmd = [rg, "-c", "--no-filename"] + (["-e", p] if regex else ["-F", p]) + [f"{corpus}/projects"]
        secs, out, _ = sh(cmd, ok=(0, 1))
        return secs, sum(int(x) for x in out.split())

    def duck(p, regex):
        if regex:
            pat = p.replace("'", "''")
            where = " OR ".join(f"regexp_matches({f}, '{pat}')" for f in FIELDS)
        else:
            pat = p.replace("'", "''").replace("%", "\\%").replace("_", "\\_")
            where = " OR ".join(f"{f} ILIKE '%{pat}%' ESCAPE '\\'" for f in FIELDS)
        code = ("import duckdb,sys,time,json;c=duckdb.connect();c.execute('SET enable_progress_bar=false');t=time.perf_counter();"
                f"n=c.execute(sys.argv[1]).fetchone()[0];print(json.dumps([time.perf_counter()-t,n]))")
        q = f"select count(*) from read_parquet('{parquet_glob}') where {where}"
        _, out, _ = sh([python, "-c", code, q])
        secs, n = json.loads(out)
        return secs, n

    rows = []
    for label, p, regex in PATTERNS:
        # Warm everything once.
        tl_count(p, regex), rg_count(p, regex), duck(p, regex)
        t_tl, (hits, stats) = median(lambda: tl_count(p, regex), args.runs)
        t_tli, (hits_i, _) = median(lambda: tl_count(p, regex, ci=not regex), args.runs)
        t_sql, spans_ci = median(lambda: tl_sql_spans(p, regex, not regex), args.runs)
        t_rg, lines = median(lambda: rg_count(p, regex), args.runs)
        t_duck, duck_spans = median(lambda: duck(p, regex), args.runs)
        if spans_ci != duck_spans:
            sys.exit(f"{p!r}: tracelake grep() found {spans_ci} spans, DuckDB {duck_spans}")
        cold = {}
        if drop_caches():
            cold["tracelake"] = tl_count(p, regex)[0]
            drop_caches()
            cold["rg"] = rg_count(p, regex)[0]
            drop_caches()
            cold["duckdb"] = duck(p, regex)[0]
        rows.append({
            "label": label, "pattern": p, "regex": regex, "hits": hits, "hits_ci": hits_i,
            "spans_ci": spans_ci, "rg_lines": lines, "tracelake_s": t_tl, "tracelake_ci_s": t_tli,
            "tracelake_sql_ci_s": t_sql, "rg_s": t_rg, "duckdb_s": t_duck, "cold": cold,
            "index": stats,
        })
    result = {
        "date": str(date.today()), "machine": f"{platform.node()} {os.cpu_count()} cores",
        "raw_bytes": raw, "spans_parquet_bytes": data, "index_bytes": index,
        "index_fraction": index / data if data else 0, "index_build_s": build_secs,
        "index_build_s_per_gb_data": build_secs / (data / 1e9) if data else 0,
        "index_build_s_per_gb_raw": build_secs / (raw / 1e9) if raw else 0,
        "patterns": rows,
    }
    with open(f"{bench}/search.json", "w") as f:
        json.dump(result, f, indent=2)
    print(f"corpus {raw / 1e9:.2f} GB raw JSONL; spans Parquet {data / 1e6:.0f} MB; index "
          f"{index / 1e6:.1f} MB ({100 * index / data:.1f} % of the data); index build "
          f"{build_secs:.1f} s ({result['index_build_s_per_gb_raw']:.1f} s per GB raw)\n")
    print("| pattern | hits | tracelake search | rg (warm) | vs rg | tracelake -i / SQL grep | DuckDB ILIKE | vs DuckDB | blocks read | index bytes |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        s = r["index"]
        print(f"| {r['label']}: `{r['pattern']}` | {r['hits']} | {r['tracelake_s']:.2f} s | {r['rg_s']:.2f} s | "
              f"{r['rg_s'] / r['tracelake_s']:.1f}× | {r['tracelake_ci_s']:.2f} s / {r['tracelake_sql_ci_s']:.2f} s | "
              f"{r['duckdb_s']:.2f} s | {r['duckdb_s'] / r['tracelake_sql_ci_s']:.1f}× | "
              f"{s['candidate_blocks']}/{s['blocks']} | {s['index_bytes'] / 1e6:.1f} MB |")
        if r["cold"]:
            c = r["cold"]
            print(f"|   cold page cache | | {c['tracelake']:.2f} s | {c['rg']:.2f} s | {c['rg'] / c['tracelake']:.1f}× | | {c['duckdb']:.2f} s | | | |")


if __name__ == "__main__":
    main()
