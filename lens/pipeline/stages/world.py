"""The wearer's head orientation on each frame: the IMU when it covers the frame, else the video's own rotation
(background corners tracked beside the detectors, people masked out, rotation fitted), and the image motion the
tracker compensates for.

IMU samples and IMU coverage use the frame's own time (the clock the device stamps both with); a frame clock jump
(``clock_jumped``, from the clock stage) starts a new epoch in the world frame and is a cut for the tracker."""

from __future__ import annotations

import numpy as np

from peoplelens.lens.perception.geometry import CameraIntrinsics
from peoplelens.lens.pipeline.frame_state import FrameState
from peoplelens.lens.world import ImuConfig, ImuTrack, VisualRotationConfig, WorldFrame, WorldHealth


class WorldModel:
    """The one :class:`WorldFrame` both world stages use, made on the first frame (it needs the intrinsics).
    ``health`` (the IMU's samples, fall-backs, time on each source) lives as long as the model."""

    def __init__(self, imu: ImuTrack | None, use_visual: bool, visual_config: VisualRotationConfig,
                 imu_config: ImuConfig | None = None) -> None:
        self.imu, self.use_visual, self.visual_config = imu, use_visual, visual_config
        self.imu_config = imu_config or ImuConfig()
        self.health = WorldHealth()
        self.frame: WorldFrame | None = None

    def get(self, intrinsics: CameraIntrinsics) -> WorldFrame:
        """The world frame (created for ``intrinsics`` on first use)."""
        if self.frame is None:
            self.frame = WorldFrame(intrinsics, self.imu, use_visual=self.use_visual, visual_config=self.visual_config,
                                    imu_config=self.imu_config, health=self.health)
        return self.frame

    def reset(self) -> None:
        """A new recording: the head starts again at yaw 0 (the IMU sidecar, if any, is kept)."""
        self.frame = None


class MotionStage:
    """Feeds the live IMU sample and, when no IMU covers the frame, tracks background corners (the costly half of
    the visual rotation, independent of the people, so it runs beside the detectors)."""

    name = "motion"
    reads = frozenset({"frame", "head_sample", "intrinsics", "clock_jumped", "run_motion"})
    writes = frozenset({"corners"})

    def __init__(self, world: WorldModel) -> None:
        self.world = world

    def run(self, state: FrameState) -> None:
        """Start a new epoch on a clock jump; offer the IMU sample (a bad one is counted and dropped); track corners
        if the video's rotation will be needed."""
        assert state.intrinsics is not None
        world = self.world.get(state.intrinsics)
        t_frame = float(state.frame.timestamp)
        if state.clock_jumped:
            world.new_epoch()
        if state.head_sample is not None:
            world.push_imu(state.head_sample, frame_t=t_frame)
        state.corners = world.prepare(state.frame.image if state.run_motion else None, t_frame)

    def reset(self) -> None:
        """The world model is reset by the world stage."""


class WorldStage:
    """The head orientation and the image motion since the previous frame; flags a view jump (cut, fast turn)."""

    name = "world"
    reads = frozenset({"frame", "intrinsics", "corners", "wide_faces", "latest_bodies", "clock_jumped", "run_motion"})
    writes = frozenset({"head", "image_motion", "view_jumped"})

    def __init__(self, world: WorldModel) -> None:
        self.world = world

    def run(self, state: FrameState) -> None:
        """Fit the rotation with this frame's people masked out (the wide pass's faces now, the newest bodies); a
        clock jump is a view jump too (nothing seen before it may continue by overlap)."""
        assert state.intrinsics is not None
        world = self.world.get(state.intrinsics)
        bodies = state.latest_bodies.boxes if state.latest_bodies is not None else np.zeros((0, 4), np.float32)
        people = np.concatenate([state.wide_faces.boxes, bodies])
        # idle frames between the schedule's motion frames keep the heading (the IMU, when it covers them, still
        # gives it); the next motion frame tracks the corners from the last one that ran
        image = state.frame.image if state.run_motion else None
        state.head = world.update(image, float(state.frame.timestamp), people, prepared=state.corners)
        state.image_motion = np.asarray(world.homography, np.float64)
        motion = world.visual.last_motion if world.visual is not None else None
        cut = bool(motion is not None and motion.cut and state.head.source == "visual")
        state.view_jumped = cut or state.clock_jumped

    def reset(self) -> None:
        """Forget the head orientation."""
        self.world.reset()
