#!/usr/bin/env bash
# Installs what the test suite compares against, outside the clone so runs reuse it:
# a Python venv (PyIceberg, DuckDB with its iceberg extension, moto's S3 server) and npm
# packages (ccusage, the Claude Code and Codex CLIs). Idempotent: does nothing when already in place.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
tools=${TRACELAKE_TEST_TOOLS:-$HOME/.cache/tracelake}
mkdir -p "$tools"

stamp() { sha256sum "$1" | cut -c1-16; }

req="$here/tools/test/requirements.txt"
if [ "$(cat "$tools/venv/.stamp" 2>/dev/null)" != "$(stamp "$req")" ]; then
  echo "setting up the Python test tools in $tools/venv" >&2
  rm -rf "$tools/venv"
  python3 -m venv "$tools/venv"
  "$tools/venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
  stamp "$req" > "$tools/venv/.stamp"
fi

pkg="$here/tools/test/package.json"
# Every package pinned in package.json installed at its exact version? (Several clones may
# share $tools; one whose package.json is a subset of what is installed must not reinstall.)
npm_satisfied() {
  node -e '
    const fs = require("fs"), path = require("path");
    const [pkg, dir] = process.argv.slice(1);
    for (const [name, version] of Object.entries(JSON.parse(fs.readFileSync(pkg)).dependencies)) {
      try {
        const p = JSON.parse(fs.readFileSync(path.join(dir, "node_modules", name, "package.json")));
        if (p.version !== version) process.exit(1);
      } catch (e) { process.exit(1); }
    }' "$pkg" "$tools/npm" 2>/dev/null
}
if [ "$(cat "$tools/npm/.stamp" 2>/dev/null)" != "$(stamp "$pkg")" ] && ! npm_satisfied; then
  echo "setting up the npm test tools in $tools/npm" >&2
  rm -rf "$tools/npm"
  mkdir -p "$tools/npm"
  cp "$pkg" "$tools/npm/package.json"
  (cd "$tools/npm" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
  stamp "$pkg" > "$tools/npm/.stamp"
fi
echo "$tools"
