"""What runs on a frame: the detection schedule (adaptive: idle when nobody is in view), and the frame's camera
intrinsics.

**Adaptive schedule** (battery). With nobody in view (no face, body or track) and the head still for
``idle_after_s``, the detectors run only every ``idle_every_s`` (both of them: far people are found by their
bodies). Anything that could mean someone new brings the full rate back on the next frame: a detection, a head turn
faster than ``idle_still_dps`` (new people come into view as the head turns), a view jump or a clock jump, or the
wearer's request (:meth:`Activity.wake`, e.g. asking for the orientation guide). The worst-case delay before a
newly visible person is bumped is therefore ``idle_every_s`` (the wait for the next idle detection, the track's
first hit) plus one frame (the first full-rate frame runs both detectors: the second hit confirms it with
``min_hits`` = 2); ``peoplelens bench --battery`` measures it: 0.30 s worst, 0.17 s median (README, "Battery").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from peoplelens.core.state import HeadOrientation, wrap_deg
from peoplelens.lens.perception.geometry import CameraConfig, CameraIntrinsics
from peoplelens.lens.pipeline.frame_state import FrameState


@dataclass(frozen=True)
class DetectionSchedule:
    """How often the detectors run (from ``[pipeline]``: ``faces_every``, ``people_every``, ``adaptive``,
    ``idle_*``, ``wake_s``)."""

    faces_every: int = 2  # the face detector runs every Nth frame; in between, tracks coast on their motion model
    people_every: int = 3  # the body detector runs on every Nth face-detection frame
    #: ... on the frame before it (when ``faces_every`` > 1; the bodies wait for the face frame: ``BodiesStage``)
    bodies_before_faces: bool = True
    adaptive: bool = True  # idle when nobody is in view and the head is still (module docstring)
    idle_after_s: float = 2.0  # nobody in view and the head still this long: idle
    idle_every_s: float = 0.3  # idle: the detectors run this often
    idle_motion_every_s: float = 0.1  # idle: the video's head rotation is estimated this often (an IMU: every frame)
    idle_still_dps: float = 10.0  # the head turning faster than this (deg/s) is not still
    wake_s: float = 10.0  # a wearer's request keeps the full rate this long


class Activity:
    """What the adaptive schedule knows of the recent frames: when someone was last in view, whether the head
    moves, and the wearer's requests. The schedule stage asks :meth:`idle`; the activity stage, at the end of the
    frame, :meth:`observe` s what the frame found."""

    def __init__(self, schedule: DetectionSchedule) -> None:
        self.schedule = schedule
        self.reset()

    def reset(self) -> None:
        """Forget the recent frames (the next frames run at the full rate)."""
        self.active_t: float | None = None  # when someone was last in view or the head last moved
        self.wake_until = -math.inf
        self._wake_requested = False
        self._head: HeadOrientation | None = None
        self._head_t = 0.0
        self.wake_reason = ""  # why the full rate came back last: "person", "head", "view", "request"

    def wake(self) -> None:
        """The wearer asked for something: the full rate from the next frame, for ``wake_s``."""
        self._wake_requested = True

    def idle(self, t: float) -> bool:
        """Whether the frame at ``t`` may run at the idle rate."""
        if self._wake_requested:
            self._wake_requested = False
            self.wake_until, self.wake_reason = t + self.schedule.wake_s, "request"
        if not self.schedule.adaptive or t < self.wake_until:
            return False
        if self.active_t is None or t < self.active_t:  # the first frame, or time went back (a new epoch)
            self.active_t = t
        return t - self.active_t >= self.schedule.idle_after_s

    def observe(self, t: float, someone: bool, head: HeadOrientation | None, jumped: bool, was_idle: bool) -> None:
        """What the frame at ``t`` found: ``someone`` in view, the head orientation, a view or clock jump."""
        moving = jumped
        if head is not None and self._head is not None and t > self._head_t:
            turn = math.hypot(wrap_deg(head.yaw_deg - self._head.yaw_deg), head.pitch_deg - self._head.pitch_deg)
            moving = moving or turn / (t - self._head_t) > self.schedule.idle_still_dps
        if head is not None:
            self._head, self._head_t = head, t
        if someone or moving:
            if was_idle:
                self.wake_reason = "person" if someone else ("view" if jumped else "head")
            self.active_t = t


class ScheduleStage:
    """Decides what runs on this frame and gives it its camera intrinsics (from the config or the frame size)."""

    name = "schedule"
    reads = frozenset({"frame", "clock_t"})
    writes = frozenset({"intrinsics", "run_faces", "run_people", "run_motion", "idle"})

    def __init__(self, schedule: DetectionSchedule, camera: CameraConfig | CameraIntrinsics,
                 has_people_detector: bool, activity: Activity | None = None) -> None:
        self.schedule, self.camera, self.has_people_detector = schedule, camera, has_people_detector
        self.activity = activity or Activity(schedule)
        self._intrinsics: CameraIntrinsics | None = None
        self.frame_count = 0  # frames since the full rate (re)started: the detectors' phase
        self._idle_run_t = -math.inf  # when the detectors last ran at the idle rate
        self._idle_motion_t = -math.inf  # when the video's rotation was last estimated at the idle rate

    def run(self, state: FrameState) -> None:
        """Count the frame; set ``run_faces`` / ``run_people``, ``idle`` and ``intrinsics``."""
        w, h = state.frame.size
        if self._intrinsics is None or (self._intrinsics.width, self._intrinsics.height) != (w, h):
            self._intrinsics = (self.camera.scaled(w, h) if isinstance(self.camera, CameraIntrinsics)
                                else CameraIntrinsics.from_config(self.camera, w, h))
        state.intrinsics = self._intrinsics
        s = self.schedule
        if self.activity.idle(state.t):
            state.idle = True
            due = _due(state.t, self._idle_run_t, s.idle_every_s)
            state.run_faces = due
            state.run_people = self.has_people_detector and due
            state.run_motion = due or _due(state.t, self._idle_motion_t, s.idle_motion_every_s)
            if due:
                self._idle_run_t = state.t
            if state.run_motion:
                self._idle_motion_t = state.t
            self.frame_count = 0  # on waking, both detectors run on the first full-rate frame
            return
        state.idle, state.run_motion = False, True
        n = self.frame_count
        state.run_faces = n % max(1, s.faces_every) == 0
        if s.bodies_before_faces and s.faces_every > 1:
            # the first full-rate frame runs both (nothing to hand over yet); then the frame before each Nth face frame
            people = n == 0 or (n + 1) % (s.faces_every * max(1, s.people_every)) == 0
        else:
            people = state.run_faces and n % max(1, s.people_every) == 0
        state.run_people = self.has_people_detector and people
        self.frame_count += 1

    def reset(self) -> None:
        """Start counting frames again."""
        self._intrinsics = None
        self.frame_count = 0
        self._idle_run_t = self._idle_motion_t = -math.inf
        self.activity.reset()


def _due(t: float, last_t: float, every_s: float) -> bool:
    """Whether something run every ``every_s`` (last at ``last_t``) is due at ``t`` (half a millisecond early is
    on time; time going back makes it due)."""
    return t - last_t >= every_s - 5e-4 or t < last_t


class ActivityStage:
    """At the end of the frame: tells the adaptive schedule whether anyone was in view and whether the head
    moved (see :class:`Activity`)."""

    name = "activity"
    reads = frozenset({"idle", "faces", "bodies", "sightings", "tracks", "coasting", "head", "view_jumped",
                       "clock_jumped"})
    writes: frozenset[str] = frozenset()

    def __init__(self, activity: Activity) -> None:
        self.activity = activity

    def run(self, state: FrameState) -> None:
        """Observe this frame's people and head motion."""
        someone = bool(len(state.faces) or (state.bodies is not None and len(state.bodies))
                       or state.sightings or state.tracks or state.coasting)
        self.activity.observe(state.t, someone, state.head, state.view_jumped or state.clock_jumped, state.idle)

    def reset(self) -> None:
        """The activity is reset by the schedule stage."""
