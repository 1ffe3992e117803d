"""Errors of the replay harness (all :class:`peoplelens.core.errors.PeopleLensError`: printed cleanly)."""

from __future__ import annotations

from peoplelens.core.errors import PeopleLensError


class ReplayError(PeopleLensError):
    """A replay cannot run: unreadable or corrupt video, bad options, an output folder that cannot be written."""


class TruthError(PeopleLensError):
    """A ground-truth file is missing, malformed or of an unknown format."""
