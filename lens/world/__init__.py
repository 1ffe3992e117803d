"""The world frame: head orientation from an IMU sidecar / live samples or from the video itself,
camera <-> world direction conversions, and a virtual head turn on real footage for testing and replay."""

from peoplelens.lens.world.frame import WorldFrame, camera_to_world, image_shift, world_to_camera
from peoplelens.lens.world.imu import ImuSidecarError, ImuTrack, load_imu_sidecar, write_imu_sidecar
from peoplelens.lens.world.imu_gate import ImuConfig, Verdict, WorldHealth
from peoplelens.lens.world.virtual_head import VirtualHeadTurn, VirtualPanError, YawScript, frame_times
from peoplelens.lens.world.visual import VisualMotion, VisualRotationConfig, VisualRotationEstimator

__all__ = [
    "ImuConfig", "ImuSidecarError", "ImuTrack", "Verdict", "VirtualHeadTurn", "VirtualPanError", "VisualMotion",
    "VisualRotationConfig", "VisualRotationEstimator", "WorldFrame", "WorldHealth", "YawScript", "camera_to_world",
    "frame_times", "image_shift", "load_imu_sidecar", "world_to_camera", "write_imu_sidecar",
]
