"""The benchmark of record (`make bench`, not in CI): the release functions, each as Lambda runs
it (the binary alone, talking to a Lambda Runtime API: dev/bench/runtime_api.py), against moto
behind the fault proxy (dev/standins/fault_proxy.py, which counts each AWS request and its
bytes).

It submits spark-pi flows of 1, 50 and 256 steps (the definition's one step plus steps first
seen in events, as EMR reports steps added to a running cluster), drives each through its
lifecycle (cluster STARTING, RUNNING, each step RUNNING then COMPLETED, cluster TERMINATED),
then reads the flows back with `list` and cancels one more flow with `terminate`. Then one
spark-pi-serverless flow on an EMR Serverless application (moto's), driven through its job
run's events (SUBMITTED, PENDING, SCHEDULED, RUNNING, SUCCESS, SUCCESS again, the final
utilization update), and one spark-pi-eks flow on an EMR on EKS virtual cluster (moto's)
driven through its state changes (SUBMITTED, RUNNING, COMPLETED, COMPLETED again), each
confirmed with DescribeJobRun: the figures per job-run event. Flows publish
their status changes to moto's default EventBridge bus, as a deployed stack's do by default
(`--no-flow-events`: a stack without them). It prints:

- init ms: from the process's start to its first `next` call (median of several cold starts);
- per invocation type: wall ms (event handed out to answer received), CPU ms (all the
  process's threads, from /proc: the per-thread scheduler clock in ns, and utime+stime in
  clock ticks, both as deltas around each invocation, the function idle again in `next`), AWS
  requests and the bytes of DynamoDB write requests (from the proxy's counts);
- estimated DynamoDB write units per flow (method printed with the figures);
- what a duplicated event writes: each flow's last step COMPLETED and cluster RUNNING sent again
  while it runs, and its cluster TERMINATED once it ended (as EventBridge may deliver an event
  twice), with the
  write requests sent, applied and refused by their condition, and the write units DynamoDB
  bills for them (a refused conditional write is billed too: the size of the item it kept);
- peak RSS (VmHWM) of each function, and the zipped size of each release binary as Lambda
  deploys it (`bootstrap`, zip -9);
- steps on a long-running cluster: DynamoDB reads (and all AWS requests) per event against the
  number of step flows the shared cluster has seen (--shared-flows 1,10,100,1000): at each
  mark, one more flow's step RUNNING, a cluster WAITING, and a cluster TERMINATED under that
  one active flow (moto's cluster stays up: the events are injected), each flow before it
  having run and ended there. Flat figures mean the event's cost does not grow with history.

Usage: python dev/bench/bench.py [--steps 1,50,256] [--cold-starts 5] [--target-dir target]
       [--profile release] [--shared-flows 1,10,100,1000]
(`make bench` builds the release functions first.)
"""

import argparse
import base64
import http.client
import json
import math
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from runtime_api import RuntimeApi  # noqa: E402

FUNCTIONS = ["submit", "on-state-change", "terminate", "list"]
WRITE_OPS = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}
READ_OPS = {"GetItem", "Query", "Scan", "BatchGetItem"}
REGION = "us-east-1"
CLK_TCK = os.sysconf("SC_CLK_TCK")
LOGS = ROOT / ".bench"


# --- processes and local services -----------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, what: str, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    sys.exit(f"{what} did not listen on {port} within {timeout} s")


class Processes:
    """Every process the benchmark starts, stopped when it ends (also on error or Ctrl-C)."""

    def __init__(self):
        self.procs: list[subprocess.Popen] = []

    def start(self, args, log: Path, env=None, **kw) -> subprocess.Popen:
        proc = subprocess.Popen(args, stdout=open(log, "wb"), stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, cwd=ROOT, **kw)
        self.procs.append(proc)
        return proc

    def stop(self, proc) -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            self.stop(proc)


