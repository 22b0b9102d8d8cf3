#!/usr/bin/env python3
"""Play EMR's lifecycle of one flow against the local stack, as EventBridge would deliver it.

Reads the flow's cluster and steps from `list` (the real ids moto's EMR gave them), then sends
on-state-change EMR's own events (Amazon EMR management guide, "Monitor Amazon EMR events"):
cluster STARTING, RUNNING; each step RUNNING then COMPLETED, and the cluster TERMINATED with
ALL_STEPS_COMPLETED. With --fail-step N, step N (1-based) FAILED, the steps after it CANCELLED
(what EMR does with ActionOnFailure TERMINATE_CLUSTER) and the cluster TERMINATED_WITH_ERRORS
with STEP_FAILURE. Prints each event with the flow's status after it, then the outcome.

A step flow (target `steps`: steps on a long-running cluster) gets only its own steps' events,
RUNNING then COMPLETED (step N FAILED with --fail-step N; the steps after it run on, as with
ActionOnFailure CONTINUE): the cluster is shared, and never ends for one flow. With
--end-cluster, the cluster then ends (TERMINATED, USER_REQUEST), as when an operator ends it
under flows still running (use it with steps left RUNNING: --leave-running).
A flow on EMR Serverless (target serverless_job_run) gets its job run's events instead (EMR
Serverless user guide, "Automating EMR Serverless with Amazon EventBridge"): SUBMITTED, PENDING,
SCHEDULED, RUNNING, then SUCCESS, or FAILED with --fail; with --retry, the first attempt fails
and a "Job Run Retry" starts attempt 2 first; then the final "Job Resource Utilization Update".
A flow on EMR on EKS (target eks_job_run) gets its job run's "EMR Job Run State Change" events
(source aws.emr-containers; no body is published, so each carries the ids and state community
code reads, and on-state-change confirms it with DescribeJobRun): PENDING, SUBMITTED, RUNNING,
then COMPLETED, or FAILED with --fail; with --retry, the first driver fails and an "EMR Job Run
New Driver Attempt" (currentAttemptCount 2) comes first. A job run whose flow was terminated
(`emr-flows terminate`, accepted) ends the way the service cancels it instead: CANCELLING (EMR
Serverless) or CANCEL_PENDING (EMR on EKS), then CANCELLED: moto cancels at once but sends no
event.

    source .local/env            # after `make up`
    python dev/standins/drive.py FLOW_ID [--fail-step N | --fail] [--retry] [--endpoint-url URL]

Exit status 0 when every event applied; 1 otherwise.
"""

import argparse
import json
import os
import sys
import uuid
from datetime import datetime, timezone

import boto3
from botocore.config import Config


def emr_event(detail_type, detail, source="aws.emr"):
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": "123456789012",
        "time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    }


def cluster(cluster_id, name, state, code="", message=None):
    reason = {"code": code} if message is None else {"code": code, "message": message}
    return emr_event("EMR Cluster State Change", {
        "severity": "CRITICAL" if state == "TERMINATED_WITH_ERRORS" else "INFO",
        "stateChangeReason": json.dumps(reason),
        "name": name, "clusterId": cluster_id, "state": state,
        "message": f"Amazon EMR cluster {cluster_id} ({name}) is {state}.",
    })


def step(cluster_id, step_id, name, state, action_on_failure="TERMINATE_CLUSTER"):
    return emr_event("EMR Step Status Change", {
        "severity": "ERROR" if state == "FAILED" else "INFO",
        "actionOnFailure": action_on_failure,
        "stepId": step_id, "name": name, "clusterId": cluster_id, "state": state,
        "message": f"Step {step_id} ({name}) in Amazon EMR cluster {cluster_id} is {state}.",
    })


def step_lifecycle(record, fail_step, leave_running, end_cluster):
    """A step flow's own steps on a shared cluster (never the cluster's own events)."""
    cluster_id = record["cluster_id"]
    steps = sorted(record["steps"].items(), key=lambda kv: kv[1]["index"])
    for number, (step_id, s) in enumerate(steps, start=1):
        yield step(cluster_id, step_id, s["name"], "RUNNING", "CONTINUE")
        if not leave_running:
            yield step(cluster_id, step_id, s["name"], "FAILED" if number == fail_step else "COMPLETED", "CONTINUE")
    if end_cluster:
        yield cluster(cluster_id, "shared", "TERMINATED", "USER_REQUEST", "Terminated by user request")


