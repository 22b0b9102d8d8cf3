#!/usr/bin/env bash
# The main job, end to end, on local stand-ins: moto serves DynamoDB, EMR, EMR Serverless and EMR on EKS, `cargo lambda
# watch` serves the four functions, and a local receiver verifies each signed callback: v1 with
# the Standard Webhooks reference library, v1a (ed25519) with PyPI cryptography and the public
# key only. EMR's state changes are driven by invoking
# on-state-change with the EventBridge events in events/lifecycle-*, carrying the real ids.
#
# Run it with `make demo`. Logs go to .demo/; every process started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
source dev/lib/stack.sh
# cargo lambda watch answers a function error with HTTP 500, which the CLI would retry 4 times.
export AWS_MAX_ATTEMPTS=1

work=$root/.demo
rm -rf "$work" && mkdir -p "$work"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
moto_port=$(free_port) receiver_port=$(free_port) lambda_port=$(free_port)
signing_material
table=emr-flows-demo
cleanup_on_exit

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
json() { python3 -m json.tool; }
# invoke FUNCTION PAYLOAD_FILE: the AWS CLI call a user makes, against the local functions.
invoke() {
  aws lambda invoke --endpoint-url "http://127.0.0.1:$lambda_port" --function-name "$1" \
    --payload "file://$2" "$work/out.json" >/dev/null
  cat "$work/out.json"
}
field() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval('d'+sys.argv[1]))" "$1"; }

say "Building the functions"
cargo build --quiet --workspace --bins
check_definitions

say "Starting moto (DynamoDB, EMR, EMR Serverless, EMR on EKS, EventBridge, SQS) on :$moto_port"
start_moto "$moto_port" "$table"
echo "A rule on the default bus takes every flow event (Flow Status Change) to an SQS queue"
events_queue=$(flow_events_rule "$moto_port")

say "Starting the callback receiver on :$receiver_port"
start_receiver "$receiver_port"

say "Starting the functions (cargo lambda watch) on :$lambda_port"
functions_env "$table" "$moto_port"
start_functions "$lambda_port"

