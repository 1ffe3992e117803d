"""The project's base error: everything raised on purpose explains to a user what is wrong and how to fix it."""

from __future__ import annotations


class PeopleLensError(Exception):
    """Base class of every error the project raises on purpose (the CLI prints these without a traceback)."""


class FrameError(PeopleLensError, ValueError):
    """A camera frame is not what every stage expects (an HxWx3 uint8 BGR image with a finite timestamp)."""