def now():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def cancel_accepted(record):
    """Whether a terminate of the flow was accepted: its run is then cancelled, not ended."""
    return bool((record.get("termination") or {}).get("accepted_at"))


def job_run_lifecycle(record, fail, retry):
    """A job run's events, as EMR Serverless sends them (the published RUNNING event's shape)."""
    run = record["job_run"]
    app, run_id = run["application_id"], run["job_run_id"]
    arn = f"arn:aws:emr-serverless:us-east-1:123456789012:/applications/{app}/jobruns/{run_id}"
    created = now()

    def state(previous, current):
        return emr_event("EMR Serverless Job Run State Change", {
            "jobRunId": run_id, "applicationId": app, "arn": arn, "releaseLabel": "emr-7.1.0",
            "state": current, "previousState": previous, "jobRunName": run.get("name", ""),
            "createdBy": "arn:aws:sts::123456789012:assumed-role/emr-flows-submit/submit",
            "createdAt": created, "updatedAt": now(),
        }, source="aws.emr-serverless")

    states = ["SUBMITTED", "PENDING", "SCHEDULED", "RUNNING"]
    previous = None
    for s in states:
        yield state(previous, s)
        previous = s
    if retry:
        yield emr_event("EMR Serverless Job Run Retry", {
            "jobRunId": run_id, "applicationId": app, "arn": arn, "releaseLabel": "emr-7.1.0",
            "previousAttempt": 1, "previousAttemptState": "FAILED",
            "previousAttemptCreatedAt": created, "previousAttemptEndedAt": now(),
            "newAttempt": 2, "newAttemptCreatedAt": now(),
        }, source="aws.emr-serverless")
        for s in ["PENDING", "SCHEDULED", "RUNNING"]:
            yield state(previous, s)
            previous = s
    if cancel_accepted(record):
        yield state(previous, "CANCELLING")
        previous = "CANCELLING"
    yield state(previous, "CANCELLED" if cancel_accepted(record) else "FAILED" if fail else "SUCCESS")
    figures = {"vCPUHour": 0.106, "memoryGBHour": 0.531, "storageGBHour": 0.0}
    yield emr_event("EMR Serverless Job Resource Utilization Update", {
        "applicationId": app, "jobRunId": run_id, "attempt": 2 if retry else 1, "mode": "BATCH",
        "createdAt": created, "startedAt": created, "calculatedFrom": created, "calculatedTo": now(),
        "resourceUtilizationFinal": True,
        "resourceUtilizationForInterval": figures, "billedResourceUtilizationForInterval": figures,
        "totalResourceUtilization": figures, "totalBilledResourceUtilization": figures,
    }, source="aws.emr-serverless")


def eks_job_run_lifecycle(record, fail, retry):
    """An EMR on EKS job run's events (EMR on EKS development guide, "Monitoring jobs with Amazon
    EventBridge": only the detail types are published; the detail holds what community code reads)."""
    run = record["eks_job_run"]
    vc, run_id = run["virtual_cluster_id"], run["job_run_id"]
    arn = f"arn:aws:emr-containers:us-east-1:123456789012:/virtualclusters/{vc}/jobruns/{run_id}"

    def event(detail_type, **detail):
        e = emr_event(detail_type, {"id": run_id, "virtualClusterId": vc, **detail},
                      source="aws.emr-containers")
        e["resources"] = [arn]
        return e

    for s in ["PENDING", "SUBMITTED", "RUNNING"]:
        yield event("EMR Job Run State Change", state=s)
    if retry:
        yield event("EMR Job Run New Driver Attempt", currentAttemptCount=2,
                    newDriverPodName=f"spark-{run_id}-driver-2", newDriverCreatedAt=now(),
                    previousDriverFailureMessage="Driver pod exited with code 1")
        yield event("EMR Job Run State Change", state="RUNNING")
    if cancel_accepted(record):
        yield event("EMR Job Run State Change", state="CANCEL_PENDING")
        yield event("EMR Job Run State Change", state="CANCELLED")
    elif fail:
        yield event("EMR Job Run State Change", state="FAILED", failureReason="USER_ERROR")
    else:
        yield event("EMR Job Run State Change", state="COMPLETED")


