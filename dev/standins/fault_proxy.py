"""A fault-injecting HTTP proxy between the AWS SDK and moto server, for tests.

It forwards every request to --upstream and relays the answer, records each request by
operation, serializes upstream calls (moto's conditional writes are not atomic, DynamoDB's
are), and injects faults configured at run time through a control API (never forwarded):

  POST   /__proxy/faults    {"operation": "PutItem" | "*", "action": A, "times": N, "seconds": S}
                            appends a rule: the next N matching requests get action A
  GET    /__proxy/faults    the rules not used up yet
  DELETE /__proxy/faults    clears the rules
  GET    /__proxy/requests  {"counts": {op: n}, "bytes": {op: request body bytes}, "log": [...]}
                            (each log entry: op, bytes, status, ms from request read to answer ready;
                            a DynamoDB write its condition refused also has condition_failed: true
                            and key: the request's Key, or a PutItem's Item)
  DELETE /__proxy/requests  clears the record
  POST   /__proxy/pause     forwarded requests wait (hang) until POST /__proxy/resume
  POST   /__proxy/tokens    {"dedupe": true|false}: answer a repeated `clientToken` (a JSON body's
                            member) with the first request's answer, not forwarded, as EMR
                            Serverless and EMR on EKS do (moto starts a second run)

Actions: drop_after (forward, then close the connection without answering), error_500
(forward, then answer 500), fail_500 (answer 500, not forwarded), throttle (answer 400
ThrottlingException, not forwarded), delay (sleep S seconds, then forward), refuse_cancel
(CancelSteps only: every step answered FAILED with a reason), answer (answer
"status" (default 200) with the JSON "body", not forwarded), patch (forward, then answer with
"body" merged into the JSON answer, objects member by member and an object into each item of a
list: what moto leaves out, such as EMR Serverless GetJobRun's stateDetails, EMR on EKS
DescribeJobRun's failureReason and stateDetails ({"jobRun": {...}}) or every listed run's
({"jobRuns": {...}}), or a state moto's runs never reach).

Stand-ins for what moto 5.2.5 lacks: EMR's CancelSteps is answered here, never forwarded (each
step SUBMITTED, as EMR answers a request it took; the steps' states do not change, as EMR's do
not until the step stops). The request bodies of AddJobFlowSteps and CancelSteps are kept in the
log (`request`), since moto drops what it does not model (ExecutionRoleArn). A step's own log
location (StepMonitoringConfiguration, which makes moto fail the call) is taken out of
AddJobFlowSteps before it is forwarded, kept per step id from moto's answer, and put back into
DescribeStep's answer as the step's LogUri, as EMR reports it.

EMR Serverless' and EMR on EKS' job-run REST operations are named by the API (StartJobRun,
ListJobRuns, CancelJobRun, and GetJobRun or DescribeJobRun; the service is the one the request
is signed for, emr-serverless or emr-containers); other REST operations as METHOD plus their
first path segments.

Usage: python dev/standins/fault_proxy.py --port 8766 --upstream http://127.0.0.1:5000 [--no-serialize]
"""

