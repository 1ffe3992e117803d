#!/usr/bin/env bash
# The main job: set up, then run the pipeline end to end on the sample material.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ -z "${PEOPLELENS_ASSETS:-}" ] && [ -d ../shared/models ]; then
  export PEOPLELENS_ASSETS="$(cd ../shared && pwd)"
fi
exec .venv/bin/peoplelens demo "$@"
