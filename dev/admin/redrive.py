#!/usr/bin/env python3
"""Send the EMR events a stack kept back through on-state-change, and report what applied.

Two queues hold events on-state-change did not handle:
- FailedEventsQueue: invocations that still failed after Lambda's retries, as Lambda destination
  records (the event is the record's `requestPayload`; on-state-change unwraps it itself);
- EmrEventsDeadLetterQueue (--dlq): events EventBridge could not deliver, the events themselves.

Each message is invoked synchronously on on-state-change, as it came. A message whose invocation
succeeded is deleted and reported (`applied FLOW STATUS`, `ignored: REASON`); one that failed
again is kept (visible again after the visibility timeout) and reported with its error. Every
write on-state-change makes is conditional, so sending an event twice changes nothing twice.

    make redrive STACK=emr-flows              # FailedEventsQueue of the deployed stack
    make redrive STACK=emr-flows ARGS=--dlq   # EventBridge's dead-letter queue
    python dev/admin/redrive.py --queue-url URL --function NAME [--dry-run]

Locally, AWS_ENDPOINT_URL_SQS / AWS_ENDPOINT_URL_LAMBDA point it at moto and `cargo lambda
watch`. Exit status: 0 when every message applied, 1 when any was kept.
"""

import argparse
import json
import sys

import boto3
from botocore.config import Config


def stack_outputs(stack):
    cfn = boto3.client("cloudformation")
    outputs = cfn.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    return {o["OutputKey"]: o["OutputValue"] for o in outputs}


def describe(answer):
    if "applied" in answer:
        a = answer["applied"]
        return f"applied {a['flow_id']} {a['status']}" + ("" if a.get("changed") else " (no change)")
    if "applied_to_flows" in answer:  # a shared cluster that ended under several step flows
        return "; ".join(describe({"applied": a}) for a in answer["applied_to_flows"]["flows"])
    if "ignored" in answer:
        return f"ignored: {answer['ignored']['reason']}"
    return json.dumps(answer)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", help="the stack whose queue and function to use")
    parser.add_argument("--queue-url", help="the queue (instead of --stack)")
    parser.add_argument("--function", help="on-state-change's name (instead of --stack)")
    parser.add_argument("--dlq", action="store_true", help="EventBridge's dead-letter queue instead of FailedEventsQueue")
    parser.add_argument("--max", type=int, default=1000, help="at most this many messages (default 1000)")
    parser.add_argument("--dry-run", action="store_true", help="show the messages; invoke and delete nothing")
    args = parser.parse_args()

    queue_url, function = args.queue_url, args.function
    if args.stack:
        outputs = stack_outputs(args.stack)
        queue_url = queue_url or outputs["EmrEventsDeadLetterQueueUrl" if args.dlq else "FailedEventsQueueUrl"]
        function = function or outputs["OnStateChangeFunctionName"]
    if not queue_url or not function:
        parser.error("give --stack, or --queue-url and --function")

    sqs = boto3.client("sqs")
    # One attempt per invocation: a failure is reported and the message kept, never re-sent here.
    lam = boto3.client("lambda", config=Config(retries={"max_attempts": 1}, read_timeout=120))
    applied = kept = 0
    seen = set()
    while applied + kept < args.max:
        batch = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=120
        ).get("Messages", [])
        batch = [m for m in batch if m["MessageId"] not in seen]
        if not batch:
            break
        for message in batch:
            seen.add(message["MessageId"])
            body = message["Body"]
            if args.dry_run:
                print(f"{message['MessageId']}: {body[:200]}")
                continue
            try:
                result = lam.invoke(FunctionName=function, Payload=body.encode())
                answer = json.loads(result["Payload"].read() or b"null")
                error = result.get("FunctionError") and answer
            except lam.exceptions.ClientError as e:  # cargo lambda watch answers errors with 500
                error = {"errorType": e.response["Error"].get("Code"), "errorMessage": str(e)}
            except Exception as e:  # noqa: BLE001 - reported, the message kept
                error = {"errorType": type(e).__name__, "errorMessage": str(e)}
            if error:
                kept += 1
                print(f"{message['MessageId']}: kept: {error.get('errorType')}: {error.get('errorMessage')}")
                continue
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            applied += 1
            print(f"{message['MessageId']}: {describe(answer)}")
    if not args.dry_run:
        print(f"{applied} applied, {kept} kept")
    return 1 if kept else 0


if __name__ == "__main__":
    sys.exit(main())
