#!/usr/bin/env bash
# Runs the real Claude Code CLI (npm @anthropic-ai/claude-code) headless and offline against the
# loopback model stand-in (stub_anthropic.py), and keeps what it wrote: the session JSONL files,
# the OTLP payloads, what `claude -p --output-format json` printed, and the true usage of every
# model response.
#
# usage: run-claude-scenario.sh OUTDIR PROMPT SCRIPT_JSON [ALLOWED_TOOLS] [SUBSCRIPT_JSON]
# env:
#   CLAUDE_BIN   the claude binary (default: `claude` on PATH), e.g.
#                ~/.cache/tracelake/npm/node_modules/@anthropic-ai/claude-code-linux-x64/claude
#   PORT_BASE    model stub on PORT_BASE, OTLP capture on PORT_BASE+1 (default: free ports)
#   MODEL        passed as --model (default: the CLI's own default model)
#   OTLP_PROTOCOL          http/json (default), http/protobuf or grpc
#   OTLP_ENDPOINT_OVERRIDE send OTLP there instead of the capture server (e.g. tracelake serve)
#   USAGE_JSON   usage the stub returns: a JSON object, or a list cycled per response
#                (see stub_anthropic.py); default: the stub's built-in usage
#   WORK_ROOT    throw-away HOME holding the project folder; must not exist or be empty, and is
#                removed afterwards (default: a new mktemp -d folder). The transcripts name it.
#   KEEP_REQUESTS=1  also keep every request body and response under OUTDIR/model-requests/
#   SCENARIO_FILES   folder copied into the project (default: scenario-files/ beside this script)
#   CLAUDE_TIMEOUT   seconds before the CLI is killed (default 180)
#   CLAUDE_EXTRA_ENV extra NAME=VALUE words (space-separated) put in the CLI's environment, e.g.
#                    CLAUDE_EXTRA_ENV="CLAUDE_CODE_DISABLE_LEGACY_MODEL_REMAP=1"
# OUTDIR gets: result.json, stderr.txt, claude-projects/ (the CLI's ~/.claude/projects),
#   otlp/ (NNNNN-v1_logs.json, ...), truth.json ({"responses": [{id, model, usage, stop_reason}]}).
# Exit status: 0 if the CLI exited 0, else the CLI's status (outputs are still collected).
# The CLI never sees this machine's HOME, ~/.claude or ~/.codex: it runs with `env -i` and a
# throw-away HOME.
set -euo pipefail

