#!/usr/bin/env python3
"""Captures the OTLP fixtures in testdata/otel-clients/<lib>/: for each library, starts the
OpenAI stub and the OTLP capture server on free loopback ports, runs run_client.py against
them, and stores what was sent.

    capture_fixtures.py [--out DIR] [--python PYTHON] [LIB ...]

Defaults: DIR = <repo>/testdata/otel-clients, every library, each run with the python setup.sh
names for it (--python overrides that for every library). Per library DIR/<lib>/ gets: NNNNN-v1_{traces,logs,metrics}.pb (the request bodies
as received), decoded.json (decode_otlp.py), stub-billing.jsonl (what the stub billed, one line
per response: the ground truth) and summary.json (run_client.py's stdout).
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
LIBS = ("openai-v2", "openai-v2-latest", "openinference", "traceloop", "traceloop-legacy")


def start(cmd, **kw):
    """Starts a server that prints `PORT <n>` first; returns (process, port)."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, **kw)
    line = p.stdout.readline()
    if not line.startswith("PORT "):
        p.kill()
        raise SystemExit("%s did not start: %r" % (cmd, line))
    return p, int(line.split()[1])


def stop(p):
    p.terminate()
    try:
        p.wait(5)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def capture(lib, out_root, python, decoder_python):
    dest = os.path.join(out_root, lib)
    work = tempfile.mkdtemp(prefix="otelc-%s-" % lib)
    cap_dir, billing = os.path.join(work, "otlp"), os.path.join(work, "stub-billing.jsonl")
    stub, sport = start([sys.executable, os.path.join(HERE, "stub_openai.py"), "0", "--log", billing])
    cap, cport = start([sys.executable, os.path.join(HERE, "otlp_capture.py"), cap_dir, "0"])
    try:
        run = subprocess.run([python, os.path.join(HERE, "run_client.py"), "--lib", lib,
                              "--openai-base", "http://127.0.0.1:%d/v1" % sport,
                              "--otlp-endpoint", "http://127.0.0.1:%d" % cport],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        stop(stub)
        stop(cap)
    if run.returncode != 0:
        sys.stderr.write(run.stderr[-3000:])
        raise SystemExit("run_client.py --lib %s exited %d" % (lib, run.returncode))
    if os.path.isdir(dest):
        shutil.rmtree(dest)
    os.makedirs(dest)
    for name in sorted(os.listdir(cap_dir)):
        shutil.copy(os.path.join(cap_dir, name), dest)
    shutil.copy(billing, dest)
    with open(os.path.join(dest, "summary.json"), "w") as f:
        f.write(run.stdout)
    subprocess.run([decoder_python, os.path.join(HERE, "decode_otlp.py"), dest], check=True)
    shutil.rmtree(work)
    sizes = sum(os.path.getsize(os.path.join(dest, n)) for n in os.listdir(dest))
    print("%s: %d files, %d bytes in %s" % (lib, len(os.listdir(dest)), sizes, dest), file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(REPO, "testdata", "otel-clients"))
    ap.add_argument("--python", default=None)
    ap.add_argument("libs", nargs="*", default=list(LIBS))
    a = ap.parse_args()
    pythons = {}
    if a.python:
        pythons = {lib: a.python for lib in LIBS}
    else:
        out = subprocess.run([os.path.join(HERE, "setup.sh")], stdout=subprocess.PIPE, text=True,
                             check=True).stdout
        pythons = dict(line.split(" ", 1) for line in out.splitlines() if line.strip())
    for lib in a.libs:
        if lib not in LIBS:
            raise SystemExit("unknown lib %s (one of %s)" % (lib, ", ".join(LIBS)))
    for lib in a.libs:
        # decode with the main venv's opentelemetry-proto, whichever venv ran the client
        capture(lib, a.out, pythons[lib], pythons.get("openai-v2", pythons[lib]))


if __name__ == "__main__":
    main()
