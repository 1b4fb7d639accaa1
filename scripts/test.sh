#!/usr/bin/env bash
# Runs every check and test: formatting, lints, the template checks, unit
# and property tests, and the integration tests against a real local stack
# (the tansu broker + moto on loopback, on ports of their own), which it
# starts and stops, then the release build for Lambda and its glibc check
# (MSK_DLQ_SKIP_LAMBDA_BUILD=1 skips that last step).
set -euo pipefail
source "$(dirname "$0")/tools.sh"
cd "$ROOT"

export MSK_DLQ_STACK_DIR="$ROOT/.stack/test"
export MSK_DLQ_KAFKA_PORT=${MSK_DLQ_TEST_KAFKA_PORT:-29092}
export MSK_DLQ_AWS_PORT=${MSK_DLQ_TEST_AWS_PORT:-25000}
# The integration tests need the real broker: no silent fallback.
export MSK_DLQ_KAFKA_KIND=tansu
# Whatever happens below, nothing this script started outlives it.
trap 'scripts/stack.sh down >/dev/null 2>&1 || true' EXIT

step() { printf '\n== %s (%s)\n' "$*" "$(date +%H:%M:%S)"; }

step "tools"
scripts/install.sh test

step "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "docs and feature sets"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps -p msk-dlq --quiet \
  --features avro,protobuf,registry-confluent,registry-glue
# The typed readers build on their own, without the AWS sinks.
cargo check --quiet -p msk-dlq --no-default-features --features avro,protobuf,registry-confluent
# An SQS-only consumer builds without librdkafka and OpenSSL; on ring,
# without aws-lc too (it is built and tested below).
cargo check --quiet -p consumer --no-default-features --features sqs,tls-aws-lc
for tls in tls-aws-lc tls-ring; do
  tree=$(cargo tree -p consumer --no-default-features --features "sqs,$tls" -e normal)
  if grep -E "rdkafka|openssl-sys" <<<"$tree"; then
    echo "an SQS-only consumer must not depend on librdkafka or OpenSSL" >&2
    exit 1
  fi
  if [[ $tls == tls-ring ]] && grep -E "aws-lc" <<<"$tree"; then
    echo "an SQS-only consumer on ring must not depend on aws-lc" >&2
    exit 1
  fi
done

step "template"
scripts/check-template.sh

step "build"
# The SQS-only consumer on ring, under its own name for its test
# (consumer_dlq.rs); the workspace build then links the default one back.
cargo build --quiet -p consumer --no-default-features --features sqs,tls-ring
cp "${CARGO_TARGET_DIR:-target}/debug/consumer" "${CARGO_TARGET_DIR:-target}/debug/consumer-sqs-ring"
cargo build --workspace --all-targets --quiet

step "local stack"
scripts/stack.sh down >/dev/null 2>&1 || true
scripts/stack.sh up
eval "$(scripts/stack.sh env)"
[[ $MSK_DLQ_TEST_KAFKA_KIND == tansu ]] || { echo "the test stack is not running tansu" >&2; exit 1; }
echo "Kafka broker under test: tansu $TANSU_VERSION at $MSK_DLQ_TEST_KAFKA; AWS endpoint: moto at $MSK_DLQ_TEST_AWS_ENDPOINT"
# Functions under test get their endpoint explicitly; the test process
# itself must not send SDK traffic anywhere else either.
unset AWS_ENDPOINT_URL

step "tests"
# The fault matrix and the soak append their figures here.
export MSK_DLQ_FAULT_REPORT="${MSK_DLQ_STACK_DIR:-$PWD/.stack/test}/fault-report.txt"
rm -f "$MSK_DLQ_FAULT_REPORT"
status=0
cargo nextest run --workspace --no-fail-fast || status=$?
if [[ -s $MSK_DLQ_FAULT_REPORT ]]; then
  step "fault matrix and soak: every record accounted for"
  cat "$MSK_DLQ_FAULT_REPORT"
fi
[[ $status == 0 ]] || exit "$status"

scripts/stack.sh down >/dev/null 2>&1 || true
if [[ "${MSK_DLQ_SKIP_LAMBDA_BUILD:-0}" != 1 ]]; then
  step "Lambda build (cargo lambda, zig) and glibc check"
  cargo lambda build --release --bins -p consumer -p reprocessor
  scripts/glibc-check.sh "${CARGO_TARGET_DIR:-target}/lambda"
fi
step "done"
