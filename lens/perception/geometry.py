"""Camera geometry: pixels <-> camera angles, head rotations, distance estimates with uncertainty.

Conventions follow :mod:`peoplelens.core.state`: azimuth positive = right, elevation positive = up, degrees.
Camera axes (OpenCV): x right, y **down**, z forward (the optical axis = the wearer's gaze).

Distance priors (all adjustable through :class:`DistancePriors` / the ``[distance]`` config section):

* **inter-ocular distance** (centre of one eye to the other) 63 mm +- 4 mm for adults (the adult
  inter-pupillary distance is ~61-64 mm, sd ~3.5 mm). The projected separation shrinks with the person's
  head yaw as ``cos(yaw)``; when the yaw is known it is divided out (up to 60 deg, beyond that the face is a
  profile and the estimate is down-weighted), when it is unknown a 15 % relative sigma is added.
* **face box width** 15 cm +- 2.5 cm (detector boxes span roughly cheek to cheek; a head is about as
  wide seen from the side as from the front, so no yaw correction, but the sigma is wider than the eyes').
* **body box height** 1.70 m +- 0.10 m for a standing adult; ``maybe_child`` widens the sigma to 0.35 m.
  A body box touching the top or bottom image border is cut, its height says nothing reliable: no estimate.

Estimates are fused by inverse variance (:func:`fuse_estimates`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

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

    hfov_deg: float = 70.0
    fx: float | None = None
    fy: float | None = None
    cx: float | None = None
    cy: float | None = None


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
        x, y = self.angles_to_pixel(azimuth_deg, elevation_deg)
        x, y = float(x), float(y)
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


# -------------------------------------------------------------------------------------------------- distance


class DistanceEstimate(NamedTuple):
    """A distance (metres, along the ray) and its 1-sigma uncertainty; unpacks as ``(distance_m, sigma_m)``."""

    distance_m: float
    sigma_m: float


@dataclass(frozen=True)
class DistancePriors:
    """``[distance]`` config section: real-world sizes behind the distance estimates (module docstring)."""

    interocular_m: float = 0.063
    interocular_sigma_m: float = 0.004
    face_width_m: float = 0.15
    face_width_sigma_m: float = 0.025
    body_height_m: float = 1.70
    body_height_sigma_m: float = 0.10
    child_body_height_sigma_m: float = 0.35
    keypoint_sigma_px: float = 1.5  # localisation noise of one landmark
    box_sigma_px: float = 3.0  # noise of a box edge
    unknown_yaw_rel_sigma: float = 0.15  # added relative sigma for eyes when the head yaw is unknown
    yaw_sigma_deg: float = 10.0  # uncertainty of a known head yaw
    max_yaw_deg: float = 60.0  # beyond this the eyes are a profile: correction capped, sigma widened
    border_margin_px: float = 2.0  # a body box this close to the top/bottom border is cut


def _ray_angle(intr: CameraIntrinsics, p1: tuple[float, float], p2: tuple[float, float]) -> float:
    """Angle (radians) between the rays through two pixels."""
    r = intr.pixel_to_ray(np.array([p1[0], p2[0]]), np.array([p1[1], p2[1]]))
    return math.acos(float(np.clip(np.dot(r[0], r[1]), -1.0, 1.0)))


def _size_distance(size_m: float, angle_rad: float) -> float:
    """Distance at which an object of ``size_m`` (perpendicular to the ray) subtends ``angle_rad``."""
    return size_m / (2.0 * math.tan(angle_rad / 2.0))


def distance_from_eyes(intrinsics: CameraIntrinsics, right_eye: tuple[float, float], left_eye: tuple[float, float],
                       head_yaw_deg: float | None = None, priors: DistancePriors = DistancePriors()
                       ) -> DistanceEstimate | None:
    """Distance from the two eye centres (pixels), correcting the ``cos(yaw)`` foreshortening when known."""
    angle = _ray_angle(intrinsics, right_eye, left_eye)
    sep_px = math.hypot(right_eye[0] - left_eye[0], right_eye[1] - left_eye[1])
    if angle <= 1e-6 or sep_px < 1.0:
        return None
    rel2 = (priors.interocular_sigma_m / priors.interocular_m) ** 2
    rel2 += (math.sqrt(2.0) * priors.keypoint_sigma_px / sep_px) ** 2
    size = priors.interocular_m
    if head_yaw_deg is None:
        rel2 += priors.unknown_yaw_rel_sigma ** 2
    else:
        yaw = min(abs(head_yaw_deg), priors.max_yaw_deg)
        size *= math.cos(math.radians(yaw))
        rel2 += (math.tan(math.radians(yaw)) * math.radians(priors.yaw_sigma_deg)) ** 2
        if abs(head_yaw_deg) > priors.max_yaw_deg:
            rel2 += 0.5 ** 2  # profile: the eye separation barely constrains distance
    d = _size_distance(size, angle)
    return DistanceEstimate(d, d * math.sqrt(rel2))


def distance_from_face_box(intrinsics: CameraIntrinsics, box: Sequence[float],
                           priors: DistancePriors = DistancePriors()) -> DistanceEstimate | None:
    """Distance from a face box's width (xyxy pixels), measured across its vertical centre line."""
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    width = x2 - x1
    if width < 2.0:
        return None
    yc = (y1 + y2) / 2.0
    d = _size_distance(priors.face_width_m, _ray_angle(intrinsics, (x1, yc), (x2, yc)))
    rel = math.hypot(priors.face_width_sigma_m / priors.face_width_m, math.sqrt(2) * priors.box_sigma_px / width)
    return DistanceEstimate(d, d * rel)


