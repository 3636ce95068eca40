#!/usr/bin/env bash
# Arize Phoenix as a bench peer for the collector (see tools/bench/PHOENIX.md).
#
#   phoenix.sh setup                          venv with the pinned Phoenix (idempotent)
#   phoenix.sh start DIR HTTP_PORT GRPC_PORT  server in the background, SQLite under DIR;
#                                             waits until ready, prints its PID on stdout
#   phoenix.sh stop DIR                       SIGTERM, waits for it to exit (SIGKILL after 60 s)
#   phoenix.sh python ARGS...                 the venv's python (phoenix_smoke.py, phoenix_count.py)
#
# env: TRACELAKE_TOOLS (else TRACELAKE_TEST_TOOLS, else ~/.cache/tracelake): the venv goes in
#      $TRACELAKE_TOOLS/phoenix-venv. PHOENIX_START_TIMEOUT (seconds, default 180).
# Everything but the PID goes to stderr; the server's own log is DIR/phoenix.log.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tools=${TRACELAKE_TOOLS:-${TRACELAKE_TEST_TOOLS:-$HOME/.cache/tracelake}}
venv="$tools/phoenix-venv"
req="$here/phoenix-requirements.txt"

log() { echo "phoenix.sh: $*" >&2; }
die() { log "$*"; exit 1; }
stamp() { sha256sum "$req" | cut -c1-16; }

setup() {
  if [ "$(cat "$venv/.stamp" 2>/dev/null)" = "$(stamp)" ] && [ -x "$venv/bin/phoenix" ]; then
    return 0
  fi
  log "installing $(grep '^arize-phoenix==' "$req") into $venv"
  local t0=$SECONDS
  rm -rf "$venv"
  mkdir -p "$tools"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$req" >&2
  "$venv/bin/python" -c 'import phoenix, opentelemetry.proto, grpc' >&2
  stamp > "$venv/.stamp"
  log "installed in $((SECONDS - t0)) s"
}

alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

start() {
  [ $# -eq 3 ] || die "usage: phoenix.sh start DIR HTTP_PORT GRPC_PORT"
  local dir=$1 http=$2 grpc=$3
  setup
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if alive "$(cat "$dir/phoenix.pid" 2>/dev/null)"; then
    die "already running in $dir (pid $(cat "$dir/phoenix.pid"))"
  fi
  # A port someone else holds would make the readiness probe below talk to them.
  "$venv/bin/python" - "$http" "$grpc" <<'EOF' || die "port $http or $grpc is already in use"
import socket, sys
for port in map(int, sys.argv[1:]):
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::")):
        with socket.socket(family) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is no conflict
            try:
                s.bind((host, port))
            except OSError as e:
                if family == socket.AF_INET6 and e.errno != 98:
                    continue  # no IPv6 here
                sys.exit(f"{host} port {port}: {e}")
EOF
  # PHOENIX_TELEMETRY_ENABLED=false turns off its FullStory/Scarf pixels;
  # PHOENIX_ALLOW_EXTERNAL_RESOURCES=false stops every request to the internet it makes on its
  # own (web fonts, telemetry, the WASM sandbox download at startup). The default storage is
  # SQLite at $PHOENIX_WORKING_DIR/phoenix.db. setsid: its own process group, so a Ctrl-C in
  # the caller's terminal does not reach it and stop can signal the whole group.
  env -u PHOENIX_SQL_DATABASE_URL -u PHOENIX_POSTGRES_HOST \
    PHOENIX_WORKING_DIR="$dir" PHOENIX_PORT="$http" PHOENIX_GRPC_PORT="$grpc" \
    PHOENIX_HOST=127.0.0.1 PHOENIX_TELEMETRY_ENABLED=false PHOENIX_ALLOW_EXTERNAL_RESOURCES=false \
    PHOENIX_LOG_MIGRATIONS=false \
    setsid "$venv/bin/phoenix" serve </dev/null >"$dir/phoenix.log" 2>&1 &
  local pid=$!
  echo "$pid" > "$dir/phoenix.pid"
  local deadline=$((SECONDS + ${PHOENIX_START_TIMEOUT:-180}))
  until "$venv/bin/python" - "$http" "$grpc" <<'EOF' 2>/dev/null
import socket, sys, urllib.request
# ready: /readyz answers 200 (it runs SELECT 1 on the database) and the gRPC port accepts
with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/readyz", timeout=2) as r:
    assert r.status == 200
socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=2).close()
EOF
  do
    if ! alive "$pid"; then
      tail -n 30 "$dir/phoenix.log" >&2 || true
      rm -f "$dir/phoenix.pid"
      die "Phoenix exited during startup (log: $dir/phoenix.log)"
    fi
    if [ $SECONDS -ge $deadline ]; then
      tail -n 30 "$dir/phoenix.log" >&2 || true
      kill -TERM "$pid" 2>/dev/null || true
      die "Phoenix not ready after ${PHOENIX_START_TIMEOUT:-180} s (log: $dir/phoenix.log)"
    fi
    sleep 0.5
  done
  log "ready: http://127.0.0.1:$http (OTLP/HTTP /v1/traces), grpc 127.0.0.1:$grpc, db $dir/phoenix.db"
  echo "$pid"
}

stop() {
  [ $# -eq 1 ] || die "usage: phoenix.sh stop DIR"
  local dir=$1 pid
  pid=$(cat "$dir/phoenix.pid" 2>/dev/null) || { log "not running (no $dir/phoenix.pid)"; return 0; }
  if alive "$pid"; then
    # Phoenix drains its span queue for up to 5 s on SIGTERM and then drops what is left:
    # wait for phoenix_count.py to reach the sent count before stopping.
    kill -TERM "$pid"
    local i
    for i in $(seq 600); do alive "$pid" || break; sleep 0.1; done
    if alive "$pid"; then
      log "pid $pid still alive after 60 s; SIGKILL"
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$dir/phoenix.pid"
  log "stopped (pid $pid)"
}

case "${1:-}" in
  setup) setup ;;
  start) shift; start "$@" ;;
  stop) shift; stop "$@" ;;
  python) shift; setup; exec "$venv/bin/python" "$@" ;;
  *) die "usage: phoenix.sh setup | start DIR HTTP_PORT GRPC_PORT | stop DIR | python ARGS..." ;;
esac
