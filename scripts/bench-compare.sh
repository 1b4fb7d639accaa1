#!/usr/bin/env bash
# Side by side, same machine, same run: one Lambda Runtime API serves the
# same Kafka event again and again to msk-dlq's consumer (no-op and JSON
# handlers), to Powertools for AWS Lambda (Python) BatchProcessor(Kafka)
# handlers under AWS's runtime interface client, and to a floor (a runtime
# that reads the event and answers without parsing). Prints one table per
# event with ratios against msk-dlq.
#
#   scripts/bench-compare.sh                     all events
#   EVENTS="10000x300" scripts/bench-compare.sh  some (RECORDSxVALUE_BYTES)
#   NODE=1 scripts/bench-compare.sh              also Powertools TypeScript (npm)
#   SINKS=0 scripts/bench-compare.sh             without the dead-letter write
#                                                throughput (a local stack on
#                                                ports 49092/45000)
#   WARMUP=5 ITERATIONS=50                        per function and event
#   ROUNDS=3                                     run every function that
#                                                many times, in turns; each
#                                                ratio pairs runs of the same
#                                                round (a drifting machine
#                                                skews runs minutes apart)
#   PIN_CPU=1                                    every function on that CPU
#                                                only (taskset) and told it
#                                                has 1,769 MB, as a 1-vCPU
#                                                function; the server and
#                                                the harness on the others
#
# Powertools is installed into .venv-bench (git-ignored) from
# bench/python/requirements.txt; nothing goes into the machine's Python.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/tools.sh
source scripts/tools.sh
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
WARMUP=${WARMUP:-5}
ITERATIONS=${ITERATIONS:-50}
EVENTS=${EVENTS:-"100x100 1000x100 10000x100 100x300 1000x300 10000x300"}
ROUNDS=${ROUNDS:-1}
NODE=${NODE:-0}
PIN_CPU=${PIN_CPU:-}
SINKS=${SINKS:-1}
export VENV=$ROOT/.venv-bench

echo "== build (release)" >&2
cargo build --release --quiet -p msk-dlq-bench -p msk-dlq-dev
B=$TARGET/release/bench-compare
python3 -c 'import sys; sys.exit(sys.version_info < (3, 9))' ||
  { echo "bench-compare: Powertools needs Python >= 3.9 (python3 on PATH)" >&2; exit 1; }
bench/python/run-python.sh --setup
[[ $NODE == 1 ]] && bench/node/run-node.sh --setup

EV_DIR=$TARGET/bench-events
mkdir -p "$EV_DIR"
for e in $EVENTS; do
  f=$EV_DIR/msk-$e.json
  [[ -s $f ]] || "$TARGET/release/msk-dlq-dev" gen-event --records "${e%x*}" --value-bytes "${e#*x}" --partitions 8 > "$f"
done

OUT=$TARGET/bench-results/results-$(date -u +%Y%m%dT%H%M%SZ).jsonl
mkdir -p "$(dirname "$OUT")"
PIN=() MEMORY=()
if [[ -n $PIN_CPU ]]; then
  command -v taskset >/dev/null || { echo "bench-compare: PIN_CPU needs taskset (util-linux)" >&2; exit 1; }
  PIN=(taskset -c "$PIN_CPU")
  # One vCPU's time on Lambda.
  MEMORY=(--memory-mb 1769)
  # The server and this script keep to the other CPUs, if any.
  others=$(seq 0 $(($(nproc) - 1)) | grep -vx "$PIN_CPU" | paste -sd, || true)
  [[ -n $others ]] && taskset -pc "$others" $$ >/dev/null
fi
run() { # LABEL EVENT [--env K=V ...] -- CMD...
  local label=$1 ev=$2; shift 2
  local args=()
  while [[ $1 != -- ]]; do args+=("$1"); shift; done
  shift
  set -- "${MEMORY[@]}" "${args[@]}" -- "${PIN[@]}" "$@"
  "$B" --event "$EV_DIR/msk-$ev.json" --warmup "$WARMUP" --iterations "$ITERATIONS" \
    --name "$label" --round "$round" --append "$OUT" "$@" >&2
}
for round in $(seq 1 "$ROUNDS"); do
  for ev in $EVENTS; do
    echo "== $ev (round $round of $ROUNDS)" >&2
    run floor "$ev" -- "$TARGET/release/floor-runtime"
    for h in noop json; do
      run "msk-dlq-$h" "$ev" --env BENCH_HANDLER=$h --env MSK_DLQ_SINK=none -- "$TARGET/release/bench-consumer"
      run "powertools-py-$h" "$ev" -- bench/python/run-python.sh "handlers.${h}_handler"
      [[ $NODE == 1 ]] && run "powertools-ts-$h" "$ev" -- bench/node/run-node.sh "handlers.$h"
    done
  done
done
echo >&2
echo "results: $OUT" >&2
pairs=(--pair powertools-py-noop/msk-dlq-noop --pair powertools-py-json/msk-dlq-json)
[[ $NODE == 1 ]] && pairs+=(--pair powertools-ts-noop/msk-dlq-noop --pair powertools-ts-json/msk-dlq-json)
"$B" --compare "$OUT" --baseline msk-dlq-noop "${pairs[@]}"

if [[ $SINKS == 1 ]]; then
  echo >&2
  echo "== dead-letter write throughput (local stack)" >&2
  export MSK_DLQ_STACK_DIR=$ROOT/.stack/bench MSK_DLQ_KAFKA_PORT=49092 MSK_DLQ_AWS_PORT=45000
  trap 'scripts/stack.sh down >/dev/null 2>&1 || true' EXIT
  scripts/install.sh moto >&2
  scripts/stack.sh up >&2
  "$TARGET/release/sink-throughput" --kafka "127.0.0.1:$MSK_DLQ_KAFKA_PORT" \
    --aws "http://127.0.0.1:$MSK_DLQ_AWS_PORT" | tee "${OUT%.jsonl}-sinks.jsonl"
  echo "(Kafka on $(cat "$MSK_DLQ_STACK_DIR/kafka.kind" 2>/dev/null || echo '?'); SQS/SNS on moto, whose own speed bounds those two)" >&2
fi