def http_json(port: int, method: str, path: str, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        conn.request(method, path, body=data, headers=headers or {})
        response = conn.getresponse()
        text = response.read()
        if response.status >= 300:
            raise RuntimeError(f"{method} {path}: {response.status} {text[:300]!r}")
        return json.loads(text) if text else None
    finally:
        conn.close()


class Aws:
    """moto's JSON APIs, called directly (never through the proxy, so never counted)."""

    def __init__(self, port: int):
        self.port = port

    def call(self, service: str, target: str, body: dict):
        prefix, scope = {"dynamodb": ("DynamoDB_20120810", "dynamodb"),
                         "emr": ("ElasticMapReduce", "elasticmapreduce")}[service]
        return http_json(self.port, "POST", "/", body, {
            "X-Amz-Target": f"{prefix}.{target}",
            "Content-Type": "application/x-amz-json-1.0" if service == "dynamodb"
            else "application/x-amz-json-1.1",
            "Authorization": f"AWS4-HMAC-SHA256 Credential=testing/20260101/{REGION}/{scope}/"
                             "aws4_request, SignedHeaders=host, Signature=0",
        })

    def scan(self, table: str) -> list[dict]:
        items, start = [], None
        while True:
            body = {"TableName": table, **({"ExclusiveStartKey": start} if start else {})}
            page = self.call("dynamodb", "Scan", body)
            items += page.get("Items", [])
            start = page.get("LastEvaluatedKey")
            if not start:
                return items


class CallbackReceiver:
    """Answers every callback POST with 204 and counts them (signatures are the tests' job)."""

    def __init__(self):
        receiver = self
        self.count = 0

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get("content-length") or 0))
                receiver.count += 1
                self.wfile.write(b"HTTP/1.1 204 No Content\r\n\r\n")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/emr-flows"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


# --- /proc ----------------------------------------------------------------------------------

def cpu_ticks(pid: int) -> int:
    """utime + stime of the whole process, in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])


def thread_ns(pid: int) -> dict[str, int]:
    """Time on CPU of each thread, in ns (the scheduler's clock: finer than clock ticks)."""
    times = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                times[tid] = int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return times


def status_kb(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


# --- DynamoDB sizing ------------------------------------------------------------------------

def number_size(text: str) -> int:
    """DynamoDB: about 1 byte per two significant digits, plus 1."""
    digits = re.sub(r"[^0-9]", "", text.split("e")[0].split("E")[0]).strip("0") or "0"
    return (len(digits) + 1) // 2 + 1


def value_size(value: dict) -> int:
    """The size of an attribute value, by DynamoDB's published rules (names counted by the
    caller): strings and binaries their UTF-8/byte length, numbers as above, booleans and nulls
    1 byte, lists and maps 3 bytes plus 1 byte per element, sets the sum of their elements."""
    (kind, v), = value.items()
    if kind == "S":
        return len(v.encode())
    if kind == "N":
        return number_size(v)
    if kind == "B":
        return len(base64.b64decode(v))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + value_size(e) for e in v)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + value_size(e) for k, e in v.items())
    if kind == "SS":
        return sum(len(e.encode()) for e in v)
    if kind == "NS":
        return sum(number_size(e) for e in v)
    if kind == "BS":
        return sum(len(base64.b64decode(e)) for e in v)
    raise ValueError(f"unknown attribute type {kind}")


def item_size(item: dict, names=None) -> int:
    return sum(len(k.encode()) + value_size(v) for k, v in item.items()
               if names is None or k in names)


def write_units(size: int) -> int:
    return max(1, math.ceil(size / 1024))


