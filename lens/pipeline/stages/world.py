"""The wearer's head orientation on each frame: the IMU when it covers the frame, else the video's own rotation
(background corners tracked beside the detectors, people masked out, rotation fitted), and the image motion the
tracker compensates for."""

from __future__ import annotations

import numpy as np

from peoplelens.lens.perception.geometry import CameraIntrinsics
from peoplelens.lens.pipeline.frame_state import FrameState
from peoplelens.lens.world import ImuTrack, VisualRotationConfig, WorldFrame


class WorldModel:
    """The one :class:`WorldFrame` both world stages use, made on the first frame (it needs the intrinsics)."""

    def __init__(self, imu: ImuTrack | None, use_visual: bool, visual_config: VisualRotationConfig) -> None:
        self.imu, self.use_visual, self.visual_config = imu, use_visual, visual_config
        self.frame: WorldFrame | None = None

    def get(self, intrinsics: CameraIntrinsics) -> WorldFrame:
        """The world frame (created for ``intrinsics`` on first use)."""
        if self.frame is None:
            self.frame = WorldFrame(intrinsics, self.imu, use_visual=self.use_visual, visual_config=self.visual_config)
        return self.frame

    def reset(self) -> None:
        """A new recording: the head starts again at yaw 0 (the IMU sidecar, if any, is kept)."""
        self.frame = None


class MotionStage:
    """Feeds the live IMU sample and, when no IMU covers the frame, tracks background corners (the costly half of
    the visual rotation, independent of the people, so it runs beside the detectors)."""

    name = "motion"
    reads = frozenset({"frame", "head_sample", "intrinsics"})
    writes = frozenset({"corners"})

    def __init__(self, world: WorldModel) -> None:
        self.world = world

    def run(self, state: FrameState) -> None:
        """Push the IMU sample; track corners if the video's rotation will be needed."""
        assert state.intrinsics is not None
        world = self.world.get(state.intrinsics)
        if state.head_sample is not None:
            world.push_imu(state.head_sample)
        state.corners = world.prepare(state.frame.image, state.t)

    def reset(self) -> None:
        """The world model is reset by the world stage."""


class WorldStage:
    """The head orientation and the image motion since the previous frame; flags a view jump (cut, fast turn)."""

    name = "world"
    reads = frozenset({"frame", "intrinsics", "corners", "wide_faces", "latest_bodies"})
    writes = frozenset({"head", "image_motion", "view_jumped"})

    def __init__(self, world: WorldModel) -> None:
        self.world = world

    def run(self, state: FrameState) -> None:
        """Fit the rotation with this frame's people masked out (the wide pass's faces now, the newest bodies)."""
        assert state.intrinsics is not None
        world = self.world.get(state.intrinsics)
        bodies = state.latest_bodies.boxes if state.latest_bodies is not None else np.zeros((0, 4), np.float32)
        people = np.concatenate([state.wide_faces.boxes, bodies])
        state.head = world.update(state.frame.image, state.t, people, prepared=state.corners)
        state.image_motion = np.asarray(world.homography, np.float64)
        motion = world.visual.last_motion if world.visual is not None else None
        state.view_jumped = bool(motion is not None and motion.cut and state.head.source == "visual")

    def reset(self) -> None:
        """Forget the head orientation."""
        self.world.reset()
