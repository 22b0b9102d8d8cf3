"""A local callback receiver that verifies every delivery independently of emr-flows.

It checks each POST with the Standard Webhooks reference library (PyPI `standardwebhooks`),
answers 204 when the signature is valid and 401 when it is not, prints one line per callback,
and appends `{"webhook_id", "verified", "body"}` to the --out file (JSON lines) for tests.

Usage: python dev/callback_receiver.py --port 8765 --out callbacks.jsonl
The secret comes from CALLBACK_SIGNING_SECRET (whsec_…), as for on-state-change.
"""

import argparse
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    webhook = Webhook(os.environ["CALLBACK_SIGNING_SECRET"])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                webhook.verify(body, headers)
                verified = True
            except WebhookVerificationError as e:
                verified = False
                print(f"REJECTED callback {headers.get('webhook-id')}: {e}", flush=True)
            document = json.loads(body) if verified else None
            with open(args.out, "a", encoding="utf-8") as out:
                out.write(json.dumps({"webhook_id": headers.get("webhook-id"), "verified": verified, "body": document}) + "\n")
            if verified:
                failure = document.get("failure") or {}
                step = (failure.get("failed_step") or {}).get("name")
                cause = f" ({failure.get('code')}{f', step {step}' if step else ''})" if failure else ""
                print(
                    f"callback verified: {headers['webhook-id']} flow {document['flow_id']} "
                    f"{document['flow']} {document['status']}{cause}",
                    flush=True,
                )
            self.send_response(204 if verified else 401)
            self.end_headers()

        def log_message(self, *_: object) -> None:  # one line per callback is printed above
            pass

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"callback receiver listening on http://127.0.0.1:{args.port}/callbacks", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
