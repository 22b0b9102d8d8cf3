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
# The functions' log level is yours to choose; none of your other AWS settings (profile, region,
# endpoints, retries: `source .local/env` sets AWS_MAX_ATTEMPTS=1) reaches what this starts.
log_level=${AWS_LAMBDA_LOG_LEVEL:-INFO}
source dev/lib/stack.sh

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
signing_material
# `make down` stops what this file lists.
pids_file=$work/pids wait_tries=900
cleanup_on_exit

echo "building the functions (the first build takes a few minutes)…"
cargo build --quiet --workspace --bins
check_definitions

start_moto "$moto_port" "$table"
events_queue=$(flow_events_rule "$moto_port")
start_receiver "$receiver_port"

functions_env "$table" "$moto_port"
cat >>"$work/functions.env" <<ENV
# Header values may name moto's secrets under emr-flows/callbacks/ (tagged emr-flows:callback-host).
CALLBACK_HEADER_SECRETS=arn:aws:secretsmanager:us-east-1:123456789012:secret:emr-flows/callbacks/*
AWS_LAMBDA_LOG_LEVEL=$log_level
ENV
start_functions "$lambda_port"

# What dev/standins/drive.py and a user's shell read.
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
  moto       http://127.0.0.1:$moto_port   (DynamoDB table $table, EMR, EMR Serverless, EMR on EKS, EventBridge, SQS)
  flow events  a rule on the default bus takes them to $events_queue
  receiver   http://127.0.0.1:$receiver_port/callbacks   (verifies v1 and v1a signatures; .local/receiver.log)
  v1a public key  $public_key   (list {"signing_keys": true} answers it too)

In another shell:
  source .local/env
  aws lambda invoke --endpoint-url \$EMR_FLOWS_LAMBDA_URL --function-name submit \\
    --payload '{"flow": "spark-pi", "params": {"partitions": 10}, "callbacks": [{"http": {"url": "'\$EMR_FLOWS_RECEIVER_URL'"}}]}' /dev/stdout
  .venv/bin/python dev/standins/drive.py FLOW_ID                 # EMR's events: success
  .venv/bin/python dev/standins/drive.py FLOW_ID --fail-step 1   # or the first step fails
  aws lambda invoke --endpoint-url \$EMR_FLOWS_LAMBDA_URL --function-name list --payload '{"flow_id": "FLOW_ID"}' /dev/stdout
  tail .local/receiver.log                                        # the verified callback
  aws --endpoint-url \$EMR_FLOWS_MOTO_URL sqs receive-message --max-number-of-messages 10 --queue-url $events_queue   # the flow events
  emr-flows submit spark-pi -p partitions=100 --wait              # or the command line (make cli), drive.py in another shell
  # a function error's type and message (the CLI shows only "(500)"):
  .venv/bin/cargo-lambda lambda invoke --invoke-address 127.0.0.1 --invoke-port $lambda_port submit --data-ascii '{"flow": "no-such-flow"}'
TEXT

wait
