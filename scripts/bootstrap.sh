#!/usr/bin/env bash
# Creates (or refreshes) the project-local tools, each pinned and each skipped when a stamp holding
# its requirements' hash says nothing changed (idempotent, fast when up to date):
# - .venv (scripts/requirements.txt): the moto emulator, cargo-lambda, zig, cfn-lint (with the SAM
#   translator the IAM test uses), DuckDB, pyarrow, schemathesis;
# - .venv-sam (scripts/requirements-sam.txt): SAM CLI, for `sam validate --lint` and `sam build`;
# - .venv-checkov (scripts/requirements-checkov.txt): checkov, the template scanner;
# - tests/iam/node_modules (tests/iam/package-lock.json): the IAM policy evaluator of the IAM test
#   (@cloud-copilot/iam-simulate, AGPL-3.0: a test tool, never shipped);
# - scripts/sfn/node_modules (scripts/sfn/package-lock.json): the local Step Functions runner
#   (aws-local-stepfunctions) and asl-validator. Node.js and npm come from Debian when missing.
# SAM CLI and checkov pin boto differently, so each has its own venv (one venv makes pip backtrack
# for a very long time); the three venvs install in parallel.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# venv <dir> <requirements file>
venv() {
  local venv="$root/$1" req="$root/$2"
  local stamp="$venv/.requirements.sha256" want
  want="$(sha256sum "$req" | cut -d' ' -f1)"
  if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
  echo "$want" > "$stamp"
  echo "bootstrap: $1 ready ($2)" >&2
}

# npm_tools <dir with package-lock.json>
npm_tools() {
  local dir="$root/$1"
  local stamp="$dir/node_modules/.lock.sha256" want
  want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
  echo "$want" > "$stamp"
  echo "bootstrap: $1/node_modules ready" >&2
}

if ! command -v npm >/dev/null 2>&1; then
  echo "bootstrap: installing Node.js and npm (Debian packages)" >&2
  ${SUDO:-$(command -v sudo || true)} apt-get update -qq
  ${SUDO:-$(command -v sudo || true)} apt-get install -y -qq nodejs npm >/dev/null
fi

pids=()
venv .venv scripts/requirements.txt & pids+=($!)
venv .venv-sam scripts/requirements-sam.txt & pids+=($!)
venv .venv-checkov scripts/requirements-checkov.txt & pids+=($!)
npm_tools tests/iam & pids+=($!)
npm_tools scripts/sfn & pids+=($!)
failed=0
for pid in "${pids[@]}"; do
  wait "$pid" || failed=1
done
exit "$failed"
