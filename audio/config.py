"""Audio settings. Every parameter has a documented default; a ``[audio]`` section of the TOML config
(see :mod:`peoplelens.core.config`) overrides any of them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from peoplelens.core.config import load_config, section


@dataclass(frozen=True)
class AudioConfig:
    """Parameters of synthesis, binaural rendering, mixing, speech and output."""

    sample_rate: int = 48_000  # Hz; every cue, renderer and the output stream use this one rate
    backend: str = "auto"  # "openal" (OpenAL Soft HRTF), "numpy" (spherical head) or "auto"
    # spherical-head model (numpy backend)
    head_radius_m: float = 0.0875  # Woodworth / Brown-Duda head radius
    speed_of_sound_m_s: float = 343.0
    rear_shelf_gain: float = 0.5  # high-frequency gain (x) for a source straight behind (0.5 = -6 dB)
    rear_shelf_cutoff_hz: float = 3000.0
    # distance model (both backends): inverse distance, clamped to [reference, max]
    reference_distance_m: float = 1.0
    max_distance_m: float = 20.0
    # mixer
    block_ms: float = 10.0  # re-spatialisation block (head-tracking update granularity)
    crossfade_ms: float = 5.0  # crossfade between the previous and the new direction inside a block
    preroll_samples: int = 256  # history rendered before each block so filters and delays are settled
    tail_samples: int = 256  # extra output after a cue ends (ITD delay, HRIR length)
    master_gain: float = 0.8
    # speech
    tts_voice: str = "en-us"
    tts_speed_wpm: int = 165
    tts_memory_cache: int = 64  # names kept in memory
    tts_cache_dir: str = ""  # "" = no disk cache (memory only): a name-keyed file would reveal who is enrolled
    # real-time output
    output_device: str = ""  # sounddevice device name or index; "" = system default
    output_latency: str = "low"


def load_audio_config(path: str | Path | None = None, config: dict[str, Any] | None = None) -> AudioConfig:
    """The ``[audio]`` section of ``config`` (or of the TOML file ``path`` / ``$PEOPLELENS_CONFIG``)."""
    if config is None:
        config = load_config(path)
    return section(config, "audio", AudioConfig)
