#!/usr/bin/env bash
# Fails if a built Lambda binary needs a glibc newer than Amazon Linux 2023's.
# Prints each binary's size too.
#   scripts/glibc-check.sh target/lambda
set -euo pipefail
DIR=${1:-target/lambda}
MAX=${MSK_DLQ_MAX_GLIBC:-2.34}
found=0
status=0
while IFS= read -r -d '' bin; do
  found=1
  # A static binary, or one without versioned glibc symbols, needs none: an
  # empty match is an answer, not an error.
  symbols=$(objdump -T "$bin" 2>/dev/null || true)
  need=$(grep -o 'GLIBC_[0-9][0-9.]*' <<<"$symbols" | sed 's/GLIBC_//' | sort -V | tail -n 1 || true)
  size="$(stat -c %s "$bin") bytes"
  if [[ -z $need ]]; then
    echo "ok   $bin needs no versioned glibc symbols; $size"
  elif [[ "$(printf '%s\n%s\n' "$need" "$MAX" | sort -V | tail -n 1)" != "$MAX" ]]; then
    echo "FAIL $bin needs GLIBC_$need (> $MAX); $size"
    status=1
  else
    echo "ok   $bin needs GLIBC_$need (<= $MAX); $size"
  fi
done < <(find "$DIR" -type f -name bootstrap -print0)
if [[ $found == 0 ]]; then
  echo "no bootstrap binaries under $DIR: run 'make build' first" >&2
  exit 1
fi
exit $status
