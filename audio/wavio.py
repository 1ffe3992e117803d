"""WAV reading/writing (scipy.io.wavfile) and sample-rate conversion."""

from __future__ import annotations

from math import gcd
from pathlib import Path

import numpy as np
from scipy.io import wavfile
from scipy.signal import resample_poly

from peoplelens.audio.errors import AudioError


def write_wav(path: str | Path, samples: np.ndarray, sample_rate: int, float32: bool = False) -> Path:
    """Write mono ``(n,)`` or multi-channel ``(n, ch)`` samples in [-1, 1] as 16-bit PCM (or 32-bit float)."""
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim not in (1, 2) or x.size == 0:
        raise AudioError(f"cannot write WAV from samples of shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise AudioError("cannot write WAV: samples contain NaN or infinity")
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise AudioError(f"cannot write {path}: folder {path.parent} does not exist")
    data = x if float32 else (np.clip(x, -1.0, 1.0) * 32767.0).round().astype(np.int16)
    try:
        wavfile.write(path, int(sample_rate), data)
    except OSError as exc:
        raise AudioError(f"cannot write {path}: {exc}") from exc
    return path


def pcm_to_float(data: np.ndarray) -> np.ndarray:
    """WAV samples (int16, int32, uint8 or float) as float32 in [-1, 1]; ValueError for other types."""
    if data.dtype == np.int16:
        return data.astype(np.float32) / 32768.0
    if data.dtype == np.int32:
        return data.astype(np.float32) / 2147483648.0
    if data.dtype == np.uint8:
        return (data.astype(np.float32) - 128.0) / 128.0
    if data.dtype.kind == "f":
        return data.astype(np.float32)
    raise ValueError(f"unsupported WAV sample type {data.dtype}")


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Read a WAV file as float32 in [-1, 1]: ``(n,)`` for mono, ``(n, ch)`` otherwise; returns (samples, rate)."""
    try:
        fs, data = wavfile.read(path)
    except FileNotFoundError as exc:
        raise AudioError(f"WAV file not found: {path}") from exc
    except (OSError, ValueError) as exc:
        raise AudioError(f"cannot read WAV {path}: {exc}") from exc
    try:
        x = pcm_to_float(data)
    except ValueError as exc:
        raise AudioError(f"{exc} in {path}") from None
    return x, int(fs)


def resample(x: np.ndarray, fs_in: int, fs_out: int) -> np.ndarray:
    """Polyphase resampling of ``x`` (along axis 0) from ``fs_in`` to ``fs_out`` Hz, as float32."""
    if fs_in <= 0 or fs_out <= 0:
        raise AudioError(f"invalid sample rates {fs_in} -> {fs_out}")
    if fs_in == fs_out:
        return np.asarray(x, dtype=np.float32)
    g = gcd(int(fs_in), int(fs_out))
    return resample_poly(x, fs_out // g, fs_in // g, axis=0).astype(np.float32)
