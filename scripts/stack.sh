#!/usr/bin/env bash
# The local stack, on loopback only:
#   Kafka  127.0.0.1:$MSK_DLQ_KAFKA_PORT (19092), chosen by MSK_DLQ_KAFKA_KIND:
#            tansu     the tansu broker, in-memory storage; fails if it cannot start
#            embedded  librdkafka's mock cluster, hosted by `msk-dlq-dev mock-kafka`
#            auto      tansu when installed, else embedded (the default)
#   AWS    moto server (SQS, SNS, S3, Glue)   http://127.0.0.1:$MSK_DLQ_AWS_PORT (15000)
# Topics named in MSK_DLQ_STACK_TOPICS ("name:partitions ...") are created.
# Usage: scripts/stack.sh up|down|status|env|kind
set -euo pipefail
source "$(dirname "$0")/tools.sh"

STATE=${MSK_DLQ_STACK_DIR:-$ROOT/.stack}
KAFKA_PORT=${MSK_DLQ_KAFKA_PORT:-19092}
AWS_PORT=${MSK_DLQ_AWS_PORT:-15000}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
KIND=${MSK_DLQ_KAFKA_KIND:-auto}
[[ ${MSK_DLQ_EMBEDDED_KAFKA:-0} == 1 ]] && KIND=embedded

say() { printf '[stack] %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  local port=$1 name=$2 log=$3 pid=$4
  for _ in $(seq 1 150); do
    listening "$port" && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  say "$name did not start on 127.0.0.1:$port; the end of its log ($log):"
  tail -n 30 "$log" >&2 || true
  return 1
}

start_tansu() {
  [[ -x $TANSU_BIN ]] || die "tansu is not installed at $TANSU_BIN: run scripts/install.sh tansu (or MSK_DLQ_KAFKA_KIND=embedded)"
  say "starting tansu $("$TANSU_BIN" --version 2>/dev/null | head -n 1) on 127.0.0.1:$KAFKA_PORT"
  nohup "$TANSU_BIN" broker \
    --listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
    --advertised-listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
    --storage-engine memory://tansu/ >"$STATE/kafka.log" 2>&1 &
  echo $! >"$STATE/kafka.pid"
  echo tansu >"$STATE/kafka.kind"
  wait_port "$KAFKA_PORT" tansu "$STATE/kafka.log" "$!" || die "tansu could not be started"
  for t in ${MSK_DLQ_STACK_TOPICS:-}; do
    "$TANSU_BIN" topic create "${t%%:*}" --broker "tcp://127.0.0.1:$KAFKA_PORT" \
      --partitions "${t##*:}" >/dev/null || die "tansu: cannot create topic ${t%%:*}"
  done
}

start_embedded() {
  local dev="$TARGET_DIR/debug/msk-dlq-dev"
  [[ -x $dev ]] || cargo build --quiet -p msk-dlq-dev
  say "starting the embedded Kafka (librdkafka's mock cluster) on 127.0.0.1:$KAFKA_PORT"
  local topic_args=()
  for t in ${MSK_DLQ_STACK_TOPICS:-}; do topic_args+=(--topic "$t"); done
  nohup "$dev" mock-kafka --port "$KAFKA_PORT" "${topic_args[@]}" >"$STATE/kafka.log" 2>&1 &
  echo $! >"$STATE/kafka.pid"
  echo embedded >"$STATE/kafka.kind"
  wait_port "$KAFKA_PORT" "embedded Kafka" "$STATE/kafka.log" "$!" || die "the embedded Kafka could not be started"
}

start_kafka() {
  if listening "$KAFKA_PORT"; then
    die "something already listens on 127.0.0.1:$KAFKA_PORT: stop it (scripts/stack.sh down) or set MSK_DLQ_KAFKA_PORT"
  fi
  case "$KIND" in
    tansu) start_tansu ;;
    embedded) start_embedded ;;
    auto) if [[ -x $TANSU_BIN ]]; then start_tansu; else start_embedded; fi ;;
    *) die "MSK_DLQ_KAFKA_KIND=$KIND: expected tansu, embedded or auto" ;;
  esac
}

start_aws() {
  if listening "$AWS_PORT"; then
    die "something already listens on 127.0.0.1:$AWS_PORT: stop it (scripts/stack.sh down) or set MSK_DLQ_AWS_PORT"
  fi
  [[ -x $VENV/bin/moto_server ]] || die "moto is not installed in $VENV: run scripts/install.sh moto"
  say "starting moto on 127.0.0.1:$AWS_PORT"
  nohup "$VENV/bin/moto_server" -H 127.0.0.1 -p "$AWS_PORT" >"$STATE/aws.log" 2>&1 &
  echo $! >"$STATE/aws.pid"
  wait_port "$AWS_PORT" moto "$STATE/aws.log" "$!" || die "moto could not be started"
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
    say "up: Kafka 127.0.0.1:$KAFKA_PORT ($(cat "$STATE/kafka.kind")), AWS http://127.0.0.1:$AWS_PORT (moto)"
    ;;
  down)
    stop kafka
    stop aws
    rm -f "$STATE/kafka.kind"
    ;;
  status)
    listening "$KAFKA_PORT" && say "Kafka: up on $KAFKA_PORT ($(cat "$STATE/kafka.kind" 2>/dev/null || echo 'not ours'))" || say "Kafka: down"
    listening "$AWS_PORT" && say "AWS: up on $AWS_PORT" || say "AWS: down"
    ;;
  kind)
    cat "$STATE/kafka.kind" 2>/dev/null || echo none
    ;;
  env)
    # Variables that point clients (SDK, tests, CLI) at the stack.
    cat <<EOV
export MSK_DLQ_TEST_KAFKA=127.0.0.1:$KAFKA_PORT
export MSK_DLQ_TEST_KAFKA_KIND=$(cat "$STATE/kafka.kind" 2>/dev/null || echo none)
export MSK_DLQ_TEST_AWS_ENDPOINT=http://127.0.0.1:$AWS_PORT
export AWS_ENDPOINT_URL=http://127.0.0.1:$AWS_PORT
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
EOV
    ;;
  *)
    echo "usage: $0 up|down|status|env|kind" >&2
    exit 2
    ;;
esac
