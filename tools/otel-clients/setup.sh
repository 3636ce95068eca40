#!/usr/bin/env bash
# Creates the venvs for the OTLP client tests (run_client.py and friends) under
# ${TRACELAKE_TOOLS:-$HOME/.cache/tracelake}:
#   otel-clients-venv                    requirements.txt: openai-v2, openai-v2-latest,
#                                        openinference, traceloop (+ opentelemetry-proto)
#   otel-clients-venv-traceloop-legacy   requirements-traceloop-legacy.txt: traceloop-legacy
# and prints, on stdout, one line per client: `<lib> <path of the python to run it with>`.
# Idempotent: a venv whose stamp (a hash of its requirements file and the Python version)
# matches is left alone; otherwise it is rebuilt from scratch. Concurrent runs wait for each
# other (flock). What it does goes to stderr; pip's own output to a log beside the venvs.
# Env: TRACELAKE_TOOLS (where; else TRACELAKE_TEST_TOOLS, as scripts/test.sh sets it), PYTHON (the interpreter that makes the venvs; default python3).
# Argument: `main` or `traceloop-legacy` builds only that venv (default: both).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tools=${TRACELAKE_TOOLS:-${TRACELAKE_TEST_TOOLS:-$HOME/.cache/tracelake}}
py=${PYTHON:-python3}
only=${1:-all}
mkdir -p "$tools"
pyver=$("$py" -c 'import sys; print(sys.version.split()[0])')

# ensure VENV REQUIREMENTS IMPORT_CHECK
ensure() {
  local venv=$1 req=$2 check=$3 want log
  want="$(sha256sum "$req" | cut -c1-16) $pyver"
  log="$venv.pip.log"
  if [ "$(cat "$venv/.stamp" 2>/dev/null)" = "$want" ] && [ -x "$venv/bin/python" ]; then
    return 0
  fi
  (
    flock 9
    # another run may have built it while this one waited for the lock
    if [ "$(cat "$venv/.stamp" 2>/dev/null)" = "$want" ] && [ -x "$venv/bin/python" ]; then
      exit 0
    fi
    start=$(date +%s)
    echo "otel-clients: creating $venv (Python $pyver) from $(basename "$req")" >&2
    rm -rf "$venv"
    "$py" -m venv "$venv"
    if ! PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/python" -m pip install --quiet --no-input \
        --retries 5 --timeout 60 -r "$req" >"$log" 2>&1; then
      echo "otel-clients: pip install failed; the end of $log:" >&2
      tail -n 20 "$log" >&2
      rm -rf "$venv"
      exit 1
    fi
    if ! "$venv/bin/python" -c "$check" >>"$log" 2>&1; then
      echo "otel-clients: $venv does not import its packages; the end of $log:" >&2
      tail -n 20 "$log" >&2
      rm -rf "$venv"
      exit 1
    fi
    echo "$want" >"$venv/.stamp"
    echo "otel-clients: $venv ready in $(($(date +%s) - start)) s" >&2
  ) 9>"$venv.lock"
}

main=$tools/otel-clients-venv
legacy=$tools/otel-clients-venv-traceloop-legacy
if [ "$only" = all ] || [ "$only" = main ]; then
  ensure "$main" "$here/requirements.txt" \
    'import openai, opentelemetry.instrumentation.openai_v2, openinference.instrumentation.openai, traceloop.sdk, opentelemetry.proto, opentelemetry.exporter.otlp.proto.http'
  for lib in openai-v2 openai-v2-latest openinference traceloop; do echo "$lib $main/bin/python"; done
fi
if [ "$only" = all ] || [ "$only" = traceloop-legacy ]; then
  ensure "$legacy" "$here/requirements-traceloop-legacy.txt" \
    'import openai, traceloop.sdk, opentelemetry.instrumentation.openai, opentelemetry.exporter.otlp.proto.http'
  echo "traceloop-legacy $legacy/bin/python"
fi
case $only in all | main | traceloop-legacy) ;; *) echo "usage: setup.sh [all|main|traceloop-legacy]" >&2; exit 2 ;; esac
