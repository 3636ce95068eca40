#!/usr/bin/env python3
"""A tiny Anthropic Messages API stand-in on loopback, for driving a real agent CLI offline.

Turn logic: SCRIPT (env, JSON list of {name, input}) is played in order: once k tool results
are in the conversation, step k is asked for; after the last step the model answers in text.
A conversation whose first user text contains "SUB:" (a subagent's) plays SUBSCRIPT instead.
Supports stream=true (SSE) and stream=false, and /v1/messages/count_tokens.

Env:
  PORT        port to listen on (default 8765; 0 = any free port)
  PORT_FILE   if set, the port actually bound is written there once the server is listening
  LOG         folder: every request body as req-NNNNN.json, every model response's
              {id, model, usage, stop_reason} as resp-NNNNN.json (the ground truth for usage)
  SCRIPT, SUBSCRIPT   the tool-call scripts (see above)
  USAGE_JSON  optional usage override: a JSON object applied to every response, or a JSON list
              of objects cycled through, one per model response (count_tokens calls do not
              consume an entry). Keys: input_tokens, output_tokens, cache_creation_input_tokens,
              cache_read_input_tokens, cache_creation {ephemeral_5m_input_tokens,
              ephemeral_1h_input_tokens}; any other key is passed through as is. Keys left out
              keep the default values. If only cache_creation is given, cache_creation_input_tokens
              becomes the sum of its two parts; if only cache_creation_input_tokens is given, it
              is all counted as 5-minute writes. Without USAGE_JSON the usage is the default:
              input 1500 + len(messages JSON)/40, output 60 + 7*(len % 5), cache write 200 (5m),
              cache read 3000.
"""
import json, os, itertools, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(os.environ.get("PORT", "8765"))
PORT_FILE = os.environ.get("PORT_FILE", "")
LOG = os.environ.get("LOG", "/tmp/stub-log")
SCRIPT = json.loads(os.environ.get("SCRIPT", '[{"name":"Bash","input":{"command":"ls","description":"list files"}}]'))
SUBSCRIPT = json.loads(os.environ.get("SUBSCRIPT", '[{"name":"Bash","input":{"command":"ls","description":"list files"}}]'))
_usage_env = os.environ.get("USAGE_JSON", "").strip()
USAGES = json.loads(_usage_env) if _usage_env else None
if isinstance(USAGES, dict):
    USAGES = [USAGES]
if USAGES is not None and (not isinstance(USAGES, list) or not USAGES or not all(isinstance(u, dict) for u in USAGES)):
    raise SystemExit("USAGE_JSON must be a JSON object or a non-empty list of objects")
os.makedirs(LOG, exist_ok=True)
counter = itertools.count()      # request numbers and tool-use ids (as in the shared stub)
responses = itertools.count()    # model responses, for cycling USAGE_JSON
RUN = os.urandom(6).hex()  # ids are unique across runs, as real ones are
lock = threading.Lock()

def _next(c):
    with lock:
        return next(c)

def _blocks(msg):
    c = msg.get("content")
    return c if isinstance(c, list) else []

def _first_user_text(msgs):
    for m in msgs:
        if m.get("role") == "user":
            c = m.get("content")
            if isinstance(c, str):
                return c
            for b in _blocks(m):
                if isinstance(b, dict) and b.get("type") == "text":
                    return b.get("text", "")
    return ""

def plan(body):
    """Step k of the script is asked for once k tool results are in the conversation."""
    msgs = body.get("messages", [])
    tools = {t.get("name") for t in body.get("tools", []) or []}
    script = SUBSCRIPT if "SUB:" in _first_user_text(msgs) else SCRIPT
    done = sum(1 for m in msgs for b in _blocks(m) if isinstance(b, dict) and b.get("type") == "tool_result")
    if not tools or done >= len(script):
        return [{"type": "text", "text": "Done. I looked at the files and everything is in order."}], "end_turn"
    step = script[done]
    return [{"type": "text", "text": "Step %d: using %s." % (done + 1, step["name"])},
            {"type": "tool_use", "id": "toolu_%s%08d" % (RUN, _next(counter)), "name": step["name"], "input": step["input"]}], "tool_use"