import argparse
import contextlib
import http.client
import json
import re
import signal
import socket
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ACTIONS = {"drop_after", "error_500", "fail_500", "throttle", "delay", "refuse_cancel", "answer", "patch"}
# EMR operations whose request body the log keeps.
KEPT_BODIES = {"AddJobFlowSteps", "CancelSteps"}
# EMR Serverless' job-run routes (botocore's emr-serverless model), by method and path shape.
SERVERLESS_ROUTES = [
    ("POST", re.compile(r"^/applications/[^/]+/jobruns$"), "StartJobRun"),
    ("GET", re.compile(r"^/applications/[^/]+/jobruns$"), "ListJobRuns"),
    ("GET", re.compile(r"^/applications/[^/]+/jobruns/[^/]+$"), "GetJobRun"),
    ("DELETE", re.compile(r"^/applications/[^/]+/jobruns/[^/]+$"), "CancelJobRun"),
]
# EMR on EKS' job-run routes (botocore's emr-containers model), by method and path shape.
CONTAINERS_ROUTES = [
    ("POST", re.compile(r"^/virtualclusters/[^/]+/jobruns$"), "StartJobRun"),
    ("GET", re.compile(r"^/virtualclusters/[^/]+/jobruns$"), "ListJobRuns"),
    ("GET", re.compile(r"^/virtualclusters/[^/]+/jobruns/[^/]+$"), "DescribeJobRun"),
    ("DELETE", re.compile(r"^/virtualclusters/[^/]+/jobruns/[^/]+$"), "CancelJobRun"),
]
# The REST routes named by the API, by the service that signs the request.
NAMED_ROUTES = {"emr-serverless": SERVERLESS_ROUTES, "emr-containers": CONTAINERS_ROUTES}
# Per-connection headers (RFC 9110 §7.6.1) are not relayed; Content-Length is recomputed.
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
              "upgrade", "expect", "content-length", "proxy-authenticate", "proxy-authorization"}