die() { echo "run-claude-scenario: $*" >&2; exit 2; }
[ $# -ge 3 ] || die "usage: $0 OUTDIR PROMPT SCRIPT_JSON [ALLOWED_TOOLS] [SUBSCRIPT_JSON]"
out=$1 prompt=$2 script=$3 allowed=${4:-"Bash,Read,Write,Edit,Glob,Grep,Agent"} sub=${5:-'[]'}
here=$(cd "$(dirname "$0")" && pwd)

# --- checks, before anything is started -------------------------------------------------------
bin=${CLAUDE_BIN:-claude}
if [[ $bin == */* ]]; then
  [ -f "$bin" ] || die "CLAUDE_BIN=$bin does not exist. Install the CLI (npm i @anthropic-ai/claude-code) and set CLAUDE_BIN to node_modules/@anthropic-ai/claude-code-linux-x64/claude"
  [ -x "$bin" ] || die "CLAUDE_BIN=$bin is not executable"
else
  command -v "$bin" >/dev/null 2>&1 || die "no '$bin' on PATH and CLAUDE_BIN is not set. Install the CLI (npm i @anthropic-ai/claude-code) and set CLAUDE_BIN to node_modules/@anthropic-ai/claude-code-linux-x64/claude"
  bin=$(command -v "$bin")
fi
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
command -v python3 >/dev/null 2>&1 || die "python3 is needed for the model stand-in"
for j in SCRIPT_JSON:"$script" SUBSCRIPT_JSON:"$sub" USAGE_JSON:"${USAGE_JSON:-null}"; do
  python3 -c 'import json,sys; json.loads(sys.argv[1])' "${j#*:}" 2>/dev/null || die "${j%%:*} is not valid JSON: ${j#*:}"
done
if [ -n "${PORT_BASE:-}" ]; then
  [[ $PORT_BASE =~ ^[0-9]+$ ]] || die "PORT_BASE must be a number"
  mport=$PORT_BASE oport=$((PORT_BASE + 1))
else
  mport=0 oport=0   # the servers bind a free port and report it through PORT_FILE
fi
if [ -n "${WORK_ROOT:-}" ]; then
  root=$WORK_ROOT
  if [ -e "$root" ]; then
    [ -d "$root" ] && [ -z "$(ls -A "$root")" ] || die "WORK_ROOT=$root exists and is not an empty folder; it would be removed afterwards, so give a new path"
  fi
  mkdir -p "$root"; root=$(cd "$root" && pwd)
  [ "$root" != "/" ] && [ "$root" != "$(cd ~ && pwd)" ] || die "WORK_ROOT must not be / or your HOME"
else
  root=$(mktemp -d "${TMPDIR:-/tmp}/tracelake-claude.XXXXXX")
fi
mkdir -p "$out"; out=$(cd "$out" && pwd)

# --- cleanup on every exit path ---------------------------------------------------------------
state=$(mktemp -d "${TMPDIR:-/tmp}/tracelake-run.XXXXXX")
log=$state/model-log cap=$state/otlp
mkdir -p "$log" "$cap"
mpid= opid= cpid=
cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  [ -n "$cpid" ] && kill -TERM "$cpid" 2>/dev/null && wait "$cpid" 2>/dev/null
  [ -n "$mpid" ] && kill "$mpid" 2>/dev/null
  [ -n "$opid" ] && kill "$opid" 2>/dev/null
  [ -n "$mpid" ] && wait "$mpid" 2>/dev/null
  [ -n "$opid" ] && wait "$opid" 2>/dev/null
  if [ -n "${KEEP_REQUESTS:-}" ] && [ -n "$(ls -A "$log" 2>/dev/null)" ]; then
    mkdir -p "$out/model-requests" && cp "$log"/* "$out/model-requests/"
  fi
  rm -rf "$root" "$state"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- a throw-away HOME with the project in it -------------------------------------------------
home=$root; work=$root/$(basename "$out")
mkdir -p "$work" "$home/.tmp"
cp -r "${SCENARIO_FILES:-$here/scenario-files}/." "$work/" 2>/dev/null || true
(cd "$work" && git init -q && git add -A && git -c user.email=a@b -c user.name=a commit -qm init) >/dev/null 2>&1 || true

# --- the model stand-in and the OTLP capture; wait until each listens -------------------------
wait_listening() { # portfile pid name errfile
  local i
  for ((i = 0; i < 200; i++)); do
    [ -s "$1" ] && { cat "$1"; return 0; }
    kill -0 "$2" 2>/dev/null || { echo "run-claude-scenario: $3 exited before listening${PORT_BASE:+ (port taken? leave PORT_BASE unset to use free ports)}:" >&2; tail -n 3 "$4" >&2; return 1; }
    sleep 0.05
  done
  echo "run-claude-scenario: $3 did not start listening within 10 s" >&2; return 1
}
PORT=$mport PORT_FILE=$state/model.port LOG=$log SCRIPT=$script SUBSCRIPT=$sub USAGE_JSON=${USAGE_JSON:-} \
  python3 "$here/stub_anthropic.py" 2>"$state/model.err" & mpid=$!
PORT=$oport PORT_FILE=$state/otlp.port OUT=$cap python3 "$here/otlp_capture.py" 2>"$state/otlp.err" & opid=$!
mport=$(wait_listening "$state/model.port" "$mpid" "model stand-in (port $mport)" "$state/model.err") || exit 2
oport=$(wait_listening "$state/otlp.port" "$opid" "OTLP capture (port $oport)" "$state/otlp.err") || exit 2

# --- the CLI, in a clean environment ----------------------------------------------------------
args=(-p "$prompt" --allowedTools "$allowed" --output-format json)
[ -n "${MODEL:-}" ] && args+=(--model "$MODEL")
read -ra extra <<< "${CLAUDE_EXTRA_ENV:-}"
for e in ${extra[@]+"${extra[@]}"}; do [[ $e == [A-Za-z_]*=* ]] || die "CLAUDE_EXTRA_ENV: '$e' is not NAME=VALUE"; done
(cd "$work" && exec env -i HOME="$home" TMPDIR="$home/.tmp" PATH="/usr/local/bin:/usr/bin:/bin:$PATH" SHELL=/bin/bash \
  TERM="${TERM:-xterm}" LANG="${LANG:-C.UTF-8}" \
  ANTHROPIC_BASE_URL="http://127.0.0.1:$mport" ANTHROPIC_API_KEY=sk-ant-test-000 \
  CLAUDE_CODE_ENABLE_TELEMETRY=1 OTEL_METRICS_EXPORTER=otlp OTEL_LOGS_EXPORTER=otlp OTEL_TRACES_EXPORTER=otlp \
  OTEL_EXPORTER_OTLP_PROTOCOL="${OTLP_PROTOCOL:-http/json}" \
  OTEL_EXPORTER_OTLP_ENDPOINT="${OTLP_ENDPOINT_OVERRIDE:-http://127.0.0.1:$oport}" \
  OTEL_METRIC_EXPORT_INTERVAL=1000 OTEL_LOGS_EXPORT_INTERVAL=1000 OTEL_LOG_USER_PROMPTS=1 OTEL_LOG_TOOL_DETAILS=1 \
  CLAUDE_CODE_ENHANCED_TELEMETRY_BETA=1 DISABLE_AUTOUPDATER=1 CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 \
  ${extra[@]+"${extra[@]}"} timeout "${CLAUDE_TIMEOUT:-180}" "$bin" "${args[@]}") > "$out/result.json" 2> "$out/stderr.txt" </dev/null & cpid=$!
crc=0; wait "$cpid" || crc=$?
cpid=
[ "$crc" = 0 ] || echo "run-claude-scenario: claude exited $crc (see $out/stderr.txt)" >&2

# --- collect: wait until the OTLP exports have stopped arriving (quiet for 1.5 s, at most 15 s) -
last=-1
for ((i = 0; i < 150; i++)); do
  n=$(ls "$cap" | wc -l)
  if [ "$n" = "$last" ]; then quiet=$((quiet + 1)); [ "$quiet" -ge 15 ] && break; else quiet=0; last=$n; fi
  sleep 0.1
done
rm -rf "$out/claude-projects" "$out/otlp"; mkdir -p "$out/claude-projects" "$out/otlp"
cp -r "$home/.claude/projects/." "$out/claude-projects/" 2>/dev/null || true
cp "$cap"/* "$out/otlp/" 2>/dev/null || true
python3 - "$log" > "$out/truth.json" <<'PY'
import glob, json, sys
rs = [json.load(open(f)) for f in sorted(glob.glob(sys.argv[1] + "/resp-*.json"))]
print(json.dumps({"responses": rs}, indent=1))
PY
echo "$out: $(find "$out/claude-projects" -name '*.jsonl' | wc -l) session files, $(ls "$out/otlp" | wc -l) OTLP payloads, $(grep -c '"id"' "$out/truth.json") model responses"
exit "$crc"
