#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs the peers the tests compare against,
# checks formatting and lints, builds once (one profile for tests and binaries), runs every
# test. Builds go to a target folder outside the clone so later runs reuse them.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/tracelake/target}
export TRACELAKE_TEST_TOOLS=${TRACELAKE_TEST_TOOLS:-$HOME/.cache/tracelake}
export CARGO_TERM_COLOR=never
start=$(date +%s)
step() { echo "== $* ($(( $(date +%s) - start ))s)" >&2; }

step "test tools"
scripts/setup-test-tools.sh >/dev/null
step "cargo fmt --check"
cargo fmt --all --check
step "build"
cargo build --workspace --all-targets --locked
step "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
step "tests"
cargo test --workspace --locked --no-fail-fast -- --test-threads "${TEST_THREADS:-2}"
step "done"
