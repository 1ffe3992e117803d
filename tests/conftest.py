"""Shared test set-up: real assets come from ``$PEOPLELENS_ASSETS`` or the sample bundle at ``../shared``.

Tests that need real weights or recordings fail (not skip) when the bundle is missing, with a message
saying how to provide it: a skipped test would hide a feature that does not work.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if not os.environ.get("PEOPLELENS_ASSETS") and (REPO.parent / "shared" / "models").is_dir():
    os.environ["PEOPLELENS_ASSETS"] = str(REPO.parent / "shared")
# Tests never touch the user's real cache or people store.
os.environ.setdefault("PEOPLELENS_CACHE", str(REPO / ".pytest_cache" / "peoplelens-cache"))


@pytest.fixture(scope="session")
def assets_root() -> Path:
    """The offline asset directory (models/ and data/)."""
    root = os.environ.get("PEOPLELENS_ASSETS")
    if not root or not (Path(root) / "models").is_dir():
        pytest.fail("real assets needed: set PEOPLELENS_ASSETS to the sample bundle (models/, data/) "
                    "or run `peoplelens assets fetch --data`")
    return Path(root)


@pytest.fixture(scope="session")
def data_dir(assets_root: Path) -> Path:
    """The sample data folder."""
    return assets_root / "data"
