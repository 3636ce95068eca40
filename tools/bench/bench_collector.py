#!/usr/bin/env python3
"""The collector's benchmark, next to Arize Phoenix under the same load generator, same run.

For each system, `tracelake-testkit load` (realistic ~2 KB GenAI spans in agent -> chat -> tool
traces, OTLP/gRPC, batches of 100, 8 connections) runs flat out for --seconds; the collector's
RSS is sampled every 0.25 s. Then:
  - acknowledged spans/s and acknowledgement latency p50/p99 (from the load generator);
  - drain: seconds until everything acknowledged is stored (tracelake: WAL empty, i.e.
    committed to Iceberg; Phoenix: its span count reaches what it acknowledged), and the
    sustained rate = acknowledged spans / (load seconds + drain seconds);
  - a paced run at --paced spans/s: p99 while the committer keeps up (WAL backlog at the end);
  - tracelake only: acknowledgement -> visible in `tracelake sql` at the default commit
    interval (median of 5).
Results as JSON in BENCH_DIR/collector.json and a Markdown table on stdout.

usage: tools/bench/bench_collector.py [--seconds 30] [--paced 20000] [--no-phoenix]
env: BENCH_DIR (default /tmp/tracelake-bench), CARGO_TARGET_DIR, TRACELAKE_BIN, TESTKIT_BIN,
     TRACELAKE_TOOLS (Phoenix's venv, see phoenix.sh)
"""
import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import date

