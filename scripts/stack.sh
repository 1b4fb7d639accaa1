#!/usr/bin/env bash
# The local stack, on loopback only:
#   Kafka  tansu broker, in-memory storage        127.0.0.1:$MSK_DLQ_KAFKA_PORT (19092)
#          or, with MSK_DLQ_EMBEDDED_KAFKA=1 / no tansu installed, librdkafka's
#          mock cluster hosted by `msk-dlq dev mock-kafka`
#   AWS    moto server: SQS, SNS, S3               http://127.0.0.1:$MSK_DLQ_AWS_PORT (15000)
# Topics named in MSK_DLQ_STACK_TOPICS ("name:partitions ...") are created.
# Usage: scripts/stack.sh up|down|status|env
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
STATE=${MSK_DLQ_STACK_DIR:-$ROOT/.stack}
KAFKA_PORT=${MSK_DLQ_KAFKA_PORT:-19092}
AWS_PORT=${MSK_DLQ_AWS_PORT:-15000}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

say() { printf '[stack] %s\n' "$*" >&2; }

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  local port=$1 name=$2 log=$3
  for _ in $(seq 1 150); do
    listening "$port" && return 0
    sleep 0.2
  done
  say "$name did not start on 127.0.0.1:$port; its log:"
  tail -n 30 "$log" >&2 || true
  return 1
}

start_kafka() {
  if listening "$KAFKA_PORT"; then say "Kafka already on 127.0.0.1:$KAFKA_PORT"; return; fi
  if [[ "${MSK_DLQ_EMBEDDED_KAFKA:-0}" != 1 ]] && command -v tansu >/dev/null 2>&1; then
    say "starting tansu on 127.0.0.1:$KAFKA_PORT"
    nohup tansu broker \
      --listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
      --advertised-listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
      --storage-engine memory://tansu/ >"$STATE/kafka.log" 2>&1 &
    echo "tansu" >"$STATE/kafka.kind"
  else
    local cli="$TARGET_DIR/debug/msk-dlq"
    [[ -x "$cli" ]] || cargo build --quiet -p msk-dlq-cli
    say "starting the embedded Kafka (librdkafka mock cluster) on 127.0.0.1:$KAFKA_PORT"
    local topic_args=()
    for t in ${MSK_DLQ_STACK_TOPICS:-}; do topic_args+=(--topic "$t"); done
    nohup "$cli" dev mock-kafka --port "$KAFKA_PORT" "${topic_args[@]}" >"$STATE/kafka.log" 2>&1 &
    echo "mock" >"$STATE/kafka.kind"
  fi
  echo $! >"$STATE/kafka.pid"
  wait_port "$KAFKA_PORT" Kafka "$STATE/kafka.log"
  if [[ "$(cat "$STATE/kafka.kind")" == tansu ]]; then
    for t in ${MSK_DLQ_STACK_TOPICS:-}; do
      tansu topic create "${t%%:*}" --broker "tcp://127.0.0.1:$KAFKA_PORT" --partitions "${t##*:}" >/dev/null
    done
  fi
}

start_aws() {
  if listening "$AWS_PORT"; then say "moto already on 127.0.0.1:$AWS_PORT"; return; fi
  say "starting moto on 127.0.0.1:$AWS_PORT"
  nohup moto_server -H 127.0.0.1 -p "$AWS_PORT" >"$STATE/aws.log" 2>&1 &
  echo $! >"$STATE/aws.pid"
  wait_port "$AWS_PORT" moto "$STATE/aws.log"
}

stop() {
  local name=$1
  if [[ -f "$STATE/$name.pid" ]]; then
    local pid
    pid=$(cat "$STATE/$name.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$STATE/$name.pid"
  fi
}

case "${1:-}" in
  up)
    mkdir -p "$STATE"
    start_kafka
    start_aws
    say "up: Kafka 127.0.0.1:$KAFKA_PORT ($(cat "$STATE/kafka.kind" 2>/dev/null || echo external)), AWS http://127.0.0.1:$AWS_PORT"
    ;;
  down)
    stop kafka
    stop aws
    say "down"
    ;;
  status)
    listening "$KAFKA_PORT" && say "Kafka: up on $KAFKA_PORT" || say "Kafka: down"
    listening "$AWS_PORT" && say "AWS: up on $AWS_PORT" || say "AWS: down"
    ;;
  env)
    # Variables that point clients (SDK, tests, CLI) at the stack.
    cat <<EOV
export MSK_DLQ_TEST_KAFKA=127.0.0.1:$KAFKA_PORT
export MSK_DLQ_TEST_AWS_ENDPOINT=http://127.0.0.1:$AWS_PORT
export AWS_ENDPOINT_URL=http://127.0.0.1:$AWS_PORT
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
EOV
    ;;
  *)
    echo "usage: $0 up|down|status|env" >&2
    exit 2
    ;;
esac
