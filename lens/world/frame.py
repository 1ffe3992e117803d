"""The world frame: the wearer's head orientation per frame (IMU when available, else the video itself)
and conversions between camera and world directions."""

from __future__ import annotations

import math

import numpy as np

from peoplelens.core.state import HeadOrientation
from peoplelens.lens.perception.geometry import (
    CameraIntrinsics,
    angles_to_ray,
    head_rotation,
    ray_to_angles,
    rotation_homography,
)
from peoplelens.lens.world.imu import ImuTrack
from peoplelens.lens.world.visual import TrackedCorners, VisualRotationConfig, VisualRotationEstimator


def camera_to_world(camera_az_deg: float, camera_el_deg: float, head: HeadOrientation) -> tuple[float, float]:
    """World azimuth/elevation of a camera direction for a head orientation (full 3D rotation; with zero
    pitch and roll this is ``wrap(yaw + camera_az)`` and ``camera_el``)."""
    ray = head_rotation(head.yaw_deg, head.pitch_deg, head.roll_deg) @ angles_to_ray(camera_az_deg, camera_el_deg)
    az, el = ray_to_angles(ray)
    return float(az), float(el)


def world_to_camera(world_az_deg: float, world_el_deg: float, head: HeadOrientation) -> tuple[float, float]:
    """Camera azimuth/elevation of a world direction (also behind the wearer: azimuth near +-180)."""
    ray = head_rotation(head.yaw_deg, head.pitch_deg, head.roll_deg).T @ angles_to_ray(world_az_deg, world_el_deg)
    az, el = ray_to_angles(ray)
    return float(az), float(el)


class WorldFrame:
    """Per-frame head orientation and image motion.

    With an :class:`ImuTrack` that covers the frame time, the IMU wins (and the image-motion homography is
    derived from the IMU rotation between frames); otherwise the :class:`VisualRotationEstimator` integrates
    the video's own rotation. ``update`` is called once per frame; ``head`` and ``homography`` then describe it.
    """

    def __init__(self, intrinsics: CameraIntrinsics, imu: ImuTrack | None = None, use_visual: bool = True,
                 visual_config: VisualRotationConfig | None = None) -> None:
        self.intrinsics = intrinsics
        self.imu = imu
        cfg = visual_config or VisualRotationConfig()
        self.visual = VisualRotationEstimator(intrinsics, cfg) if use_visual else None
        self.head = HeadOrientation(0.0, 0.0, 0.0, 0.0, "none")
        self.homography = np.eye(3)
        self._prev_rotation: np.ndarray | None = None

    def push_imu(self, sample: HeadOrientation) -> None:
        """Feed a live IMU sample (creates the IMU track on first use)."""
        if self.imu is None:
            self.imu = ImuTrack(max_samples=2000)
        self.imu.push(sample)

    def prepare(self, bgr: np.ndarray | None, t: float) -> TrackedCorners | None:
        """The costly, people-independent half of :meth:`update` (background corner tracking) when the frame at
        ``t`` needs the video's rotation (no IMU sample covers it); None otherwise. Safe to run on another
        thread while the frame's people are detected; pass the result to :meth:`update` as ``prepared``."""
        if self.visual is None or bgr is None or (self.imu is not None and self.imu.covers(t)):
            return None
        return self.visual.track(bgr)

    def update(self, bgr: np.ndarray | None, t: float, person_boxes: np.ndarray | None = None,
               prepared: TrackedCorners | None = None) -> HeadOrientation:
        """The head orientation for the frame captured at ``t`` (``bgr`` may be None when only the IMU is used;
        ``prepared`` is this frame's :meth:`prepare` result when it was computed ahead)."""
        if bgr is not None and (bgr.shape[1], bgr.shape[0]) != (self.intrinsics.width, self.intrinsics.height):
            self.intrinsics = self.intrinsics.scaled(bgr.shape[1], bgr.shape[0])
        if self.imu is not None and self.imu.covers(t):
            head = self.imu.at(t)
            if self.visual is not None:
                self.visual.reset(head.yaw_deg, head.pitch_deg, head.roll_deg)  # resume from here if the IMU stops
        elif self.visual is not None and bgr is not None:
            tracked = prepared if prepared is not None else self.visual.track(bgr)
            head = self.visual.finish(tracked, person_boxes, t)
        else:
            head = HeadOrientation(self.head.yaw_deg, self.head.pitch_deg, self.head.roll_deg, t, "none")
        rot = head_rotation(head.yaw_deg, head.pitch_deg, head.roll_deg)
        if head.source == "visual" and self.visual is not None:
            self.homography = self.visual.last_motion.homography
        elif self._prev_rotation is not None:
            # previous-camera rays -> current-camera rays: R_cur^T R_prev
            self.homography = rotation_homography(self.intrinsics, rot.T @ self._prev_rotation)
        else:
            self.homography = np.eye(3)
        self._prev_rotation = rot
        self.head = head
        return head

    def camera_to_world(self, camera_az_deg: float, camera_el_deg: float,
                        head: HeadOrientation | None = None) -> tuple[float, float]:
        """World direction of a camera direction (current head unless given)."""
        return camera_to_world(camera_az_deg, camera_el_deg, head or self.head)

    def world_to_camera(self, world_az_deg: float, world_el_deg: float,
                        head: HeadOrientation | None = None) -> tuple[float, float]:
        """Camera direction of a world direction (current head unless given)."""
        return world_to_camera(world_az_deg, world_el_deg, head or self.head)

    def pixel_to_world(self, x: float, y: float) -> tuple[float, float]:
        """World direction of an image pixel of the current frame."""
        az, el = self.intrinsics.pixel_to_angles(x, y)
        return self.camera_to_world(float(az), float(el))


def image_shift(homography: np.ndarray, x: float, y: float) -> tuple[float, float]:
    """How far the pixel ``(x, y)`` moves under a homography (a pure-shift summary for simple trackers)."""
    p = np.asarray(homography, dtype=np.float64) @ np.array([x, y, 1.0])
    if abs(p[2]) < 1e-12 or not math.isfinite(p[2]):
        return 0.0, 0.0
    return float(p[0] / p[2] - x), float(p[1] / p[2] - y)
