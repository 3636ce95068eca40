#!/usr/bin/env python3
"""A short collector flood for comparing two builds: `serve`'s CPU per stored span.

Starts `BIN serve` on a fresh home, floods it with `tracelake-testkit load` (OTLP/gRPC, ~2 KB
GenAI spans, batches of 100, 8 connections) for SECONDS, waits until the WAL is empty (all
committed), and prints one line: acknowledged spans (and rate, p99), `serve`'s CPU per
stored span, the load generator's, the drain, stored spans/s, `serve`'s mean CPU, and peak
RSS (VmHWM; sampled RssAnon / RssFile).

The machine's speed drifts by ±10 % over minutes: alternate the builds being compared,
several rounds each (BENCHMARKS.md reports them that way). The full comparison with Phoenix
is bench_collector.py.

usage: tools/bench/flood.py BIN [SECONDS]
env: FLOOD_DIR (default /tmp/tracelake-flood), TESTKIT_BIN (default
     $CARGO_TARGET_DIR/debug/tracelake-testkit), FLOOD_TOML (written to the home's
     tracelake.toml, e.g. "[collector]\\nkeep_raw = false"), FLOOD_CPU_LINE=1 (also print
     `serve`'s CPU % every 200 ms, to see where the cores idle), FLOOD_IDLE=S (also report
     the RSS S seconds after the drain), FLOOD_KEEP=1 (leave the home and its lake behind).
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request

binary = sys.argv[1]
seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 15
target = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/tracelake/target"))
testkit = os.environ.get("TESTKIT_BIN", f"{target}/debug/tracelake-testkit")
home = os.environ.get("FLOOD_DIR", "/tmp/tracelake-flood")
shutil.rmtree(home, ignore_errors=True)
os.makedirs(home + "/user-home")
if os.environ.get("FLOOD_TOML"):
    with open(home + "/tracelake.toml", "w") as f:
        f.write(os.environ["FLOOD_TOML"].replace("\\n", "\n"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


grpc, http, api = free_port(), free_port(), free_port()
env = dict(os.environ, TRACELAKE_HOME=home, HOME=home + "/user-home")
serve = subprocess.Popen(
    [binary, "serve", "--otlp-grpc", f"127.0.0.1:{grpc}", "--otlp-http", f"127.0.0.1:{http}",
     "--http", f"127.0.0.1:{api}"],
    env=env, stdout=subprocess.DEVNULL, stderr=open(home + "/serve.log", "w"))


def status():
    return json.load(urllib.request.urlopen(f"http://127.0.0.1:{api}/api/status", timeout=5))


for _ in range(300):
    try:
        status()
        break
    except Exception:
        time.sleep(0.1)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


peak = {"anon": 0, "file": 0}
timeline = []
done = False


def sample():
    last, n = cpu_seconds(serve.pid), 0
    while not done:
        time.sleep(0.2)
        n += 1
        try:
            with open(f"/proc/{serve.pid}/status") as f:
                d = {l.split(":")[0]: int(l.split()[1]) for l in f if l.startswith(("RssAnon", "RssFile"))}
            peak["anon"] = max(peak["anon"], d.get("RssAnon", 0))
            peak["file"] = max(peak["file"], d.get("RssFile", 0))
            now = cpu_seconds(serve.pid)
            timeline.append(round((now - last) / 0.2 * 100))
            last = now
        except OSError:
            pass


threading.Thread(target=sample, daemon=True).start()
c0, t0 = cpu_seconds(serve.pid), time.time()
load = subprocess.run(
    ["/usr/bin/time", "-f", "%U %S", testkit, "load", "--endpoint", f"http://127.0.0.1:{grpc}",
     "--transport", "grpc", "--duration", str(seconds), "--batch", "100", "--concurrency", "8",
     "--span-bytes", "2000"],
    capture_output=True, text=True)
t1 = time.time()
report = json.loads(load.stdout)
user, system = map(float, load.stderr.strip().splitlines()[-1].split())
spans = report["spans_acked"]
while status().get("wal_bytes", 1) != 0:
    time.sleep(0.1)
t2, c1 = time.time(), cpu_seconds(serve.pid)
with open(f"/proc/{serve.pid}/status") as f:
    hwm = int([l for l in f if l.startswith("VmHWM")][0].split()[1]) // 1024
idle = ""
if os.environ.get("FLOOD_IDLE"):
    time.sleep(float(os.environ["FLOOD_IDLE"]))
    with open(f"/proc/{serve.pid}/status") as f:
        idle = " idle-rss " + str(int([l for l in f if l.startswith("VmRSS")][0].split()[1]) // 1024) + "MB"
done = True
serve.terminate()
serve.wait()
print(f"acked {spans} ({spans / (t1 - t0):.0f}/s p99 {report['latency_ms']['p99']}ms) "
      f"serve {1e6 * (c1 - c0) / spans:.1f}us/span loadgen {1e6 * (user + system) / spans:.1f}us/span "
      f"drain {t2 - t1:.1f}s stored {spans / (t2 - t0):.0f}/s cpu {100 * (c1 - c0) / (t2 - t0):.0f}% "
      f"hwm {hwm}MB anon {peak['anon'] // 1024} file {peak['file'] // 1024}{idle}")
if os.environ.get("FLOOD_CPU_LINE"):
    print("serve CPU % every 200 ms:", " ".join(map(str, timeline)))
if not os.environ.get("FLOOD_KEEP"):
    shutil.rmtree(home, ignore_errors=True)
