"""Direction recovery from a binaural signal: interaural time difference (GCC-PHAT over +-1 ms), mapped back
through the inverse Woodworth formula, and interaural level difference. Used by tests and ``peoplelens.audio.measure``.

ITD cannot tell front from back (az and 180 - az give the same ITD), so the estimate is the lateral angle,
in -90..90 degrees, positive = right.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from peoplelens.audio.errors import AudioError

MAX_LAG_S = 0.001


@dataclass(frozen=True)
class DirectionEstimate:
    """What the two ear signals say about the direction of a source."""

    azimuth_deg: float  # lateral angle from the ITD (positive = right); front/back ambiguous
    itd_s: float  # positive = the left ear lags (source on the right)
    ild_db: float  # right minus left level; positive = right louder
    level_dbfs: float  # overall RMS level


def gcc_phat_itd(stereo: np.ndarray, sample_rate: int, max_lag_s: float = MAX_LAG_S) -> float:
    """Interaural time difference in seconds (positive = left ear lags) by GCC-PHAT, sub-sample interpolated."""
    x = np.asarray(stereo, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 2 or len(x) < 16:
        raise AudioError(f"need a stereo signal of shape (n, 2), got {x.shape}")
    left, right = x[:, 0], x[:, 1]
    n = 1 << int(math.ceil(math.log2(2 * len(x))))
    spec = np.fft.rfft(left, n) * np.conj(np.fft.rfft(right, n))
    spec /= np.maximum(np.abs(spec), 1e-12)
    cc = np.fft.irfft(spec, n)
    m = int(round(max_lag_s * sample_rate))
    window = np.concatenate([cc[-m:], cc[: m + 1]])  # lags -m..m: cc[k] peaks where left(t) = right(t - k)
    i = int(np.argmax(window))
    shift = 0.0
    if 0 < i < len(window) - 1:
        a, b, c = window[i - 1], window[i], window[i + 1]
        denom = a - 2 * b + c
        shift = 0.5 * (a - c) / denom if denom != 0 else 0.0
    return (i - m + shift) / sample_rate


def inverse_woodworth(itd_s: float, head_radius_m: float = 0.0875, speed_of_sound: float = 343.0) -> float:
    """The lateral angle in degrees whose Woodworth ITD is ``itd_s`` (clipped to +-90)."""
    target = abs(itd_s) * speed_of_sound / head_radius_m  # = b + sin(b)
    if target >= math.pi / 2 + 1:
        return math.copysign(90.0, itd_s)
    lo, hi = 0.0, math.pi / 2
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        if mid + math.sin(mid) < target:
            lo = mid
        else:
            hi = mid
    return math.copysign(math.degrees(0.5 * (lo + hi)), itd_s)


def estimate_direction(stereo: np.ndarray, sample_rate: int, head_radius_m: float = 0.0875) -> DirectionEstimate:
    """Estimate the lateral direction of the source in a binaural ``(n, 2)`` signal from its ITD and ILD."""
    x = np.asarray(stereo, dtype=np.float64)
    itd = gcc_phat_itd(x, sample_rate)
    rms = np.sqrt(np.mean(x**2, axis=0)) + 1e-12
    ild = 20 * math.log10(rms[1] / rms[0])
    az = inverse_woodworth(itd, head_radius_m)
    if abs(itd) < 0.5 / sample_rate and abs(ild) > 1.0:
        az = math.copysign(abs(az), ild)  # ITD at the centre is too small to give the side; the ILD does
    level = 20 * math.log10(float(np.sqrt(np.mean(x**2))) + 1e-12)
    return DirectionEstimate(azimuth_deg=az, itd_s=itd, ild_db=ild, level_dbfs=level)
