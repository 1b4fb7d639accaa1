#!/usr/bin/env bash
# Installs the tools a task needs, each only when missing, at pinned versions.
#   scripts/install.sh stack    tansu (Kafka-protocol broker) + moto (SQS/SNS/S3)
#   scripts/install.sh moto     moto only (the demo can use an embedded Kafka)
#   scripts/install.sh lambda   cargo-lambda + zig (Lambda builds)
#   scripts/install.sh lint     cfn-lint + aws-sam-cli (template checks)
#   scripts/install.sh test     what `make test` needs: stack + nextest + lint
set -euo pipefail

TANSU_VERSION=0.6.0
MOTO_VERSION=5.2.1
CARGO_LAMBDA_VERSION=1.9.2
ZIG_VERSION=0.17.1
CFN_LINT_VERSION=1.51.0
SAM_VERSION=1.170.0
NEXTEST_VERSION=0.9.143

say() { printf '[install] %s\n' "$*" >&2; }
pip_install() { python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "$@"; }

tansu() {
  if command -v tansu >/dev/null 2>&1; then return; fi
  say "building tansu $TANSU_VERSION (a few minutes, once; cached in ~/.cargo/bin)"
  cargo install tansu --version "$TANSU_VERSION" --features dynostore --locked --quiet
}

moto() {
  if command -v moto_server >/dev/null 2>&1 && python3 -c 'import moto, flask_cors' 2>/dev/null; then return; fi
  say "installing moto[server] $MOTO_VERSION"
  pip_install "moto[server]==$MOTO_VERSION"
}

nextest() {
  if cargo nextest --version >/dev/null 2>&1; then return; fi
  say "installing cargo-nextest $NEXTEST_VERSION"
  cargo install cargo-nextest --version "$NEXTEST_VERSION" --locked --quiet
}

lambda() {
  if ! command -v cargo-lambda >/dev/null 2>&1; then
    say "installing cargo-lambda $CARGO_LAMBDA_VERSION"
    pip_install "cargo-lambda==$CARGO_LAMBDA_VERSION"
  fi
  if ! python3 -c 'import ziglang' 2>/dev/null && ! command -v zig >/dev/null 2>&1; then
    say "installing ziglang $ZIG_VERSION"
    pip_install "ziglang==$ZIG_VERSION"
  fi
}

lint() {
  if ! command -v cfn-lint >/dev/null 2>&1; then
    say "installing cfn-lint $CFN_LINT_VERSION"
    pip_install "cfn-lint==$CFN_LINT_VERSION"
  fi
  if ! command -v sam >/dev/null 2>&1; then
    say "installing aws-sam-cli $SAM_VERSION"
    pip_install "aws-sam-cli==$SAM_VERSION" || say "aws-sam-cli could not be installed; sam validate will be skipped"
  fi
}

for what in "${@:-stack}"; do
  case "$what" in
    stack) tansu; moto ;;
    moto) moto ;;
    tansu) tansu ;;
    nextest) nextest ;;
    lambda) lambda ;;
    lint) lint ;;
    test) tansu; moto; nextest; lint; lambda ;;
    *) say "unknown target: $what"; exit 2 ;;
  esac
done
