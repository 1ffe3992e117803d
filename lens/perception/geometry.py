"""Camera geometry: pixels <-> camera angles, head rotations, distance estimates with uncertainty.

Conventions follow :mod:`peoplelens.core.state`: azimuth positive = right, elevation positive = up, degrees.
Camera axes (OpenCV): x right, y **down**, z forward (the optical axis = the wearer's gaze).

Distance estimates (adult and child priors) live in :mod:`peoplelens.lens.perception.distance`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

import numpy as np
from msgspec import Meta

from peoplelens.core.errors import PeopleLensError
from peoplelens.core.state import wrap_deg


class GeometryError(PeopleLensError):
    """Camera parameters that cannot describe a real camera (non-positive focal length, size, FOV)."""


# ---------------------------------------------------------------------------------------------- intrinsics


@dataclass(frozen=True)
class CameraConfig:
    """``[camera]`` config section: explicit pinhole parameters, or a horizontal field of view.

    When ``fx`` is set it wins (``fy`` defaults to ``fx``, ``cx``/``cy`` to the image centre); otherwise
    the focal length comes from ``hfov_deg`` (70 deg is typical of AR-glasses cameras).
    """

    hfov_deg: Annotated[float, Meta(gt=0.0, lt=180.0)] = 70.0
    #: the camera's resolution, requested from a live camera (None: its default, often 640x480); recorded video keeps
    #: whatever it has. Head-worn cameras deliver 1920x1080 and more: the far field needs it (README "Far field")
    width: Annotated[int, Meta(ge=16, le=16384)] | None = None
    height: Annotated[int, Meta(ge=16, le=16384)] | None = None
    fx: Annotated[float, Meta(gt=0.0)] | None = None
    fy: Annotated[float, Meta(gt=0.0)] | None = None
    cx: Annotated[float, Meta(ge=0.0)] | None = None
    cy: Annotated[float, Meta(ge=0.0)] | None = None


@dataclass(frozen=True)
class CameraIntrinsics:
    """A pinhole camera (no distortion) for images of ``width`` x ``height`` pixels."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    def __post_init__(self) -> None:
        if not (self.fx > 0 and self.fy > 0):
            raise GeometryError(f"focal lengths must be positive, got fx={self.fx} fy={self.fy}")
        if not (self.width > 0 and self.height > 0):
            raise GeometryError(f"image size must be positive, got {self.width}x{self.height}")

    @classmethod
    def from_fov(cls, width: int, height: int, hfov_deg: float = 70.0) -> CameraIntrinsics:
        """Square pixels, principal point at the image centre, focal length from the horizontal FOV."""
        if not 0.0 < hfov_deg < 180.0:
            raise GeometryError(f"horizontal field of view must be in (0, 180) degrees, got {hfov_deg}")
        f = (width / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)
        return cls(f, f, width / 2.0, height / 2.0, int(width), int(height))

    @classmethod
    def from_config(cls, config: CameraConfig, width: int, height: int) -> CameraIntrinsics:
        """Explicit ``fx/fy/cx/cy`` when given, else the field of view (see :class:`CameraConfig`)."""
        if config.fx is None:
            base = cls.from_fov(width, height, config.hfov_deg)
            return cls(base.fx, base.fy, config.cx if config.cx is not None else base.cx,
                       config.cy if config.cy is not None else base.cy, int(width), int(height))
        fy = config.fy if config.fy is not None else config.fx
        cx = config.cx if config.cx is not None else width / 2.0
        cy = config.cy if config.cy is not None else height / 2.0
        return cls(float(config.fx), float(fy), float(cx), float(cy), int(width), int(height))

    @property
    def matrix(self) -> np.ndarray:
        """The 3x3 camera matrix K."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def hfov_deg(self) -> float:
        """Horizontal field of view (image edge to edge through the principal point)."""
        return math.degrees(math.atan(self.cx / self.fx) + math.atan((self.width - self.cx) / self.fx))

    @property
    def vfov_deg(self) -> float:
        """Vertical field of view."""
        return math.degrees(math.atan(self.cy / self.fy) + math.atan((self.height - self.cy) / self.fy))

    def scaled(self, width: int, height: int) -> CameraIntrinsics:
        """The same camera for a resized image (e.g. a downscaled copy for optical flow)."""
        sx, sy = width / self.width, height / self.height
        return CameraIntrinsics(self.fx * sx, self.fy * sy, self.cx * sx, self.cy * sy, int(width), int(height))

    def pixel_to_ray(self, x: float | np.ndarray, y: float | np.ndarray) -> np.ndarray:
        """Unit rays (..., 3) in camera axes for pixel coordinates."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        ray = np.stack([(x - self.cx) / self.fx, (y - self.cy) / self.fy, np.ones_like(x)], axis=-1)
        return ray / np.linalg.norm(ray, axis=-1, keepdims=True)

    def pixel_to_angles(self, x: float | np.ndarray, y: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Camera azimuth and elevation (degrees) of pixels; scalars in give 0-d arrays out (use float())."""
        return ray_to_angles(self.pixel_to_ray(x, y))

    def angles_to_pixel(self, azimuth_deg: float | np.ndarray,
                        elevation_deg: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixel coordinates of camera directions (directions behind the camera give NaN)."""
        ray = angles_to_ray(azimuth_deg, elevation_deg)
        z = ray[..., 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            x = np.where(z > 1e-9, self.cx + self.fx * ray[..., 0] / z, np.nan)
            y = np.where(z > 1e-9, self.cy + self.fy * ray[..., 1] / z, np.nan)
        return x, y

    def contains(self, azimuth_deg: float, elevation_deg: float, margin_px: float = 0.0) -> bool:
        """Whether a camera direction falls inside the image (shrunk by ``margin_px`` on every side)."""
        px, py = self.angles_to_pixel(azimuth_deg, elevation_deg)
        x, y = float(px), float(py)
        if math.isnan(x):
            return False
        return margin_px <= x <= self.width - margin_px and margin_px <= y <= self.height - margin_px


# ------------------------------------------------------------------------------------------ rays and rotations


def angles_to_ray(azimuth_deg: float | np.ndarray, elevation_deg: float | np.ndarray) -> np.ndarray:
    """Unit rays (..., 3) in camera axes (x right, y down, z forward) for azimuth/elevation in degrees."""
    az = np.radians(np.asarray(azimuth_deg, dtype=np.float64))
    el = np.radians(np.asarray(elevation_deg, dtype=np.float64))
    az, el = np.broadcast_arrays(az, el)
    return np.stack([np.cos(el) * np.sin(az), -np.sin(el), np.cos(el) * np.cos(az)], axis=-1)


def ray_to_angles(ray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Azimuth and elevation (degrees) of rays (..., 3) in camera axes (need not be unit length)."""
    ray = np.asarray(ray, dtype=np.float64)
    norm = np.linalg.norm(ray, axis=-1)
    az = np.degrees(np.arctan2(ray[..., 0], ray[..., 2]))
    el = np.degrees(np.arcsin(np.clip(-ray[..., 1] / np.maximum(norm, 1e-12), -1.0, 1.0)))
    return az, el


def head_rotation(yaw_deg: float, pitch_deg: float = 0.0, roll_deg: float = 0.0) -> np.ndarray:
    """The 3x3 rotation taking camera-frame rays to world-frame rays for a head orientation.

    ``R = Ry(yaw) @ Rx(pitch) @ Rz(roll)``: yaw positive turns right, pitch positive looks up, roll positive
    tilts the head to the right (right ear down). With zero pitch and roll, world azimuth = yaw + camera azimuth.
    """
    y, p, r = (math.radians(v) for v in (yaw_deg, pitch_deg, roll_deg))
    ry = np.array([[math.cos(y), 0.0, math.sin(y)], [0.0, 1.0, 0.0], [-math.sin(y), 0.0, math.cos(y)]])
    rx = np.array([[1.0, 0.0, 0.0], [0.0, math.cos(p), -math.sin(p)], [0.0, math.sin(p), math.cos(p)]])
    rz = np.array([[math.cos(r), -math.sin(r), 0.0], [math.sin(r), math.cos(r), 0.0], [0.0, 0.0, 1.0]])
    return ry @ rx @ rz


def rotation_to_euler(rotation: np.ndarray) -> tuple[float, float, float]:
    """Inverse of :func:`head_rotation`: ``(yaw, pitch, roll)`` in degrees, yaw and roll wrapped."""
    r = np.asarray(rotation, dtype=np.float64)
    pitch = math.degrees(math.asin(float(np.clip(-r[1, 2], -1.0, 1.0))))
    yaw = math.degrees(math.atan2(r[0, 2], r[2, 2]))
    roll = math.degrees(math.atan2(r[1, 0], r[1, 1]))
    return wrap_deg(yaw), pitch, wrap_deg(roll)


def nearest_rotation(matrix: np.ndarray) -> np.ndarray:
    """The rotation matrix closest (Frobenius) to ``matrix`` (SVD projection, determinant +1)."""
    u, _, vt = np.linalg.svd(np.asarray(matrix, dtype=np.float64))
    d = np.sign(np.linalg.det(u @ vt))
    return u @ np.diag([1.0, 1.0, d]) @ vt


def rotation_homography(intrinsics: CameraIntrinsics, rotation: np.ndarray,
                        target: CameraIntrinsics | None = None) -> np.ndarray:
    """``H = K_target @ rotation @ K^-1``: the image motion of a pure camera rotation, ``rotation`` mapping
    rays of the first camera to rays of the second (``target``, default the same camera)."""
    k2 = (target or intrinsics).matrix
    h = k2 @ np.asarray(rotation, dtype=np.float64) @ np.linalg.inv(intrinsics.matrix)
    return h / h[2, 2] if abs(h[2, 2]) > 1e-12 else h


# ----------------------------------------------------------------------------------------------- angle helpers


def angle_diff_deg(a: float, b: float) -> float:
    """Signed smallest difference ``a - b`` in degrees, in (-180, 180]."""
    return wrap_deg(a - b)


def circular_mean_deg(angles: Sequence[float] | np.ndarray, weights: Sequence[float] | np.ndarray | None = None
                      ) -> float:
    """Weighted mean of angles on the circle (average of unit vectors), wrapped to (-180, 180]."""
    a = np.radians(np.asarray(angles, dtype=np.float64))
    w = np.ones_like(a) if weights is None else np.asarray(weights, dtype=np.float64)
    if a.size == 0 or float(w.sum()) <= 0:
        raise ValueError("circular mean needs at least one angle with positive weight")
    return wrap_deg(math.degrees(math.atan2(float((w * np.sin(a)).sum()), float((w * np.cos(a)).sum()))))


def angular_half_width_deg(distance_m: float, half_width_m: float = 0.25) -> float:
    """Angular half-width (degrees) of an object ``2 * half_width_m`` wide seen from ``distance_m``.

    The default 0.25 m is half an adult's shoulder width (~0.45-0.5 m): a person at 1 m spans +-14 deg,
    at 4 m +-3.6 deg, at 10 m +-1.4 deg. Distances at or below the half-width give 90 deg.
    """
    if distance_m <= 0:
        return 90.0
    return math.degrees(math.atan2(half_width_m, distance_m))


def person_hit_half_width_deg(distance_m: float, half_width_m: float = 0.25, min_deg: float = 3.0,
                              max_deg: float = 30.0) -> float:
    """Angular tolerance for "the gaze points at this person": the person's half-width clamped to
    ``[min_deg, max_deg]`` so far people stay hittable and near people do not fill the whole view."""
    return float(np.clip(angular_half_width_deg(distance_m, half_width_m), min_deg, max_deg))
