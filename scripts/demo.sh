#!/usr/bin/env bash
# The whole story on one machine: a Kafka broker and an SQS/SNS/S3 endpoint
# on loopback, the consumer Lambda dead-lettering the mixed sample event,
# the operator CLI inspecting the DLQ, and the records replayed home.
set -euo pipefail
source "$(dirname "$0")/tools.sh"
cd "$ROOT"
# Whatever happens below, nothing this script started outlives it.
trap 'scripts/stack.sh down >/dev/null 2>&1 || true' EXIT

export MSK_DLQ_KAFKA_PORT=${MSK_DLQ_KAFKA_PORT:-19092}
export MSK_DLQ_AWS_PORT=${MSK_DLQ_AWS_PORT:-15000}
export MSK_DLQ_STACK_TOPICS="shop.orders-v1:3 orders-dlq:3 orders-parking-lot:1"
KAFKA=127.0.0.1:$MSK_DLQ_KAFKA_PORT
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}/debug
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "Installing what is missing (moto; tansu is used when installed, else an embedded Kafka)"
scripts/install.sh moto
if [[ ! -x $TANSU_BIN ]]; then
  echo "tansu is not installed: using librdkafka's mock cluster as the demo's Kafka (scripts/install.sh tansu for the real broker)"
fi

step "Building the functions, the emulator and the CLI"
cargo build --quiet -p consumer -p reprocessor -p lambda-emulator -p msk-dlq-cli -p msk-dlq-dev

step "Starting the local stack"
scripts/stack.sh down >/dev/null 2>&1 || true
scripts/stack.sh up
eval "$(scripts/stack.sh env)"
eval "$("$VENV/bin/python" scripts/demo_resources.py)"
QUEUE_URL=$DEMO_SQS_DLQ_URL
echo "SQS DLQ: $QUEUE_URL"
cli() { "$TARGET/msk-dlq" "$@"; }

step "1. Consumer, Kafka DLQ topic (fallback: SQS), invoked with events/msk-mixed.json"
MSK_DLQ_SINK=kafka MSK_DLQ_KAFKA_TOPIC=orders-dlq MSK_DLQ_KAFKA_BOOTSTRAP_SERVERS=$KAFKA \
MSK_DLQ_FALLBACK_SINK=sqs MSK_DLQ_SQS_QUEUE_URL=$QUEUE_URL MSK_DLQ_METRICS=false AWS_LAMBDA_LOG_FORMAT=JSON \
  "$TARGET/lambda-emulator" --name orders-consumer --verbose --event events/msk-mixed.json -- "$TARGET/consumer" 2>&1 \
  | grep -E '"batch done"|batchItemFailures' | sed 's/^/  /'

step "2. What is in the Kafka DLQ"
cli --kafka-topic orders-dlq --bootstrap "$KAFKA" stats
cli --kafka-topic orders-dlq --bootstrap "$KAFKA" peek

step "3. The same event with an SQS DLQ (independent mode)"
MSK_DLQ_SINK=sqs MSK_DLQ_SQS_QUEUE_URL=$QUEUE_URL MSK_DLQ_ORDERING=independent MSK_DLQ_METRICS=false \
  "$TARGET/lambda-emulator" --name orders-consumer --event events/msk-mixed.json -- "$TARGET/consumer" | sed 's/^/  response: /'
cli --sqs-queue-url "$QUEUE_URL" stats
cli --sqs-queue-url "$QUEUE_URL" peek --kind permanent

step "3b. And with an SNS DLQ topic (its SQS subscriber shows what arrived)"
MSK_DLQ_SINK=sns MSK_DLQ_SNS_TOPIC_ARN=$DEMO_SNS_DLQ_ARN MSK_DLQ_ORDERING=independent MSK_DLQ_METRICS=false \
  "$TARGET/lambda-emulator" --name orders-consumer --event events/msk-mixed.json -- "$TARGET/consumer" | sed 's/^/  response: /'
cli --sqs-queue-url "$DEMO_SNS_SUBSCRIBER_URL" stats | head -n 3

step "4. Replay the Kafka DLQ to the source topic (dry run, then for real)"
cli --kafka-topic orders-dlq --bootstrap "$KAFKA" replay --dry-run | tail -n 1
cli --kafka-topic orders-dlq --bootstrap "$KAFKA" replay --parking-kafka-topic orders-parking-lot
"$TARGET/msk-dlq-dev" tail shop.orders-v1 --bootstrap "$KAFKA"

step "5. The reprocessor Lambda drains the SQS DLQ (direct replay job)"
printf '{"replayJob":{"sqsQueueUrl":"%s"}}' "$QUEUE_URL" >"$ROOT/.stack/replay-job.json"
MSK_DLQ_KAFKA_BOOTSTRAP_SERVERS=$KAFKA MSK_DLQ_METRICS=false \
  "$TARGET/lambda-emulator" --name orders-reprocessor --event "$ROOT/.stack/replay-job.json" -- "$TARGET/reprocessor" | sed 's/^/  summary: /'
cli --sqs-queue-url "$QUEUE_URL" stats

step "Done. The stack stops now; 'make up' keeps one running."
