#!/usr/bin/env bash
# Static checks of the package as it installs: ruff, the import-layer contracts (import-linter) and the type
# checker (mypy). Usage: bash scripts/lint.sh (the test command runs it; set-up first: bash scripts/setup.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check .
view=$(.venv/bin/python scripts/package_view.py)
(cd "$view" && ../../.venv/bin/lint-imports --no-cache "$OLDPWD/.importlinter")
