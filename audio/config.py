"""Audio settings. Every parameter has a documented default; a ``[audio]`` section of the TOML config
(see :mod:`peoplelens.core.config`) overrides any of them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from msgspec import Meta

from peoplelens.core.config import load_config, section


@dataclass(frozen=True)
class AudioConfig:
    """Parameters of synthesis, binaural rendering, mixing, speech and output."""

    # Hz; every cue, renderer and the output stream use this one rate
    sample_rate: Annotated[int, Meta(ge=8_000, le=192_000)] = 48_000
    # "openal" (OpenAL Soft HRTF), "numpy" (spherical head) or "auto"
    backend: Literal["auto", "openal", "numpy"] = "auto"
    # spherical-head model (numpy backend)
    head_radius_m: Annotated[float, Meta(ge=0.04, le=0.15)] = 0.0875  # Woodworth / Brown-Duda head radius
    speed_of_sound_m_s: Annotated[float, Meta(ge=300.0, le=400.0)] = 343.0
    # high-frequency gain (x) for a source straight behind (0.5 = -6 dB)
    rear_shelf_gain: Annotated[float, Meta(ge=0.0, le=1.0)] = 0.5
    rear_shelf_cutoff_hz: Annotated[float, Meta(ge=100.0, le=20_000.0)] = 3000.0
    # distance model (both backends): inverse distance, clamped to [reference, max]
    reference_distance_m: Annotated[float, Meta(gt=0.0, le=10.0)] = 1.0
    max_distance_m: Annotated[float, Meta(gt=0.0, le=1000.0)] = 20.0
    # mixer
    # re-spatialisation block (head-tracking update granularity)
    block_ms: Annotated[float, Meta(ge=1.0, le=100.0)] = 10.0
    # crossfade between the previous and the new direction inside a block
    crossfade_ms: Annotated[float, Meta(ge=0.0, le=100.0)] = 5.0
    # history rendered before each block so filters and delays are settled
    preroll_samples: Annotated[int, Meta(ge=0, le=48_000)] = 256
    tail_samples: Annotated[int, Meta(ge=0, le=48_000)] = 256  # extra output after a cue ends (ITD delay, HRIR length)
    master_gain: Annotated[float, Meta(ge=0.0, le=2.0)] = 0.8
    # speech
    tts_voice: Annotated[str, Meta(min_length=1)] = "en-us"
    tts_speed_wpm: Annotated[int, Meta(ge=80, le=500)] = 165
    tts_memory_cache: Annotated[int, Meta(ge=0, le=10_000)] = 64  # names kept in memory
    tts_cache_dir: str = ""  # "" = no disk cache (memory only): a name-keyed file would reveal who is enrolled
    # real-time output
    output_device: str = ""  # sounddevice device name or index; "" = system default
    output_latency: str = "low"


def load_audio_config(path: str | Path | None = None, config: dict[str, Any] | None = None) -> AudioConfig:
    """The ``[audio]`` section of ``config`` (or of the TOML file ``path`` / ``$PEOPLELENS_CONFIG``)."""
    if config is None:
        config = load_config(path)
    return section(config, "audio", AudioConfig)