# run_flow NAME PARAMS LIFECYCLE: submit, drive the lifecycle's events, show the outcome.
run_flow() {
  local name=$1 params=$2 lifecycle=$3
  printf '{"flow": "%s", "params": %s, "callbacks": [{"http": {"url": "http://127.0.0.1:%s/callbacks"}}]}\n' \
    "$name" "$params" "$receiver_port" >"$work/submit.json"
  say "Submit $name"
  echo "\$ aws lambda invoke --function-name submit --payload file://submit.json out.json"
  json <"$work/submit.json"
  invoke submit "$work/submit.json" | tee "$work/submitted.json" | json
  flow_id=$(field '["flow_id"]' <"$work/submitted.json")
  cluster_id=$(field '["cluster_id"]' <"$work/submitted.json")
  printf '{"flow_id": "%s"}\n' "$flow_id" >"$work/list.json"
  step_id=$(invoke list "$work/list.json" | field '["steps"].popitem()[0]')
  echo "EMR (moto) launched cluster $cluster_id with step $step_id"

  say "EMR's events for $cluster_id, as EventBridge delivers them to on-state-change"
  for event in events/"$lifecycle"/*.json; do
    sed -e "s/j-2AXXXXXXGAPLF/$cluster_id/g" -e "s/s-1XXXXXXXXSTEP/$step_id/g" "$event" >"$work/event.json"
    what=$(field '["detail-type"] + " " + d["detail"]["state"]' <"$work/event.json")
    status=$(invoke on-state-change "$work/event.json" | field '["applied"]["status"]')
    printf '  %-45s -> flow %s\n' "$what" "$status"
  done

  say "list {\"flow_id\": \"$flow_id\"}"
  invoke list "$work/list.json" | python3 -c '
import json, sys
r = json.load(sys.stdin)
keep = ["flow_id", "flow", "status", "params", "cluster_id", "cluster_state", "steps", "failure", "artifacts", "deliveries", "submitted_at", "ended_at"]
print(json.dumps({k: r[k] for k in keep if k in r}, indent=2))'
}

run_flow spark-pi '{"partitions": 100}' lifecycle-success
run_flow pages-es-index-updater '{"domain_id": 7}' lifecycle-failure

# The third flow runs on EMR Serverless: a job run on an application (moto's, born STARTED),
# followed through EMR Serverless' job-run events, which dev/standins/drive.py sends as
# EventBridge would (its first attempt fails and is retried; the final utilization update
# gives the billed figures).
say "An EMR Serverless application (moto) for spark-pi-serverless"
echo "\$ aws emr-serverless create-application --name demo --release-label emr-7.1.0 --type SPARK"
application_id=$(aws emr-serverless create-application --endpoint-url "http://127.0.0.1:$moto_port" \
  --name demo --release-label emr-7.1.0 --type SPARK --query applicationId --output text)
echo "application $application_id"
printf '{"flow": "spark-pi-serverless", "params": {"application_id": "%s", "partitions": 100}, "callbacks": [{"http": {"url": "http://127.0.0.1:%s/callbacks"}}]}\n' \
  "$application_id" "$receiver_port" >"$work/submit.json"
say "Submit spark-pi-serverless"
json <"$work/submit.json"
invoke submit "$work/submit.json" | tee "$work/submitted.json" | json
flow_id=$(field '["flow_id"]' <"$work/submitted.json")
say "EMR Serverless' events for its job run, as EventBridge delivers them to on-state-change"
"$root/.venv/bin/python" dev/standins/drive.py "$flow_id" --retry --endpoint-url "http://127.0.0.1:$lambda_port"

# The fourth flow runs on EMR on EKS: a job run on a virtual cluster (moto's), followed through
# EMR on EKS' job-run state changes, each confirmed with DescribeJobRun.
say "An EMR on EKS virtual cluster (moto) for spark-pi-eks"
echo "\$ aws emr-containers create-virtual-cluster --name demo --container-provider '{\"id\": \"demo-eks\", \"type\": \"EKS\", …}'"
virtual_cluster_id=$(aws emr-containers create-virtual-cluster --endpoint-url "http://127.0.0.1:$moto_port" \
  --name demo --container-provider '{"id": "demo-eks", "type": "EKS", "info": {"eksInfo": {"namespace": "spark"}}}' \
  --query id --output text)
echo "virtual cluster $virtual_cluster_id"
printf '{"flow": "spark-pi-eks", "params": {"virtual_cluster_id": "%s", "partitions": 100}, "callbacks": [{"http": {"url": "http://127.0.0.1:%s/callbacks"}}]}\n' \
  "$virtual_cluster_id" "$receiver_port" >"$work/submit.json"
say "Submit spark-pi-eks"
json <"$work/submit.json"
invoke submit "$work/submit.json" | tee "$work/submitted.json" | json
flow_id=$(field '["flow_id"]' <"$work/submitted.json")
say "EMR on EKS' events for its job run, as EventBridge delivers them to on-state-change (each confirmed with DescribeJobRun; moto's runs are born RUNNING, so the flow runs from the first)"
"$root/.venv/bin/python" dev/standins/drive.py "$flow_id" --endpoint-url "http://127.0.0.1:$lambda_port"

say "What the callback receiver verified (Standard Webhooks: v1 by the PyPI reference library with the shared secret, v1a by PyPI cryptography with the public key alone)"
grep -E 'callback verified|REJECTED' "$work/receiver.log"
verified=$(grep -c 'callback verified (v1, v1a)' "$work/receiver.log" || true)
rejected=$(grep -c 'REJECTED' "$work/receiver.log" || true)
if [[ $verified -ne 4 || $rejected -ne 0 ]]; then
  echo "expected 4 callbacks verified with both signatures and none rejected; got $verified and $rejected" >&2
  exit 1
fi

say "The public key receivers verify v1a with, as list answers it (GET /signing-keys on the API)"
echo '{"signing_keys": true}' >"$work/signing-keys.json"
echo "\$ aws lambda invoke --function-name list --payload '{\"signing_keys\": true}' out.json"
invoke list "$work/signing-keys.json" | tee "$work/keys.json" | json
if [[ $(field '["public_keys"][0]' <"$work/keys.json") != "$public_key" ]]; then
  echo "list answered another public key than the receiver's ($public_key)" >&2
  exit 1
fi

say "Active flows now"
echo '{"status": "active"}' >"$work/active.json"
invoke list "$work/active.json" | json

say "The reconcile sweep, by hand (it runs every 5 minutes in AWS): nothing is left to repair"
echo '{"reconcile": true}' >"$work/reconcile.json"
echo "\$ aws lambda invoke --function-name on-state-change --payload file://reconcile.json out.json"
invoke on-state-change "$work/reconcile.json" | json
say "A flow followed with the command line while dev/standins/drive.py plays EMR"
cli=(env EMR_FLOWS_LAMBDA_URL="http://127.0.0.1:$lambda_port" "${CARGO_TARGET_DIR:-target}/debug/emr-flows")
echo "\$ emr-flows submit spark-pi -p partitions=10 --json"
"${cli[@]}" --json submit spark-pi -p partitions=10 | tee "$work/cli-submitted.json" | json
cli_flow=$(field '["flow_id"]' <"$work/cli-submitted.json")
echo "\$ emr-flows watch $cli_flow    # with drive.py in another shell"
"${cli[@]}" watch "$cli_flow" --interval 200ms >"$work/watch.out" 2>&1 &
watcher=$!
sleep 1
python3 dev/standins/drive.py "$cli_flow" --endpoint-url "http://127.0.0.1:$lambda_port" >"$work/drive.out"
if ! wait "$watcher"; then
  cat "$work/watch.out"; echo "emr-flows watch did not end with SUCCEEDED (exit 0)" >&2; exit 1
fi
cat "$work/watch.out"

say "What the rule on the flow events received (SQS), one event per status change"
python3 - "$events_queue" "http://127.0.0.1:$moto_port" <<'PY'
import collections, json, sys
import boto3
queue, endpoint = sys.argv[1:]
sqs = boto3.client("sqs", endpoint_url=endpoint)
seen = collections.defaultdict(list)
while messages := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
    for m in messages:
        detail = json.loads(m["Body"])["detail"]
        seen[(detail["flow_id"], detail["flow"])].append(detail["status"])
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
for (flow_id, flow), statuses in seen.items():
    print(f"  {flow_id}  {flow:24} {' -> '.join(statuses)}")
ends = sorted(s[-1] for s in seen.values())
if len(seen) != 5 or ends != ["FAILED"] + ["SUCCEEDED"] * 4 or any(len(s) != len(set(s)) for s in seen.values()):
    sys.exit(f"expected five flows' events, each status once, one ending FAILED, four SUCCEEDED; got {dict(seen)}")
PY

say "Demo complete: two cluster flows SUCCEEDED (one followed with the command line), one FAILED with its cause, one EMR Serverless flow SUCCEEDED after a retried attempt, one EMR on EKS flow SUCCEEDED; callbacks verified (v1 and v1a), every status change published as a flow event."
