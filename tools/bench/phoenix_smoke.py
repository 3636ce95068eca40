#!/usr/bin/env python3
"""OTLP load sender for the Phoenix bench peer: realistic GenAI chat spans, ~2 KB each.

Runs with the Phoenix venv's python (it needs `opentelemetry-proto` and `grpcio`):
    tools/bench/phoenix.sh python tools/bench/phoenix_smoke.py [options]

Each request is one ExportTraceServiceRequest of --batch spans (default 100): traces of 10
spans, a root `invoke_agent` span with 9 `chat MODEL` children, every span carrying
gen_ai.operation.name, gen_ai.provider.name, gen_ai.request.model, gen_ai.response.model,
gen_ai.usage.input_tokens / output_tokens, gen_ai.input.messages (--message-bytes of JSON,
default 1500) and a short gen_ai.output.messages. Span and trace ids are random per request,
so nothing is deduplicated by the receiver.

  --transport http   POST {--url}/v1/traces, application/x-protobuf (keep-alive connection)
  --transport grpc   TraceService/Export on --grpc-target
  --spans N          total to send, split across --senders processes (default 1)
  --duration S       stop every sender after S seconds even if N is not reached
  --rate R           offer R spans/s in total (paced, a slow request is caught up); default flat out
  --gzip             Content-Encoding: gzip (HTTP only)
  --watch-pid PID    sample the receiver once a second while sending and after it: stored
                     count (phoenix_count.py's graphql method on --url), RSS of PID (VmRSS
                     from /proc, the number `ps -o rss` prints), CPU seconds of PID and of the
                     whole machine (/proc/stat, to see whether something else was running);
                     after sending, keep sampling until stored >= acknowledged or
                     --drain-timeout seconds
  --log PATH         count overload / drop lines in Phoenix's log after the run

Prints one JSON object on stdout: spans acknowledged / rejected, status codes with a sample
of error bodies, request latency p50/p90/p99/max (per request of --batch spans, send to
ack), ack rate, and with --watch-pid: stored rate while sending, backlog when sending
ended, drain time, lost spans, RSS start/peak/end, CPU use, and the timeline
"t_s stored rss_mb cpu_s" once a second.
Any server speaking OTLP/protobuf can be the receiver for the sending part; --watch-pid
counts through Phoenix's GraphQL API.
Exit status: 0 if every span was acknowledged and (with --watch-pid) stored, else 1.
"""
import argparse
import gzip
import http.client
import json
import multiprocessing as mp
import os
import re
import statistics
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import phoenix_count  # noqa: E402

MODELS = ["gpt-4o-2024-08-06", "claude-sonnet-4-5", "gemini-2.5-pro", "gpt-4.1-mini"]


def filler(n, seed):
    words = ("the agent reads the repository then edits the failing test and runs cargo "
             "again while the collector stores every span in the lake ").split()
    out, i = [], seed
    while sum(len(w) + 1 for w in out) < n:
        out.append(words[i % len(words)])
        i = i * 7 + 3
    return " ".join(out)[:n]


def build_template(batch, message_bytes, project):
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.trace.v1.trace_pb2 import Span

    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()

    def kv(attrs, key, value):
        a = attrs.add()
        a.key = key
        if isinstance(value, bool):
            a.value.bool_value = value
        elif isinstance(value, int):
            a.value.int_value = value
        else:
            a.value.string_value = value

    kv(rs.resource.attributes, "service.name", "bench-agent")
    kv(rs.resource.attributes, "telemetry.sdk.language", "python")
    if project != "default":
        kv(rs.resource.attributes, "openinference.project.name", project)
    ss = rs.scope_spans.add()
    ss.scope.name = "tracelake.bench"
    ss.scope.version = "0.1"
    for i in range(batch):
        s = ss.spans.add()
        model = MODELS[i % len(MODELS)]
        root = i % 10 == 0
        s.name = "invoke_agent bench" if root else f"chat {model}"
        s.kind = Span.SPAN_KIND_INTERNAL if root else Span.SPAN_KIND_CLIENT
        s.status.code = 1  # OK
        kv(s.attributes, "gen_ai.operation.name", "invoke_agent" if root else "chat")
        kv(s.attributes, "gen_ai.provider.name", "openai" if "gpt" in model else "anthropic")
        kv(s.attributes, "gen_ai.request.model", model)
        kv(s.attributes, "gen_ai.response.model", model)
        kv(s.attributes, "gen_ai.usage.input_tokens", 1200 + 37 * i)
        kv(s.attributes, "gen_ai.usage.output_tokens", 150 + 11 * i)
        kv(s.attributes, "gen_ai.request.temperature", "0.2")
        head = json.dumps([{"role": "system", "parts": [{"type": "text", "content": ""}]}])
        body = filler(max(0, message_bytes - len(head) - 64), i)
        kv(s.attributes, "gen_ai.input.messages", json.dumps([
            {"role": "system", "parts": [{"type": "text", "content": "You are a coding agent."}]},
            {"role": "user", "parts": [{"type": "text", "content": body}]},
        ]))
        kv(s.attributes, "gen_ai.output.messages", json.dumps([
            {"role": "assistant", "finish_reason": "stop",
             "parts": [{"type": "text", "content": filler(240, i + 1)}]},
        ]))
    return req


