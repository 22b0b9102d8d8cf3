#!/usr/bin/env bash
# Stops the local stack `make up` started (from another shell, or after `make up &`).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -f .local/pids ]]; then
  echo "no local stack is up"
  exit 0
fi
stopped=0
while read -r pid; do
  if kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null; then
    stopped=$((stopped + 1))
  fi
done <.local/pids
rm -f .local/pids
if ((stopped)); then
  echo "stopped the local stack ($stopped processes)"
else
  echo "the local stack had already stopped"
fi
