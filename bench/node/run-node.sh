#!/usr/bin/env bash
# Runs a Node.js handler (handlers.noop | handlers.json) under runtime.mjs
# against the Runtime API in AWS_LAMBDA_RUNTIME_API. `run-node.sh --setup`
# installs the pinned packages (npm ci) if node_modules is missing.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ ! -d "$HERE/node_modules/@aws-lambda-powertools/kafka" ]; then
  (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error) >&2
fi
[ "${1:-}" = "--setup" ] && exit 0
: "${1:?usage: run-node.sh [--setup] handlers.noop|handlers.json}"
cd "$HERE"
export LAMBDA_TASK_ROOT="$HERE" _HANDLER="$1"
export AWS_EXECUTION_ENV="${AWS_EXECUTION_ENV:-AWS_Lambda_nodejs20.x}"  # the machine has node 20
exec node "$HERE/runtime.mjs" "$1"
