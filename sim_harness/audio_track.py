"""``audio.wav``: everything the wearer would have heard, rendered offline with the audio package.

Each event starts at its time (seconds into the video) and is re-spatialised block by block from the head
yaw over time (interpolated from the per-frame head orientations), exactly as the live mixer does.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np

from peoplelens.core.state import AudioEvent

TAIL_S = 2.0  # audio kept after the last frame so a late cue is heard to its end
FALLBACK_DISTANCE_M = 3.0  # for events whose distance is unknown (NaN)


def playable(event: AudioEvent, t0: float) -> AudioEvent:
    """A copy of ``event`` at video time ``t - t0`` with a finite distance and elevation within +-90 deg."""
    d = event.distance_m if math.isfinite(event.distance_m) and event.distance_m >= 0 else FALLBACK_DISTANCE_M
    el = event.elevation_deg if math.isfinite(event.elevation_deg) else 0.0
    az = event.azimuth_deg if math.isfinite(event.azimuth_deg) else 0.0
    return dataclasses.replace(event, t=max(0.0, event.t - t0), distance_m=d, azimuth_deg=az,
                               elevation_deg=float(np.clip(el, -89.0, 89.0)))


def render_wav(path: str | Path, events: list[AudioEvent], head_times: np.ndarray, head_yaws: np.ndarray,
               duration_s: float, t0: float = 0.0, audio_config: Any = None) -> dict[str, Any]:
    """Render ``events`` with the head yaw track to a stereo WAV; returns a small summary dict."""
    from peoplelens.audio.config import load_audio_config
    from peoplelens.audio.mixer import render_timeline
    from peoplelens.audio.wavio import write_wav

    config = audio_config or load_audio_config()
    yaws = np.unwrap(np.radians(head_yaws)) if len(head_yaws) else np.zeros(1)
    times = head_times - t0 if len(head_times) else np.zeros(1)

    def head_fn(t: float) -> float:
        return float(np.degrees(np.interp(t, times, yaws)))

    todo = [playable(e, t0) for e in events]
    duration = max(duration_s, max((e.t for e in todo), default=0.0)) + TAIL_S
    stereo = render_timeline(todo, head_fn, duration, config=config)
    write_wav(path, stereo, config.sample_rate)
    return {"path": str(path), "sample_rate": config.sample_rate, "seconds": round(duration, 3),
            "events": len(todo), "peak": round(float(np.abs(stereo).max()) if stereo.size else 0.0, 4)}
