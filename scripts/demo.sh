#!/usr/bin/env bash
# The whole loop on one machine, as it runs on AWS: orders are produced to a
# Kafka topic; the local event source mapping (msk-dlq-esm, settings from
# template.yaml) invokes the consumer Lambda; poison records land in the
# Kafka DLQ; a crashing record is retried, bisected and lands in Lambda's
# own on-failure queue; the fix ships; the operator replays what the fix
# cures and the reprocessor fetches the crashed record back; the mapping
# consumes the replays; a final table accounts for every record.
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
WORK=$ROOT/.stack/demo
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "Installing what is missing (moto; tansu is used when installed, else an embedded Kafka)"
scripts/install.sh moto
if [[ ! -x $TANSU_BIN ]]; then
  echo "tansu is not installed: librdkafka's mock cluster is the demo's Kafka (scripts/install.sh tansu for the real broker)"
fi

step "Building the functions, the event source mapping emulator, the CLI and the dev tools"
cargo build --quiet -p consumer -p reprocessor -p msk-dlq-cli -p msk-dlq-dev -p msk-dlq-esm -p lambda-emulator

step "Starting the local stack"
scripts/stack.sh down >/dev/null 2>&1 || true
scripts/stack.sh up
eval "$(scripts/stack.sh env)"
eval "$("$VENV/bin/python" scripts/demo_resources.py)"
rm -rf "$WORK" && mkdir -p "$WORK"
cli() { "$TARGET/msk-dlq" "$@"; }
dev() { "$TARGET/msk-dlq-dev" "$@"; }

step "1. 40 orders to shop.orders-v1: 32 good, 3 poison, 2 'needs the next release', 2 hit an outage, 1 crashes the function"
"$VENV/bin/python" - "$WORK/orders.jsonl" <<'EOF'
import json, sys
lines = []
for i in range(40):
    order = {"order_id": f"o-{i:02d}", "amount": 10 + i}
    if i in (4, 17):
        order["amount"] = -1                      # poison: fails validation
    if i in (8, 21):
        order["simulate"] = "needs-fix"           # rejected until the fix ships
    if i in (10, 30):
        order["simulate"] = "outage"              # a dependency down for a while
    if i == 14:
        order["simulate"] = "crash"               # kills the function until the fix ships
    if i == 29:
        order = "not json at all"                 # poison: not even JSON
    lines.append(json.dumps({"partition": i % 3, "key": f"customer-{i % 7}", "value": order,
                             "headers": {"trace-id": f"t-{i}"}}))
open(sys.argv[1], "w").write("\n".join(lines) + "\n")
EOF
dev produce shop.orders-v1 --file "$WORK/orders.jsonl" --bootstrap "$KAFKA"

# The consumer as the template configures it: Kafka DLQ, SQS fallback.
CONSUMER_ENV=(
  --env MSK_DLQ_SINK=kafka --env MSK_DLQ_KAFKA_TOPIC=orders-dlq --env "MSK_DLQ_KAFKA_BOOTSTRAP_SERVERS=$KAFKA"
  --env MSK_DLQ_FALLBACK_SINK=sqs --env "MSK_DLQ_SQS_QUEUE_URL=$DEMO_SQS_DLQ_URL"
  --env MSK_DLQ_METRICS=false --env MSK_DLQ_MAX_ATTEMPTS=2 --env MSK_DLQ_BACKOFF_BASE_MS=50
  --env MSK_DLQ_ON_EXHAUSTED=redeliver --env MSK_DLQ_MAX_RECORD_AGE_SECONDS=3600
  --env "ORDERS_LEDGER=$WORK/processed.ledger" --env "ORDERS_FIX_FLAG=$WORK/fix-deployed"
  --env AWS_ACCESS_KEY_ID=test --env AWS_SECRET_ACCESS_KEY=test --env AWS_REGION=us-east-1
  --env "AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL"
)
esm() {
  "$TARGET/msk-dlq-esm" --bootstrap "$KAFKA" --template template.yaml --function ConsumerFunction \
    --topic shop.orders-v1 --batch-size 10 --max-retry-attempts 3 --timeout 20 --idle 4 \
    --name orders-consumer "${CONSUMER_ENV[@]}" "$TARGET/consumer"
}

step "2. The event source mapping (settings from template.yaml) invokes the consumer"
esm | sed 's/^/  /'

step "3. What landed where: the Kafka DLQ, and Lambda's on-failure queue"
cli --kafka-topic orders-dlq --bootstrap "$KAFKA" peek
cli --sqs-queue-url "$DEMO_ON_FAILURE_URL" stats | head -n 2

step "4. The fix ships"
touch "$WORK/fix-deployed"
echo "  orders that needed the next release, and the crashing one, now work"

step "5. The operator replays what the fix cures; the reprocessor fetches the crashed record back"
cli --kafka-topic orders-dlq --bootstrap "$KAFKA" replay --error-type NotSupportedYet --dry-run | tail -n 1
cli --kafka-topic orders-dlq --bootstrap "$KAFKA" replay --error-type NotSupportedYet --parking-kafka-topic orders-parking-lot
printf '{"replayJob":{"sqsQueueUrl":"%s"}}' "$DEMO_ON_FAILURE_URL" >"$WORK/replay-job.json"
MSK_DLQ_KAFKA_BOOTSTRAP_SERVERS=$KAFKA MSK_DLQ_METRICS=false \
  "$TARGET/lambda-emulator" --name orders-reprocessor --event "$WORK/replay-job.json" -- "$TARGET/reprocessor" \
  | sed 's/^/  reprocessor: /'

step "6. The event source mapping consumes the replayed records"
esm | sed 's/^/  /'

step "7. Every record accounted for"
cli --kafka-topic orders-dlq --bootstrap "$KAFKA" --group msk-dlq-demo-audit export -o "$WORK/dlq.jsonl" 2>/dev/null
"$VENV/bin/python" - "$WORK" <<'EOF'
import base64, json, sys
work = sys.argv[1]
produced = []
for line in open(f"{work}/orders.jsonl"):
    v = json.loads(line)["value"]
    produced.append(v["order_id"] if isinstance(v, dict) else f"(raw) {v}")
processed = {l.split()[0] for l in open(f"{work}/processed.ledger")}
in_dlq = set()
for line in open(f"{work}/dlq.jsonl"):
    letter = json.loads(line)
    # export keeps bytes losslessly: text as a string, other bytes as {"base64": ...}
    v = letter["value"]
    raw = base64.b64decode(v["base64"]).decode("utf-8", "replace") if isinstance(v, dict) else (v or "")
    try:
        in_dlq.add(json.loads(raw)["order_id"])
    except Exception:
        in_dlq.add(f"(raw) {raw}")
parked = [p for p in produced if p not in processed and p in in_dlq]
lost = [p for p in produced if p not in processed and p not in in_dlq]
print(f"  produced                 {len(produced):>4}")
print(f"  processed (handler)      {len([p for p in produced if p in processed]):>4}")
print(f"  parked in the DLQ        {len(parked):>4}   {', '.join(parked)}")
print(f"  lost                     {len(lost):>4}   {', '.join(lost)}")
sys.exit(1 if lost else 0)
EOF

step "Done. The stack stops now; 'make up' keeps one running."
