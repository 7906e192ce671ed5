#!/usr/bin/env bash
# Creates (or refreshes) the project-local Python venv in .venv with the pinned tools from
# scripts/requirements.txt: the moto emulator, cargo-lambda, zig, cfn-lint, DuckDB and pyarrow.
# Idempotent: a stamp holding the requirements' hash skips the install when nothing changed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
req="$root/scripts/requirements.txt"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"

if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
echo "$want" > "$stamp"
echo "bootstrap: .venv ready ($("$venv/bin/python" --version 2>&1); moto, cargo-lambda, cfn-lint, duckdb, pyarrow)" >&2
