#!/usr/bin/env python3
"""A loopback stand-in for the OpenAI Chat Completions API, for driving real instrumentation
libraries offline. Standard library only.

    stub_openai.py [PORT] [--log FILE]

PORT 0 (the default) picks a free port. The first line on stdout is `PORT <n>` (flushed) once the
server listens. Every billed response is appended to FILE (default: env STUB_LOG, else none) as
one JSON line: {seq, id, request_model, model, finish_reason, usage, tool_calls, content,
n_messages, path}. That log is the ground truth the tests compare against.

Routes: POST /v1/chat/completions (also /chat/completions), non-streaming only (`stream: true`
gets a 400 in OpenAI's error shape); GET /v1/models lists the known models.

Turn logic: if the request has `tools`, `tool_choice` is not "none" and the last message is not
a tool result, the answer is one `tool_calls` message calling the first tool (or the one named
by tool_choice) with arguments filled from the last user message; finish_reason `tool_calls`.
Otherwise the answer is text; after a tool result it summarises that result.

Everything is deterministic: ids are hashes of the request (model + messages + tools), and the
token counts are derived from lengths:
  prompt_tokens     = 7 + sum over messages (4 + ceil(len(content text)/4)
                      + ceil(len(tool_calls JSON)/4)) + ceil(len(tools JSON)/4)
  completion_tokens = 3 + ceil(len(content)/4), or 12 + ceil(len(tool calls JSON)/4)
  cached_tokens     = (prompt_tokens // 2) rounded down to a multiple of 8 when the request has
                      more than two messages (a "continued" conversation), else 0
  total_tokens      = prompt_tokens + completion_tokens
"""
import hashlib
import itertools
import json
import math
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# A bare alias answers with the dated snapshot, as the real API does.
SNAPSHOTS = {
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "gpt-4o": "gpt-4o-2024-08-06",
    "gpt-4.1": "gpt-4.1-2025-04-14",
    "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14",
    "gpt-4.1-nano": "gpt-4.1-nano-2025-04-14",
}
FIXED_CREATED = 1767225600  # 2026-01-01T00:00:00Z; responses carry a fixed `created`


def ceil4(n):
    return int(math.ceil(n / 4.0))


