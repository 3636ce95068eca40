#!/usr/bin/env python3
"""A tiny OpenAI Responses API stand-in on loopback (streaming), for driving the Codex CLI offline.

SCRIPT (env, JSON list of {"name", "arguments"}) is played in order: once k function-call
outputs are in the request's input, step k is asked for as a function call; after the last,
the model answers in text. Every request and response usage is logged to LOG
(resp-NNNNN.json also records the request path and size).
"""
import itertools, json, os, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(os.environ.get("PORT", "8766")); LOG = os.environ.get("LOG", "stub-log")
SCRIPT = json.loads(os.environ.get("SCRIPT", "[]"))
RUN = os.urandom(6).hex(); counter = itertools.count(); lock = threading.Lock()
os.makedirs(LOG, exist_ok=True)

class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        self.send_response(200); self.send_header("content-type", "application/json"); self.end_headers()
        self.wfile.write(b'{"object":"list","data":[]}')
    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("content-length", "0")))
        with lock: i = next(counter)
        with open(os.path.join(LOG, "req-%05d.json" % i), "wb") as f: f.write(raw)
        try: body = json.loads(raw or b"{}")
        except ValueError: body = {}
        items = body.get("input", []) if isinstance(body.get("input"), list) else []
        done = sum(1 for it in items if isinstance(it, dict) and it.get("type") in ("function_call_output", "custom_tool_call_output"))
        model = body.get("model", "gpt-5-codex")
        ctx = len(raw)
        usage = {"input_tokens": 1200 + ctx // 40, "input_tokens_details": {"cached_tokens": 800},
                 "output_tokens": 50 + 7 * (ctx % 5), "output_tokens_details": {"reasoning_tokens": 20},
                 "total_tokens": 0}
        usage["total_tokens"] = usage["input_tokens"] + usage["output_tokens"]
        rid = "resp_%s%05d" % (RUN, i)
        if done < len(SCRIPT):
            step = SCRIPT[done]
            item = {"type": "function_call", "id": "fc_%s%05d" % (RUN, i), "call_id": "call_%s%05d" % (RUN, i),
                    "name": step["name"], "arguments": json.dumps(step["arguments"]), "status": "completed"}
        else:
            item = {"type": "message", "id": "msg_%s%05d" % (RUN, i), "role": "assistant", "status": "completed",
                    "content": [{"type": "output_text", "text": "Done. Everything is in order.", "annotations": []}]}
        with open(os.path.join(LOG, "resp-%05d.json" % i), "w") as f:
            json.dump({"id": rid, "model": model, "usage": usage, "item_type": item["type"],
                       "path": self.path, "request_bytes": ctx, "function_call_outputs_in_input": done}, f)
        self.send_response(200); self.send_header("content-type", "text/event-stream"); self.end_headers()
        seq = itertools.count()
        def ev(name, data):
            data = dict(data, type=name, sequence_number=next(seq))
            self.wfile.write(("event: %s\ndata: %s\n\n" % (name, json.dumps(data))).encode()); self.wfile.flush()
        resp = {"id": rid, "object": "response", "model": model, "status": "in_progress", "output": []}
        ev("response.created", {"response": resp})
        ev("response.output_item.added", {"output_index": 0, "item": dict(item, status="in_progress")})
        if item["type"] == "message":
            ev("response.output_text.delta", {"output_index": 0, "item_id": item["id"], "content_index": 0, "delta": item["content"][0]["text"]})
        else:
            ev("response.function_call_arguments.delta", {"output_index": 0, "item_id": item["id"], "delta": item["arguments"]})
            ev("response.function_call_arguments.done", {"output_index": 0, "item_id": item["id"], "arguments": item["arguments"]})
        ev("response.output_item.done", {"output_index": 0, "item": item})
        ev("response.completed", {"response": dict(resp, status="completed", output=[item], usage=usage)})

ThreadingHTTPServer(("127.0.0.1", PORT), H).serve_forever()
