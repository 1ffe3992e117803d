#!/usr/bin/env bash
# Static checks of the package as it installs: ruff, the import-layer contracts (import-linter) and the type
# checker (mypy, settings in pyproject's [tool.mypy]); the last two run in the symlink view of the installed layout
# (build/package-view, scripts/package_view.py). Usage: bash scripts/lint.sh (the test command runs it; set-up
# first: bash scripts/setup.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check .
view=$(.venv/bin/python scripts/package_view.py)
(cd "$view" && ../../.venv/bin/lint-imports --no-cache "$OLDPWD/.importlinter")
(cd "$view" && ../../.venv/bin/mypy --config-file "$OLDPWD/pyproject.toml" --cache-dir "$OLDPWD/build/.mypy_cache" -p peoplelens)
