#!/usr/bin/env python3
"""Records every OTLP/HTTP request body (JSON or protobuf) it receives on loopback into a folder.

    otlp_capture.py [OUT [PORT]]

Env (arguments win): PORT (default 4318; 0 = any free port), PORT_FILE (the port actually bound
is written there once listening), OUT (folder; files are NNNNN-v1_logs.json,
NNNNN-v1_metrics.pb, ...). A gzip-compressed body (content-encoding: gzip) is stored gunzipped.
Without PORT_FILE it prints `PORT <n>` on stdout (flushed) once listening.
"""
import gzip, os, sys, itertools, threading, zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
argv = sys.argv[1:]
OUT = argv[0] if argv else os.environ.get("OUT", "/tmp/otlp-capture")
PORT = int(argv[1] if len(argv) > 1 else os.environ.get("PORT", "4318"))
PORT_FILE = os.environ.get("PORT_FILE", "")
os.makedirs(OUT, exist_ok=True); c = itertools.count(); lock = threading.Lock()
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        enc = self.headers.get("content-encoding", "").lower()
        if enc == "gzip": body = gzip.decompress(body)
        elif enc == "deflate": body = zlib.decompress(body)
        kind = self.path.split("?")[0].strip("/").replace("/", "_")
        ext = "json" if "json" in self.headers.get("content-type", "") else "pb"
        with lock: n = next(c)
        with open(os.path.join(OUT, "%05d-%s.%s" % (n, kind, ext)), "wb") as f: f.write(body)
        self.send_response(200); self.send_header("content-type", self.headers.get("content-type", "application/json"))
        resp = b"{}" if ext == "json" else b""
        self.send_header("content-length", str(len(resp))); self.end_headers()
        self.wfile.write(resp)
srv = ThreadingHTTPServer(("127.0.0.1", PORT), H)
if PORT_FILE:
    with open(PORT_FILE + ".tmp", "w") as f: f.write("%d\n" % srv.server_address[1])
    os.replace(PORT_FILE + ".tmp", PORT_FILE)
if not PORT_FILE: sys.stdout.write("PORT %d\n" % srv.server_address[1]); sys.stdout.flush()
srv.serve_forever()
