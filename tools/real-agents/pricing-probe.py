#!/usr/bin/env python3
"""Finds out how the real Claude Code CLI prices a model: runs it (through run-claude-scenario.sh)
against the stub with chosen usage numbers, one token class per response, and reads back the
cost Claude Code reports (`cost_usd` of each `claude_code.api_request` OTLP event,
`total_cost_usd` / `modelUsage` of `claude -p --output-format json`, the `claude_code.cost.usage`
metric).

usage: CLAUDE_BIN=... pricing-probe.py OUT.json [MODEL ...]
  MODEL: a --model value ("" = none, the CLI's default), optionally followed by space-separated
  NAME=VALUE words for the CLI's environment, e.g. "claude-opus-4-1-20250805 CLAUDE_CODE_DISABLE_LEGACY_MODEL_REMAP=1".
  Writes the raw numbers to OUT.json (see pricing-evidence.json) and prints a Markdown summary.
  Run folders are kept under $PROBE_RUNS (default: a temp folder, removed at the end).
"""
import json, os, shutil, subprocess, sys, tempfile, glob, shlex

HERE = os.path.dirname(os.path.abspath(__file__))
RUNNER = os.path.join(HERE, "run-claude-scenario.sh")
N = 100_000  # tokens per class in the base-tier probe: cost_usd_micros then resolves $0.01/Mtok
CLASSES = ["input", "output", "cache_read", "cache_write_5m", "cache_write_1h"]

def usage(i=0, o=0, cr=0, w5=0, w1=0):
    return {"input_tokens": i, "output_tokens": o, "cache_read_input_tokens": cr,
            "cache_creation": {"ephemeral_5m_input_tokens": w5, "ephemeral_1h_input_tokens": w1}}

# Base tier: one class per response, five responses in one session (the stub cycles the list).
ISOLATE = [usage(i=N), usage(o=N), usage(cr=N), usage(w5=N), usage(w1=N)]
READS = [{"name": "Read", "input": {"file_path": p}} for p in ["notes.txt", "src/calc.py"] * 2]
# Single-response sessions: a check with every class at once, and the long-context question
# (does the price change above 100k / 200k tokens of prompt, and what counts towards it?).
SINGLES = {
    "mixed": usage(i=12_345, o=6_789, cr=54_321, w5=9_876, w1=5_432),
    "in_100001": usage(i=100_001),
    "read_100001": usage(cr=100_001),
    "in_50000_w1_50001": usage(i=50_000, w1=50_001),
    "in_200000": usage(i=200_000),
    "in_200001": usage(i=200_001),
    "in_300000": usage(i=300_000),
    "in_300000_out_100000": usage(i=300_000, o=100_000),
    "read_300000": usage(cr=300_000),
    "in_100000_read_150000": usage(i=100_000, cr=150_000),
    "in_300000_read_100000": usage(i=300_000, cr=100_000),
    "w5_300000": usage(w5=300_000),
    "w1_300000": usage(w1=300_000),
    # other inputs of the price: web searches, US-only inference, fast mode as reported in usage
    "in_100000_web_search_10": dict(usage(i=100_000), server_tool_use={"web_search_requests": 10, "web_fetch_requests": 0}),
    "in_100000_geo_us": dict(usage(i=100_000), inference_geo="us"),
    "in_100000_speed_fast": dict(usage(i=100_000), speed="fast"),
    "in_100000_geo_us_web_search_10": dict(usage(i=100_000), inference_geo="us",
                                           server_tool_use={"web_search_requests": 10, "web_fetch_requests": 0}),
}

def attrs(rec):
    out = {}
    for kv in rec.get("attributes", []):
        v = kv.get("value") or {}
        out[kv["key"]] = next(iter(v.values()), None) if v else None
    return out

