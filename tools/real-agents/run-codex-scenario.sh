#!/usr/bin/env bash
# Runs the real Codex CLI (npm @openai/codex) with `codex exec`, offline, against the loopback
# Responses API stand-in (stub_openai_responses.py), with Codex's OpenTelemetry export ([otel] in
# config.toml) pointed at the OTLP/HTTP capture server (otlp_capture.py). Keeps the OTLP payloads,
# Codex's rollout JSONL ($CODEX_HOME/sessions) and the usage of every model response.
#
# usage: run-codex-scenario.sh OUTDIR PROMPT SCRIPT_JSON
#   SCRIPT_JSON: [{"name":"exec_command","arguments":{"cmd":"ls"}}, ...] played in order by the stub
# env:
#   CODEX_BIN      the codex binary (default: `codex` on PATH), e.g.
#                  ~/.cache/tracelake/npm/node_modules/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex
#   OTLP_PROTOCOL  json (default) or binary (Codex's otlp-http `protocol`)
#   OTLP_ENDPOINT  send OTLP to this base URL (e.g. http://127.0.0.1:4318 of `tracelake serve`)
#                  instead of the capture server; /v1/logs, /v1/traces, /v1/metrics are appended
#   OTEL_SIGNALS   which exporters to enable, any of logs,traces,metrics (default: all three)
#   MODEL          model name sent to the stub (default gpt-5-codex)
#   WORK_ROOT      throw-away HOME holding the project folder (default: a new mktemp -d folder);
#                  removed afterwards. The rollout names it (cwd).
#   SCENARIO_FILES folder copied into the project (default: scenario-files/ beside this script)
#   CODEX_TIMEOUT  seconds before the CLI is killed (default 180)
# OUTDIR gets: stdout.txt, stderr.txt, config.toml (what Codex was given), codex-sessions/ (rollout
#   files), otlp/ (NNNNN-v1_logs.json|pb, ...), truth.json ({"responses":[{id, model, usage, item_type, path, ...}], "other_requests":[...]}).
# Codex never sees this machine's HOME or ~/.codex: it runs with `env -i`, HOME and CODEX_HOME in a
# throw-away folder.
set -euo pipefail
die() { echo "run-codex-scenario: $*" >&2; exit 2; }
[ $# -ge 3 ] || die "usage: $0 OUTDIR PROMPT SCRIPT_JSON"
out=$1 prompt=$2 script=$3
here=$(cd "$(dirname "$0")" && pwd)
bin=${CODEX_BIN:-codex}
if [[ $bin != */* ]]; then bin=$(command -v "$bin") || die "no codex on PATH; set CODEX_BIN"; fi
[ -x "$bin" ] || die "CODEX_BIN=$bin is not executable"
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
python3 -c 'import json,sys; json.loads(sys.argv[1])' "$script" 2>/dev/null || die "SCRIPT_JSON is not valid JSON"
proto=${OTLP_PROTOCOL:-json}; [[ $proto == json || $proto == binary ]] || die "OTLP_PROTOCOL must be json or binary"
signals=${OTEL_SIGNALS:-logs,traces,metrics}
if [ -n "${WORK_ROOT:-}" ]; then
  root=$WORK_ROOT; [ ! -e "$root" ] || [ -z "$(ls -A "$root")" ] || die "WORK_ROOT=$root is not empty"
  mkdir -p "$root"; root=$(cd "$root" && pwd)
else root=$(mktemp -d "${TMPDIR:-/tmp}/tracelake-codex.XXXXXX"); fi
mkdir -p "$out"; out=$(cd "$out" && pwd)
state=$(mktemp -d "${TMPDIR:-/tmp}/tracelake-run.XXXXXX"); log=$state/model-log cap=$state/otlp
mkdir -p "$log" "$cap"
mpid= opid=
cleanup() {
  local rc=$?; set +e; trap - EXIT INT TERM
  [ -n "$mpid" ] && kill "$mpid" 2>/dev/null; [ -n "$opid" ] && kill "$opid" 2>/dev/null
  [ -n "$mpid" ] && wait "$mpid" 2>/dev/null; [ -n "$opid" ] && wait "$opid" 2>/dev/null
  rm -rf "$root" "$state"; exit "$rc"
}
trap cleanup EXIT; trap 'exit 130' INT; trap 'exit 143' TERM

home=$root; work=$root/$(basename "$out"); chome=$home/.codex
mkdir -p "$work" "$chome" "$home/.tmp"
cp -r "${SCENARIO_FILES:-$here/scenario-files}/." "$work/" 2>/dev/null || true

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
mport=$(free_port)
PORT=$mport LOG=$log SCRIPT=$script python3 "$here/stub_openai_responses.py" 2>"$state/model.err" & mpid=$!
if [ -n "${OTLP_ENDPOINT:-}" ]; then base=${OTLP_ENDPOINT%/}
else
  PORT=0 PORT_FILE=$state/otlp.port OUT=$cap python3 "$here/otlp_capture.py" 2>"$state/otlp.err" & opid=$!
  for ((i = 0; i < 200; i++)); do [ -s "$state/otlp.port" ] && break; sleep 0.05; done
  [ -s "$state/otlp.port" ] || die "OTLP capture did not start: $(cat "$state/otlp.err")"
  base=http://127.0.0.1:$(cat "$state/otlp.port")
fi
for ((i = 0; i < 200; i++)); do curl -s -o /dev/null "http://127.0.0.1:$mport/" && break; sleep 0.05; done

exp() { [[ ,$signals, == *,$1,* ]] && echo "{ otlp-http = { endpoint = \"$base/v1/$1\", protocol = \"$proto\" } }" || echo '"none"'; }
cat > "$chome/config.toml" <<TOML
model = "${MODEL:-gpt-5-codex}"
model_provider = "stub"

[model_providers.stub]
name = "stub"
base_url = "http://127.0.0.1:$mport/v1"
wire_api = "responses"
env_key = "OPENAI_API_KEY"

[analytics]
enabled = false

[otel]
environment = "test"
log_user_prompt = true
exporter = $(exp logs)
trace_exporter = $(exp traces)
metrics_exporter = $(exp metrics)
TOML
cp "$chome/config.toml" "$out/config.toml"

crc=0
(cd "$work" && exec env -i HOME="$home" CODEX_HOME="$chome" TMPDIR="$home/.tmp" PATH="/usr/local/bin:/usr/bin:/bin" \
  SHELL=/bin/bash LANG="${LANG:-C.UTF-8}" OPENAI_API_KEY=sk-test \
  timeout "${CODEX_TIMEOUT:-180}" "$bin" exec --skip-git-repo-check --sandbox danger-full-access "$prompt") \
  > "$out/stdout.txt" 2> "$out/stderr.txt" </dev/null || crc=$?
[ "$crc" = 0 ] || echo "run-codex-scenario: codex exited $crc (see $out/stderr.txt)" >&2
# wait until OTLP exports have stopped arriving (quiet 1.5 s, at most 15 s)
last=-1 quiet=0
for ((i = 0; i < 150; i++)); do
  n=$(ls "$cap" | wc -l)
  if [ "$n" = "$last" ]; then quiet=$((quiet + 1)); [ "$quiet" -ge 15 ] && break; else quiet=0; last=$n; fi
  sleep 0.1
done
rm -rf "$out/codex-sessions" "$out/otlp"; mkdir -p "$out/codex-sessions" "$out/otlp"
cp -r "$chome/sessions/." "$out/codex-sessions/" 2>/dev/null || true
cp "$cap"/* "$out/otlp/" 2>/dev/null || true
python3 - "$log" > "$out/truth.json" <<'PY'
import glob, json, sys
rs = [json.load(open(f)) for f in sorted(glob.glob(sys.argv[1] + "/resp-*.json"))]
# Codex also POSTs /v1/analytics/codex/turn-costs to the provider; the stub answers it, but it is
# no model response: keep it apart so "responses" is exactly the billed model calls.
print(json.dumps({"responses": [r for r in rs if r.get("path") == "/v1/responses"],
                  "other_requests": [r for r in rs if r.get("path") != "/v1/responses"]}, indent=1))
PY
echo "$out: $(find "$out/codex-sessions" -name '*.jsonl' | wc -l) rollout files, $(ls "$out/otlp" | wc -l) OTLP payloads, $(grep -c '"id"' "$out/truth.json") model responses"
exit "$crc"
