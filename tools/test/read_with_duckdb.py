#!/usr/bin/env python3
"""Reads tracelake's tables with DuckDB's iceberg extension (loaded from the PyPI package
files, no network) and prints row counts and token sums as JSON.

usage: read_with_duckdb.py CATALOG_DB
"""
import json
import os
import sqlite3
import sys

import duckdb
import duckdb_extension_avro
import duckdb_extension_iceberg

db = sys.argv[1]
con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
for module in (duckdb_extension_avro, duckdb_extension_iceberg):
    root = os.path.dirname(module.__file__)
    for folder, _, files in os.walk(root):
        for f in files:
            if f.endswith(".duckdb_extension"):
                con.execute(f"LOAD '{os.path.join(folder, f)}'")

locations = dict(
    sqlite3.connect(db).execute(
        "SELECT table_name, metadata_location FROM iceberg_tables WHERE table_namespace = 'tracelake'"
    ).fetchall()
)
out = {}
for name in ("spans", "raw"):
    loc = locations[name].removeprefix("file://")
    rows = con.execute(f"SELECT count(*) FROM iceberg_scan('{loc}')").fetchone()[0]
    info = {"rows": rows}
    if name == "spans":
        r = con.execute(
            f"""SELECT sum(input_tokens), sum(output_tokens), sum(cache_read_tokens),
                       sum(cache_write_tokens), sum(cost_usd), count(DISTINCT session_id)
                FROM iceberg_scan('{loc}') WHERE kind = 'llm'"""
        ).fetchone()
        info.update(
            input_tokens=int(r[0] or 0), output_tokens=int(r[1] or 0), cache_read_tokens=int(r[2] or 0),
            cache_write_tokens=int(r[3] or 0), cost_usd=float(r[4] or 0), sessions=r[5],
        )
        info["start_time_type"] = con.execute(
            f"SELECT column_type FROM (DESCRIBE SELECT start_time FROM iceberg_scan('{loc}'))"
        ).fetchone()[0]
    out[name] = info
print(json.dumps(out))
