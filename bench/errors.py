"""Errors the benchmark raises (printed cleanly by the CLI)."""

from __future__ import annotations

from models.errors import PeopleLensError


class BenchError(PeopleLensError):
    """The benchmark cannot run as asked (no videos, unreadable truth file, unknown provider...)."""
