#!/usr/bin/env bash
# Runs every test on a fresh machine: installs the project's tools (scripts/bootstrap.sh: .venv with
# moto, cargo-lambda, cfn-lint, DuckDB; .venv-sam with SAM CLI; .venv-checkov with checkov;
# tests/iam/node_modules with the IAM policy evaluator; scripts/sfn/node_modules with the local
# Step Functions runner), checks formatting, runs clippy with warnings as errors, checks
# template.yaml (cfn-lint, `sam validate --lint`, checkov) and the state machines (asl-validator),
# then runs the unit, architecture, integration, IAM (tests/integration/tests/iam.rs), state
# machine (pipeline.rs: the definitions executed with the real handlers) and end-to-end tests.
# Each test binary starts its own moto server on 127.0.0.1 and stops it on exit; the end-to-end,
# state machine and IAM tests serve the real function binaries with `cargo lambda watch`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

step() { printf '\n== %s\n' "$*"; }

step "bootstrap (.venv)"
bash scripts/bootstrap.sh
export PATH="$root/.venv/bin:$PATH"

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings
# The fault suite's targets are `test = false` (they run in their own step), so name them.
cargo clippy -p tributary-integration --test faults --test hostile --locked -- -D warnings

step "cfn-lint template.yaml"
cfn-lint template.yaml

step "sam validate --lint (SAM CLI, .venv-sam)"
SAM_CLI_TELEMETRY=0 .venv-sam/bin/sam validate --lint --template template.yaml --region us-east-1

step "checkov template.yaml (skips and their reasons: .checkov.yaml, resource Metadata)"
.venv-checkov/bin/checkov --config-file .checkov.yaml

step "asl-validator statemachines/*.asl.json"
for f in statemachines/*.asl.json; do
  scripts/sfn/node_modules/.bin/asl-validator --json-path "$f"
done

step "local AWS stack script self-check"
python3 scripts/local_aws.py run -- python3 -c "import os; assert os.environ['AWS_ENDPOINT_URL'].startswith('http://127.0.0.1:'); print('local stack up:', os.environ['AWS_ENDPOINT_URL'])"

step "cargo test --workspace"
cargo test --workspace --locked

step "fault suite (redelivery, crashes, throttling, changing objects, hostile inputs)"
cargo test -p tributary-integration --locked --test faults --test hostile -- --nocapture
