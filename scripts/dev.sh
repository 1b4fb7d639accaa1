#!/usr/bin/env bash
# Your function on a laptop, as it will run on AWS: the local stack, the
# event source mapping emulator with the settings of your template's MSK
# event, and your function binary, rebuilt and restarted when its sources
# change. Ctrl-C stops everything.
#   FUNCTION=ConsumerFunction PACKAGE=consumer TOPICS="orders:3" make dev
set -euo pipefail
source "$(dirname "$0")/tools.sh"
cd "$ROOT"
FUNCTION=${FUNCTION:-ConsumerFunction}
PACKAGE=${PACKAGE:-consumer}
BINARY=${BINARY:-$PACKAGE}
TEMPLATE=${TEMPLATE:-template.yaml}
export MSK_DLQ_KAFKA_PORT=${MSK_DLQ_KAFKA_PORT:-19092}
export MSK_DLQ_AWS_PORT=${MSK_DLQ_AWS_PORT:-15000}
export MSK_DLQ_STACK_TOPICS=${TOPICS:-orders:3 orders-dlq:3}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}/debug
esm_pid=
stop_esm() { [[ -n $esm_pid ]] && kill "$esm_pid" 2>/dev/null && wait "$esm_pid" 2>/dev/null; esm_pid=; }
trap 'stop_esm; scripts/stack.sh down >/dev/null 2>&1 || true' EXIT

scripts/install.sh moto
scripts/stack.sh down >/dev/null 2>&1 || true
scripts/stack.sh up
eval "$(scripts/stack.sh env)"
topic_args=()
for t in $MSK_DLQ_STACK_TOPICS; do
  [[ ${t%%:*} == *dlq* ]] || topic_args+=(--topic "${t%%:*}")
done
echo "[dev] produce records with: $TARGET/msk-dlq-dev produce ${topic_args[1]} --bootstrap 127.0.0.1:$MSK_DLQ_KAFKA_PORT --file records.jsonl"
stamp=$(mktemp)
while true; do
  touch "$stamp"
  if cargo build --quiet -p "$PACKAGE" -p msk-dlq-esm -p msk-dlq-dev; then
    "$TARGET/msk-dlq-esm" --bootstrap "127.0.0.1:$MSK_DLQ_KAFKA_PORT" --template "$TEMPLATE" \
      --function "$FUNCTION" "${topic_args[@]}" --name "$PACKAGE" --verbose \
      --env AWS_LAMBDA_LOG_FORMAT=JSON --env "AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL" \
      --env AWS_ACCESS_KEY_ID=test --env AWS_SECRET_ACCESS_KEY=test --env AWS_REGION=us-east-1 \
      ${DEV_ENV:-} "$TARGET/$BINARY" &
    esm_pid=$!
  fi
  # Restart when a source file of the workspace changes.
  while [[ -z $(find src functions cli tools "$TEMPLATE" -newer "$stamp" -type f \( -name '*.rs' -o -name '*.toml' -o -name '*.yaml' \) 2>/dev/null | head -n 1) ]]; do
    sleep 2
  done
  echo "[dev] sources changed: rebuilding"
  stop_esm
done
