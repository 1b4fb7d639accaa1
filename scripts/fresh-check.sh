#!/usr/bin/env bash
# What a new machine sees: a clean clone of the committed HEAD, an empty
# tools location, an empty build directory, and a PATH without anything
# installed for this project before (only the system, Rust and Python),
# then `.ci/run` to the end, timed.
#   scripts/fresh-check.sh [--keep]     (--keep leaves the work directory)
# The package registries' download caches (~/.cargo/registry, ~/.cache/pip)
# are kept: they hold downloads, not installed tools.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/msk-dlq-fresh.XXXXXX")
keep=0
[[ ${1:-} == --keep ]] && keep=1
cleanup() {
  # The clone's own stack, if a run was cut short.
  (cd "$WORK/msk-dlq" 2>/dev/null && MSK_DLQ_STACK_DIR="$WORK/msk-dlq/.stack/test" scripts/stack.sh down >/dev/null 2>&1) || true
  if [[ $keep == 0 ]]; then rm -rf "$WORK"; else echo "kept $WORK"; fi
}
trap cleanup EXIT

if [[ -n "$(git -C "$ROOT" status --porcelain)" ]]; then
  echo "note: uncommitted changes are not part of the check (it clones HEAD)" >&2
fi
git clone --quiet "$ROOT" "$WORK/msk-dlq"

# Only the machine's own toolchain: Rust (cargo, rustc), the system's
# Python 3 and the system; /usr/local and any Python tool shims are hidden.
FRESH_PATH="$HOME/.cargo/bin:/usr/sbin:/usr/bin:/sbin:/bin"

start=$(date +%s)
status=0
(
  cd "$WORK/msk-dlq"
  env -i HOME="$HOME" USER="${USER:-root}" TERM=dumb LANG=C.UTF-8 PATH="$FRESH_PATH" \
    CI=true MSK_DLQ_TOOLS="$WORK/tools" CARGO_TARGET_DIR="$WORK/target" \
    bash .ci/run
) 2>&1 | tee "$WORK/ci.log" || status=$?
end=$(date +%s)
secs=$((end - start))
echo
echo "fresh-check: .ci/run exited $status after $((secs / 60)) min $((secs % 60)) s (cold: empty tools location and build directory)"
grep -E '^(Kafka broker under test|     Summary)' "$WORK/ci.log" || true
exit "$status"