here = os.path.dirname(os.path.abspath(__file__))
target = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/tracelake/target"))
tl = os.environ.get("TRACELAKE_BIN", f"{target}/debug/tracelake")
testkit = os.environ.get("TESTKIT_BIN", f"{target}/debug/tracelake-testkit")
bench = os.environ.get("BENCH_DIR", "/tmp/tracelake-bench")


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RssSampler(threading.Thread):
    """Peak and last RSS (MB) of a process tree's root, sampled every 0.25 s."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, 0.0, False

    def run(self):
        while not self.stop:
            try:
                with open(f"/proc/{self.pid}/status") as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            self.peak = max(self.peak, int(line.split()[1]) / 1024)
            except OSError:
                return
            time.sleep(0.25)


def load(endpoint, seconds, rate=None, transport="grpc"):
    cmd = [testkit, "load", "--endpoint", endpoint, "--transport", transport,
           "--duration", str(seconds), "--batch", "100", "--concurrency", "8",
           "--span-bytes", "2000"]
    if rate:
        cmd += ["--rate", str(rate)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def tl_env(home):
    return {**os.environ, "TRACELAKE_HOME": home, "HOME": f"{home}/user-home"}


def status(api):
    with urllib.request.urlopen(f"http://{api}/api/status", timeout=10) as r:
        return json.load(r)


def start_tracelake(home):
    shutil.rmtree(home, ignore_errors=True)
    os.makedirs(f"{home}/user-home")
    grpc, http, api = free_port(), free_port(), free_port()
    p = subprocess.Popen([tl, "serve", "--otlp-grpc", f"127.0.0.1:{grpc}",
                          "--otlp-http", f"127.0.0.1:{http}", "--http", f"127.0.0.1:{api}"],
                         env=tl_env(home), stdout=subprocess.DEVNULL,
                         stderr=open(f"{home}.log", "w"))
    for _ in range(200):
        try:
            status(f"127.0.0.1:{api}")
            break
        except OSError:
            time.sleep(0.05)
    return p, f"http://127.0.0.1:{grpc}", f"127.0.0.1:{api}"


def stop(p):
    p.terminate()
    p.wait(timeout=300)


def run_tracelake(seconds, paced):
    home = f"{bench}/collector-tl"
    p, grpc, api = start_tracelake(home)
    rss = RssSampler(p.pid)
    rss.start()
    flood = load(grpc, seconds)
    t = time.perf_counter()
    while status(api)["wal_bytes"] > 0:
        time.sleep(0.1)
    drain = time.perf_counter() - t
    st = status(api)
    rss.stop = True
    stop(p)
    committed = json.loads(subprocess.run(
        [tl, "sql", "select count(*) as n from spans", "--format", "json"],
        env=tl_env(home), capture_output=True, text=True, check=True).stdout)[0]["n"]
    # Paced run on a fresh home: does the committer keep up?
    p, grpc, api = start_tracelake(home)
    rss2 = RssSampler(p.pid)
    rss2.start()
    paced_r = load(grpc, seconds, rate=paced)
    backlog = status(api)["wal_bytes"]
    rss2.stop = True
    # Acknowledgement -> visible in SQL, at the default commit interval.
    visible = []
    for i in range(5):
        trace = f"{i + 1:032x}"
        body = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [{
            "traceId": trace, "spanId": f"{i + 1:016x}", "name": "probe",
            "startTimeUnixNano": str(time.time_ns()), "endTimeUnixNano": str(time.time_ns())}]}]}]})
        visible.append(ack_to_visible(home, api, trace, body))
    stop(p)
    return {
        "acked_spans_per_s": flood["spans_per_second"],
        "acked_mb_per_s": flood["mb_per_second"],
        "p50_ms": flood["latency_ms"]["p50"],
        "p99_ms": flood["latency_ms"]["p99"],
        "acked_spans": flood["spans_acked"],
        "rejected_retryable": flood["rejected_retryable"],
        "drain_s": drain,
        "sustained_spans_per_s": flood["spans_acked"] / (flood["seconds"] + drain),
        "stored_spans": committed,
        "commit_latency_ms_mean": st["commit_latency_ms_mean"],
        "peak_rss_mb": rss.peak,
        "paced_rate": paced,
        "paced_acked_spans_per_s": paced_r["spans_per_second"],
        "paced_p99_ms": paced_r["latency_ms"]["p99"],
        "paced_wal_backlog_mb_at_end": backlog / 1e6,
        "paced_peak_rss_mb": rss2.peak,
        "ack_to_visible_s_median": sorted(visible)[len(visible) // 2],
        "ack_to_visible_s_all": visible,
    }


def ack_to_visible(home, api, trace, body):
    info = json.load(open(f"{home}/collector.json"))
    req = urllib.request.Request(f"http://{info['otlp_http']}/v1/traces", data=body.encode(),
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200
    t = time.perf_counter()
    while True:
        out = subprocess.run([tl, "sql", f"select count(*) as n from spans where trace_id = '{trace}'",
                              "--format", "json"], env=tl_env(home), capture_output=True, text=True)
        if out.returncode == 0 and json.loads(out.stdout)[0]["n"] >= 1:
            return time.perf_counter() - t
        time.sleep(0.05)


def run_phoenix(seconds, paced):
    """Phoenix acknowledges before it stores (an in-memory queue of 20,000 spans) and stores
    ~100-140 such spans/s here (tools/bench/PHOENIX.md), so its paced run uses its own rate
    and the drain waits for the stored count to reach what it acknowledged."""
    sh = f"{here}/phoenix.sh"
    subprocess.run([sh, "setup"], check=True)
    out = {}
    for mode in ["flood", "paced"]:
        d = f"{bench}/collector-phoenix-{mode}"
        shutil.rmtree(d, ignore_errors=True)
        http, grpc = free_port(), free_port()
        pid = int(subprocess.run([sh, "start", d, str(http), str(grpc)], capture_output=True,
                                 text=True, check=True).stdout.strip())
        rss = RssSampler(pid)
        rss.start()
        r = load(f"http://127.0.0.1:{grpc}", seconds, rate=paced if mode == "paced" else None)
        t = time.perf_counter()
        count = subprocess.run([sh, "python", f"{here}/phoenix_count.py", "--url",
                                f"http://127.0.0.1:{http}", "--wait-for", str(r["spans_acked"]),
                                "--timeout", "900"], capture_output=True, text=True)
        drain = time.perf_counter() - t
        stored = int(count.stdout.strip() or 0)
        rss.stop = True
        subprocess.run([sh, "stop", d], check=False)
        out[mode] = {
            "acked_spans_per_s": r["spans_per_second"], "p50_ms": r["latency_ms"]["p50"],
            "p99_ms": r["latency_ms"]["p99"], "acked_spans": r["spans_acked"],
            "rejected_retryable": r["rejected_retryable"], "rejected_other": r["rejected_other"],
            "stored_spans": stored, "drain_s": drain,
            "sustained_spans_per_s": stored / (r["seconds"] + drain), "peak_rss_mb": rss.peak,
        }
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--paced", type=int, default=20000)
    ap.add_argument("--phoenix-paced", type=int, default=100)
    ap.add_argument("--no-phoenix", action="store_true")
    a = ap.parse_args()
    os.makedirs(bench, exist_ok=True)
    res = {"date": date.today().isoformat(), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
           "tracelake": run_tracelake(a.seconds, a.paced)}
    if not a.no_phoenix:
        res["phoenix"] = run_phoenix(a.seconds, a.phoenix_paced)
    json.dump(res, open(f"{bench}/collector.json", "w"), indent=2)
    t = res["tracelake"]
    print(f"| metric | tracelake | Phoenix | ratio |\n|---|---|---|---|")
    ph = res.get("phoenix", {}).get("flood", {})
    pp = res.get("phoenix", {}).get("paced", {})
    rows = [
        ("acknowledged spans/s (flood)", t["acked_spans_per_s"], ph.get("acked_spans_per_s")),
        ("ack p99 ms (flood)", t["p99_ms"], ph.get("p99_ms")),
        ("stored spans/s sustained (flood, incl. drain)", t["sustained_spans_per_s"], ph.get("sustained_spans_per_s")),
        ("drain after flood, s", t["drain_s"], ph.get("drain_s")),
        ("peak RSS MB (flood)", t["peak_rss_mb"], ph.get("peak_rss_mb")),
        (f"ack p99 ms paced (tracelake {a.paced}/s, Phoenix {a.phoenix_paced}/s)", t["paced_p99_ms"], pp.get("p99_ms")),
        ("peak RSS MB paced", t["paced_peak_rss_mb"], pp.get("peak_rss_mb")),
        ("rejected with retry hint (flood), requests", t["rejected_retryable"], ph.get("rejected_retryable")),
        ("ack -> visible in SQL, s (median)", t["ack_to_visible_s_median"], None),
    ]
    for name, mine, theirs in rows:
        ratio = f"{mine / theirs:.2f}" if theirs else ""
        print(f"| {name} | {mine:,.1f} | {'' if theirs is None else f'{theirs:,.1f}'} | {ratio} |")
    print(json.dumps(res, indent=2), file=sys.stderr)


if __name__ == "__main__":
    main()
