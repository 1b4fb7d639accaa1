#!/usr/bin/env bash
# Lints template.yaml with cfn-lint (serverless rules included) and
# `sam validate --lint`, both offline, both from the project's .venv
# (scripts/install.sh lint).
set -euo pipefail
source "$(dirname "$0")/tools.sh"
cd "$ROOT"
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1} AWS_REGION=${AWS_REGION:-us-east-1}
for tool in cfn-lint sam; do
  [[ -x $VENV/bin/$tool ]] || { echo "$tool is not installed in $VENV: run scripts/install.sh lint" >&2; exit 1; }
done
"$VENV/bin/cfn-lint" template.yaml
echo "cfn-lint $("$VENV/bin/cfn-lint" --version | awk '{print $2}'): no errors or warnings"
SAM_CLI_TELEMETRY=0 "$VENV/bin/sam" validate --lint --template template.yaml
