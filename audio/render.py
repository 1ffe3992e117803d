"""The binaural renderer interface and backend selection (the direction convention is in :mod:`.directions`).

Every renderer returns ``(len(mono) + tail_samples, 2)`` float32, column 0 = left ear, column 1 = right ear.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from peoplelens.audio.config import AudioConfig
from peoplelens.audio.directions import check_request, distance_gain, head_vector
from peoplelens.audio.errors import AudioError, BackendUnavailableError

__all__ = ["BACKENDS", "Renderer", "check_request", "distance_gain", "head_vector", "make_renderer"]

BACKENDS = ("auto", "openal", "numpy")


@runtime_checkable
class Renderer(Protocol):
    """Anything that turns a mono cue into a binaural stereo signal from a head-relative direction."""

    name: str
    sample_rate: int
    tail_samples: int

    def render(
        self, mono: np.ndarray, azimuth_deg: float, elevation_deg: float = 0.0, distance_m: float = 1.0
    ) -> np.ndarray:
        """``(len(mono) + tail_samples, 2)`` float32 binaural signal of ``mono`` from the given direction."""
        ...

    def describe(self) -> str:
        """One line naming the backend and how it spatialises (e.g. whether HRTF is active)."""
        ...


def make_renderer(backend: str | None = None, config: AudioConfig | None = None) -> Renderer:
    """A renderer for ``backend`` ("openal", "numpy" or "auto": OpenAL when it works, else numpy)."""
    config = config or AudioConfig()
    backend = (backend or config.backend).lower()
    if backend not in BACKENDS:
        raise AudioError(f"unknown audio backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend in ("openal", "auto"):
        from peoplelens.audio.render_openal import OpenALRenderer

        try:
            return OpenALRenderer(config)
        except BackendUnavailableError:
            if backend == "openal":
                raise
    from peoplelens.audio.render_numpy import SphericalHeadRenderer

    return SphericalHeadRenderer(config)
