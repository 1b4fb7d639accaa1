# Sourced by the other scripts: where the project's tools live, and a PATH
# that finds them there first. Nothing here installs anything.
#
#   MSK_DLQ_TOOLS  cargo-built tools shared by every clone on this machine
#                  (default ~/.cache/msk-dlq/tools): tansu, cargo-nextest
#   $ROOT/.venv    Python tools, project-local and git-ignored: moto,
#                  cfn-lint, aws-sam-cli, cargo-lambda, ziglang
# shellcheck shell=bash

ROOT=${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
MSK_DLQ_TOOLS=${MSK_DLQ_TOOLS:-$HOME/.cache/msk-dlq/tools}
export MSK_DLQ_TOOLS

TANSU_VERSION=0.6.0
NEXTEST_VERSION=0.9.143
TANSU_HOME=$MSK_DLQ_TOOLS/tansu-$TANSU_VERSION
TANSU_BIN=$TANSU_HOME/bin/tansu
VENV=$ROOT/.venv

case ":$PATH:" in
  *":$VENV/bin:"*) ;;
  *) PATH=$VENV/bin:$TANSU_HOME/bin:$MSK_DLQ_TOOLS/bin:$PATH ;;
esac
export PATH
