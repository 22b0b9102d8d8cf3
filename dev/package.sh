#!/usr/bin/env bash
# `make package`: the functions as Lambda deploys them (release profile, arm64, provided.al2023)
# through `sam build` (BuildMethod rust-cargolambda: cargo-lambda cross-compiles with Zig, both
# from .venv), then each function's size: the bootstrap binary and the zip Lambda would get.
#
# Slow: a cold build compiles the whole dependency tree twice over with thin LTO and one
# codegen unit per crate (see the README for times), and the first arm64 build has rustup fetch
# the aarch64-unknown-linux-gnu standard library (network, once).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH" SAM_CLI_TELEMETRY=0

if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
  echo "== the first arm64 build: rustup fetches the aarch64-unknown-linux-gnu target"
  rustup target add aarch64-unknown-linux-gnu
fi

start=$(date +%s)
sam build --beta-features
echo "== sam build took $(( $(date +%s) - start )) s"

python - <<'PY'
import io, os, zipfile

root = ".aws-sam/build"
rows = []
for name in sorted(os.listdir(root)):
    binary = os.path.join(root, name, "bootstrap")
    if not os.path.isfile(binary):
        continue
    buffer = io.BytesIO()
    # As `sam deploy` packs it: the directory zipped with deflate.
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for folder, _, files in os.walk(os.path.join(root, name)):
            for f in files:
                path = os.path.join(folder, f)
                z.write(path, os.path.relpath(path, os.path.join(root, name)))
    rows.append((name, os.path.getsize(binary), len(buffer.getvalue())))
if not rows:
    raise SystemExit(f"no bootstrap binary under {root}: did sam build succeed?")
print(f"{'function':<28}{'bootstrap':>14}{'zip':>14}")
for name, binary, zipped in rows:
    print(f"{name:<28}{binary / 1e6:>11.2f} MB{zipped / 1e6:>11.2f} MB")
PY