def restamp(req):
    """Fresh random ids (10 spans per trace, parent = the trace's first span) and times."""
    now = time.time_ns()
    spans = req.resource_spans[0].scope_spans[0].spans
    trace_id = root_id = b""
    for i, s in enumerate(spans):
        if i % 10 == 0:
            trace_id, root_id = os.urandom(16), os.urandom(8)
            s.span_id = root_id
            s.ClearField("parent_span_id")
            s.start_time_unix_nano = now - 5_000_000_000
            s.end_time_unix_nano = now
        else:
            s.span_id = os.urandom(8)
            s.parent_span_id = root_id
            s.start_time_unix_nano = now - 4_000_000_000 + i * 1_000_000
            s.end_time_unix_nano = now - 1_000_000_000 + i * 1_000_000
        s.trace_id = trace_id
    return req


def sender(idx, a, n_spans, deadline, out):
    req = build_template(a.batch, a.message_bytes, a.project)
    per_req = a.batch
    lat, codes, bodies, acked, rejected, sent_bytes = [], {}, [], 0, 0, 0
    if a.transport == "http":
        u = urllib.parse.urlsplit(a.url)
        conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=120)
        headers = {"content-type": "application/x-protobuf"}
        if a.gzip:
            headers["content-encoding"] = "gzip"
    else:
        import grpc
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub
        channel = grpc.insecure_channel(a.grpc_target, options=[
            ("grpc.max_send_message_length", 64 << 20)])
        stub = TraceServiceStub(channel)
    sent = 0
    interval = per_req * a.senders / a.rate if a.rate else 0.0
    next_at = time.monotonic()
    while sent < n_spans and time.time() < deadline:
        if interval:
            next_at += interval
            time.sleep(max(0.0, next_at - interval - time.monotonic()))
        restamp(req)
        if a.transport == "http":
            payload = req.SerializeToString()
            if a.gzip:
                payload = gzip.compress(payload, 1)
            t = time.perf_counter()
            try:
                conn.request("POST", "/v1/traces", body=payload, headers=headers)
                r = conn.getresponse()
                body = r.read()
                code = str(r.status)
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                code, body = f"error:{type(e).__name__}", str(e).encode()
            lat.append(time.perf_counter() - t)
            ok = code == "200"
        else:
            payload_len = req.ByteSize()
            t = time.perf_counter()
            try:
                stub.Export(req, timeout=120)
                code, body = "OK", b""
            except grpc.RpcError as e:
                code, body = e.code().name, (e.details() or "").encode()
            lat.append(time.perf_counter() - t)
            ok = code == "OK"
        sent_bytes += len(payload) if a.transport == "http" else payload_len
        codes[code] = codes.get(code, 0) + 1
        if ok:
            acked += per_req
        else:
            rejected += per_req
            if len(bodies) < 3:
                bodies.append(f"{code}: {body[:300]!r}")
            if code.startswith("error:"):
                time.sleep(0.05)
        sent += per_req
    out.put({"acked": acked, "rejected": rejected, "codes": codes, "bodies": bodies,
             "lat": lat, "bytes": sent_bytes})


def rss_mb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None


