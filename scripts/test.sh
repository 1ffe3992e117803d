#!/usr/bin/env bash
# Runs ruff and the whole test suite (after set-up), including the insightface equivalence tests (baseline
# extra) and the install test (builds the wheel and installs it with no extras into a fresh venv, ~2 min).
# Usage: bash scripts/test.sh [pytest args]; e.g. -m "not install" to skip the install test while iterating.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ -z "${PEOPLELENS_ASSETS:-}" ] && [ -d ../shared/models ]; then
  export PEOPLELENS_ASSETS="$(cd ../shared && pwd)"
fi
bash scripts/lint.sh          # ruff, import-layer contracts, mypy
.venv/bin/python -m pytest -q "$@"
