#!/usr/bin/env bash
# Lints template.yaml: cfn-lint (serverless rules included) and, where it
# runs offline, sam validate --lint.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ -f template.yaml ]] || { echo "no template.yaml"; exit 0; }
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1} AWS_REGION=${AWS_REGION:-us-east-1}
cfn-lint template.yaml
echo "cfn-lint: no errors or warnings"
if command -v sam >/dev/null 2>&1; then
  SAM_CLI_TELEMETRY=0 sam validate --lint --template template.yaml
else
  echo "sam not installed: skipped sam validate"
fi
