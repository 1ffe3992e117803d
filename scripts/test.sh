#!/usr/bin/env bash
# Runs the whole test suite (after set-up). Usage: bash scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ -z "${PEOPLELENS_ASSETS:-}" ] && [ -d ../shared/models ]; then
  export PEOPLELENS_ASSETS="$(cd ../shared && pwd)"
fi
bash scripts/lint.sh          # ruff, import-layer contracts
.venv/bin/python -m pytest -q "$@"
