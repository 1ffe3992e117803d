"""The one per-frame state object every stage reads from and writes to.

A frame enters as :class:`FrameState` (``frame`` and, live, the IMU sample ``head_sample``) and flows through the
stages once, in order; each stage declares which fields it reads and writes (see :mod:`.stage`), and the runner
checks at build time that every field a stage reads was written by an earlier stage or is an input. The result a
frame leaves behind is :meth:`FrameState.result`, the :class:`~peoplelens.core.state.ProcessResult` the runtime,
the replay harness and the benchmark read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from peoplelens.core.state import AudioEvent, HeadOrientation, PersonState, ProcessResult, SeenSignal, TrackView
from peoplelens.core.types import Detections, Frame
from peoplelens.lens.perception.foveation import FoveationResult
from peoplelens.lens.perception.geometry import CameraIntrinsics
from peoplelens.lens.perception.identity_policy import AnnouncedIdentity, EmbeddedFace
from peoplelens.lens.perception.tracking import PersonObservation as Sighting
from peoplelens.lens.perception.tracking import Track
from peoplelens.lens.world.people_map import PersonObservation
from peoplelens.lens.world.visual import TrackedCorners

#: the fields a frame brings with it (every other field is written by a stage)
INPUTS = frozenset({"frame", "head_sample"})


def _no_faces() -> Detections:
    return Detections.empty(num_keypoints=5)


@dataclass
class FrameState:
    """Everything known about one frame while it passes through the stages (see the field comments)."""

    frame: Frame
    head_sample: HeadOrientation | None = None  # the live IMU orientation given with the frame, if any
    # clock: the pipeline's time for this frame (the frame's own time unless its clock jumped; see stages.clock)
    clock_t: float | None = None
    clock_jumped: bool = False  # the frame's clock jumped: a new epoch (a cut for the tracker, the IMU resynchronised)
    # schedule: what runs on this frame
    intrinsics: CameraIntrinsics | None = None
    run_faces: bool = False  # the face detector (and everything that needs a fresh face) runs on this frame
    run_people: bool = False  # the body detector runs on this frame
    run_motion: bool = True  # the video's head rotation is estimated on this frame (idle: at a low rate)
    idle: bool = False  # the adaptive schedule is idle (nobody in view, the head still): detectors at a low rate
    # detection (pixels of this frame)
    wide_faces: Detections = field(default_factory=_no_faces)  # the face detector on the whole frame (shrunk)
    wide_cpu_ms: float | None = None  # its CPU time, when its session computes in the calling thread (one thread)
    # foveation: the wide faces, those re-detected in full-resolution windows replaced (``data["foveal"]``), plus the
    # windows' new faces; on frames without the wide pass, the tracked faces found in windows around their prediction
    faces: Detections = field(default_factory=_no_faces)
    faces_observed: bool = False  # ``faces`` is an observation the tracker updates on (wide pass, or windows ran)
    foveation: FoveationResult | None = None  # the windows run on this frame and their cost (None: none ran)
    detected_bodies: Detections | None = None  # the body detector's output on this frame (None: it did not run)
    bodies: Detections | None = None  # the bodies joining this frame's tracker update (None: none to join)
    latest_bodies: Detections | None = None  # the newest body detections (this frame's or an earlier one)
    corners: TrackedCorners | None = None  # background corner tracking for the video's own head rotation
    face_crops: np.ndarray | None = None  # (N, 112, 112, 3) aligned crops of ``faces``
    face_quality: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))  # (N,) 0..1
    # world
    head: HeadOrientation | None = None
    image_motion: np.ndarray = field(default_factory=lambda: np.eye(3))  # previous -> this frame's pixels
    view_jumped: bool = False  # a cut or a head turn too fast to follow: no track may continue by overlap
    # tracking
    sightings: list[Sighting] = field(default_factory=list)  # this frame's people (faces paired with bodies)
    tracks: list[Track] = field(default_factory=list)  # confirmed tracks matched on this frame
    coasting: list[Track] = field(default_factory=list)  # confirmed tracks not matched now but seen just before
    # the image motion (3x3, pixels) from the tracker's last update to this frame: where the head turned since, a
    # coasting track's boxes (the update's pixels) are moved by it (the identity on a frame the tracker updated on)
    since_update: np.ndarray = field(default_factory=lambda: np.eye(3))
    merges: list[tuple[int, int]] = field(default_factory=list)  # (fresh id, restored id) from re-identification
    removed: list[int] = field(default_factory=list)  # track ids that ended on this frame
    # identity and face attributes (by track id)
    embeddings: dict[int, EmbeddedFace] = field(default_factory=dict)  # faces embedded now (raw unit vectors)
    identities: dict[int, AnnouncedIdentity] = field(default_factory=dict)
    attributes: dict[int, Any] = field(default_factory=dict)  # FaceAttributes of faces seen now or coasting
    # place: camera directions and distances
    observations: list[PersonObservation] = field(default_factory=list)
    views: list[TrackView] = field(default_factory=list)
    # People Map and experiences
    people: list[PersonState] = field(default_factory=list)
    events: list[AudioEvent] = field(default_factory=list)
    seen: list[SeenSignal] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage (set by the runner)

    @property
    def t(self) -> float:
        """The frame's time on the pipeline's clock (seconds): its capture time, resynchronised by the clock stage
        when the frame clock jumped (never backwards, never a leap); the frame's own stamp before that stage."""
        return self.clock_t if self.clock_t is not None else self.frame.timestamp

    def result(self) -> ProcessResult:
        """What this frame produced, for the runtime, the replay harness and the benchmark."""
        head = self.head or HeadOrientation(0.0, timestamp=self.t, source="none")
        return ProcessResult(frame_index=self.frame.index, t=self.t, head=head, events=list(self.events),
                             seen=list(self.seen), people=list(self.people), tracks=list(self.views),
                             timings=dict(self.timings), detected=self.run_faces, idle=self.idle)
