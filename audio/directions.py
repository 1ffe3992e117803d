"""The direction convention every renderer shares, and the checks and gains they apply alike.

Relative to the wearer's head: azimuth in degrees (0 = straight ahead, **positive = to the wearer's right**,
-90 = left, +-180 = behind), elevation in degrees (0 = ear level, positive = up), distance in metres from the
centre of the head. As a unit vector in head coordinates (x right, y up, z forward)::

    x = sin(az) cos(el),  y = sin(el),  z = cos(az) cos(el)
"""

from __future__ import annotations

import math

import numpy as np

from peoplelens.audio.errors import AudioError


def head_vector(azimuth_deg: float, elevation_deg: float) -> tuple[float, float, float]:
    """Unit direction (x right, y up, z forward) of a head-relative azimuth/elevation."""
    az, el = math.radians(azimuth_deg), math.radians(elevation_deg)
    return math.sin(az) * math.cos(el), math.sin(el), math.cos(az) * math.cos(el)


def distance_gain(distance_m: float, reference_m: float = 1.0, max_m: float = 20.0) -> float:
    """Inverse-distance gain, clamped: 1 inside ``reference_m``, ``reference/d`` up to ``max_m``, then flat.

    This is OpenAL's ``AL_INVERSE_DISTANCE_CLAMPED`` with rolloff 1, so both backends agree (2 m = -6 dB).
    """
    d = min(max(float(distance_m), reference_m), max_m)
    return reference_m / d


def check_request(mono: np.ndarray, azimuth_deg: float, elevation_deg: float, distance_m: float) -> np.ndarray:
    """Validate a render request; returns ``mono`` as contiguous float32."""
    x = np.ascontiguousarray(mono, dtype=np.float32)
    if x.ndim != 1:
        raise AudioError(f"a cue must be mono (1-D samples), got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise AudioError("cue samples contain NaN or infinity")
    for label, v in (("azimuth", azimuth_deg), ("elevation", elevation_deg), ("distance", distance_m)):
        if not math.isfinite(v):
            raise AudioError(f"{label} must be a finite number, got {v}")
    if not -90.0 <= elevation_deg <= 90.0:
        raise AudioError(f"elevation must be within -90..90 degrees, got {elevation_deg}")
    if distance_m < 0:
        raise AudioError(f"distance must be >= 0 m, got {distance_m}")
    return x
