#!/usr/bin/env bash
# Runs a Python Lambda handler against the Runtime API in AWS_LAMBDA_RUNTIME_API.
#
#   run-python.sh --setup                 create the venv (if missing) and exit
#   run-python.sh handlers.noop_handler   exec the runtime loop with that handler
#   run-python.sh floor                   exec floor.py (answers without parsing)
#
# RUNTIME=ric (default): AWS's runtime interface client `awslambdaric`, the same
#   bootstrap as Lambda's managed Python runtimes (native runtime_client).
# RUNTIME=minimal: minimal_runtime.py, a pure-Python http.client loop.
# The venv is $VENV (scripts/bench-compare.sh sets the repository's
# .venv-bench); it is made from `python3` on PATH (PYTHON=... to choose).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${VENV:-$(cd "$HERE/../.." && pwd)/.venv-bench}"
if [ ! -x "$VENV/bin/python" ] || [ ! -f "$VENV/.bench-ready" ]; then
  echo "run-python.sh: creating $VENV" >&2
  "${PYTHON:-python3}" -m venv "$VENV" >&2
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$HERE/requirements.txt" >&2
  "$VENV/bin/python" -m compileall -q "$HERE" >&2 || true
  # Lambda's managed runtime sets AWS_EXECUTION_ENV=AWS_Lambda_python3.NN.
  "$VENV/bin/python" -c 'import sys; print("AWS_Lambda_python%d.%d" % sys.version_info[:2])' > "$VENV/.bench-ready"
fi
[ "${1:-}" = "--setup" ] && exit 0
: "${1:?usage: run-python.sh [--setup] MODULE.FUNCTION|floor}"
read -r EXEC_ENV < "$VENV/.bench-ready"
export AWS_EXECUTION_ENV="${AWS_EXECUTION_ENV:-$EXEC_ENV}"
export LAMBDA_TASK_ROOT="$HERE"
export _HANDLER="$1"
export PYTHONPATH="$HERE${PYTHONPATH:+:$PYTHONPATH}"
cd "$HERE"
if [ "$1" = floor ]; then
  exec "$VENV/bin/python" "$HERE/floor.py"
fi
case "${RUNTIME:-ric}" in
  ric) exec "$VENV/bin/python" -m awslambdaric "$1" ;;
  minimal) exec "$VENV/bin/python" "$HERE/minimal_runtime.py" "$1" ;;
  *) echo "run-python.sh: RUNTIME must be ric or minimal" >&2; exit 2 ;;
esac
