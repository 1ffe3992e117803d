"""Shared state types passed between perception, the People Map, experiences, audio and the runtime.

Angle conventions (used everywhere in the project):

* azimuth: degrees, 0 = straight ahead, **positive = to the wearer's right**, wrapped to (-180, 180];
* elevation: degrees, positive = up;
* "world" angles are relative to a fixed world frame (the wearer's heading when the session started);
  "camera" angles are relative to the camera's optical axis, which is the wearer's gaze.
  ``world_azimuth = wrap(head_yaw + camera_azimuth)``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from peoplelens.core.sounds import Sound

__all__ = [
    "AudioEvent", "HeadOrientation", "IdentityState", "PersonState", "ProcessResult", "SeenSignal", "Sound",
    "TrackView", "wrap_deg",
]


def wrap_deg(angle: float) -> float:
    """Wrap an angle in degrees to (-180, 180]."""
    a = (angle + 180.0) % 360.0 - 180.0
    return 180.0 if a == -180.0 else a


class IdentityState(StrEnum):
    """Where a track is in open-set recognition."""

    UNSEEN_FACE = "unseen_face"  # body tracked, no usable face yet
    IDENTIFYING = "identifying"  # face evidence is accumulating
    KNOWN = "known"  # confirmed enrolled person (``name`` is set)
    NOT_ENROLLED = "not_enrolled"  # confirmed to match nobody enrolled


@dataclass(frozen=True)
class HeadOrientation:
    """The wearer's head (= camera) orientation in the world frame at a time (from the IMU or the video)."""

    yaw_deg: float
    pitch_deg: float = 0.0
    roll_deg: float = 0.0
    timestamp: float = 0.0
    source: str = "imu"  # "imu", "visual" or "none"


@dataclass
class PersonState:
    """One person in the People Map, as the experiences and the audio renderer see them."""

    track_id: int
    identity: IdentityState
    name: str | None
    azimuth_deg: float  # world frame
    elevation_deg: float  # world frame
    distance_m: float  # the People Map's estimate (adult/child mixture, filtered over time)
    distance_sigma_m: float
    in_view: bool
    first_seen: float  # seconds (capture clock)
    last_seen: float
    seen_duration_s: float  # continuous time in view so far (0 when out of view)
    camera_azimuth_deg: float | None = None  # relative to the camera axis; None when out of view
    camera_elevation_deg: float | None = None
    face_visible: bool = False
    face_camera_azimuth_deg: float | None = None  # the face centre relative to the camera axis
    face_camera_elevation_deg: float | None = None
    face_size_px: float = 0.0
    both_ears_visible: bool = False
    looking_at_wearer: bool = False
    head_yaw_deg: float | None = None  # the person's head pose relative to the camera (0 = facing it)
    head_pitch_deg: float | None = None
    identity_confidence: float = 0.0  # evidence for the current identity decision, 0..1
    confidence: float = 1.0  # existence confidence; fades while out of view
    #: the smallest plausible distance (the child hypothesis less one sigma, filtered like ``distance_m``); None
    #: when perception gave none. Gates that promise "within X m" read :attr:`gate_distance_m`
    distance_near_m: float | None = None

    @property
    def gate_distance_m(self) -> float:
        """The distance a "within X m" gate (name at 4 m, bump at 10 m) compares: ``distance_near_m`` when known,
        else ``distance_m``. An adult size prior reads a child as farther than they are; this bound does not."""
        return self.distance_m if self.distance_near_m is None else self.distance_near_m

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (enums as strings)."""
        d = asdict(self)
        d["identity"] = str(self.identity)
        return d


@dataclass
class AudioEvent:
    """One cue to play, from a world direction, with why it was chosen (every event is logged)."""

    t: float  # capture time of the frame that triggered it (seconds)
    sound: Sound
    track_id: int | None
    azimuth_deg: float  # world frame
    elevation_deg: float
    distance_m: float
    reason: str
    name: str | None = None  # the spoken name for NAME (and known people in ORIENTATION)
    pitch_semitones: float = 0.0  # WOODBLOCK guidance pitch
    priority: int = 0  # higher wins when cues compete
    frame_t: float | None = None  # capture timestamp of the triggering frame (for latency)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict for ``events.jsonl``."""
        d = asdict(self)
        d["sound"] = str(self.sound)
        return d


@dataclass
class TrackView:
    """What the pipeline saw of one tracked person in the current frame (for overlays and metrics)."""

    track_id: int
    box: tuple[float, float, float, float] | None  # body (or face-derived) box in image pixels, xyxy
    face_box: tuple[float, float, float, float] | None
    identity: IdentityState
    name: str | None
    head_yaw_deg: float | None = None
    head_pitch_deg: float | None = None
    both_ears_visible: bool = False
    looking_at_wearer: bool = False
    distance_m: float | None = None


@dataclass
class SeenSignal:
    """A person has been "seen" by the wearer (named or acknowledged): peers' LED topic."""

    t: float
    track_id: int
    name: str | None
    reason: str


@dataclass
class ProcessResult:
    """Everything one frame produced: the runtime, the replay harness and the benchmark read this."""

    frame_index: int
    t: float  # capture timestamp of the frame (seconds)
    head: HeadOrientation
    events: list[AudioEvent] = field(default_factory=list)
    seen: list[SeenSignal] = field(default_factory=list)
    people: list[PersonState] = field(default_factory=list)  # the whole People Map after this frame
    tracks: list[TrackView] = field(default_factory=list)  # people in view in this frame
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage for this frame
    detected: bool = False  # the face detector ran on this frame (the adaptive schedule skips it when idle)
    idle: bool = False  # the adaptive schedule was idle: nobody in view, the head still (detectors at a low rate)
