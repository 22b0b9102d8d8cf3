# shellcheck shell=bash
# What dev/demo.sh (`make demo`) and dev/up.sh (`make up`) share: the local AWS environment,
# fresh signing material, the processes they start and stop, and the three stand-ins both start
# the same way (moto, the callback receiver, the functions under `cargo lambda watch`).
#
# Sourced, never run: the caller has `set -euo pipefail`, is in the workspace root, and sets
# `work` (the folder for state and logs) before calling anything below. Optional settings:
# `pids_file` (start writes every started process's id there, cleanup removes it: how `make
# down` finds them) and `wait_tries` (how many times wait_port looks, 0.2 s apart; 600).

root=$PWD
export PATH="$root/.venv/bin:$PATH"
# None of the caller's AWS settings (profile, region, endpoints, retries) reaches what is
# started here. The AWS CLI and the stand-ins talk to local endpoints only; these credentials
# are never checked.
unset "${!AWS_@}"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1

# Sets `secret` (v1: whsec_ + base64 of 32 random bytes) and an ed25519 key pair for v1a,
# `signing_key` and `public_key`: the functions sign with the key, the receiver holds only the
# public key (as a receiver of another team would).
signing_material() {
  secret="whsec_$(python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')"
  local keys
  keys=$(python3 dev/admin/signing_key.py new)
  signing_key=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["signing_key"])' <<<"$keys")
  public_key=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["public_key"])' <<<"$keys")
}

pids=()
# Stops every process `start` started, and all they started.
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [[ -n ${pids_file:-} ]]; then rm -f "$pids_file"; fi
}
# From here on, cleanup runs when the script ends, also on error or Ctrl-C. (Not at source
# time: a second `make up` that refuses to start must leave the running stack's pids file.)
cleanup_on_exit() {
  trap cleanup EXIT
  trap 'exit 130' INT TERM
}
# start LOG COMMAND…: runs COMMAND in its own process group (so cleanup stops it and all it
# started), its output to $work/LOG.
start() {
  local log=$1; shift
  set -m; "$@" >"$work/$log" 2>&1 & pids+=($!); set +m
  if [[ -n ${pids_file:-} ]]; then printf '%s\n' "${pids[@]}" >"$pids_file"; fi
}
# wait_port PORT WHAT LOG: until something listens on PORT; else WHAT's log and exit 1.
wait_port() {
  for _ in $(seq 1 "${wait_tries:-600}"); do
    (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.2
  done
  echo "$2 did not start; see $work/$3" >&2; tail -20 "$work/$3" >&2; exit 1
}

# check_definitions: every definition in shared/flows/ checked as `make check` does (after
# `cargo build --workspace --bins`); a broken one stops here, named with its problems, instead
# of functions that fail at every start.
check_definitions() {
  "${CARGO_TARGET_DIR:-target}/debug/check-definitions" >"$work/definitions.log" 2>&1 || {
    cat "$work/definitions.log" >&2
    echo "the flow definitions above have problems: fix them first (make check lists them)" >&2
    exit 1
  }
}

# start_moto PORT TABLE: moto on PORT, with the flow table TABLE as template.yaml defines it
# (create-local-table: `cargo build --workspace --bins` first).
start_moto() {
  start moto.log moto_server -p "$1"
  wait_port "$1" moto moto.log
  AWS_ENDPOINT_URL="http://127.0.0.1:$1" "${CARGO_TARGET_DIR:-target}/debug/create-local-table" "$2"
}

# start_receiver PORT: the callback receiver on PORT, verifying v1 with `secret` and v1a with
# `public_key`; what it got goes to $work/callbacks.jsonl, one line per callback to receiver.log.
start_receiver() {
  CALLBACK_SIGNING_SECRET=$secret CALLBACK_SIGNING_PUBLIC_KEY=$public_key start receiver.log python3 dev/standins/callback_receiver.py \
    --port "$1" --out "$work/callbacks.jsonl"
  wait_port "$1" "the callback receiver" receiver.log
}

# functions_env TABLE MOTO_PORT: writes the functions' environment to $work/functions.env
# (the caller may append to it before start_functions).
functions_env() {
  cat >"$work/functions.env" <<ENV
TABLE_NAME=$1
AWS_ENDPOINT_URL=http://127.0.0.1:$2
AWS_REGION=us-east-1
AWS_ACCESS_KEY_ID=testing
AWS_SECRET_ACCESS_KEY=testing
AWS_MAX_ATTEMPTS=3
CALLBACK_SIGNING_SECRET="$secret"
CALLBACK_SIGNING_KEY="$signing_key"
CALLBACK_ALLOW_LOCAL=true
# Flow events to moto's default EventBridge bus (see flow_events_rule).
FLOW_EVENT_BUS=default
ENV
}

# flow_events_rule MOTO_PORT: a rule on moto's default bus taking every flow event to the SQS
# queue emr-flows-flow-events, as a system that watches flows would subscribe; prints its URL.
flow_events_rule() {
  local moto="--endpoint-url http://127.0.0.1:$1" queue=emr-flows-flow-events
  # shellcheck disable=SC2086
  {
    aws $moto sqs create-queue --queue-name "$queue" --query QueueUrl --output text
    aws $moto events put-rule --name "$queue" --event-pattern \
      '{"source": ["emr-flows"], "detail-type": ["Flow Status Change"]}' >/dev/null
    aws $moto events put-targets --rule "$queue" \
      --targets "Id=queue,Arn=arn:aws:sqs:us-east-1:123456789012:$queue" >/dev/null
  }
}

# start_functions PORT: the four functions under `cargo lambda watch` on PORT, with
# $work/functions.env.
start_functions() {
  start functions.log cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$1" \
    --ignore-changes --env-file "$work/functions.env"
  wait_port "$1" "cargo lambda watch" functions.log
}
