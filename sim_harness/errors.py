"""Errors of the replay harness (all :class:`models.errors.PeopleLensError`, so the CLI prints them cleanly)."""

from __future__ import annotations

from models.errors import PeopleLensError


class ReplayError(PeopleLensError):
    """A replay cannot run: unreadable or corrupt video, bad options, an output folder that cannot be written."""


class TruthError(PeopleLensError):
    """A ground-truth file is missing, malformed or of an unknown format."""
