"""A small AWS Lambda Runtime API emulator, for the benchmark (dev/bench/bench.py).

It serves one function process, as Lambda serves one execution environment:

  GET  /2018-06-01/runtime/invocation/next            the next event (blocks until there is one)
  POST /2018-06-01/runtime/invocation/{id}/response   the invocation's answer        -> 202
  POST /2018-06-01/runtime/invocation/{id}/error      the invocation's error         -> 202
  POST /2018-06-01/runtime/init/error                 the function failed to start   -> 202

Each reply goes out in one write with a Content-Length, on sockets with TCP_NODELAY: a reply
split over two writes would be held back by Nagle's algorithm until the client's delayed ACK
(about 40 ms on Linux), which would be measured as the function's time.

Use it from Python:

    api = RuntimeApi()                       # listens on 127.0.0.1, a free port
    env = {"AWS_LAMBDA_RUNTIME_API": api.address, ...}
    proc = subprocess.Popen([binary], env=env)
    api.wait_for_next(timeout=10)            # the first `next` call: the end of init
    result = api.invoke({"some": "event"})   # hands the event out, waits for the answer and
                                             # for the function's next `next` call (idle again)

or by hand: `python dev/bench/runtime_api.py --port 9001 EVENT.json ...` serves the events in order
(to one function started with AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001) and prints each answer.
"""

import argparse
import json
import queue
import socket
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/2018-06-01/runtime"


class Invocation:
    """One event handed to the function, and what came of it (monotonic times, seconds)."""

    def __init__(self, payload, deadline_seconds: float):
        self.request_id = str(uuid.uuid4())
        self.body = json.dumps(payload).encode()
        self.deadline_seconds = deadline_seconds
        self.handed_out = None  # when `next` answered it
        self.answered = None  # when the response or error arrived
        self.idle = None  # when the function asked for the next event again
        self.ok = None  # True: response, False: error
        self.result = None  # the response or error document (parsed JSON, else text)
        self.done = threading.Event()


class RuntimeApi:
    """The emulator: a threaded HTTP server plus the queue of events for one function."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.events: queue.Queue = queue.Queue()
        self.current: Invocation | None = None
        self.lock = threading.Lock()
        self.next_calls = threading.Condition(self.lock)
        self.next_count = 0  # `next` calls seen
        self.first_next = None  # monotonic time of the first `next` call
        self.init_error = None
        api = self

        class Handler(_Handler):
            pass

        Handler.api = api
        self.server = _Server((host, port), Handler)
        self.address = f"{host}:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait_for_next(self, count: int = 1, timeout: float = 30.0) -> bool:
        """Waits until the function made `count` `next` calls in all; False on timeout."""
        end = time.monotonic() + timeout
        with self.lock:
            while self.next_count < count and self.init_error is None:
                left = end - time.monotonic()
                if left <= 0 or not self.next_calls.wait(left):
                    return False
            return self.init_error is None

    def invoke(self, payload, timeout: float = 60.0) -> Invocation:
        """Hands `payload` to the function and waits until it answered and asked for the next
        event (so that CPU read afterwards covers the whole invocation)."""
        invocation = Invocation(payload, timeout)
        with self.lock:
            calls = self.next_count
        self.events.put(invocation)
        if not invocation.done.wait(timeout):
            raise TimeoutError(f"no answer within {timeout} s")
        if not self.wait_for_next(calls + 1, timeout):
            raise TimeoutError("the function did not ask for the next event")
        return invocation

    # Called by the handler threads.
    def on_next(self) -> Invocation:
        with self.lock:
            self.next_count += 1
            now = time.monotonic()
            if self.first_next is None:
                self.first_next = now
            if self.current is not None and self.current.idle is None:
                self.current.idle = now
            self.next_calls.notify_all()
        invocation = self.events.get()  # long poll, as Lambda's `next` is
        with self.lock:
            self.current = invocation
            invocation.handed_out = time.monotonic()
        return invocation

    def on_answer(self, request_id: str, ok: bool, body: bytes) -> bool:
        with self.lock:
            invocation = self.current
            if invocation is None or invocation.request_id != request_id:
                return False
            invocation.answered = time.monotonic()
        try:
            invocation.result = json.loads(body)
        except ValueError:
            invocation.result = body.decode("utf-8", "replace")
        invocation.ok = ok
        invocation.done.set()
        return True

    def on_init_error(self, body: bytes) -> None:
        with self.lock:
            self.init_error = body.decode("utf-8", "replace")
            self.next_calls.notify_all()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # the runtime keeps its connection open
    api: RuntimeApi

    def setup(self) -> None:
        super().setup()
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args) -> None:  # quiet: the benchmark prints its own figures
        pass

    def reply(self, status: int, body: bytes, headers: dict | None = None) -> None:
        """Status line, headers and body in one write."""
        lines = [f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}",
                 "Content-Type: application/json", f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    def read_body(self) -> bytes:
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0], 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("content-length") or 0))

    def do_GET(self) -> None:
        if self.path != f"{PREFIX}/invocation/next":
            return self.reply(404, b'{"errorType":"NotFound"}')
        invocation = self.api.on_next()
        deadline_ms = int((time.time() + invocation.deadline_seconds) * 1000)
        self.reply(200, invocation.body, {
            "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
            "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn":
                "arn:aws:lambda:us-east-1:123456789012:function:bench",
            "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000;Sampled=0",
        })

    def do_POST(self) -> None:
        body = self.read_body()
        parts = self.path.removeprefix(PREFIX).strip("/").split("/")
        if parts == ["init", "error"]:
            self.api.on_init_error(body)
            return self.reply(202, b'{"status":"OK"}')
        if len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
            if self.api.on_answer(parts[1], parts[2] == "response", body):
                return self.reply(202, b'{"status":"OK"}')
            return self.reply(400, b'{"errorType":"InvalidRequestID"}')
        self.reply(404, b'{"errorType":"NotFound"}')


class _Server(ThreadingHTTPServer):
    daemon_threads = True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=9001)
    parser.add_argument("events", nargs="*", help="JSON files, served in order")
    args = parser.parse_args()
    api = RuntimeApi(port=args.port)
    print(f"AWS_LAMBDA_RUNTIME_API={api.address}", flush=True)
    for path in args.events:
        with open(path) as f:
            invocation = api.invoke(json.load(f), timeout=600)
        ms = (invocation.answered - invocation.handed_out) * 1000
        kind = "response" if invocation.ok else "error"
        print(f"{path}: {kind} in {ms:.1f} ms: {json.dumps(invocation.result)}", flush=True)
    if not args.events:
        threading.Event().wait()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
