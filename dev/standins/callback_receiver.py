"""A local callback receiver that verifies every delivery independently of emr-flows.

Standard Webhooks (https://www.standardwebhooks.com/) signatures, each scheme with a library of
its own, never emr-flows' code:
- v1 (HMAC-SHA256) with the reference library (PyPI `standardwebhooks`) and the shared secret
  CALLBACK_SIGNING_SECRET (whsec_...);
- v1a (ed25519) with PyPI `cryptography` and the public keys CALLBACK_SIGNING_PUBLIC_KEY
  (whpk_..., several separated by commas or spaces: any one may verify). Only v1a entries are
  tried, so a v1 signature made with a secret other receivers share is never accepted here.
  This is how a receiver that must not be forgeable by other receivers verifies.

Every scheme configured must verify (at least one must be). A callback is answered 204 when
it does and 401 when it does not; one line per callback is printed, and
`{"webhook_id", "verified", "schemes", "headers", "body"}` is appended to the --out file (JSON
lines) for tests: `schemes` lists the schemes that verified, `headers` the request's headers.

Usage: python dev/standins/callback_receiver.py --port 8765 --out callbacks.jsonl
"""

import argparse
import base64
import binascii
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

# As the reference library: a timestamp more than 5 minutes off is a replay or a broken clock.
TOLERANCE_SECONDS = 5 * 60


def public_keys(text: str) -> list[Ed25519PublicKey]:
    """`whpk_` + base64 of 32 bytes each (the prefix may be left out), comma/space separated."""
    keys = []
    for entry in text.replace(",", " ").split():
        raw = base64.b64decode(entry.removeprefix("whpk_"), validate=True)
        keys.append(Ed25519PublicKey.from_public_bytes(raw))
    if not keys:
        raise SystemExit("CALLBACK_SIGNING_PUBLIC_KEY holds no key")
    return keys


def verify_v1a(keys: list[Ed25519PublicKey], body: bytes, headers: dict[str, str]) -> None:
    """Raises ValueError unless a v1a entry of webhook-signature is a valid signature of
    `{webhook-id}.{webhook-timestamp}.{body}` by one of `keys`, within the tolerance."""
    msg_id, timestamp = headers.get("webhook-id"), headers.get("webhook-timestamp")
    if not msg_id or not timestamp:
        raise ValueError("missing webhook-id or webhook-timestamp")
    if abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
        raise ValueError("timestamp outside the tolerance")
    signed = f"{msg_id}.{timestamp}.".encode() + body
    for entry in headers.get("webhook-signature", "").split(" "):
        scheme, _, encoded = entry.partition(",")
        if scheme != "v1a":
            continue
        try:
            signature = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            continue
        for key in keys:
            try:
                key.verify(signature, signed)
                return
            except InvalidSignature:
                pass
    raise ValueError("no v1a signature verifies with the trusted public keys")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    secret = os.environ.get("CALLBACK_SIGNING_SECRET", "").strip()
    webhook = Webhook(secret) if secret else None
    public = os.environ.get("CALLBACK_SIGNING_PUBLIC_KEY", "").strip()
    keys = public_keys(public) if public else None
    if webhook is None and keys is None:
        raise SystemExit("set CALLBACK_SIGNING_SECRET (v1), CALLBACK_SIGNING_PUBLIC_KEY (v1a) or both")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            headers = {k.lower(): v for k, v in self.headers.items()}
            schemes, problems = [], []
            if webhook is not None:
                try:
                    webhook.verify(body, headers)
                    schemes.append("v1")
                except WebhookVerificationError as e:
                    problems.append(f"v1: {e}")
            if keys is not None:
                try:
                    verify_v1a(keys, body, headers)
                    schemes.append("v1a")
                except ValueError as e:
                    problems.append(f"v1a: {e}")
            verified = not problems
            if not verified:
                print(f"REJECTED callback {headers.get('webhook-id')}: {'; '.join(problems)}", flush=True)
            document = json.loads(body) if verified else None
            record = {"webhook_id": headers.get("webhook-id"), "verified": verified, "schemes": schemes,
                      "headers": headers, "body": document}
            with open(args.out, "a", encoding="utf-8") as out:
                out.write(json.dumps(record) + "\n")
            if verified:
                failure = document.get("failure") or {}
                step = (failure.get("failed_step") or {}).get("name")
                cause = f" ({failure.get('code')}{f', step {step}' if step else ''})" if failure else ""
                print(
                    f"callback verified ({', '.join(schemes)}): {headers['webhook-id']} flow {document['flow_id']} "
                    f"{document['flow']} {document['status']}{cause}",
                    flush=True,
                )
            self.send_response(204 if verified else 401)
            self.end_headers()

        def log_message(self, *_: object) -> None:  # one line per callback is printed above
            pass

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    trusted = " and ".join(s for s, on in (("v1", webhook), ("v1a", keys)) if on)
    print(f"callback receiver listening on http://127.0.0.1:{args.port}/callbacks (verifies {trusted})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
