"""Lay out the import package as it is installed, for tools that read folders rather than import hooks.

``pyproject.toml`` maps the repository's folders into one import package (``lens/`` -> ``peoplelens.lens``, ...).
Python's editable install resolves that with an import hook, which static tools (import-linter's grimp, mypy)
do not run. This script builds ``build/package-view/peoplelens/`` out of symbolic links to the real folders, so
those tools see the package exactly as a wheel installs it, and every path they print leads to the real file.

    python scripts/package_view.py            # prints the folder to put on PYTHONPATH / MYPYPATH
"""

from __future__ import annotations

import shutil
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VIEW = ROOT / "build" / "package-view"


def build_view(root: Path = ROOT, view: Path = VIEW) -> Path:
    """(Re)create the view; returns the folder that holds ``peoplelens/``."""
    with open(root / "pyproject.toml", "rb") as fh:
        mapping: dict[str, str] = tomllib.load(fh)["tool"]["setuptools"]["package-dir"]
    if view.exists():
        shutil.rmtree(view)
    top = view / "peoplelens"
    top.mkdir(parents=True)
    for entry in (root / mapping["peoplelens"]).iterdir():  # the umbrella package's own files and folders
        if entry.name != "__pycache__":
            (top / entry.name).symlink_to(entry)
    for package, folder in mapping.items():
        if package == "peoplelens":
            continue
        parts = package.split(".")
        link = view.joinpath(*parts)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(root / folder, target_is_directory=True)
    return view


if __name__ == "__main__":
    sys.stdout.write(f"{build_view()}\n")
