#!/usr/bin/env bash
# Installs the tools a task needs, each only when its own binary is missing,
# at pinned versions, into project-local places (see scripts/tools.sh):
#   scripts/install.sh moto     moto (SQS/SNS/S3/Glue endpoint) in .venv
#   scripts/install.sh tansu    the tansu Kafka broker (cargo build, ~10 min once)
#   scripts/install.sh stack    tansu + moto
#   scripts/install.sh nextest  cargo-nextest (the machine's, else built once)
#   scripts/install.sh lambda   cargo-lambda + zig in .venv (Lambda builds)
#   scripts/install.sh lint     cfn-lint + aws-sam-cli in .venv (template checks)
#   scripts/install.sh test     everything `make test` needs
#   scripts/install.sh lock     re-resolve scripts/python-tools.lock
# Nothing is installed into the machine's own Python.
set -euo pipefail
source "$(dirname "$0")/tools.sh"

LOCK=$ROOT/scripts/python-tools.lock
say() { printf '[install] %s\n' "$*" >&2; }

# One installer at a time per tools location (two clones may share it).
mkdir -p "$MSK_DLQ_TOOLS"
exec 9>"$MSK_DLQ_TOOLS/.install.lock"
flock 9

venv() {
  if [[ -x $VENV/bin/python && -x $VENV/bin/pip ]]; then return; fi
  local py
  py=$(command -v python3) || { say "python3 is needed to create $VENV"; exit 1; }
  say "creating the project's Python environment in $VENV (with $py)"
  rm -rf "$VENV"
  "$py" -m venv "$VENV"
}

# pip_group NAME CHECK PACKAGE...: installs PACKAGEs (versions from the lock)
# unless CHECK, run with the venv's own binaries, already succeeds.
pip_group() {
  local name=$1 check=$2
  shift 2
  venv
  local stamp
  stamp="$VENV/.installed-$name-$(sha256sum "$LOCK" | cut -c1-16)"
  if [[ -f $stamp ]] && (cd "$VENV/bin" && eval "$check") >/dev/null 2>&1; then return; fi
  say "installing $name into $VENV: $*"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -c "$LOCK" "$@"
  (cd "$VENV/bin" && eval "$check") >/dev/null || { say "$name installed but its check failed: $check"; exit 1; }
  touch "$stamp"
}

moto() {
  pip_group moto './moto_server --help && ./python -c "import moto, flask_cors, boto3"' "moto[server]"
}

lambda() {
  pip_group lambda './cargo-lambda lambda --version && ./python -m ziglang version' cargo-lambda ziglang
}

lint() {
  pip_group lint './cfn-lint --version && ./sam --version' cfn-lint aws-sam-cli
}

tansu() {
  if [[ -x $TANSU_BIN ]] && "$TANSU_BIN" --version >/dev/null 2>&1; then return; fi
  say "building tansu $TANSU_VERSION into $TANSU_HOME (about 10 minutes on 2 cores, once per machine)"
  # A throwaway target dir: the broker's dependency graph is not the project's.
  env -u CARGO_TARGET_DIR cargo install --quiet --locked --root "$TANSU_HOME" \
    tansu --version "$TANSU_VERSION" --features dynostore
  "$TANSU_BIN" --version >/dev/null
}

nextest() {
  if cargo nextest --version >/dev/null 2>&1; then return; fi
  say "building cargo-nextest $NEXTEST_VERSION into $MSK_DLQ_TOOLS/bin"
  env -u CARGO_TARGET_DIR cargo install --quiet --locked --root "$MSK_DLQ_TOOLS" \
    cargo-nextest --version "$NEXTEST_VERSION"
  cargo nextest --version >/dev/null
}

lock() {
  local tmp
  tmp=$(mktemp -d)
  python3 -m venv "$tmp/venv"
  # aws-sam-cli first: it pins the tightest ranges (cfn-lint among them).
  "$tmp/venv/bin/pip" install --quiet --disable-pip-version-check "aws-sam-cli==1.170.0"
  "$tmp/venv/bin/pip" install --quiet --disable-pip-version-check \
    "moto[server]==5.2.1" "cargo-lambda==1.9.2" "ziglang==0.17.1"
  "$tmp/venv/bin/pip" check
  {
    echo "# Exact versions of the Python tools and everything they pull in, used as"
    echo "# pip constraints by scripts/install.sh (project-local .venv only)."
    echo "# Regenerate: scripts/install.sh lock"
    "$tmp/venv/bin/pip" freeze --all | grep -v -E '^(pip|setuptools|wheel)=='
  } >"$LOCK"
  rm -rf "$tmp"
  say "wrote $LOCK"
}

for what in "${@:-stack}"; do
  case "$what" in
    stack) tansu; moto ;;
    moto) moto ;;
    tansu) tansu ;;
    nextest) nextest ;;
    lambda) lambda ;;
    lint) lint ;;
    test) moto; lint; lambda; nextest; tansu ;;
    lock) lock ;;
    *) say "unknown target: $what"; exit 2 ;;
  esac
done
