#!/usr/bin/env bash
# Stops the local stack `make up` started (from another shell, or after `make up &`).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -f .local/pids ]]; then
  echo "no local stack is up"
  exit 0
fi
while read -r pid; do
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
done <.local/pids
rm -f .local/pids
echo "stopped"
