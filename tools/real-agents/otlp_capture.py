#!/usr/bin/env python3
"""Records every OTLP/HTTP request body (JSON or protobuf) it receives on loopback into a folder.

Env: PORT (default 4318; 0 = any free port), PORT_FILE (the port actually bound is written there
once listening), OUT (folder; files are NNNNN-v1_logs.json, NNNNN-v1_metrics.pb, ...).
"""
import os, itertools, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
PORT = int(os.environ.get("PORT", "4318")); OUT = os.environ.get("OUT", "/tmp/otlp-capture")
PORT_FILE = os.environ.get("PORT_FILE", "")
os.makedirs(OUT, exist_ok=True); c = itertools.count(); lock = threading.Lock()
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        kind = self.path.strip("/").replace("/", "_")
        ext = "json" if "json" in self.headers.get("content-type", "") else "pb"
        with lock: n = next(c)
        with open(os.path.join(OUT, "%05d-%s.%s" % (n, kind, ext)), "wb") as f: f.write(body)
        self.send_response(200); self.send_header("content-type", self.headers.get("content-type", "application/json")); self.end_headers()
        self.wfile.write(b"{}" if ext == "json" else b"")
srv = ThreadingHTTPServer(("127.0.0.1", PORT), H)
if PORT_FILE:
    with open(PORT_FILE + ".tmp", "w") as f: f.write("%d\n" % srv.server_address[1])
    os.replace(PORT_FILE + ".tmp", PORT_FILE)
srv.serve_forever()
