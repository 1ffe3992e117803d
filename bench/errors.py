"""Errors the benchmark raises (printed cleanly by the CLI)."""

from __future__ import annotations

from peoplelens.core.errors import PeopleLensError


class BenchError(PeopleLensError):
    """The benchmark cannot run as asked (no videos, unreadable truth file, unknown provider...)."""
