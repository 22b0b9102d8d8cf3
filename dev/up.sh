#!/usr/bin/env bash
# A local emr-flows that stays up: moto (DynamoDB, EMR, S3, SQS), the four functions under
# `cargo lambda watch`, and a callback receiver that verifies each signed callback (v1 with the
# shared secret, v1a with the public key of the key the functions sign with). Prints the
# endpoints and commands to paste, then runs until Ctrl-C (or `make down` from another shell).
#
# Ports (fixed, so pasted commands keep working): EMR_FLOWS_MOTO_PORT (5050),
# EMR_FLOWS_LAMBDA_PORT (9050), EMR_FLOWS_RECEIVER_PORT (9051). State and logs: .local/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export PATH="$root/.venv/bin:$PATH"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1
unset AWS_ENDPOINT_URL AWS_PROFILE

work=$root/.local
moto_port=${EMR_FLOWS_MOTO_PORT:-5050}
lambda_port=${EMR_FLOWS_LAMBDA_PORT:-9050}
receiver_port=${EMR_FLOWS_RECEIVER_PORT:-9051}
table=emr-flows-local

if [[ -f $work/pids ]] && kill -0 $(cat "$work/pids") 2>/dev/null; then
  echo "a local stack is already up (see $work/env); stop it with: make down" >&2
  exit 1
fi
for port in "$moto_port" "$lambda_port" "$receiver_port"; do
  if (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "port $port is taken; set EMR_FLOWS_MOTO_PORT, EMR_FLOWS_LAMBDA_PORT or EMR_FLOWS_RECEIVER_PORT" >&2
    exit 1
  fi
done
rm -rf "$work" && mkdir -p "$work"
secret="whsec_$(python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')"
# An ed25519 key pair for v1a signatures: the functions sign with the key, the receiver holds
# only the public key (as a receiver of another team would).
keys=$(python3 dev/signing_key.py new)
signing_key=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["signing_key"])' <<<"$keys")
public_key=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["public_key"])' <<<"$keys")

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -f "$work/pids"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
start() { local log=$1; shift; set -m; "$@" >"$work/$log" 2>&1 & pids+=($!); set +m; printf '%s\n' "${pids[@]}" >"$work/pids"; }
wait_port() {
  for _ in $(seq 1 900); do
    (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.2
  done
  echo "$2 did not start; see $work/$3" >&2; tail -20 "$work/$3" >&2; exit 1
}

echo "building the functions (the first build takes a few minutes)…"
cargo build --quiet --workspace --bins

start moto.log moto_server -p "$moto_port"
wait_port "$moto_port" moto moto.log
AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port" "${CARGO_TARGET_DIR:-target}/debug/create-local-table" "$table"

CALLBACK_SIGNING_SECRET=$secret CALLBACK_SIGNING_PUBLIC_KEY=$public_key start receiver.log python3 dev/callback_receiver.py \
  --port "$receiver_port" --out "$work/callbacks.jsonl"
wait_port "$receiver_port" "the callback receiver" receiver.log

cat >"$work/functions.env" <<ENV
TABLE_NAME=$table
AWS_ENDPOINT_URL=http://127.0.0.1:$moto_port
AWS_REGION=us-east-1
AWS_ACCESS_KEY_ID=testing
AWS_SECRET_ACCESS_KEY=testing
CALLBACK_SIGNING_SECRET="$secret"
CALLBACK_SIGNING_KEY="$signing_key"
CALLBACK_ALLOW_LOCAL=true
# Header values may name moto's secrets under emr-flows/callbacks/ (tagged emr-flows:callback-host).
CALLBACK_HEADER_SECRETS=arn:aws:secretsmanager:us-east-1:123456789012:secret:emr-flows/callbacks/*
AWS_LAMBDA_LOG_LEVEL=${AWS_LAMBDA_LOG_LEVEL:-INFO}
ENV
start functions.log cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$lambda_port" \
  --ignore-changes --env-file "$work/functions.env"
wait_port "$lambda_port" "cargo lambda watch" functions.log

# What dev/drive.py and a user's shell read.
cat >"$work/env" <<ENV
# The project's AWS CLI (v1, from .venv) first: the commands below use v1's --payload form.
export PATH="$root/.venv/bin:\$PATH"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1
# cargo lambda watch answers a function error with HTTP 500: one attempt, no retries.
export AWS_MAX_ATTEMPTS=1
export EMR_FLOWS_LAMBDA_URL=http://127.0.0.1:$lambda_port
export EMR_FLOWS_MOTO_URL=http://127.0.0.1:$moto_port
export EMR_FLOWS_RECEIVER_URL=http://127.0.0.1:$receiver_port/callbacks
ENV

cat <<TEXT

emr-flows is up (Ctrl-C or \`make down\` stops it; logs in .local/):
  functions  http://127.0.0.1:$lambda_port   (aws lambda invoke --endpoint-url …)
  moto       http://127.0.0.1:$moto_port   (DynamoDB table $table, EMR)
  receiver   http://127.0.0.1:$receiver_port/callbacks   (verifies v1 and v1a signatures; .local/receiver.log)
  v1a public key  $public_key   (list {"signing_keys": true} answers it too)

In another shell:
  source .local/env
  aws lambda invoke --endpoint-url \$EMR_FLOWS_LAMBDA_URL --function-name submit \\
    --payload '{"flow": "spark-pi", "params": {"partitions": 10}, "callbacks": [{"http": {"url": "'\$EMR_FLOWS_RECEIVER_URL'"}}]}' /dev/stdout
  .venv/bin/python dev/drive.py FLOW_ID                  # EMR's events: success
  .venv/bin/python dev/drive.py FLOW_ID --fail-step 1    # or the first step fails
  aws lambda invoke --endpoint-url \$EMR_FLOWS_LAMBDA_URL --function-name list --payload '{"flow_id": "FLOW_ID"}' /dev/stdout
  tail .local/receiver.log                               # the verified callback
  emr-flows submit spark-pi -p partitions=100 --wait     # or the command line (make cli), drive.py in another shell
  # a function error's type and message (the CLI shows only "(500)"):
  .venv/bin/cargo-lambda lambda invoke --invoke-address 127.0.0.1 --invoke-port $lambda_port submit --data-ascii '{"flow": "no-such-flow"}'
TEXT

wait
