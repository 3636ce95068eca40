#!/usr/bin/env bash
# End-to-end benchmarks with their peers, same run (see tools/bench/bench.py); results go to
# $BENCH_DIR/results.json and a Markdown table on stdout for BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/tracelake/target}
export TRACELAKE_TEST_TOOLS=${TRACELAKE_TEST_TOOLS:-$HOME/.cache/tracelake}
scripts/setup-test-tools.sh >/dev/null
cargo build --quiet --locked --workspace --bins
exec "$TRACELAKE_TEST_TOOLS/venv/bin/python" tools/bench/bench.py "$@"