class Table:
    """The table's key schema and indexes (DescribeTable), and the write units a change of
    items costs."""

    def __init__(self, description: dict):
        t = description["Table"]
        self.key = [k["AttributeName"] for k in t["KeySchema"]]
        self.indexes = []  # (name, index key names, projected names or None for ALL)
        for gsi in t.get("GlobalSecondaryIndexes", []):
            keys = [k["AttributeName"] for k in gsi["KeySchema"]]
            projection = gsi.get("Projection", {})
            kind = projection.get("ProjectionType", "ALL")
            names = None if kind == "ALL" else set(self.key) | set(keys) | set(
                projection.get("NonKeyAttributes", []) if kind == "INCLUDE" else [])
            self.indexes.append((gsi["IndexName"], keys, names))

    def item_key(self, item: dict) -> str:
        return json.dumps([item.get(k) for k in self.key], sort_keys=True)

    def snapshot(self, items: list[dict]) -> dict[str, dict]:
        return {self.item_key(i): i for i in items}

    def describe(self) -> str:
        parts = []
        for name, keys, names in self.indexes:
            projected = "ALL" if names is None else ", ".join(sorted(names))
            parts.append(f"{name} ({'+'.join(keys)}; projects {projected})")
        return f"key {'+'.join(self.key)}; indexes: " + ("; ".join(parts) or "none")

    def refused_cost(self, old: dict, key) -> int:
        """Write units DynamoDB bills for a write its condition refused: the size of the item it
        kept (`old`, the items before the invocation), at least 1 (DynamoDB developer guide,
        "Condition expressions", capacity consumed by conditional writes)."""
        if not isinstance(key, dict):
            return 1
        kept = old.get(self.item_key({k: key.get(k) for k in self.key}))
        return write_units(item_size(kept)) if kept else 1

    def change_cost(self, old: dict, new: dict, transactional: bool) -> tuple[int, int]:
        """(table write units, index write units) for every item that differs between the
        snapshots `old` and `new` (written, created or deleted)."""
        table_units = index_units = 0
        for key in old.keys() | new.keys():
            a, b = old.get(key), new.get(key)
            if a == b:
                continue
            size = max(item_size(a) if a else 0, item_size(b) if b else 0)
            table_units += write_units(size) * (2 if transactional else 1)
            for _, keys, names in self.indexes:
                ea = self.index_entry(a, keys, names)
                eb = self.index_entry(b, keys, names)
                if ea is None and eb is None:
                    continue
                if ea is None or eb is None:  # put into, or deleted from, the index
                    index_units += write_units(item_size(ea or eb))
                elif any(a.get(k) != b.get(k) for k in keys):  # moved: delete + put
                    index_units += write_units(item_size(ea)) + write_units(item_size(eb))
                elif ea != eb:  # projected attributes changed in place
                    index_units += write_units(max(item_size(ea), item_size(eb)))
        return table_units, index_units

    @staticmethod
    def index_entry(item, keys, names):
        if item is None or any(k not in item for k in keys):
            return None  # not in this (sparse) index
        return dict(item) if names is None else {k: v for k, v in item.items() if k in names}


# --- the functions --------------------------------------------------------------------------

class Function:
    """One release function under its own Runtime API emulator."""

    def __init__(self, name: str, binary: Path, env: dict, procs: Processes):
        self.name, self.binary, self.env, self.procs = name, binary, env, procs
        self.proc = None
        self.api = None
        self.init_ms = None

    def start(self) -> float:
        """Starts the process; answers the init time in ms (start to first `next` call)."""
        if self.proc:
            self.procs.stop(self.proc)
            self.api.close()
        self.api = RuntimeApi()
        env = {**self.env, "AWS_LAMBDA_RUNTIME_API": self.api.address,
               "AWS_LAMBDA_FUNCTION_NAME": self.name}
        started = time.monotonic()
        self.proc = self.procs.start([str(self.binary)], LOGS / f"{self.name}.log", env=env)
        if not self.api.wait_for_next(1, timeout=30):
            sys.exit(f"{self.name} did not start: {self.api.init_error or 'no next call'}; "
                     f"see {LOGS / (self.name + '.log')}")
        self.init_ms = (self.api.first_next - started) * 1000
        return self.init_ms

    def invoke(self, payload) -> tuple[object, dict]:
        pid = self.proc.pid
        ticks, threads = cpu_ticks(pid), thread_ns(pid)
        inv = self.api.invoke(payload)
        ticks_after, threads_after = cpu_ticks(pid), thread_ns(pid)
        ns = sum(t - threads.get(tid, 0) for tid, t in threads_after.items())
        if not inv.ok:
            sys.exit(f"{self.name} failed on {json.dumps(payload)[:200]}: {inv.result}")
        return inv.result, {
            "wall_ms": (inv.answered - inv.handed_out) * 1000,
            "cpu_ms": ns / 1e6,
            "tick_ms": (ticks_after - ticks) * 1000 / CLK_TCK,
        }

    def peak_rss_kb(self) -> int:
        return status_kb(self.proc.pid, "VmHWM")


# --- the run --------------------------------------------------------------------------------