def usage_for(body):
    # Deterministic for a given conversation: grows with the context, like a real one.
    ctx = len(json.dumps(body.get("messages", [])))
    usage = {"input_tokens": 1500 + ctx // 40, "output_tokens": 60 + 7 * (ctx % 5),
             "cache_creation_input_tokens": 200, "cache_read_input_tokens": 3000,
             "cache_creation": {"ephemeral_5m_input_tokens": 200, "ephemeral_1h_input_tokens": 0}}
    if USAGES is None:
        return usage
    o = USAGES[_next(responses) % len(USAGES)]
    for k, v in o.items():
        if k != "cache_creation":
            usage[k] = v
    if "cache_creation" in o:
        cc = {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0}
        cc.update(o["cache_creation"] or {})
        usage["cache_creation"] = cc
        if "cache_creation_input_tokens" not in o:
            usage["cache_creation_input_tokens"] = cc["ephemeral_5m_input_tokens"] + cc["ephemeral_1h_input_tokens"]
    elif "cache_creation_input_tokens" in o:
        usage["cache_creation"] = {"ephemeral_5m_input_tokens": o["cache_creation_input_tokens"], "ephemeral_1h_input_tokens": 0}
    return usage

class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        self.send_response(200); self.send_header("content-type", "application/json"); self.end_headers()
        self.wfile.write(b'{"data":[],"has_more":false}')
    def do_POST(self):
        n = int(self.headers.get("content-length", "0"))
        raw = self.rfile.read(n)
        try: body = json.loads(raw or b"{}")
        except Exception: body = {}
        i = _next(counter)
        with open(os.path.join(LOG, "req-%05d.json" % i), "wb") as f: f.write(raw)
        if self.path.startswith("/v1/messages/count_tokens"):
            return self._json({"input_tokens": 1234})
        if not self.path.startswith("/v1/messages"):
            return self._json({})
        blocks, stop = plan(body)
        model = body.get("model", "claude-sonnet-4-5")
        usage = usage_for(body)
        msg_id = "msg_%s%06d" % (RUN, i)
        with open(os.path.join(LOG, "resp-%05d.json" % i), "w") as f:
            json.dump({"id": msg_id, "model": model, "usage": usage, "stop_reason": stop}, f)
        if not body.get("stream"):
            return self._json({"id": msg_id, "type": "message", "role": "assistant", "model": model,
                               "content": blocks, "stop_reason": stop, "stop_sequence": None, "usage": usage})
        self.send_response(200)
        self.send_header("content-type", "text/event-stream"); self.send_header("request-id", "req_%s%06d" % (RUN, i))
        self.end_headers()
        def ev(name, data):
            self.wfile.write(("event: %s\ndata: %s\n\n" % (name, json.dumps(data))).encode()); self.wfile.flush()
        ev("message_start", {"type": "message_start", "message": {"id": msg_id, "type": "message", "role": "assistant",
            "model": model, "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": dict(usage, output_tokens=1)}})
        for k, b in enumerate(blocks):
            if b["type"] == "text":
                ev("content_block_start", {"type": "content_block_start", "index": k, "content_block": {"type": "text", "text": ""}})
                ev("content_block_delta", {"type": "content_block_delta", "index": k, "delta": {"type": "text_delta", "text": b["text"]}})
            else:
                ev("content_block_start", {"type": "content_block_start", "index": k, "content_block": {"type": "tool_use", "id": b["id"], "name": b["name"], "input": {}}})
                ev("content_block_delta", {"type": "content_block_delta", "index": k, "delta": {"type": "input_json_delta", "partial_json": json.dumps(b["input"])}})
            ev("content_block_stop", {"type": "content_block_stop", "index": k})
        ev("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None}, "usage": {"output_tokens": usage["output_tokens"]}})
        ev("message_stop", {"type": "message_stop"})
    def _json(self, obj):
        data = json.dumps(obj).encode()
        self.send_response(200); self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data))); self.end_headers(); self.wfile.write(data)

srv = ThreadingHTTPServer(("127.0.0.1", PORT), H)  # bound and listening from here on
if PORT_FILE:
    tmp = PORT_FILE + ".tmp"
    with open(tmp, "w") as f: f.write("%d\n" % srv.server_address[1])
    os.replace(tmp, PORT_FILE)
srv.serve_forever()
