#!/usr/bin/env bash
# Runs the OTLP clients against a real `tracelake serve` in a throw-away home and prints what
# landed in the spans table next to what the stub billed.
#
#   smoke_tracelake.sh TRACELAKE_BIN [LIB ...]      (default: every client setup.sh lists)
#
# The collector listens on free loopback ports (the banner it prints on stderr is parsed); each client
# gets its own stub (billing in $WORK/<lib>-billing.jsonl). After the runs it waits SETTLE
# seconds (default 3), queries the spans, stops the collector with SIGTERM and removes $WORK
# unless KEEP=1. Env: WORK (default: a new mktemp -d), TRACELAKE_TOOLS (see setup.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:?usage: smoke_tracelake.sh TRACELAKE_BIN [LIB ...]}
shift
work=${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/tl-otel-smoke.XXXXXX")}
mkdir -p "$work/home/h"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do  # the collector commits before it exits: give it 10 s
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  done
  [ "${KEEP:-0}" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT
tl() { TRACELAKE_HOME="$work/home" HOME="$work/home/h" "$bin" "$@"; }

"$here/setup.sh" >"$work/pythons"
libs=("$@")
[ ${#libs[@]} -gt 0 ] || mapfile -t libs < <(cut -d' ' -f1 "$work/pythons")

TRACELAKE_HOME="$work/home" HOME="$work/home/h" "$bin" serve --otlp-grpc 127.0.0.1:0 --otlp-http 127.0.0.1:0 --http 127.0.0.1:0 >"$work/serve.out" 2>"$work/serve.err" &
serve=$!
pids+=("$serve")
for _ in $(seq 100); do
  http=$(grep -o 'OTLP/HTTP http://[0-9.:]*' "$work/serve.err" 2>/dev/null | cut -d' ' -f2 || true)
  [ -n "$http" ] && break
  kill -0 "$serve" 2>/dev/null || { echo "tracelake serve exited:" >&2; cat "$work/serve.err" >&2; exit 1; }
  sleep 0.1
done
[ -n "$http" ] || { echo "tracelake serve did not print its OTLP/HTTP address" >&2; exit 1; }
echo "collector at $http (work: $work)" >&2

status=0
for lib in "${libs[@]}"; do
  py=$(awk -v l="$lib" '$1 == l { print $2 }' "$work/pythons")
  [ -n "$py" ] || { echo "unknown lib $lib" >&2; exit 2; }
  python3 "$here/stub_openai.py" 0 --log "$work/$lib-billing.jsonl" >"$work/$lib-stub.out" &
  stub=$!
  pids+=("$stub")
  for _ in $(seq 100); do [ -s "$work/$lib-stub.out" ] && break; sleep 0.05; done
  port=$(awk '{ print $2 }' "$work/$lib-stub.out")
  if "$py" "$here/run_client.py" --lib "$lib" --openai-base "http://127.0.0.1:$port/v1" \
      --otlp-endpoint "$http" >"$work/$lib-summary.json" 2>"$work/$lib-stderr.txt"; then
    echo "$lib: ok" >&2
  else
    echo "$lib: run_client.py failed:" >&2
    tail -n 5 "$work/$lib-stderr.txt" >&2
    status=1
  fi
  kill "$stub" 2>/dev/null || true
done

sleep "${SETTLE:-3}"
echo "== billed (every lib gets the same three responses)"
python3 - "$work/${libs[0]}-billing.jsonl" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    u = r["usage"]
    print("%-40s %-24s prompt=%-4d completion=%-3d cached=%-3d finish=%-10s tool_calls=%s" % (
        r["id"], r["model"], u["prompt_tokens"], u["completion_tokens"],
        u["prompt_tokens_details"]["cached_tokens"], r["finish_reason"],
        ",".join("%s:%s" % (c["name"], c["id"]) for c in r["tool_calls"]) or "-"))
EOF
echo "== spans"
tl sql "select service_name, kind, name, model, input_tokens, output_tokens, cache_read_tokens, stop_reason, session_id, user_id, tool_name, tool_call_id, left(tool_input,40) as tool_input, left(input_text,50) as input_text, left(output_text,50) as output_text from spans where kind <> 'event' order by service_name, start_time"
kill -TERM "$serve"
wait "$serve" || true
exit $status
