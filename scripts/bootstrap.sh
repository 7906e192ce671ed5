#!/usr/bin/env bash
# Creates (or refreshes) the project-local Python venv in .venv with the pinned tools from
# scripts/requirements.txt: the moto emulator, cargo-lambda, zig, cfn-lint, DuckDB and pyarrow;
# and scripts/sfn/node_modules (the local Step Functions runner) from its package-lock.json.
# Idempotent: a stamp holding the requirements' hash skips the install when nothing changed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
req="$root/scripts/requirements.txt"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"

# The local Step Functions runner (scripts/sfn: aws-local-stepfunctions, asl-validator), pinned by
# its package-lock.json; Node.js from Debian when the machine has none.
sfn="$root/scripts/sfn"
sfn_want="$(sha256sum "$sfn/package-lock.json" | cut -d' ' -f1)"
if ! [ -f "$sfn/node_modules/.lock.sha256" ] || [ "$(cat "$sfn/node_modules/.lock.sha256")" != "$sfn_want" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "bootstrap: installing Node.js and npm (Debian packages)" >&2
    ${SUDO:-$(command -v sudo || true)} apt-get update -qq
    ${SUDO:-$(command -v sudo || true)} apt-get install -y -qq nodejs npm >/dev/null
  fi
  (cd "$sfn" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$sfn_want" > "$sfn/node_modules/.lock.sha256"
  echo "bootstrap: scripts/sfn/node_modules ready (node $(node --version))" >&2
fi

if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
echo "$want" > "$stamp"
echo "bootstrap: .venv ready ($("$venv/bin/python" --version 2>&1); moto, cargo-lambda, cfn-lint, duckdb, pyarrow)" >&2