def content_text(content):
    """The text of a message's content (a string or a list of parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        out = []
        for part in content:
            if isinstance(part, dict):
                out.append(part.get("text") or part.get("refusal") or "")
            else:
                out.append(str(part))
        return "".join(out)
    return json.dumps(content)


def count_prompt_tokens(messages, tools):
    n = 7
    for m in messages:
        n += 4 + ceil4(len(content_text(m.get("content"))))
        if m.get("tool_calls"):
            n += ceil4(len(json.dumps(m["tool_calls"], sort_keys=True, separators=(",", ":"))))
    if tools:
        n += ceil4(len(json.dumps(tools, sort_keys=True, separators=(",", ":"))))
    return n


def digest(*parts):
    h = hashlib.sha256()
    for p in parts:
        h.update(json.dumps(p, sort_keys=True, separators=(",", ":")).encode())
        h.update(b"\0")
    return h.hexdigest()


def last_user_text(messages):
    for m in reversed(messages):
        if m.get("role") == "user":
            return content_text(m.get("content"))
    return ""


def guess_arguments(tool, user_text):
    """Fill the tool's required (else all) parameters from the user's words, deterministically."""
    params = ((tool.get("function") or {}).get("parameters") or {})
    props = params.get("properties") or {}
    names = params.get("required") or list(props)
    place = re.search(r"\b(?:in|for|at)\s+([A-Z][\w-]*(?:\s+[A-Z][\w-]*)*)", user_text)
    args = {}
    for name in names:
        typ = (props.get(name) or {}).get("type", "string")
        enum = (props.get(name) or {}).get("enum")
        if enum:
            args[name] = enum[0]
        elif typ in ("integer", "number"):
            args[name] = 1
        elif typ == "boolean":
            args[name] = True
        elif name in ("city", "location", "place") and place:
            args[name] = place.group(1)
        elif name in ("city", "location", "place"):
            args[name] = "Paris"
        else:
            args[name] = user_text[:40] or name
    return args


def summarise_tool_result(text):
    try:
        data = json.loads(text)
    except ValueError:
        return "The tool says: %s" % text[:200]
    if isinstance(data, dict) and "city" in data:
        bits = []
        if "conditions" in data:
            bits.append(str(data["conditions"]))
        if "temperature_c" in data:
            bits.append("%s°C" % data["temperature_c"])
        return "Right now in %s it is %s." % (data["city"], " and ".join(bits) or "as reported")
    return "The tool returned: %s" % json.dumps(data, sort_keys=True)[:200]


def answer(req):
    """(message, finish_reason) for a chat completion request."""
    messages = req.get("messages") or []
    tools = req.get("tools") or []
    tool_choice = req.get("tool_choice")
    last = messages[-1] if messages else {}
    wants_tool = bool(tools) and tool_choice != "none" and last.get("role") not in ("tool", "function")
    if wants_tool:
        tool = tools[0]
        if isinstance(tool_choice, dict):
            wanted = (tool_choice.get("function") or {}).get("name")
            tool = next((t for t in tools if (t.get("function") or {}).get("name") == wanted), tool)
        name = (tool.get("function") or {}).get("name", "tool")
        args = guess_arguments(tool, last_user_text(messages))
        call_id = "call_" + digest(req.get("model"), messages, tools, "call")[:24]
        msg = {
            "role": "assistant",
            "content": None,
            "tool_calls": [{
                "id": call_id,
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(args, separators=(",", ":"))},
            }],
            "refusal": None,
            "annotations": [],
        }
        return msg, "tool_calls"
    if last.get("role") in ("tool", "function"):
        text = summarise_tool_result(content_text(last.get("content")))
    else:
        user = last_user_text(messages).strip()
        text = "Hello from the tracelake stub! You said: %s" % (user[:120] or "(nothing)")
    return {"role": "assistant", "content": text, "refusal": None, "annotations": []}, "stop"


def completion(req):
    messages = req.get("messages") or []
    tools = req.get("tools") or []
    msg, finish = answer(req)
    prompt = count_prompt_tokens(messages, tools)
    if msg.get("tool_calls"):
        out = 12 + ceil4(len(json.dumps(msg["tool_calls"], sort_keys=True, separators=(",", ":"))))
    else:
        out = 3 + ceil4(len(msg["content"]))
    cached = ((prompt // 2) // 8) * 8 if len(messages) > 2 else 0
    model = SNAPSHOTS.get(req.get("model", ""), req.get("model", ""))
    h = digest(req.get("model"), messages, tools)
    return {
        "id": "chatcmpl-" + h[:29],
        "object": "chat.completion",
        "created": FIXED_CREATED,
        "model": model,
        "choices": [{"index": 0, "message": msg, "logprobs": None, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": out,
            "total_tokens": prompt + out,
            "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "service_tier": "default",
        "system_fingerprint": "fp_" + h[40:50],
    }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    log_path = None
    seq = itertools.count(1)
    lock = threading.Lock()

    def log_message(self, *a):
        pass

    def reply(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.send_header("x-request-id", "req_" + hashlib.sha256(body).hexdigest()[:24])
        self.send_header("openai-processing-ms", "12")
        self.end_headers()
        self.wfile.write(body)

    def error(self, code, message, typ="invalid_request_error", param=None):
        self.reply(code, {"error": {"message": message, "type": typ, "param": param, "code": None}})

    def do_GET(self):
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            data = [{"id": m, "object": "model", "created": FIXED_CREATED, "owned_by": "system"}
                    for m in sorted(set(SNAPSHOTS) | set(SNAPSHOTS.values()))]
            return self.reply(200, {"object": "list", "data": data})
        self.error(404, "Unknown request URL: GET %s" % self.path)

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        path = self.path.split("?")[0].rstrip("/")
        if path not in ("/v1/chat/completions", "/chat/completions"):
            return self.error(404, "Unknown request URL: POST %s" % self.path)
        try:
            req = json.loads(raw or b"{}")
        except ValueError:
            return self.error(400, "We could not parse the JSON body of your request.")
        if not isinstance(req, dict) or not req.get("model") or not isinstance(req.get("messages"), list):
            return self.error(400, "'model' and 'messages' are required", param="messages")
        if req.get("stream"):
            return self.error(400, "This stub supports stream=false only", param="stream")
        resp = completion(req)
        msg = resp["choices"][0]["message"]
        with Handler.lock:
            n = next(Handler.seq)
            if Handler.log_path:
                entry = {
                    "seq": n,
                    "path": path,
                    "id": resp["id"],
                    "request_model": req.get("model"),
                    "model": resp["model"],
                    "n_messages": len(req["messages"]),
                    "finish_reason": resp["choices"][0]["finish_reason"],
                    "usage": resp["usage"],
                    "tool_calls": [{"id": c["id"], "name": c["function"]["name"],
                                    "arguments": c["function"]["arguments"]}
                                   for c in msg.get("tool_calls") or []],
                    "content": msg.get("content"),
                }
                with open(Handler.log_path, "a") as f:
                    f.write(json.dumps(entry, sort_keys=True) + "\n")
        self.reply(200, resp)


def main(argv):
    import os
    port, log = 0, os.environ.get("STUB_LOG") or None
    args = list(argv)
    while args:
        a = args.pop(0)
        if a == "--log":
            log = args.pop(0)
        elif a.startswith("--log="):
            log = a.split("=", 1)[1]
        elif a in ("-h", "--help"):
            print(__doc__)
            return 0
        else:
            port = int(a)
    Handler.log_path = log
    srv = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    srv.daemon_threads = True
    sys.stdout.write("PORT %d\n" % srv.server_address[1])
    sys.stdout.flush()
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
