"""The ``numpy`` backend: a spherical-head binaural model that needs nothing but numpy/scipy.

* ITD: Woodworth's formula ``ITD = a/c * (b + sin b)`` with ``b`` the lateral angle (angle from the median
  plane, ``asin(sin(az) cos(el))``), head radius ``a`` = 8.75 cm; the far ear is delayed by a windowed-sinc
  fractional delay.
* ILD: the Brown-Duda (1998) one-pole/one-zero head-shadow filter per ear,
  ``H(s) = (alpha(theta) s + 2 w0) / (s + 2 w0)``, ``w0 = c/a``,
  ``alpha(theta) = 1.05 + 0.95 cos(theta / 150deg * 180deg)``
  with ``theta`` the angle between the source and that ear's axis (bilinear transform). The far ear loses
  high frequencies (down to alpha = 0.1, -20 dB), the near ear gets a mild high-frequency boost.
* Behind (|az| > 90): a high shelf (one-pole split at ``rear_shelf_cutoff_hz``) lowers the highs by up to
  ``rear_shelf_gain`` straight behind, a mild front/back spectral cue.
* Distance: inverse distance clamped to [reference, max] (see :func:`peoplelens.audio.render.distance_gain`).
* Elevation only enters through the lateral angle (cos el shrinks ITD and ILD); there is no pinna model,
  so up/down is not rendered by this backend (the OpenAL HRTF does render it).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.signal import lfilter

from peoplelens.audio.config import AudioConfig
from peoplelens.audio.directions import check_request, distance_gain, head_vector

ALPHA_MIN = 0.1
THETA_MIN_DEG = 150.0
SINC_HALF = 16  # fractional delay filter: 2*16+1 taps


def woodworth_itd(lateral_deg: float, head_radius_m: float = 0.0875, speed_of_sound: float = 343.0) -> float:
    """Woodworth ITD in seconds for a lateral angle in degrees (signed: positive = right ear leads)."""
    b = math.radians(max(-90.0, min(90.0, lateral_deg)))
    return math.copysign(head_radius_m / speed_of_sound * (abs(b) + math.sin(abs(b))), b)


def head_shadow_coeffs(theta_deg: float, fs: int, head_radius_m: float, c: float) -> tuple[np.ndarray, np.ndarray]:
    """Digital (bilinear) Brown-Duda head-shadow filter for incidence angle ``theta_deg`` from the ear axis."""
    alpha = (1 + ALPHA_MIN / 2) + (1 - ALPHA_MIN / 2) * math.cos(math.radians(theta_deg / THETA_MIN_DEG * 180.0))
    beta = 2.0 * c / head_radius_m  # 2 * w0
    k = 2.0 * fs
    b = np.array([beta + alpha * k, beta - alpha * k]) / (beta + k)
    a = np.array([1.0, (beta - k) / (beta + k)])
    return b, a


def fractional_delay(x: np.ndarray, delay_samples: float, n_out: int) -> np.ndarray:
    """``y[n] = x(n - delay)`` for n < n_out, with band-limited (Kaiser-windowed sinc) interpolation."""
    i = int(math.floor(delay_samples))
    frac = delay_samples - i
    out = np.zeros(n_out, dtype=np.float64)
    if frac < 1e-6:
        m = max(0, min(len(x), n_out - i))
        out[i : i + m] = x[:m]
        return out
    k = np.arange(2 * SINC_HALF + 1)
    h = np.sinc(k - SINC_HALF - frac) * np.kaiser(2 * SINC_HALF + 1, 6.0)
    full = np.concatenate([np.zeros(i), np.convolve(x, h)])[SINC_HALF:]
    m = min(len(full), n_out)
    out[:m] = full[:m]
    return out


class SphericalHeadRenderer:
    """Binaural rendering with the spherical-head model above; stateless, so any thread may call it."""

    name = "numpy"

    def __init__(self, config: AudioConfig | None = None) -> None:
        self.config = config or AudioConfig()
        self.sample_rate = self.config.sample_rate
        self.tail_samples = self.config.tail_samples
        fc = self.config.rear_shelf_cutoff_hz
        p = math.exp(-2 * math.pi * fc / self.sample_rate)
        self._lp = (np.array([1 - p]), np.array([1.0, -p]))

    def describe(self) -> str:
        """A one-line description of the model."""
        return (
            f"numpy spherical head (Woodworth ITD, Brown-Duda head shadow, a={self.config.head_radius_m * 100:.2f} cm)"
        )

    def render(
        self, mono: np.ndarray, azimuth_deg: float, elevation_deg: float = 0.0, distance_m: float = 1.0
    ) -> np.ndarray:
        """``(len(mono) + tail_samples, 2)`` float32: column 0 left ear, column 1 right ear."""
        x = check_request(mono, azimuth_deg, elevation_deg, distance_m).astype(np.float64)
        cfg = self.config
        fs = self.sample_rate
        n_out = len(x) + self.tail_samples
        vx, _vy, vz = head_vector(azimuth_deg, elevation_deg)
        # mild front/back cue: high shelf down by up to rear_shelf_gain straight behind
        rear = max(0.0, -vz)
        if rear > 0.0:
            low = lfilter(self._lp[0], self._lp[1], x)
            x = low + (1.0 - rear * (1.0 - cfg.rear_shelf_gain)) * (x - low)
        lateral = math.degrees(math.asin(max(-1.0, min(1.0, vx))))
        itd = woodworth_itd(lateral, cfg.head_radius_m, cfg.speed_of_sound_m_s)
        delay_left = max(itd, 0.0) * fs  # source to the right -> left ear is late
        delay_right = max(-itd, 0.0) * fs
        out = np.empty((n_out, 2), dtype=np.float32)
        for ch, ear_axis, delay in ((0, -1.0, delay_left), (1, 1.0, delay_right)):
            theta = math.degrees(math.acos(max(-1.0, min(1.0, ear_axis * vx))))
            b, a = head_shadow_coeffs(theta, fs, cfg.head_radius_m, cfg.speed_of_sound_m_s)
            out[:, ch] = fractional_delay(lfilter(b, a, x), delay, n_out)
        out *= distance_gain(distance_m, cfg.reference_distance_m, cfg.max_distance_m)
        return out
