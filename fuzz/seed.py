#!/usr/bin/env python3
"""Seeds the fuzz corpora from the captured requests of real clients in testdata/.

The otlp_request target reads one byte that picks the signal (its value mod 3: traces, logs,
metrics) and the encoding (0x80 set: JSON), then the body; each capture becomes such an input.
"""
import pathlib

root = pathlib.Path(__file__).resolve().parent
out = root / "corpus" / "otlp_request"
out.mkdir(parents=True, exist_ok=True)
signals = {"v1_traces": 0, "v1_logs": 1, "v1_metrics": 2}
n = 0
for d in ["claude-code-otlp", "codex-otlp", "otel-clients"]:
    for path in sorted((root.parent / "testdata" / d).rglob("*")):
        pick = next((v for k, v in signals.items() if k in path.name), None)
        if pick is None or path.suffix not in (".json", ".pb"):
            continue
        if path.suffix == ".json":
            pick |= 0x80
        name = f"{d}-{path.parent.name}-{path.stem}{path.suffix}"
        (out / name).write_bytes(bytes([pick]) + path.read_bytes())
        n += 1
print(f"{n} seeds in {out}")
