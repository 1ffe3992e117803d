"""A virtual head turn on real footage: a virtual camera rotates inside a wide real frame.

The wide frame (a 1920x1080 video frame or a still photo) is treated as a pinhole image with an assumed
horizontal field of view; it *is* the world frame (its optical axis = world azimuth 0). A smaller virtual
camera (the glasses) with orientation ``yaw(t)`` / ``pitch(t)`` sees the perspective-correct re-projection
``window pixel -> K_wide @ R(head) @ K_window^-1`` (``cv2.warpPerspective``), so a point fixed in the wide frame
keeps a fixed world direction while its position in the window moves, exactly as for a real head turn.
The matching IMU samples come from the same script. Frames stay in memory; nothing is written but the
optional IMU sidecar.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import cv2
import numpy as np

from peoplelens.core.errors import PeopleLensError
from peoplelens.core.state import HeadOrientation
from peoplelens.lens.perception.geometry import CameraIntrinsics, head_rotation, ray_to_angles
from peoplelens.lens.world.imu import write_imu_sidecar


class VirtualPanError(PeopleLensError):
    """A pan script that cannot be parsed, or a head turn that would look outside the wide frame."""


class YawScript:
    """Piecewise-linear yaw (degrees) over time from keyframes; held constant outside them."""

    def __init__(self, keyframes: Iterable[tuple[float, float]]) -> None:
        kf = sorted((float(t), float(y)) for t, y in keyframes)
        if not kf:
            raise VirtualPanError("a pan script needs at least one keyframe")
        ts = [t for t, _ in kf]
        if len(set(ts)) != len(ts):
            raise VirtualPanError(f"pan keyframes repeat a time: {ts}")
        self.times = np.array(ts)
        self.yaws = np.array([y for _, y in kf])

    @classmethod
    def parse(cls, spec: str) -> YawScript:
        """``"0:0,2:30,4:-30"`` = yaw 0 deg at 0 s, 30 deg at 2 s, -30 deg at 4 s."""
        pairs = []
        for part in spec.split(","):
            if not part.strip():
                continue
            try:
                t, y = part.split(":")
                pairs.append((float(t), float(y)))
            except ValueError:
                raise VirtualPanError(f"bad pan keyframe {part!r} in {spec!r}; expected TIME:YAW, e.g. 0:0,2:30"
                                      ) from None
        return cls(pairs)

    @classmethod
    def sinusoid(cls, amplitude_deg: float, period_s: float, duration_s: float, step_s: float = 0.05) -> YawScript:
        """A sinusoidal sweep ``amplitude * sin(2 pi t / period)`` sampled every ``step_s``."""
        ts = np.arange(0.0, duration_s + step_s, step_s)
        return cls(zip(ts, amplitude_deg * np.sin(2 * np.pi * ts / period_s), strict=True))

    def __call__(self, t: float) -> float:
        return float(np.interp(t, self.times, self.yaws))


class VirtualHeadTurn:
    """Renders what a head-worn camera turning by ``yaw(t)`` would see inside a wide frame.

    ``wide_hfov_deg`` is the field of view assumed for the wide frame; the window's focal length defaults to
    the wide frame's (same pixel scale, no zoom). :meth:`render` raises :class:`VirtualPanError` when the
    window would leave the wide frame (use :meth:`yaw_limits` to plan a script).
    """

    def __init__(self, wide_size: tuple[int, int], window_size: tuple[int, int] = (640, 480),
                 yaw: Callable[[float], float] | str = "0:0", wide_hfov_deg: float = 90.0,
                 window_hfov_deg: float | None = None, pitch: Callable[[float], float] | None = None) -> None:
        self.wide = CameraIntrinsics.from_fov(wide_size[0], wide_size[1], wide_hfov_deg)
        if window_hfov_deg is None:
            f = self.wide.fx
            self.window = CameraIntrinsics(f, f, window_size[0] / 2, window_size[1] / 2, *window_size)
        else:
            self.window = CameraIntrinsics.from_fov(window_size[0], window_size[1], window_hfov_deg)
        self.yaw = YawScript.parse(yaw) if isinstance(yaw, str) else yaw
        self.pitch = pitch or (lambda t: 0.0)

    def head(self, t: float) -> HeadOrientation:
        """The scripted head orientation at ``t`` (what an IMU would report)."""
        return HeadOrientation(float(self.yaw(t)), float(self.pitch(t)), 0.0, float(t), "imu")

    def window_to_wide(self, head: HeadOrientation) -> np.ndarray:
        """3x3 homography taking window pixels to wide-frame pixels for a head orientation."""
        r = head_rotation(head.yaw_deg, head.pitch_deg, head.roll_deg)
        h = self.wide.matrix @ r @ np.linalg.inv(self.window.matrix)
        return h / h[2, 2]

    def fits(self, head: HeadOrientation) -> bool:
        """Whether the whole window lies inside the wide frame for this orientation."""
        w, h = self.window.width, self.window.height
        xs = np.concatenate([np.linspace(0, w, 9), np.full(9, w), np.linspace(0, w, 9), np.zeros(9)])
        ys = np.concatenate([np.zeros(9), np.linspace(0, h, 9), np.full(9, h), np.linspace(0, h, 9)])
        pts = np.stack([xs, ys, np.ones_like(xs)])
        m = self.window_to_wide(head) @ pts
        if np.any(m[2] <= 0):
            return False
        u, v = m[0] / m[2], m[1] / m[2]
        return bool(u.min() >= -0.5 and v.min() >= -0.5 and u.max() <= self.wide.width + 0.5
                    and v.max() <= self.wide.height + 0.5)

    def yaw_limits(self, pitch_deg: float = 0.0) -> tuple[float, float]:
        """The most negative and most positive yaw (degrees) that keep the window inside the wide frame."""
        if not self.fits(HeadOrientation(0.0, pitch_deg)):
            raise VirtualPanError("the window does not fit the wide frame even looking straight ahead")
        limits = []
        for sign in (-1.0, 1.0):
            lo, hi = 0.0, 89.0
            for _ in range(40):
                mid = (lo + hi) / 2
                lo, hi = (mid, hi) if self.fits(HeadOrientation(sign * mid, pitch_deg)) else (lo, mid)
            limits.append(sign * lo)
        return limits[0], limits[1]

    def render(self, wide_bgr: np.ndarray, t: float) -> tuple[np.ndarray, HeadOrientation]:
        """The window image at time ``t`` and the matching head orientation."""
        hh, ww = wide_bgr.shape[:2]
        if (ww, hh) != (self.wide.width, self.wide.height):
            raise VirtualPanError(f"wide frame is {ww}x{hh}, expected {self.wide.width}x{self.wide.height}")
        head = self.head(t)
        if not self.fits(head):
            lo, hi = self.yaw_limits(head.pitch_deg)
            raise VirtualPanError(f"yaw {head.yaw_deg:.1f} deg at t={t:.2f}s looks outside the wide frame "
                                  f"(possible yaw {lo:.1f}..{hi:.1f} deg; narrow the window or widen wide_hfov_deg)")
        img = cv2.warpPerspective(wide_bgr, self.window_to_wide(head), (self.window.width, self.window.height),
                                  flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
        return img, head

    def wide_point_world_angles(self, x: float, y: float) -> tuple[float, float]:
        """World azimuth/elevation (degrees) of a pixel of the wide frame (fixed, whatever the head does)."""
        az, el = self.wide.pixel_to_angles(x, y)
        return float(az), float(el)

    def wide_to_window(self, x: float | np.ndarray, y: float | np.ndarray, head: HeadOrientation
                       ) -> tuple[np.ndarray, np.ndarray]:
        """Where wide-frame pixels appear in the window for a head orientation."""
        rays = self.wide.pixel_to_ray(x, y) @ head_rotation(head.yaw_deg, head.pitch_deg, head.roll_deg)
        az, el = ray_to_angles(rays)
        return self.window.angles_to_pixel(az, el)

    def imu_samples(self, times: Iterable[float]) -> list[HeadOrientation]:
        """The IMU readings a real head would have produced at ``times``."""
        return [self.head(t) for t in times]

    def write_sidecar(self, path: str, times: Iterable[float]) -> str:
        """Write the matching IMU sidecar (CSV or JSONL by suffix)."""
        return str(write_imu_sidecar(path, self.imu_samples(times)))


def frame_times(n_frames: int, fps: float, start: float = 0.0) -> list[float]:
    """Timestamps of ``n_frames`` frames at ``fps``."""
    if fps <= 0 or not math.isfinite(fps):
        raise VirtualPanError(f"bad frame rate {fps}")
    return [start + i / fps for i in range(n_frames)]
