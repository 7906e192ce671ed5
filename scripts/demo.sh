#!/usr/bin/env bash
# The Tributary demo: lands the sample files of tests/data/landing through the s3-landing function
# (served by `cargo lambda watch`) against a local moto emulator, prints what happened and checks
# it with DuckDB. Needs only Rust (cargo) and python3; everything else goes into .venv.
# Exits non-zero if any check fails. See scripts/demo.py for the steps.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

scripts/bootstrap.sh
# cargo-lambda (a `cargo lambda` subcommand) and zig are installed into the venv.
export PATH="$root/.venv/bin:$PATH"
if ! cargo lambda --version >/dev/null 2>&1; then
  echo "demo: 'cargo lambda' does not run even with .venv/bin on PATH; try removing .venv and re-running" >&2
  exit 1
fi
echo "demo: $(cargo lambda --version), $(cargo --version)" >&2

# A fresh moto server for the run, provisioned from template.yaml, stopped afterwards.
exec .venv/bin/python scripts/local_aws.py run -- .venv/bin/python scripts/demo.py "$@"
