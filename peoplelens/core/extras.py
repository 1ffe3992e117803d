"""Optional dependencies ("extras"): import one, or say exactly which ``pip install`` adds it.

The base install runs the live product; extras add what only some users need (``pyproject.toml`` lists
them). Code that needs an extra imports it through :func:`require`, so a missing one is a clear
:class:`MissingExtraError` naming the command to run, never a ``ModuleNotFoundError`` traceback::

    plt = require("matplotlib.pyplot", extra="report", feature="the replay report (report.html)")
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from peoplelens.core.errors import PeopleLensError

#: extra -> what it adds (for messages and ``peoplelens doctor``)
EXTRAS: dict[str, str] = {
    "audio": "live sound-card output (sounddevice) and OpenAL Soft HRTF rendering (PyOpenAL)",
    "web": "the phone registration page (fastapi, uvicorn)",
    "report": "replay report.html plots (matplotlib) and ground-truth metrics (motmetrics, pandas)",
    "ray": "replaying a folder of videos on Ray (--ray)",
    "baseline": "the benchmark's insightface baseline",
    "gpu": "CUDA / TensorRT execution providers (onnxruntime-gpu; use scripts/setup.sh --gpu)",
}


class MissingExtraError(PeopleLensError):
    """A feature needs an optional dependency that is not installed."""

    def __init__(self, module: str, extra: str, feature: str) -> None:
        self.module, self.extra, self.feature = module, extra, feature
        super().__init__(
            f"{feature} needs the '{extra}' extra ({module} is not installed): "
            f"run  pip install 'peoplelens[{extra}]'"
        )


def install_hint(extra: str) -> str:
    """The exact command that installs an extra."""
    if extra not in EXTRAS:
        raise ValueError(f"unknown extra {extra!r}; extras are: {', '.join(EXTRAS)}")
    return f"pip install 'peoplelens[{extra}]'"


def available(module: str) -> bool:
    """Whether ``module`` can be imported (found on the path), without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package is missing, or a broken module
        return False


def require(module: str, *, extra: str, feature: str) -> ModuleType:
    """Import ``module`` (dotted path allowed), or raise :class:`MissingExtraError` naming ``extra``."""
    if extra not in EXTRAS:
        raise ValueError(f"unknown extra {extra!r}; extras are: {', '.join(EXTRAS)}")
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:  # the module itself, or one of its own dependencies, is missing
        raise MissingExtraError(exc.name or module, extra, feature) from None