def distance_from_body_box(intrinsics: CameraIntrinsics, box: Sequence[float], maybe_child: bool = False,
                           camera_pitch_deg: float = 0.0, priors: DistancePriors = DistancePriors()
                           ) -> DistanceEstimate | None:
    """Distance from a standing person's box height (xyxy pixels); ``None`` when the box is cut by the top
    or bottom border. Uses the head-top and foot elevations (corrected by the camera pitch):
    ``horizontal distance = H / (tan(el_top) - tan(el_feet))``, then along the ray to the box centre."""
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    m = priors.border_margin_px
    if y1 <= m or y2 >= intrinsics.height - m or y2 - y1 < 4.0:
        return None
    xc = (x1 + x2) / 2.0
    (_, el_top), (_, el_bot) = (intrinsics.pixel_to_angles(xc, y) for y in (y1, y2))
    el_top, el_bot = float(el_top) + camera_pitch_deg, float(el_bot) + camera_pitch_deg
    if el_top >= 89.0 or el_bot <= -89.0:
        return None
    span = math.tan(math.radians(el_top)) - math.tan(math.radians(el_bot))
    if span <= 1e-6:
        return None
    height_sigma = priors.child_body_height_sigma_m if maybe_child else priors.body_height_sigma_m
    horizontal = priors.body_height_m / span
    _, el_c = intrinsics.pixel_to_angles(xc, (y1 + y2) / 2.0)  # elevation is measured from the horizontal range
    d = horizontal / max(math.cos(math.radians(float(el_c) + camera_pitch_deg)), 1e-3)
    rel = math.hypot(height_sigma / priors.body_height_m, math.sqrt(2) * priors.box_sigma_px / (y2 - y1))
    if x1 <= m or x2 >= intrinsics.width - m:
        rel = math.hypot(rel, 0.1)  # cut at the side: the box may be a little off-centre
    return DistanceEstimate(d, d * rel)


def fuse_estimates(estimates: Iterable[DistanceEstimate | tuple[float, float] | None]) -> DistanceEstimate | None:
    """Inverse-variance weighted mean of the estimates that exist; ``None`` if there are none."""
    valid = [(float(d), float(s)) for e in estimates if e is not None for d, s in [e]
             if math.isfinite(d) and d > 0 and math.isfinite(s) and s > 0]
    if not valid:
        return None
    w = np.array([1.0 / s**2 for _, s in valid])
    d = float(np.dot(w, [v for v, _ in valid]) / w.sum())
    return DistanceEstimate(d, float(1.0 / math.sqrt(w.sum())))


def estimate_distance(intrinsics: CameraIntrinsics, face_keypoints: np.ndarray | None = None,
                      face_box: Sequence[float] | None = None, body_box: Sequence[float] | None = None,
                      head_yaw_deg: float | None = None, maybe_child: bool = False, camera_pitch_deg: float = 0.0,
                      priors: DistancePriors = DistancePriors()) -> DistanceEstimate | None:
    """Every available cue (eyes from 5-point ``face_keypoints``, face box width, body box height) fused by
    inverse variance; returns ``(distance_m, sigma_m)`` or ``None`` when nothing usable was given."""
    estimates: list[DistanceEstimate | None] = []
    if face_keypoints is not None:
        kps = np.asarray(face_keypoints, dtype=np.float64).reshape(-1, 2)
        if len(kps) >= 2:
            estimates.append(distance_from_eyes(intrinsics, tuple(kps[0]), tuple(kps[1]), head_yaw_deg, priors))
    if face_box is not None:
        estimates.append(distance_from_face_box(intrinsics, face_box, priors))
    if body_box is not None:
        estimates.append(distance_from_body_box(intrinsics, body_box, maybe_child, camera_pitch_deg, priors))
    return fuse_estimates(estimates)