class Bench:
    def __init__(self, args):
        self.args = args
        self.procs = Processes()
        self.samples: dict[str, list[dict]] = {}  # invocation type -> figures per invocation
        self.flow_units: dict[int, dict] = {}
        self.snapshot = None  # the table's items after the last invocation

    def run(self) -> None:
        LOGS.mkdir(exist_ok=True)
        target = Path(self.args.target_dir)
        binaries = {f: target / self.args.profile / f for f in FUNCTIONS}
        for f, path in binaries.items():
            if not path.exists():
                sys.exit(f"{path} is missing: cargo build --release -p {f}")
        venv = ROOT / ".venv" / "bin"
        moto_port = free_port()
        self.procs.start([str(venv / "moto_server"), "-p", str(moto_port)], LOGS / "moto.log")
        wait_for_port(moto_port, "moto_server")
        proxy = self.procs.start([sys.executable, "-u", str(ROOT / "dev" / "standins" / "fault_proxy.py"),
                                  "--port", "0", "--upstream", f"http://127.0.0.1:{moto_port}"],
                                 LOGS / "proxy.log")
        self.proxy_port = self.proxy_listening(proxy)
        self.aws = Aws(moto_port)
        self.table_name = "emr-flows-bench"
        base_env = {"PATH": os.environ.get("PATH", ""), "AWS_REGION": REGION,
                    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                    "AWS_EC2_METADATA_DISABLED": "true"}
        create = self.create_table_binary(target)
        subprocess.run([str(create), self.table_name], check=True, stdout=subprocess.DEVNULL,
                       env={**base_env, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{moto_port}"})
        self.table = Table(self.aws.call("dynamodb", "DescribeTable", {"TableName": self.table_name}))
        self.receiver = CallbackReceiver()
        env = {**base_env, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{self.proxy_port}",
               "TABLE_NAME": self.table_name,
               "CALLBACK_SIGNING_SECRET": "whsec_" + base64.b64encode(bytes(range(32))).decode(),
               "CALLBACK_ALLOW_LOCAL": "true",
               **({"FLOW_EVENT_BUS": "default"} if self.args.flow_events else {}),
               "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
               "AWS_LAMBDA_LOG_GROUP_NAME": "bench", "AWS_LAMBDA_LOG_STREAM_NAME": "bench"}
        self.functions = {f: Function(f, binaries[f], env, self.procs) for f in FUNCTIONS}

        print(f"moto on {moto_port}, fault proxy on {self.proxy_port}, table {self.table_name}: "
              f"{self.table.describe()}", flush=True)
        self.inits = {}
        for f in FUNCTIONS:  # cold starts: the last one stays up for the run
            self.inits[f] = [self.functions[f].start() for _ in range(self.args.cold_starts)]
        self.drive()
        self.shared = self.drive_shared() if self.args.shared_flows else []
        self.report(binaries)

    def proxy_listening(self, proxy) -> int:
        log = LOGS / "proxy.log"
        end = time.monotonic() + 30
        while time.monotonic() < end:
            match = re.search(r"listening on (\d+)", log.read_text())
            if match:
                return int(match.group(1))
            if proxy.poll() is not None:
                sys.exit(f"the fault proxy exited; see {log}")
            time.sleep(0.05)
        sys.exit("the fault proxy did not start")

    def create_table_binary(self, target: Path) -> Path:
        for profile in ("debug", "release"):
            path = target / profile / "create-local-table"
            if path.exists():
                return path
        sys.exit("create-local-table is missing: cargo build -p integration-tests --bin create-local-table")

    # One invocation, with everything measured around it.
    def invoke(self, function: str, kind: str, payload, flow_steps: int | None = None):
        http_json(self.proxy_port, "DELETE", "/__proxy/requests")
        # Only the benchmark drives the functions: the table is as the last invocation left it.
        before = self.snapshot or self.table.snapshot(self.aws.scan(self.table_name))
        result, figures = self.functions[function].invoke(payload)
        record = http_json(self.proxy_port, "GET", "/__proxy/requests")
        after = self.snapshot = self.table.snapshot(self.aws.scan(self.table_name))
        counts, sizes = record["counts"], record["bytes"]
        figures["requests"] = sum(counts.values())
        figures["aws_ms"] = sum(e.get("ms") or 0 for e in record["log"])
        figures["ops"] = counts
        figures["write_bytes"] = sum(b for op, b in sizes.items() if op in WRITE_OPS)
        transactional = "TransactWriteItems" in counts
        figures["table_wcu"], figures["index_wcu"] = self.table.change_cost(before, after,
                                                                            transactional)
        writes = [e for e in record["log"] if e["op"] in WRITE_OPS]
        refused = [e for e in writes if e.get("condition_failed")]
        figures["write_requests"] = len(writes)
        figures["applied_writes"] = sum(1 for e in writes if e.get("upstream_status") == 200)
        figures["refused_writes"] = len(refused)
        figures["refused_wcu"] = sum(self.table.refused_cost(before, e.get("key")) for e in refused)
        figures["table_wcu"] += figures["refused_wcu"]
        self.samples.setdefault(kind, []).append(figures)
        if flow_steps is not None:
            units = self.flow_units.setdefault(flow_steps, {"table": 0, "index": 0, "bytes": 0,
                                                            "events": 0})
            units["table"] += figures["table_wcu"]
            units["index"] += figures["index_wcu"]
            units["bytes"] += figures["write_bytes"]
            units["events"] += 1
        return result

    def submit(self, steps: int | None):
        request = {"flow": "spark-pi", "params": {"partitions": 10}, "callbacks": []}
        if self.args.callback:
            request["callbacks"].append({"http": {"url": self.receiver.url}})
        answer = self.invoke("submit", "submit", request, steps)
        cluster_id = answer["cluster_id"]
        listed = self.aws.call("emr", "ListSteps", {"ClusterId": cluster_id})["Steps"]
        return answer["flow_id"], cluster_id, listed[0]["Id"], listed[0]["Name"]

    def drive(self) -> None:
        self.final = {}
        for steps in self.args.steps:
            started = time.monotonic()
            flow_id, cluster_id, step_id, step_name = self.submit(steps)
            steps_list = [(step_id, step_name)] + [
                (f"s-BENCH{steps:03d}{i:05d}", f"bench-step-{i}") for i in range(1, steps)]
            self.event(steps, "cluster STARTING", cluster_event(cluster_id, "STARTING"))
            running = cluster_event(cluster_id, "RUNNING")
            self.event(steps, "cluster RUNNING", running)
            for sid, name in steps_list:
                self.event(steps, "step RUNNING", step_event(cluster_id, sid, name, "RUNNING"))
                completed = step_event(cluster_id, sid, name, "COMPLETED")
                self.event(steps, "step COMPLETED", completed)
            # The same events again, as EventBridge may deliver them (not in the flow's figures).
            self.invoke("on-state-change", "dup step COMPLETED", completed)
            self.invoke("on-state-change", "dup cluster RUNNING", running)
            terminated = cluster_event(cluster_id, "TERMINATED", {"code": "ALL_STEPS_COMPLETED",
                                                                  "message": "Steps completed"})
            outcome = self.event(steps, "cluster TERMINATED", terminated)
            self.invoke("on-state-change", "dup cluster TERMINATED", terminated)
            self.invoke("list", "list flow_id", {"flow_id": flow_id})
            self.final[steps] = (flow_id, outcome, self.flow_items(flow_id))
            print(f"flow of {steps} steps: {json.dumps(outcome)} "
                  f"({time.monotonic() - started:.1f} s)", flush=True)
        self.invoke("list", "list active", {"status": "active"})
        flow_id, _, _, _ = self.submit(None)
        self.invoke("terminate", "terminate", {"flow_id": flow_id, "reason": "bench"})
        self.drive_job_run()
        self.drive_eks_job_run()

    def drive_job_run(self) -> None:
        """One EMR Serverless flow, through its job run's events (figures per event type)."""
        import boto3  # moto's dependency, in the project's .venv

        serverless = boto3.client("emr-serverless", endpoint_url=f"http://127.0.0.1:{self.aws.port}",
                                  region_name=REGION, aws_access_key_id="testing",
                                  aws_secret_access_key="testing")
        app = serverless.create_application(name="bench", releaseLabel="emr-7.1.0", type="SPARK",
                                            clientToken="bench")["applicationId"]
        request = {"flow": "spark-pi-serverless", "params": {"application_id": app}, "callbacks": []}
        if self.args.callback:
            request["callbacks"].append({"http": {"url": self.receiver.url}})
        answer = self.invoke("submit", "submit job run", request)
        run, previous = answer["job_run_id"], None
        for state in ["SUBMITTED", "PENDING", "SCHEDULED", "RUNNING", "SUCCESS"]:
            event = job_run_event(app, run, state, previous)
            outcome = self.invoke("on-state-change", f"job run {state}", event)
            previous = state
        self.invoke("on-state-change", "dup job run SUCCESS", event)
        figures = {"vCPUHour": 0.106, "memoryGBHour": 0.531, "storageGBHour": 0.0}
        self.invoke("on-state-change", "job run utilization", eventbridge(
            "EMR Serverless Job Resource Utilization Update",
            {"applicationId": app, "jobRunId": run, "attempt": 1, "mode": "BATCH",
             "resourceUtilizationFinal": True, "totalBilledResourceUtilization": figures},
            source="aws.emr-serverless"))
        print(f"job run flow: {json.dumps(outcome)}", flush=True)

    def drive_eks_job_run(self) -> None:
        """One EMR on EKS flow, through its job run's events, each confirmed by DescribeJobRun."""
        import boto3  # moto's dependency, in the project's .venv

        eks = boto3.client("emr-containers", endpoint_url=f"http://127.0.0.1:{self.aws.port}",
                           region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")
        vc = eks.create_virtual_cluster(
            name="bench", containerProvider={"id": "bench", "type": "EKS",
                                             "info": {"eksInfo": {"namespace": "spark"}}})["id"]
        request = {"flow": "spark-pi-eks", "params": {"virtual_cluster_id": vc}, "callbacks": []}
        if self.args.callback:
            request["callbacks"].append({"http": {"url": self.receiver.url}})
        answer = self.invoke("submit", "submit EKS job run", request)
        run = answer["job_run_id"]
        for state in ["SUBMITTED", "RUNNING", "COMPLETED"]:
            event = eks_job_run_event(vc, run, state)
            outcome = self.invoke("on-state-change", f"EKS job run {state}", event)
        self.invoke("on-state-change", "dup EKS job run COMPLETED", event)
        print(f"EKS job run flow: {json.dumps(outcome)}", flush=True)

    def light_invoke(self, function: str, payload):
        """An invocation with only the proxy's counts (no table scans: the table grows large)."""
        http_json(self.proxy_port, "DELETE", "/__proxy/requests")
        result, _ = self.functions[function].invoke(payload)
        counts = http_json(self.proxy_port, "GET", "/__proxy/requests")["counts"]
        return result, counts

    def drive_shared(self) -> list[tuple]:
        """Step flows on one long-running cluster: reads per event against flows seen."""
        cluster_id = self.aws.call("emr", "RunJobFlow", {
            "Name": "bench-shared", "ReleaseLabel": "emr-7.13.0",
            "Instances": {"InstanceCount": 3, "MasterInstanceType": "m5.xlarge",
                          "SlaveInstanceType": "m5.xlarge", "KeepJobFlowAliveWhenNoSteps": True},
            "JobFlowRole": "EMR_EC2_DefaultRole", "ServiceRole": "EMR_DefaultRole"})["JobFlowId"]
        seen, rows, started = 0, [], time.monotonic()

        def submit(domain: int):
            answer, _ = self.light_invoke("submit", {"flow": "pages-es-index-shared", "params": {
                "domain_id": domain, "cluster_id": cluster_id}})
            record, _ = self.light_invoke("list", {"flow_id": answer["flow_id"]})
            step_id, step = next(iter(record["steps"].items()))
            return answer["flow_id"], step_id, step["name"]

        for mark in self.args.shared_flows:
            while seen < mark - 1:  # flows that ran and ended on the cluster
                seen += 1
                _, step_id, name = submit(seen)
                self.light_invoke("on-state-change", step_event(cluster_id, step_id, name, "RUNNING"))
                self.light_invoke("on-state-change", step_event(cluster_id, step_id, name, "COMPLETED"))
            seen += 1
            flow_id, step_id, name = submit(seen)
            figures = []
            for kind, event in [
                ("step RUNNING", step_event(cluster_id, step_id, name, "RUNNING")),
                ("cluster WAITING", cluster_event(cluster_id, "WAITING")),
                ("cluster TERMINATED", cluster_event(cluster_id, "TERMINATED", {
                    "code": "USER_REQUEST", "message": "Terminated by user request"})),
            ]:
                answer, counts = self.light_invoke("on-state-change", event)
                reads = sum(n for op, n in counts.items() if op in READ_OPS)
                figures.append((kind, reads, sum(counts.values())))
            rows.append((seen, figures))
            print(f"shared cluster: {seen} flows seen ({time.monotonic() - started:.0f} s)", flush=True)
        return rows

    def event(self, steps: int, kind: str, payload):
        return self.invoke("on-state-change", kind, payload, steps)

    def flow_items(self, flow_id: str) -> list[int]:
        """Sizes of the items that carry the flow's id in their key."""
        items = self.aws.scan(self.table_name)
        return sorted((item_size(i) for i in items
                       if any(flow_id in json.dumps(i.get(k)) for k in self.table.key)),
                      reverse=True)

    # --- the figures ---
    def report(self, binaries) -> None:
        print("\n== init (process start to first `next` call), ms: median [min-max] of "
              f"{self.args.cold_starts} cold starts")
        for f in FUNCTIONS:
            xs = self.inits[f]
            print(f"  {f:16} {statistics.median(xs):7.1f}  [{min(xs):.1f}-{max(xs):.1f}]")

        print("\n== per invocation: median wall ms; mean CPU ms (scheduler ns clock | "
              "utime+stime ticks of 1000/%d ms); mean AWS requests; mean bytes of DynamoDB "
              "write requests" % CLK_TCK)
        print("  (aws: median ms the proxy spent on the invocation's AWS requests, moto's time included)")
        print(f"  {'type':20} {'n':>4} {'wall':>7} {'aws':>7} {'cpu':>7} {'ticks':>7} {'reqs':>6} "
              f"{'wbytes':>8}  requests by operation (first invocation)")
        for kind, xs in self.samples.items():
            ops = " ".join(f"{op}={n}" for op, n in sorted(xs[0]["ops"].items()))
            print(f"  {kind:20} {len(xs):4} {statistics.median(x['wall_ms'] for x in xs):7.2f} "
                  f"{statistics.median(x['aws_ms'] for x in xs):7.2f} "
                  f"{statistics.fmean(x['cpu_ms'] for x in xs):7.2f} "
                  f"{statistics.fmean(x['tick_ms'] for x in xs):7.2f} "
                  f"{statistics.fmean(x['requests'] for x in xs):6.2f} "
                  f"{statistics.fmean(x['write_bytes'] for x in xs):8.0f}  {ops}")
        print(f"  callbacks received: {self.receiver.count}")

        print("\n== DynamoDB write units per flow (submit, every event, the outcome's delivery)")
        print("  Estimated from the items read back (Scan) before and after each invocation, "
              "by DynamoDB's sizing rules:\n  each item that changed costs ceil(max(old, new) "
              "size / 1 KB) units (x2 in an invocation that sent TransactWriteItems); each "
              "index\n  entry put or deleted costs ceil(entry size / 1 KB), one whose index key "
              "moved costs both, one whose projected\n  attributes changed in place "
              "ceil(max / 1 KB); an index that projects ALL carries the whole item. "
              "Identical rewrites are not seen.")
        print(f"  {'steps':>6} {'events':>6} {'table':>8} {'indexes':>8} {'total':>8} "
              f"{'x 1-step':>8} {'wbytes':>10}  items (largest first, bytes)")
        base = None
        for steps in self.args.steps:
            u = self.flow_units[steps]
            total = u["table"] + u["index"]
            base = base or total
            sizes = self.final[steps][2]
            shown = ", ".join(map(str, sizes[:3])) + (f", … ({len(sizes)} items, "
                                                      f"{sum(sizes)} B)" if len(sizes) > 3 else "")
            print(f"  {steps:6} {u['events']:6} {u['table']:8} {u['index']:8} {total:8} "
                  f"{total / base:8.1f} {u['bytes']:10}  {shown}")

        print("\n== a duplicated event (step COMPLETED and cluster RUNNING again while the flow runs, "
              "cluster TERMINATED\n   again once it ended): DynamoDB writes, mean per event")
        print("  write units as DynamoDB bills them: applied writes as above, and each write its "
              "condition refused the size of the item\n  it kept (at least 1); "
              "requests: the write requests sent, applied and refused")
        print(f"  {'type':24} {'n':>4} {'requests':>9} {'applied':>8} {'refused':>8} {'units':>7} "
              f"{'wbytes':>8}  requests by operation (first invocation)")
        for kind, xs in self.samples.items():
            if not kind.startswith("dup "):
                continue
            ops = " ".join(f"{op}={n}" for op, n in sorted(xs[0]["ops"].items()))
            mean = lambda key: statistics.fmean(x[key] for x in xs)  # noqa: E731
            print(f"  {kind:24} {len(xs):4} {mean('write_requests'):9.2f} "
                  f"{mean('applied_writes'):8.2f} {mean('refused_writes'):8.2f} "
                  f"{statistics.fmean(x['table_wcu'] + x['index_wcu'] for x in xs):7.2f} "
                  f"{mean('write_bytes'):8.0f}  {ops}")

        if self.shared:
            print("\n== steps on a long-running cluster: DynamoDB reads per event (all AWS requests) "
                  "against the step flows the cluster has seen\n   (one of them active, the rest "
                  "ended there)")
            kinds = [kind for kind, _, _ in self.shared[0][1]]
            print(f"  {'flows seen':>10}  " + "  ".join(f"{k:>24}" for k in kinds))
            for seen, figures in self.shared:
                print(f"  {seen:10}  " + "  ".join(f"{f'{r} reads ({a} requests)':>24}"
                                                   for _, r, a in figures))

        print("\n== peak RSS (VmHWM), KB, after the run; and what is resident now (VmRSS): "
              "anonymous (heap, stacks) + file-backed (the binary's pages touched)")
        for f in FUNCTIONS:
            pid = self.functions[f].proc.pid
            print(f"  {f:16} {self.functions[f].peak_rss_kb():7}   now {status_kb(pid, 'VmRSS')} = "
                  f"{status_kb(pid, 'RssAnon')} + {status_kb(pid, 'RssFile')}, "
                  f"threads {status_kb(pid, 'Threads')}")

        print("\n== release binaries: size, and zipped as Lambda deploys them (bootstrap, zip -9)")
        with tempfile.TemporaryDirectory() as tmp:
            for f in FUNCTIONS:
                bootstrap = Path(tmp) / "bootstrap"
                shutil.copy2(binaries[f], bootstrap)
                archive = Path(tmp) / f"{f}.zip"
                subprocess.run(["zip", "-q", "-9", "-j", str(archive), str(bootstrap)], check=True)
                print(f"  {f:16} {binaries[f].stat().st_size / 1e6:6.2f} MB  "
                      f"zipped {archive.stat().st_size / 1e6:5.2f} MB "
                      f"({archive.stat().st_size} B)")
                bootstrap.unlink()


def cluster_event(cluster_id: str, state: str, reason=None) -> dict:
    return eventbridge("EMR Cluster State Change", {
        "severity": "INFO", "stateChangeReason": json.dumps(reason or {"code": ""}),
        "name": "spark-pi", "clusterId": cluster_id, "state": state,
        "message": f"Amazon EMR cluster {cluster_id} (spark-pi) is {state}."})


def step_event(cluster_id: str, step_id: str, name: str, state: str) -> dict:
    return eventbridge("EMR Step Status Change", {
        "severity": "INFO", "actionOnFailure": "TERMINATE_CLUSTER", "stepId": step_id,
        "name": name, "clusterId": cluster_id, "state": state,
        "message": f"Step {step_id} ({name}) in Amazon EMR cluster {cluster_id} is {state}."})


EVENTS = 0


def job_run_event(app: str, run: str, state: str, previous) -> dict:
    """EMR Serverless' "Job Run State Change" (the published RUNNING event's shape)."""
    return eventbridge("EMR Serverless Job Run State Change", {
        "jobRunId": run, "applicationId": app,
        "arn": f"arn:aws:emr-serverless:{REGION}:123456789012:/applications/{app}/jobruns/{run}",
        "releaseLabel": "emr-7.1.0", "state": state, "previousState": previous,
        "createdAt": "2026-12-06T08:00:00.000000Z", "updatedAt": "2026-12-06T08:05:00.000000Z"},
        source="aws.emr-serverless")


def eks_job_run_event(virtual_cluster: str, run: str, state: str) -> dict:
    """An "EMR Job Run State Change" from the fields community code reads (no body is published)."""
    return eventbridge("EMR Job Run State Change", {"id": run, "virtualClusterId": virtual_cluster, "state": state},
                       source="aws.emr-containers")


def eventbridge(detail_type: str, detail: dict, source: str = "aws.emr") -> dict:
    """An event as EventBridge delivers EMR's (see events/lifecycle-success/)."""
    global EVENTS
    EVENTS += 1
    return {"version": "0", "id": f"0e0f1a2b-0000-4000-8000-{EVENTS:012d}",
            "detail-type": detail_type, "source": source, "account": "123456789012",
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "region": REGION,
            "resources": [], "detail": detail}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="1,50,256",
                        type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--cold-starts", type=int, default=5)
    parser.add_argument("--target-dir", default=str(ROOT / "target"))
    parser.add_argument("--no-callback", dest="callback", action="store_false",
                        help="submit flows without their HTTPS callback")
    parser.add_argument("--no-flow-events", dest="flow_events", action="store_false",
                        help="a stack without flow events (FlowEventBus empty); by default flows "
                             "publish to moto's default bus, as a deployed stack's do")
    parser.add_argument("--profile", default="release", help="release (of record) or debug")
    parser.add_argument("--shared-flows", default="1,10,100,1000",
                        type=lambda s: [int(x) for x in s.split(",") if x],
                        help="marks of step flows seen on one shared cluster ('' to skip)")
    args = parser.parse_args()
    bench = Bench(args)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        bench.run()
    finally:
        bench.procs.stop_all()


if __name__ == "__main__":
    main()