def lifecycle(record, fail_step):
    cluster_id, name = record["cluster_id"], record.get("cluster_name") or record["flow"]
    steps = sorted(record["steps"].items(), key=lambda kv: kv[1]["index"])
    yield cluster(cluster_id, name, "STARTING")
    yield cluster(cluster_id, name, "RUNNING")
    for number, (step_id, s) in enumerate(steps, start=1):
        if fail_step and number > fail_step:
            yield step(cluster_id, step_id, s["name"], "CANCELLED")
            continue
        yield step(cluster_id, step_id, s["name"], "RUNNING")
        yield step(cluster_id, step_id, s["name"], "FAILED" if number == fail_step else "COMPLETED")
    if fail_step:
        yield cluster(cluster_id, name, "TERMINATED_WITH_ERRORS", "STEP_FAILURE", "Shut down as step failed")
    else:
        yield cluster(cluster_id, name, "TERMINATED", "ALL_STEPS_COMPLETED", "Steps completed")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("flow_id")
    parser.add_argument("--fail-step", type=int, metavar="N",
                        help="step N fails (steps are numbered from 1, as `list` shows them)")
    parser.add_argument("--leave-running", action="store_true",
                        help="a step flow: its steps start and stay RUNNING")
    parser.add_argument("--end-cluster", action="store_true",
                        help="a step flow: the shared cluster then ends (TERMINATED, USER_REQUEST)")
    parser.add_argument("--fail", action="store_true", help="a job run ends FAILED")
    parser.add_argument("--retry", action="store_true",
                        help="a job run's first attempt fails and EMR Serverless (or EMR on EKS) retries it")
    parser.add_argument("--endpoint-url", default=os.environ.get("EMR_FLOWS_LAMBDA_URL"),
                        help="the functions (default: $EMR_FLOWS_LAMBDA_URL from .local/env)")
    args = parser.parse_args()
    if not args.endpoint_url:
        parser.error("no --endpoint-url and no EMR_FLOWS_LAMBDA_URL: `make up`, then `source .local/env`")

    lam = boto3.client("lambda", endpoint_url=args.endpoint_url, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing",
                       config=Config(retries={"max_attempts": 1}, read_timeout=120))

    def invoke(function, payload):
        try:
            result = lam.invoke(FunctionName=function, Payload=json.dumps(payload).encode())
            answer = json.loads(result["Payload"].read() or b"null")
            return (answer, None) if not result.get("FunctionError") else (None, answer)
        except lam.exceptions.ClientError as e:  # cargo lambda watch: a function error is a 500
            return None, {"errorMessage": str(e)}

    record, error = invoke("list", {"flow_id": args.flow_id})
    if error:
        sys.exit(f"list {args.flow_id}: {error.get('errorType', '')} {error.get('errorMessage')}")
    if record.get("target") == "serverless_job_run":
        if not (record.get("job_run") or {}).get("job_run_id"):
            sys.exit(f"flow {args.flow_id} has no job run yet (status {record['status']})")
        events = job_run_lifecycle(record, args.fail, args.retry)
    elif record.get("target") == "eks_job_run":
        if not (record.get("eks_job_run") or {}).get("job_run_id"):
            sys.exit(f"flow {args.flow_id} has no job run yet (status {record['status']})")
        events = eks_job_run_lifecycle(record, args.fail, args.retry)
    else:
        if not record.get("cluster_id"):
            sys.exit(f"flow {args.flow_id} has no cluster yet (status {record['status']})")
        if args.fail_step is not None and not 1 <= args.fail_step <= len(record["steps"]):
            sys.exit(f"--fail-step {args.fail_step}: steps are numbered 1 to {len(record['steps'])}")
        if record.get("target") == "steps":
            events = step_lifecycle(record, args.fail_step, args.leave_running, args.end_cluster)
        else:
            events = lifecycle(record, args.fail_step)

    ok = True
    for event in events:
        d = event["detail"]
        subject = d.get("stepId") or d.get("clusterId") or d.get("jobRunId") or d.get("id")
        what = f"{event['detail-type']}: {subject} {d.get('state', d.get('newAttempt', d.get('currentAttemptCount', '')))}"
        answer, error = invoke("on-state-change", event)
        if error:
            ok = False
            print(f"  {what:<60} -> error: {error.get('errorType', '')} {error.get('errorMessage')}")
        else:
            applied = answer.get("applied") or answer.get("applied_to_flows") or answer
            print(f"  {what:<60} -> flow {applied.get('status', applied) if isinstance(applied, dict) else applied}")
    record, _ = invoke("list", {"flow_id": args.flow_id})
    keep = ("flow_id", "status", "target", "job_run", "eks_job_run", "failure", "deliveries")
    print(json.dumps({k: record.get(k) for k in keep if k in record}, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
