#!/usr/bin/env python3
"""Prints how many spans a running Phoenix has stored in one project (stdlib only).

usage: phoenix_count.py --url http://127.0.0.1:6006 [--project default]
                        [--method graphql|rest|sqlite] [--db DIR/phoenix.db]
                        [--wait-for N [--timeout S]]

Methods (all count rows committed to Phoenix's database, never its in-memory queue):
  graphql  (default) Project.recordCount over POST /graphql: one SELECT COUNT on the spans of
           the project; cheap, so it is the one to poll during a run.
  rest     pages through GET /v1/projects/{project}/spans?limit=1000 and counts the rows;
           returns every span body (~2 KB each here), so only for cross-checks on small runs.
  sqlite   opens --db read-only (Phoenix keeps SQLite in WAL mode, so a reader never blocks
           its writer) and counts spans joined to the project; works with the server stopped.
A project that does not exist yet has 0 spans.

--wait-for N polls (every 0.5 s) until the count is >= N or --timeout seconds pass (default
300), then prints the count; exit status 1 if it never got there. With --progress it also
prints "elapsed_s count" to stderr at each poll, which is how the drain after a flood is timed.
"""
import argparse
import json
import sqlite3
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


def count_graphql(url, project):
    query = "{ projects(first: 1000) { edges { node { name recordCount } } } }"
    req = urllib.request.Request(
        f"{url}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        body = json.load(r)
    if body.get("errors"):
        raise RuntimeError(f"GraphQL errors: {body['errors']}")
    for edge in body["data"]["projects"]["edges"]:
        if edge["node"]["name"] == project:
            return edge["node"]["recordCount"]
    return 0


def count_rest(url, project):
    total, cursor = 0, None
    while True:
        q = {"limit": 1000}
        if cursor:
            q["cursor"] = cursor
        page = f"{url}/v1/projects/{urllib.parse.quote(project, safe='')}/spans?" + urllib.parse.urlencode(q)
        try:
            with urllib.request.urlopen(page, timeout=120) as r:
                body = json.load(r)
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return 0
            raise
        total += len(body["data"])
        cursor = body.get("next_cursor")
        if not cursor:
            return total


def count_sqlite(db, project):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        (n,) = con.execute(
            "SELECT count(*) FROM spans JOIN traces ON traces.id = spans.trace_rowid "
            "JOIN projects ON projects.id = traces.project_rowid WHERE projects.name = ?",
            (project,),
        ).fetchone()
        return n
    finally:
        con.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default="http://127.0.0.1:6006")
    ap.add_argument("--project", default="default")
    ap.add_argument("--method", choices=("graphql", "rest", "sqlite"), default="graphql")
    ap.add_argument("--db", help="path of phoenix.db (for --method sqlite)")
    ap.add_argument("--wait-for", type=int)
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--progress", action="store_true")
    a = ap.parse_args()
    url = a.url.rstrip("/")
    if a.method == "sqlite" and not a.db:
        ap.error("--method sqlite needs --db")
    count = {
        "graphql": lambda: count_graphql(url, a.project),
        "rest": lambda: count_rest(url, a.project),
        "sqlite": lambda: count_sqlite(a.db, a.project),
    }[a.method]
    if a.wait_for is None:
        print(count())
        return
    t0 = time.monotonic()
    while True:
        n = count()
        if a.progress:
            print(f"{time.monotonic() - t0:.1f} {n}", file=sys.stderr, flush=True)
        if n >= a.wait_for or time.monotonic() - t0 > a.timeout:
            print(n)
            sys.exit(0 if n >= a.wait_for else 1)
        time.sleep(0.5)


if __name__ == "__main__":
    main()