def operation(method: str, path: str, headers, body: bytes) -> tuple[str, str]:
    """(service, operation) of a request, best effort beyond the JSON protocols."""
    target = headers.get("x-amz-target")
    if target:  # JSON protocols (DynamoDB, EMR): "DynamoDB_20120810.PutItem"
        service, _, op = target.rpartition(".")
        return service, op
    # The service signs its name into the credential scope: ".../us-east-1/iam/aws4_request".
    scope = re.search(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/", headers.get("authorization", ""))
    service = scope.group(1) if scope else ""
    url = urllib.parse.urlsplit(path)
    form = urllib.parse.parse_qs(url.query)
    if "x-www-form-urlencoded" in headers.get("content-type", ""):  # query protocol (IAM)
        form.update(urllib.parse.parse_qs(body.decode("utf-8", "replace")))
    if "Action" in form:
        return service, form["Action"][0]
    for method_, route, name in NAMED_ROUTES.get(service, []):
        if method == method_ and route.match(url.path):
            return service, name
    # REST (Lambda, S3): METHOD plus the API-version segments and one more,
    # e.g. "POST /2015-03-31/functions" or "PUT /bucket".
    segments = [s for s in url.path.split("/") if s]
    n = next((i for i, s in enumerate(segments) if not s[:1].isdigit()), len(segments))
    return service, f"{method} /" + "/".join(segments[: n + 1])


class State:
    """What the handler threads share. `lock` guards the rules and the record."""

    def __init__(self, upstream: str, serialize: bool):
        self.upstream = urllib.parse.urlsplit(upstream)
        self.serialize = serialize
        self.lock = threading.Lock()
        self.forward_lock = threading.Lock()  # one upstream call at a time (--serialize)
        self.resumed = threading.Event()  # cleared while paused
        self.resumed.set()
        self.rules: list[dict] = []
        self.counts: dict[str, int] = {}
        self.bytes: dict[str, int] = {}
        self.log: list[dict] = []
        self.step_log_uris: dict[str, str] = {}  # step id -> its own LogUri (see the stand-ins)
        self.dedupe_tokens = False
        self.token_answers: dict[str, tuple[int, list, bytes]] = {}

    def take_rule(self, op: str) -> dict | None:
        """The first rule matching `op`, with one use taken from it (dropped when used up)."""
        with self.lock:
            for rule in self.rules:
                if rule["operation"] in ("*", op):
                    rule["times"] -= 1
                    if rule["times"] <= 0:
                        self.rules.remove(rule)
                    return dict(rule)
        return None

    def record(self, entry: dict) -> None:
        with self.lock:
            self.counts[entry["op"]] = self.counts.get(entry["op"], 0) + 1
            self.bytes[entry["op"]] = self.bytes.get(entry["op"], 0) + entry["bytes"]
            self.log.append(entry)

    def update(self, entry: dict, **fields) -> None:
        with self.lock:  # entries are read (serialized) by GET /__proxy/requests under the lock
            entry.update(fields)


def parse_rule(body: bytes) -> dict:
    doc = json.loads(body or b"{}")
    if not isinstance(doc, dict) or doc.get("action") not in ACTIONS:
        raise ValueError(f"expected an object with action in {sorted(ACTIONS)}")
    rule = {"operation": str(doc.get("operation", "*")), "action": doc["action"],
            "times": int(doc.get("times", 1)), "seconds": float(doc.get("seconds", 0)),
            "status": int(doc.get("status", 200)), "body": doc.get("body")}
    if rule["times"] < 1 or rule["seconds"] < 0:
        raise ValueError("times must be at least 1 and seconds not negative")
    return rule


def cancel_steps_answer(body: bytes, refuse: bool, request_headers) -> tuple[int, list, bytes]:
    """EMR's CancelSteps answer (moto has none): SUBMITTED for each step asked, or FAILED."""
    doc = json.loads(body or b"{}")
    infos = [{"StepId": step_id, "Status": "FAILED", "Reason": "step not cancellable (stand-in)"} if refuse
             else {"StepId": step_id, "Status": "SUBMITTED"} for step_id in doc.get("StepIds", [])]
    content_type = request_headers.get("content-type", "") or "application/x-amz-json-1.1"
    headers = [("Content-Type", content_type), ("x-amzn-RequestId", str(uuid.uuid4()))]
    return 200, headers, json.dumps({"CancelStepsInfoList": infos}).encode()


def without_step_log_uris(body: bytes) -> tuple[bytes, list]:
    """AddJobFlowSteps' body without StepMonitoringConfiguration, and each step's LogUri."""
    try:
        doc = json.loads(body)
    except ValueError:
        return body, []
    uris = []
    for step in doc.get("Steps", []):
        monitoring = step.pop("StepMonitoringConfiguration", None) or {}
        uris.append((monitoring.get("S3MonitoringConfiguration") or {}).get("LogUri"))
    return (json.dumps(doc).encode() if any(uris) else body), uris


def with_step_log_uri(answer: bytes, uris: dict) -> bytes:
    """DescribeStep's answer with the step's own LogUri, when it was given one."""
    doc = json.loads(answer or b"{}")
    step = doc.get("Step") or {}
    if step.get("Id") in uris:
        step["LogUri"] = uris[step["Id"]]
        return json.dumps(doc).encode()
    return answer


def merge(answer, patch):
    """`patch` merged into `answer`: objects member by member, an object into each item of a
    list (every run of a ListJobRuns answer), anything else replaced."""
    if isinstance(answer, dict) and isinstance(patch, dict):
        return {**answer, **{k: merge(answer.get(k), v) for k, v in patch.items()}}
    if isinstance(answer, list) and isinstance(patch, dict):
        return [merge(item, patch) for item in answer]
    return patch


def client_token(body: bytes) -> str | None:
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    token = doc.get("clientToken") if isinstance(doc, dict) else None
    return token if isinstance(token, str) else None


def fault_answer(action: str, service: str, request_headers) -> tuple[int, list, bytes]:
    """The error a fault answers with, shaped as the AWS JSON protocols shape errors."""
    if action == "throttle":
        # DynamoDB qualifies its error types; the SDKs keep the part after '#'.
        prefix = "com.amazonaws.dynamodb.v20120810#" if service.startswith("DynamoDB") else ""
        status, doc = 400, {"__type": prefix + "ThrottlingException", "message": "Rate exceeded"}
    else:
        status, doc = 500, {"__type": "InternalFailure", "message": "injected by fault proxy"}
    content_type = request_headers.get("content-type", "")
    content_type = content_type if "amz-json" in content_type else "application/json"
    headers = [("Content-Type", content_type), ("x-amzn-RequestId", str(uuid.uuid4()))]
    return status, headers, json.dumps(doc).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the Rust SDK (hyper) pools connections
    state: State

    def setup(self) -> None:
        super().setup()
        # Replies go out in one write, but Nagle would still hold back a write that follows an
        # unacknowledged one (100 Continue, pipelining) until the client's delayed ACK (~40 ms).
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def read_body(self) -> bytes:
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0], 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()  # the CRLF after each chunk
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("content-length") or 0))

    def reply(self, status: int, headers: list, body: bytes) -> None:
        """Writes status, `headers` ((name, value) pairs) and body in one write."""
        lines = [f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}"]
        lines += [f"{name}: {value}" for name, value in headers]
        # HEAD answers relay the upstream's Content-Length; 204 and 304 must not carry one.
        if self.command != "HEAD" and status not in (204, 304):
            lines.append(f"Content-Length: {len(body)}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head + (b"" if self.command == "HEAD" else body))

    def json_reply(self, status: int, text: str) -> None:
        self.reply(status, [("Content-Type", "application/json")], text.encode())

    def dispatch(self) -> None:
        body = self.read_body()
        if self.path.startswith("/__proxy/"):
            return self.control(body)
        state = self.state
        service, op = operation(self.command, self.path, self.headers, body)
        rule = state.take_rule(op)
        action = rule["action"] if rule else None
        started = time.monotonic()
        entry = {"op": op, "service": service, "method": self.command, "path": self.path,
                 "bytes": len(body), "fault": action, "status": None, "upstream_status": None,
                 "ms": None}
        if op in KEPT_BODIES:
            try:
                entry["request"] = json.loads(body)
            except ValueError:
                entry["request"] = None
        state.record(entry)  # before forwarding, so that hanging requests show up too
        sys.stderr.write(f"{self.command} {op} fault={action}\n")
        log_uris = []
        if op == "AddJobFlowSteps":
            body, log_uris = without_step_log_uris(body)
        token = client_token(body) if state.dedupe_tokens and self.command == "POST" else None
        with state.lock:
            repeated = state.token_answers.get(f"{self.path} {token}") if token else None
        if op == "CancelSteps" and action in (None, "refuse_cancel"):
            status, headers, answer = cancel_steps_answer(body, action == "refuse_cancel", self.headers)
        elif action in ("fail_500", "throttle"):
            status, headers, answer = fault_answer(action, service, self.headers)
        elif action == "answer":
            status, headers = rule["status"], [("Content-Type", "application/json"),
                                               ("x-amzn-RequestId", str(uuid.uuid4()))]
            answer = json.dumps(rule["body"]).encode()
        elif repeated is not None:
            status, headers, answer = repeated
            state.update(entry, deduplicated=True)
        else:
            if action == "delay":
                time.sleep(rule["seconds"])  # outside the serialization lock: others go on
            try:
                status, headers, answer = self.forward(body)
            except (OSError, http.client.HTTPException) as e:
                status, headers, answer = 502, [("Content-Type", "application/json")], \
                    json.dumps({"__type": "BadGateway", "message": f"fault proxy: {e}"}).encode()
                state.update(entry, error=str(e))
            state.update(entry, upstream_status=status)
            if status == 200 and any(log_uris):
                ids = json.loads(answer or b"{}").get("StepIds", [])
                with state.lock:
                    state.step_log_uris.update({i: u for i, u in zip(ids, log_uris) if u})
            if status == 200 and op == "DescribeStep" and state.step_log_uris:
                answer = with_step_log_uri(answer, state.step_log_uris)
            if token and status == 200:
                with state.lock:
                    state.token_answers[f"{self.path} {token}"] = (status, headers, answer)
            if action == "patch" and status == 200:
                answer = json.dumps(merge(json.loads(answer or b"{}"), rule["body"])).encode()
            if status == 400 and b"ConditionalCheckFailed" in answer:
                # DynamoDB bills a refused write by the item it kept: say which (see dev/bench/bench.py).
                try:
                    doc = json.loads(body)
                    state.update(entry, condition_failed=True, key=doc.get("Key") or doc.get("Item"))
                except (ValueError, AttributeError):
                    state.update(entry, condition_failed=True, key=None)
            if action == "drop_after":  # applied upstream; the client gets no byte of answer
                self.close_connection = True
                self.request.shutdown(socket.SHUT_RDWR)
                return
            if action == "error_500":
                status, headers, answer = fault_answer(action, service, self.headers)
        state.update(entry, status=status, ms=round((time.monotonic() - started) * 1000, 3))
        self.reply(status, headers, answer)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = dispatch

    def forward(self, body: bytes) -> tuple[int, list, bytes]:
        state = self.state
        state.resumed.wait()  # /__proxy/pause: hang as a stalled moto would
        # Host is relayed as the client sent it (the SDK signed it; moto builds URLs from it).
        headers = [(k, v) for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP]
        with state.forward_lock if state.serialize else contextlib.nullcontext():
            upstream = http.client.HTTPConnection(state.upstream.hostname, state.upstream.port or 80,
                                                  timeout=300)
            try:
                upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for name, value in headers:
                    upstream.putheader(name, value)
                upstream.putheader("Content-Length", str(len(body)))
                upstream.endheaders(body)
                response = upstream.getresponse()
                answer = response.read()  # whole, de-chunked: we relay it with a Content-Length
            finally:
                upstream.close()
        keep = lambda k: k not in HOP_BY_HOP or (self.command == "HEAD" and k == "content-length")
        return response.status, [(k, v) for k, v in response.getheaders() if keep(k.lower())], answer

    def control(self, body: bytes) -> None:
        state = self.state
        route = (self.command, urllib.parse.urlsplit(self.path).path.rstrip("/"))
        if route == ("POST", "/__proxy/faults"):
            try:
                rule = parse_rule(body)
            except (ValueError, TypeError) as e:
                return self.json_reply(400, json.dumps({"error": str(e)}))
            with state.lock:
                state.rules.append(rule)
        elif route == ("DELETE", "/__proxy/faults"):
            with state.lock:
                state.rules.clear()
        elif route == ("DELETE", "/__proxy/requests"):
            with state.lock:
                state.counts, state.bytes, state.log = {}, {}, []
        elif route == ("POST", "/__proxy/tokens"):
            doc = json.loads(body or b"{}")
            with state.lock:
                state.dedupe_tokens = bool(doc.get("dedupe"))
                state.token_answers.clear()
        elif route in (("POST", "/__proxy/pause"), ("POST", "/__proxy/resume")):
            (state.resumed.clear if route[1].endswith("pause") else state.resumed.set)()
        elif route == ("GET", "/__proxy/requests"):
            with state.lock:
                text = json.dumps({"counts": state.counts, "bytes": state.bytes, "log": state.log})
            return self.json_reply(200, text)
        elif route != ("GET", "/__proxy/faults"):
            return self.json_reply(404, json.dumps({"error": f"no control endpoint {route}"}))
        with state.lock:
            text = json.dumps({"rules": state.rules, "paused": not state.resumed.is_set()})
        self.json_reply(200, text)


class Server(ThreadingHTTPServer):
    request_queue_size = 128  # the default 5 makes bursts of connections wait for SYN retries
    daemon_threads = True  # requests hanging in a pause do not hold up the exit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="0 picks a free port")
    parser.add_argument("--upstream", required=True, help="e.g. http://127.0.0.1:5000")
    parser.add_argument("--no-serialize", dest="serialize", action="store_false",
                        help="forward concurrently instead of one request at a time")
    args = parser.parse_args()
    Handler.state = State(args.upstream, args.serialize)
    server = Server(("127.0.0.1", args.port), Handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # SystemExit leaves serve_forever
    print(f"listening on {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
