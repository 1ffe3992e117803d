"""Errors the runtime raises on purpose (all :class:`peoplelens.core.errors.PeopleLensError`, no traceback)."""

from __future__ import annotations

from peoplelens.core.errors import PeopleLensError


class RuntimeStageError(PeopleLensError):
    """A runtime stage cannot start (bad endpoint, port in use, bad option)."""


class CaptureError(PeopleLensError):
    """The camera cannot be opened, or the video file / stream is missing or unreadable."""


class ImuError(PeopleLensError):
    """The IMU sidecar file is missing, malformed or empty."""


class ProcessorLoadError(PeopleLensError):
    """The processor factory named by a dotted path cannot be imported or called."""


class MessageError(PeopleLensError):
    """A wire message is malformed, has the wrong version or lacks a required field (it is rejected)."""