def cpu_secs(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return None


def machine_busy_secs():
    """CPU seconds all cores spent busy (user+nice+system+irq+softirq+steal) since boot."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / os.sysconf("SC_CLK_TCK")


class Watcher(threading.Thread):
    def __init__(self, url, project, pid):
        super().__init__(daemon=True)
        self.url, self.project, self.pid = url, project, pid
        self.t0 = time.monotonic()
        self.samples = []  # (t, stored, rss_mb, count_query_secs, cpu_secs, machine_busy_secs)
        self.stop = threading.Event()

    def sample(self):
        t = time.perf_counter()
        try:
            n = phoenix_count.count_graphql(self.url, self.project)
        except Exception:  # a count that timed out under load is a missing sample
            n = None
        q = time.perf_counter() - t
        self.samples.append((round(time.monotonic() - self.t0, 2), n, rss_mb(self.pid), round(q, 3),
                             cpu_secs(self.pid), machine_busy_secs()))
        return n

    def run(self):
        while not self.stop.is_set():
            self.sample()
            self.stop.wait(1.0)


def cpu_pct(samples, t_from, t_to, field=4):
    """CPU use (100 = one core) between the samples at or after t_from and up to t_to: the
    receiver's (field 4) or the whole machine's (field 5, all processes, 200 = both cores)."""
    xs = [s for s in samples if t_from <= s[0] <= t_to and s[field] is not None]
    if len(xs) < 2 or xs[-1][0] == xs[0][0]:
        return None
    return round(100 * (xs[-1][field] - xs[0][field]) / (xs[-1][0] - xs[0][0]))


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] if xs else None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--transport", choices=("http", "grpc"), default="http")
    ap.add_argument("--url", default="http://127.0.0.1:6006")
    ap.add_argument("--grpc-target", default="127.0.0.1:4317")
    ap.add_argument("--project", default="default")
    ap.add_argument("--spans", type=int, default=300)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--senders", type=int, default=1)
    ap.add_argument("--duration", type=float, default=3600)
    ap.add_argument("--rate", type=float, help="total spans/s to offer (paced requests); default: as fast as acked")
    ap.add_argument("--message-bytes", type=int, default=1500)
    ap.add_argument("--gzip", action="store_true")
    ap.add_argument("--watch-pid", type=int)
    ap.add_argument("--drain-timeout", type=float, default=300)
    ap.add_argument("--log")
    a = ap.parse_args()
    a.url = a.url.rstrip("/")

    tmpl = build_template(a.batch, a.message_bytes, a.project)
    span_bytes = tmpl.ByteSize() / a.batch
    base = phoenix_count.count_graphql(a.url, a.project)
    watcher = None
    if a.watch_pid:
        watcher = Watcher(a.url, a.project, a.watch_pid)
        watcher.start()

    per = [(a.spans // a.senders // a.batch) * a.batch] * a.senders
    per[0] += a.spans - sum(per)
    out = mp.Queue()
    t0 = time.monotonic()
    deadline = time.time() + a.duration
    procs = [mp.Process(target=sender, args=(i, a, per[i], deadline, out)) for i in range(a.senders)]
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    send_secs = time.monotonic() - t0

    acked = sum(r["acked"] for r in results)
    rejected = sum(r["rejected"] for r in results)
    codes = {}
    for r in results:
        for k, v in r["codes"].items():
            codes[k] = codes.get(k, 0) + v
    lat = [x for r in results for x in r["lat"]]
    report = {
        "transport": a.transport, "senders": a.senders, "batch": a.batch,
        "span_bytes": round(span_bytes), "requests": len(lat),
        "spans_attempted": acked + rejected, "spans_acked": acked, "spans_rejected": rejected,
        "status_codes": codes, "error_bodies": [b for r in results for b in r["bodies"]][:5],
        "send_secs": round(send_secs, 2), "acked_spans_per_s": round(acked / send_secs),
        "wire_mb_per_s": round(sum(r["bytes"] for r in results) / send_secs / 1e6, 2),
        "latency_ms": {k: round(pct(lat, p) * 1000, 1) for k, p in
                       (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100))} if lat else None,
        "stored_before": base,
    }
    ok = rejected == 0
    if watcher:
        stored_at_end = watcher.sample()
        t_end = watcher.samples[-1][0]
        target = base + acked
        drain_t0 = time.monotonic()
        n = stored_at_end
        while (n is None or n < target) and time.monotonic() - drain_t0 < a.drain_timeout:
            time.sleep(0.5)
            n = phoenix_count.count_graphql(a.url, a.project)
        drain_secs = time.monotonic() - drain_t0
        watcher.stop.set()
        watcher.join()
        watcher.sample()
        final = watcher.samples[-1][1]
        rss = [s[2] for s in watcher.samples if s[2] is not None]
        stored_in_window = (stored_at_end or 0) - base
        report.update({
            "stored_when_sending_ended": stored_in_window,
            "stored_spans_per_s_while_sending": round(stored_in_window / send_secs),
            "backlog_when_sending_ended": acked - stored_in_window,
            "drain_secs": round(drain_secs, 1),
            "stored_final": final - base,
            "stored_spans_per_s_overall": round((final - base) / (t_end + drain_secs)),
            "lost_spans": acked - (final - base),
            "rss_mb_start": round(rss[0]) if rss else None,
            "rss_mb_peak": round(max(rss)) if rss else None,
            "rss_mb_end": round(rss[-1]) if rss else None,
            "count_query_secs_max": max(s[3] for s in watcher.samples),
            "receiver_cpu_pct_while_sending": cpu_pct(watcher.samples, 0, t_end),
            "receiver_cpu_pct_draining": cpu_pct(watcher.samples, t_end, 1e9),
            "machine_cpu_pct_while_sending": cpu_pct(watcher.samples, 0, t_end, 5),
            "machine_cpu_pct_draining": cpu_pct(watcher.samples, t_end, 1e9, 5),
            "machine_cores": os.cpu_count(),
            "timeline": "t_s stored rss_mb cpu_s: " + " | ".join(
                f"{s[0]:.0f} {'?' if s[1] is None else s[1] - base} "
                f"{'?' if s[2] is None else round(s[2])} {'?' if s[4] is None else round(s[4], 1)}"
                for s in watcher.samples),
        })
        ok = ok and final - base >= acked
    if a.log:
        with open(a.log, errors="replace") as f:
            text = f.read()
        pats = {"503_at_capacity": r'POST /v1/traces HTTP/1\.1" 503',
                "span_retry_warnings": r"Span transaction failed",
                "spans_released_without_replay": r"Releasing \d+ spans without replay",
                "span_insertion_failed": r"Span insertion failed",
                "pending_at_shutdown": r"still pending after",
                "tracebacks": r"Traceback \(most recent call last\)"}
        report["log_lines"] = {k: len(re.findall(p, text)) for k, p in pats.items()}
    print(json.dumps(report, indent=1))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
