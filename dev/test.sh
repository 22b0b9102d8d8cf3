#!/usr/bin/env bash
# Every check CI runs: formatting, lints, the SAM template, and all tests (unit, adapter tests on
# moto, end to end through `cargo lambda watch`). Tests start the stand-ins they need themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH" SAM_CLI_TELEMETRY=0

step() { printf '\n== %s\n' "$*"; }
# The template checks call no AWS API: none of the caller's AWS settings (a profile that does not
# exist here, a region) reaches them. The tests set the environment of what they start themselves.
aws_free() { (unset "${!AWS_@}"; "$@"); }

step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy (warnings denied)"
cargo clippy --workspace --all-targets --locked -- -D warnings
step "sam validate --lint"
aws_free sam validate --lint --region us-east-1
step "flow definitions (make check)"
cargo build --quiet --locked --workspace --bins   # as make check: one feature set, one build
"${CARGO_TARGET_DIR:-target}/debug/check-definitions"
step "cfn-lint with AWS's Serverless Rules"
aws_free cfn-lint --append-rules cfn_lint_serverless.rules -- template.yaml
step "checkov's CloudFormation checks (offline; skips are in the template, each with its reason)"
aws_free .venv-checkov/bin/checkov -f template.yaml --framework cloudformation --skip-download --compact --quiet
step "cargo test"
cargo test --workspace --locked
