"""Standard Webhooks ed25519 keys (the v1a scheme) for emr-flows, with PyPI `cryptography`.

  python dev/admin/signing_key.py new
      a new key pair as JSON: {"signing_key": "whsk_...", "public_key": "whpk_..."}.
      The signing key goes into CALLBACK_SIGNING_KEY (local) or the Secrets Manager secret the
      stack's CallbackSigningKeySecretArn names; receivers get the public key.
  python dev/admin/signing_key.py public [KEYS]
      the public key of each signing key in KEYS (or stdin), one per line: keys are whsk_ +
      base64 of the 32-byte seed (prefix and padding optional, as the stack's generated 43
      letters and digits; 64 bytes: seed and public key), separated by commas or white space.

      aws secretsmanager get-secret-value --secret-id "$arn" --query SecretString --output text \\
        | python dev/admin/signing_key.py public

Signing keys are never printed by `public`, and its errors name a key by its position only.
"""

import base64
import binascii
import json
import os
import sys

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


def public_key(private: Ed25519PrivateKey) -> str:
    raw = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return "whpk_" + base64.b64encode(raw).decode()


def parse(entry: str) -> Ed25519PrivateKey:
    """A signing key as emr-flows reads it (see shared/src/signing.rs)."""
    encoded = entry.removeprefix("whsk_").rstrip("=")
    # Padding optional, unused trailing bits ignored: as the functions decode keys.
    raw = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    if len(raw) == 64:
        private = Ed25519PrivateKey.from_private_bytes(raw[:32])
        if public_key(private) != "whpk_" + base64.b64encode(raw[32:]).decode():
            raise ValueError("its public half does not belong to its seed")
        return private
    if len(raw) != 32:
        raise ValueError(f"is {len(raw)} bytes; a signing key is a 32-byte seed")
    return Ed25519PrivateKey.from_private_bytes(raw)


def main() -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "new":
        seed = os.urandom(32)
        private = Ed25519PrivateKey.from_private_bytes(seed)
        print(json.dumps({"signing_key": "whsk_" + base64.b64encode(seed).decode(), "public_key": public_key(private)}))
    elif command == "public":
        text = " ".join(sys.argv[2:]) if len(sys.argv) > 2 else sys.stdin.read()
        entries = text.replace(",", " ").split()
        if not entries:
            raise SystemExit("no signing key given")
        for i, entry in enumerate(entries, 1):
            try:
                print(public_key(parse(entry)))
            except binascii.Error:
                raise SystemExit(f"key {i} of the list is not whsk_ + base64") from None
            except ValueError as e:
                raise SystemExit(f"key {i} of the list {e}") from None
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
