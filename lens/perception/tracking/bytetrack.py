"""The standard tracker, for comparison: ByteTrack as the ``trackers`` package (Roboflow, Apache-2.0) implements it,
behind the :class:`~peoplelens.lens.perception.tracking.protocol.Tracker` interface so the product runs it in place of
ours (``[tracking] tracker = "bytetrack"``).

What it sees is what a plain ByteTrack sees: one box per observation and its score, with the frame's capture time. The
box is the face box when the observation has a face, else the body box: faces are detected on every detection frame
and bodies on a third of them, so face-first gives it the same kind of box from one frame to the next (body-first
broke every face track on each body-detection frame). Its own Kalman filter, two-stage IoU assignment
(high-score boxes, then low-score ones against the unmatched tracks), activation threshold and lost-track buffer
decide; no appearance, no camera-motion compensation, no re-identification. Its thresholds are taken from the same
``[tracking]`` section as ours, so both run with the same scores, IoU gate, track age and confirmation count.

A view jump (a cut, a head turn too fast to follow) retires every track, as the interface requires; track ids keep
counting up so an id is never reused within a recording.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from peoplelens.core.extras import require
from peoplelens.lens.perception.tracking.config import TrackerConfig, TrackingError
from peoplelens.lens.perception.tracking.kalman import BoxKalman
from peoplelens.lens.perception.tracking.observations import PersonObservation
from peoplelens.lens.perception.tracking.protocol import BOTH_PARTS, EmbedFaces
from peoplelens.lens.perception.tracking.track import Track

REFERENCE_FPS = 30.0  # ``trackers`` counts its lost-track buffer in frames of this rate and scales by timestamps


def _byte_track(config: TrackerConfig) -> Any:
    trackers = require("trackers", extra="eval", feature='[tracking] tracker = "bytetrack"')
    ByteTrackTracker = trackers.ByteTrackTracker
    return ByteTrackTracker(
        lost_track_buffer=max(1, round(config.max_age_s * REFERENCE_FPS)), frame_rate=REFERENCE_FPS,
        track_activation_threshold=config.new_track_score, minimum_consecutive_frames=config.min_hits,
        minimum_iou_threshold=config.match_iou, high_conf_det_threshold=config.high_score)


class ByteTrackBaseline:
    """ByteTrack (``trackers.ByteTrackTracker``) on the observations' boxes; the :class:`Tracker` interface."""

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig(tracker="bytetrack")
        self._tracker = _byte_track(self.config)
        self._offset = 0  # ids of earlier segments (before a view jump) are never reused
        self._max_id = 0
        self._tracks: dict[int, Track] = {}
        self.merges: list[tuple[int, int]] = []  # never: ByteTrack has no re-identification
        self.removed_ids: list[int] = []
        self.t: float | None = None

    @property
    def tracks(self) -> list[Track]:
        """The tracks ByteTrack still holds (matched now or within its lost-track buffer)."""
        return list(self._tracks.values())

    def update(self, t: float, observations: Sequence[PersonObservation],
               camera_motion: np.ndarray | Sequence[float] | None = None,
               looked_for: frozenset[str] = BOTH_PARTS, embed: EmbedFaces | None = None) -> list[Track]:
        """One ByteTrack step at time ``t``; ``camera_motion``, ``looked_for`` and ``embed`` are ignored (a plain
        ByteTrack has no compensation or appearance and keeps its own tentative tracks)."""
        import supervision as sv

        if self.t is not None and t < self.t:
            raise TrackingError(f"time went backwards: {t} after {self.t}")
        self.merges, self.removed_ids = [], []
        obs = [o for o in observations if o.score >= self.config.low_score]
        boxes = np.array([o.face_box if o.face_box is not None else o.box for o in obs], np.float32).reshape(-1, 4)
        detections = sv.Detections(xyxy=boxes, confidence=np.array([o.score for o in obs], np.float32),
                                   data={"observation": np.arange(len(obs))})
        out = self._tracker.update(detections, timestamp=t)
        matched: list[Track] = []
        for index, raw_id in zip(out.data.get("observation", []), out.tracker_id, strict=True):
            if raw_id < 0:  # not (yet) a confirmed track
                continue
            track_id = self._offset + int(raw_id) + 1
            self._max_id = max(self._max_id, track_id)
            track = self._tracks.get(track_id)
            if track is None:
                track = self._tracks[track_id] = Track(track_id=track_id, first_seen=t, last_seen=t, confirmed=True)
            self._apply(track, obs[int(index)], t)
            matched.append(track)
        alive = {self._offset + int(tr.tracker_id) + 1 for tr in self._tracker.tracks if tr.tracker_id >= 0}
        for track_id in [i for i in self._tracks if i not in alive]:
            self.removed_ids.append(track_id)
            del self._tracks[track_id]
        matched_ids = {tr.track_id for tr in matched}
        for track in self._tracks.values():
            if track.track_id not in matched_ids:
                track.observation = None
        self.t = t
        return matched

    @staticmethod
    def _apply(track: Track, ob: PersonObservation, t: float) -> None:
        # the boxes the overlay and the People Map show for this track: the observation's, as ByteTrack matched it
        track.body = BoxKalman(ob.body_box, t) if ob.body_box is not None else None
        track.face = BoxKalman(ob.face_box, t) if ob.face_box is not None else None
        track.observation, track.last_seen = ob, t
        track.hits += 1
        if ob.face_keypoints is not None:
            track.face_keypoints = ob.face_keypoints

    def break_continuity(self, t: float) -> None:
        """Retire every track (a fresh ByteTrack; ids continue above the old ones)."""
        self.merges, self.removed_ids = [], list(self._tracks)
        self._offset = self._max_id
        self._tracks = {}
        self._tracker = _byte_track(self.config)

    def remember_face(self, track: Track, embedding: np.ndarray, quality: float) -> None:
        """ByteTrack keeps no appearance."""

    def reidentify_reported(self, t: float, reported: Sequence[Track]) -> list[tuple[int, int]]:
        """ByteTrack has no re-identification."""
        return []

    def reset(self) -> None:
        """Forget every track; ids start at 1 again."""
        self._tracker = _byte_track(self.config)
        self._offset = self._max_id = 0
        self._tracks, self.merges, self.removed_ids, self.t = {}, [], [], None