def run(outdir, spec, usage_list, script, allowed="Read"):
    model, *extra = spec.split()
    model = "" if model == '""' else model
    env = dict(os.environ, USAGE_JSON=json.dumps(usage_list), CLAUDE_EXTRA_ENV=" ".join(extra))
    if model:
        env["MODEL"] = model
    else:
        env.pop("MODEL", None)
    cmd = [RUNNER, outdir, "Read the files", json.dumps(script), allowed]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    shown = "%s%sUSAGE_JSON=%s %s" % ("MODEL=%s " % model if model else "",
                                    "CLAUDE_EXTRA_ENV=%s " % shlex.quote(" ".join(extra)) if extra else "", shlex.quote(json.dumps(usage_list)),
                                    " ".join(shlex.quote(c if c != RUNNER else "tools/real-agents/run-claude-scenario.sh") for c in cmd))
    rec = {"model_arg": model, "extra_env": extra, "cli_stderr": open(os.path.join(outdir, "stderr.txt")).read()[-1000:], "command": shown, "exit": p.returncode, "runner_stderr": p.stderr.strip()[-2000:],
           "usage_json": usage_list, "script": script}
    truth = json.load(open(os.path.join(outdir, "truth.json")))["responses"]
    by_id = {r["id"].replace("msg_", "req_", 1): r for r in truth}
    rec["requested_models"] = sorted({r["model"] for r in truth})
    try:
        res = json.load(open(os.path.join(outdir, "result.json")))
        rec["result"] = {k: res.get(k) for k in ("total_cost_usd", "modelUsage", "num_turns", "subtype", "is_error")}
    except Exception as e:  # the CLI refused the model, crashed, ...
        rec["result"] = {"error": repr(e), "stdout": open(os.path.join(outdir, "result.json")).read()[-2000:],
                         "stderr": open(os.path.join(outdir, "stderr.txt")).read()[-2000:]}
    events, metric_cost = [], {}
    for f in sorted(glob.glob(os.path.join(glob.escape(outdir), "otlp", "*.json"))):
        d = json.load(open(f))
        for rl in d.get("resourceLogs", []):
            for sl in rl.get("scopeLogs", []):
                for lr in sl.get("logRecords", []):
                    a = attrs(lr)
                    if a.get("event.name") != "api_request":
                        continue
                    ev = {k: a.get(k) for k in ("model", "request_id", "query_source", "input_tokens", "output_tokens",
                          "cache_read_tokens", "cache_creation_tokens", "cache_creation_5m_tokens",
                          "cache_creation_1h_tokens", "cost_usd", "cost_usd_micros")}
                    for k in list(ev):
                        if k.endswith("tokens") or k == "cost_usd_micros":
                            ev[k] = int(ev[k]) if ev[k] is not None else None
                    t = by_id.get(ev["request_id"])
                    ev["sent_usage"] = t["usage"] if t else None
                    ev["sent_model"] = t["model"] if t else None
                    events.append(ev)
        for rm in d.get("resourceMetrics", []):
            for sm in rm.get("scopeMetrics", []):
                for m in sm.get("metrics", []):
                    if m.get("name") != "claude_code.cost.usage":
                        continue
                    for dp in (m.get("sum") or {}).get("dataPoints", []):
                        mod = attrs(dp).get("model")
                        metric_cost[mod] = metric_cost.get(mod, 0) + float(dp.get("asDouble", 0))
    rec["api_request_events"] = events
    rec["cost_usage_metric_sum"] = metric_cost
    return rec

def single_class(u):
    """(class, tokens) if exactly one token class is non-zero."""
    cc = u.get("cache_creation") or {}
    vals = {"input": u.get("input_tokens", 0), "output": u.get("output_tokens", 0),
            "cache_read": u.get("cache_read_input_tokens", 0),
            "cache_write_5m": cc.get("ephemeral_5m_input_tokens", 0), "cache_write_1h": cc.get("ephemeral_1h_input_tokens", 0)}
    nz = [(k, v) for k, v in vals.items() if v]
    return nz[0] if len(nz) == 1 else None

def predict(u, p):
    cc = u.get("cache_creation") or {}
    return (u["input_tokens"] * p["input"] + u["output_tokens"] * p["output"] + u["cache_read_input_tokens"] * p["cache_read"]
            + cc.get("ephemeral_5m_input_tokens", 0) * p["cache_write_5m"] + cc.get("ephemeral_1h_input_tokens", 0) * p["cache_write_1h"]) / 1e6

def write(doc, path):
    """One run per line, so the file stays readable and diffs well."""
    head = {k: v for k, v in doc.items() if k != "runs"}
    with open(path, "w") as f:
        f.write(json.dumps(head, indent=1)[:-2] + ',\n "runs": [\n')
        f.write(",\n".join(json.dumps(r, separators=(",", ":")) for r in doc["runs"]))
        f.write("\n ]\n}\n")

def main():
    out_json = sys.argv[1]
    models = [m if m.strip() else '""' for m in sys.argv[2:]] or ["claude-opus-5-5"]
    runs_dir = os.environ.get("PROBE_RUNS") or tempfile.mkdtemp(prefix="pricing-probe.")
    keep = bool(os.environ.get("PROBE_RUNS"))
    with tempfile.TemporaryDirectory() as h:  # a throw-away HOME, as for every run
        ver = subprocess.run([os.environ.get("CLAUDE_BIN", "claude"), "--version"], capture_output=True, text=True,
                             env={"HOME": h, "PATH": os.environ["PATH"]}).stdout.strip()
    doc = {"cli_version": ver, "tokens_per_class_in_isolation_runs": N, "runs": [], "derived_per_Mtok": {}}
    for m in models:
        tag = "_".join(m.replace('""', "default").split()).replace("/", "_").replace("=", "_")
        r = run(os.path.join(runs_dir, tag + "-isolate"), m, ISOLATE, READS)
        r["experiment"] = "isolate"
        doc["runs"].append(r)
        prices = {}
        for ev in r["api_request_events"]:
            sc = ev["sent_usage"] and single_class(ev["sent_usage"])
            if sc and ev["cost_usd"] is not None:
                prices[sc[0]] = round(ev["cost_usd"] / sc[1] * 1e6, 6)
        key = ",".join(sorted({ev["model"] for ev in r["api_request_events"]})) or "(no api_request events)"
        for name, u in SINGLES.items():
            s = run(os.path.join(runs_dir, tag + "-" + name), m, [u], [])
            s["experiment"] = name
            if len(prices) == 5:
                for ev in s["api_request_events"]:
                    ev["cost_at_base_prices"] = round(predict(ev["sent_usage"], prices), 9) if ev["sent_usage"] else None
            doc["runs"].append(s)
        doc["derived_per_Mtok"][m] = {"reported_model": key, "requested_models": r["requested_models"], **prices}
        print("%s -> %s: %s" % (m, key, prices), file=sys.stderr, flush=True)
    write(doc, out_json)
    if not keep:
        shutil.rmtree(runs_dir, ignore_errors=True)
    else:
        print("runs kept in " + runs_dir, file=sys.stderr)

if __name__ == "__main__":
    main()
