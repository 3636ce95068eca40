#!/usr/bin/env python3
"""Reads tracelake's tables with PyIceberg through the same SQLite catalog and prints what it
sees as JSON: row counts, token sums and the snapshot history of each table.

usage: read_with_pyiceberg.py CATALOG_DB [S3_ENDPOINT]
"""
import json
import sys

import pyarrow.compute as pc
from pyiceberg.catalog.sql import SqlCatalog

db = sys.argv[1]
props = {"uri": f"sqlite:///{db}"}
if len(sys.argv) > 2:
    props.update({
        "s3.endpoint": sys.argv[2],
        "s3.access-key-id": "test",
        "s3.secret-access-key": "test",
        "s3.region": "us-east-1",
    })
catalog = SqlCatalog("tracelake", **props)
out = {"tables": sorted(".".join(t) for t in catalog.list_tables("tracelake"))}
for name in ("spans", "raw"):
    table = catalog.load_table(f"tracelake.{name}")
    data = table.scan().to_arrow()
    info = {
        "rows": data.num_rows,
        "operations": [s.summary.operation.value for s in table.snapshots()],
        "partition": str(table.spec()),
        "field_ids": {f.name: f.field_id for f in table.schema().fields},
    }
    if name == "spans":
        llm = data.filter(pc.equal(data["kind"], "llm"))
        for col in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens"):
            info[col] = pc.sum(llm[col]).as_py() or 0
        info["cost_usd"] = pc.sum(llm["cost_usd"]).as_py() or 0.0
        info["sessions"] = len(pc.unique(data["session_id"]))
    out[name] = info
print(json.dumps(out))
