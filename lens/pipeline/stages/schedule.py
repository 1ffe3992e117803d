"""What runs on a frame: the detection schedule, and the frame's camera intrinsics."""

from __future__ import annotations

from dataclasses import dataclass

from peoplelens.lens.perception.geometry import CameraConfig, CameraIntrinsics
from peoplelens.lens.pipeline.frame_state import FrameState


@dataclass(frozen=True)
class DetectionSchedule:
    """How often the detectors run (from ``[pipeline]``: ``faces_every``, ``people_every``)."""

    faces_every: int = 2  # the face detector runs every Nth frame; in between, tracks coast on their motion model
    people_every: int = 3  # the body detector runs on every Nth face-detection frame


class ScheduleStage:
    """Decides what runs on this frame and gives it its camera intrinsics (from the config or the frame size)."""

    name = "schedule"
    reads = frozenset({"frame"})
    writes = frozenset({"intrinsics", "run_faces", "run_people"})

    def __init__(self, schedule: DetectionSchedule, camera: CameraConfig | CameraIntrinsics,
                 has_people_detector: bool) -> None:
        self.schedule, self.camera, self.has_people_detector = schedule, camera, has_people_detector
        self._intrinsics: CameraIntrinsics | None = None
        self.frame_count = 0

    def run(self, state: FrameState) -> None:
        """Count the frame; set ``run_faces`` / ``run_people`` and ``intrinsics``."""
        w, h = state.frame.size
        if self._intrinsics is None or (self._intrinsics.width, self._intrinsics.height) != (w, h):
            self._intrinsics = (self.camera.scaled(w, h) if isinstance(self.camera, CameraIntrinsics)
                                else CameraIntrinsics.from_config(self.camera, w, h))
        state.intrinsics = self._intrinsics
        n, s = self.frame_count, self.schedule
        state.run_faces = n % max(1, s.faces_every) == 0
        state.run_people = self.has_people_detector and state.run_faces and n % max(1, s.people_every) == 0
        self.frame_count += 1

    def reset(self) -> None:
        """Start counting frames again."""
        self._intrinsics = None
        self.frame_count = 0
