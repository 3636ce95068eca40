#!/usr/bin/env python3
"""Decodes captured OTLP/HTTP protobuf bodies (NNNNN-v1_traces.pb, -v1_logs.pb, -v1_metrics.pb)
into one readable JSON file, with google.protobuf.json_format (needs opentelemetry-proto).

    decode_otlp.py DIR [OUT]        (OUT default: DIR/decoded.json)

The output is {"requests": [{"file", "path", "body"}, ...]}, files in capture order, each body as
json_format gives it (MessageToDict, the same mapping as MessageToJson: camelCase keys, 64-bit
ints as strings, trace/span ids in base64), indented, whatever fits in 120 characters on one line.
"""
import json
import os
import sys

from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

KINDS = {"v1_traces": ExportTraceServiceRequest, "v1_logs": ExportLogsServiceRequest,
         "v1_metrics": ExportMetricsServiceRequest}


def decode_dir(d):
    out = []
    for name in sorted(os.listdir(d)):
        if not name.endswith(".pb"):
            continue
        kind = name[:-3].split("-", 1)[1]
        msg = KINDS[kind]()
        with open(os.path.join(d, name), "rb") as f:
            msg.ParseFromString(f.read())
        out.append({"file": name, "path": "/" + kind.replace("_", "/"), "body": MessageToDict(msg)})
    return {"requests": out}


def dumps(v, ind=0):
    """JSON, indented one space a level; anything that fits in 120 characters on one line."""
    pad, pad1 = " " * ind, " " * (ind + 1)
    flat = json.dumps(v, ensure_ascii=False)
    if len(flat) <= 120:
        return flat
    if isinstance(v, dict) and v:
        items = ["%s%s: %s" % (pad1, json.dumps(k), dumps(x, ind + 1)) for k, x in v.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(v, list) and v and any(isinstance(x, (dict, list)) for x in v):
        return "[\n" + ",\n".join(pad1 + dumps(x, ind + 1) for x in v) + "\n" + pad + "]"
    return json.dumps(v, ensure_ascii=False)


def main(argv):
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    d = argv[0]
    out = argv[1] if len(argv) > 1 else os.path.join(d, "decoded.json")
    with open(out, "w", encoding="utf-8") as f:
        f.write(dumps(decode_dir(d)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
