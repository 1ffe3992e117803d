"""The world frame: the wearer's head orientation per frame (IMU when available, else the video itself)
and conversions between camera and world directions."""

from __future__ import annotations

import math

import numpy as np

from peoplelens.core.state import HeadOrientation, wrap_deg
from peoplelens.lens.perception.geometry import (
    CameraIntrinsics,
    angles_to_ray,
    head_rotation,
    ray_to_angles,
    rotation_homography,
)
from peoplelens.lens.world.imu import ImuTrack
from peoplelens.lens.world.imu_gate import ImuConfig, Verdict, WorldHealth, judge_sample
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

    With an :class:`ImuTrack` that covers the frame time (a sample within ``[imu] stale_s``), the IMU wins (and the
    image-motion homography is derived from the IMU rotation between frames); otherwise the
    :class:`VisualRotationEstimator` integrates the video's own rotation from the last heading. ``update`` is called
    once per frame; ``head`` and ``homography`` then describe it.

    The world frame never jumps: when the IMU covers frames again after a fall-back (or a clock epoch), its yaw is
    re-anchored to the heading the video's rotation had reached, and the yaw offset then returns to the IMU's own
    heading at ``[imu] handover_dps`` at most (undoing the video's drift as a slow turn of the world). When the
    IMU's own reference jumped (see :mod:`.imu_gate`) the new offset is kept. Pitch and roll, referenced to gravity,
    are the IMU's own. Live samples are checked by :func:`~.imu_gate.judge_sample` and counted in ``health``; a bad
    one is dropped, never raised.
    """

    def __init__(self, intrinsics: CameraIntrinsics, imu: ImuTrack | None = None, use_visual: bool = True,
                 visual_config: VisualRotationConfig | None = None, imu_config: ImuConfig | None = None,
                 health: WorldHealth | None = None) -> None:
        self.intrinsics = intrinsics
        self.imu = imu
        self.imu_config = imu_config or ImuConfig()
        self.health = health or WorldHealth()
        self._recorded_imu = imu is not None  # a sidecar covering the video: kept across clock epochs
        cfg = visual_config or VisualRotationConfig()
        self.visual = VisualRotationEstimator(intrinsics, cfg) if use_visual else None
        self.head = HeadOrientation(0.0, 0.0, 0.0, 0.0, "none")
        self.homography = np.eye(3)
        self.yaw_offset_deg = 0.0  # world yaw = IMU yaw + this (re-anchored at every hand-over to the IMU)
        self._target_offset_deg = 0.0  # where the offset returns to (changes only when the IMU's reference jumps)
        self._prev_rotation: np.ndarray | None = None
        self._reanchor = False
        self._reference_jumped = False
        self._frames = 0
        self._last_t: float | None = None

    def push_imu(self, sample: HeadOrientation, frame_t: float | None = None) -> Verdict:
        """Feed a live IMU sample (creates the IMU track on first use); ``frame_t`` is the time of the frame it came
        with. Returns the verdict (a refused sample is counted in ``health`` and dropped, never raised)."""
        last = self.imu.last if self.imu is not None else None
        verdict = judge_sample(sample, last, frame_t, self.imu_config)
        self.health.count(verdict)
        if verdict.rejected or verdict is Verdict.REPEAT:
            return verdict
        if self.imu is None:
            self.imu = ImuTrack(max_samples=self.imu_config.max_samples)
        if verdict is Verdict.JUMP:
            self.imu.clear()
            self._reanchor = self._reference_jumped = True
        self.imu.push(sample)
        return verdict

    def new_epoch(self) -> None:
        """The frame clock jumped (see ``pipeline.stages.clock``): live samples of the old clock are dropped, the
        video's rotation starts again from the current heading, and the IMU is re-anchored when it resumes."""
        self.health.epochs += 1
        if self.imu is not None and not self._recorded_imu:
            self.imu.clear()
        if self.visual is not None:
            self.visual.reset(self.head.yaw_deg, self.head.pitch_deg, self.head.roll_deg)
        self._reanchor = True
        self._last_t = None

    def imu_covers(self, t: float) -> bool:
        """Whether the IMU has a sample within ``stale_s`` of ``t``."""
        return self.imu is not None and self.imu.covers(t, self.imu_config.stale_s)

    def prepare(self, bgr: np.ndarray | None, t: float) -> TrackedCorners | None:
        """The costly, people-independent half of :meth:`update` (background corner tracking) when the frame at
        ``t`` needs the video's rotation (no IMU sample covers it); None otherwise. Safe to run on another
        thread while the frame's people are detected; pass the result to :meth:`update` as ``prepared``."""
        if self.visual is None or bgr is None or (self.imu_covers(t) and not self._handover_pending()):
            return None
        return self.visual.track(bgr)

    def _handover_pending(self) -> bool:
        """Whether the IMU, if it covers the next frame, takes over from another source (or a jump) there."""
        return self._frames > 0 and (self._reanchor or self.head.source != "imu")

    def update(self, bgr: np.ndarray | None, t: float, person_boxes: np.ndarray | None = None,
               prepared: TrackedCorners | None = None) -> HeadOrientation:
        """The head orientation for the frame captured at ``t`` (``bgr`` may be None when only the IMU is used;
        ``prepared`` is this frame's :meth:`prepare` result when it was computed ahead)."""
        if bgr is not None and (bgr.shape[1], bgr.shape[0]) != (self.intrinsics.width, self.intrinsics.height):
            self.intrinsics = self.intrinsics.scaled(bgr.shape[1], bgr.shape[0])
        step = t - self._last_t if self._last_t is not None else 0.0
        dt = step if 0.0 < step <= 1.0 else 0.0
        was_on_imu = self.head.source == "imu"
        if self.imu is not None and self.imu_covers(t):
            continuing = self.head
            if self._handover_pending() and self.visual is not None and bgr is not None:
                # where the video's rotation puts this frame: the IMU takes over from there
                tracked = prepared if prepared is not None else self.visual.track(bgr)
                seen = self.visual.finish(tracked, person_boxes, t)
                continuing = seen if self.visual.last_motion.ok else continuing
            head = self._imu_head(t, was_on_imu, dt, continuing)
            self.health.imu_s += dt
            if self.visual is not None:  # resume from here if the IMU stops
                if bgr is not None:
                    self.visual.anchor(bgr, person_boxes, head.yaw_deg, head.pitch_deg, head.roll_deg)
                else:
                    self.visual.reset(head.yaw_deg, head.pitch_deg, head.roll_deg)
        else:
            if was_on_imu:
                self.health.imu_fallbacks += 1
            if self.visual is not None and bgr is not None:
                tracked = prepared if prepared is not None else self.visual.track(bgr)
                head = self.visual.finish(tracked, person_boxes, t)
                self.health.visual_s += dt
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
        self.health.on_imu = int(head.source == "imu")
        self._frames += 1
        self._last_t = t
        return head

    def _imu_head(self, t: float, was_on_imu: bool, dt: float, continuing: HeadOrientation) -> HeadOrientation:
        """The IMU's orientation at ``t`` in the world frame; at a hand-over re-anchored so the heading continues
        from ``continuing`` (the video's estimate for this frame, or the last frame's heading)."""
        assert self.imu is not None
        raw = self.imu.at(t)
        if self._frames > 0 and (self._reanchor or not was_on_imu):
            self.yaw_offset_deg = wrap_deg(continuing.yaw_deg - raw.yaw_deg)
            self.health.imu_resumes += not was_on_imu
            if self._reference_jumped:
                self._target_offset_deg = self.yaw_offset_deg
        else:  # return to the IMU's heading as a slow turn of the world
            step = self.imu_config.handover_dps * dt
            error = wrap_deg(self._target_offset_deg - self.yaw_offset_deg)
            self.yaw_offset_deg = wrap_deg(self.yaw_offset_deg + max(-step, min(step, error)))
        self._reanchor = self._reference_jumped = False
        return HeadOrientation(wrap_deg(raw.yaw_deg + self.yaw_offset_deg), raw.pitch_deg, raw.roll_deg, t, "imu")

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
