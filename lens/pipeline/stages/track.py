"""People, not boxes: this frame's faces paired with bodies, associated with the tracks (motion compensated by
the head rotation), and the tracks coasting between observed frames."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from peoplelens.lens.perception.tracking import BOTH_PARTS, EmbedFaces, PersonObservation, Tracker, build_observations
from peoplelens.lens.pipeline.frame_state import FrameState
from peoplelens.lens.pipeline.stage import Workers
from peoplelens.models.face_embedder import FaceEmbedder


class MotionSinceUpdate:
    """The image motion (3x3, previous -> current pixels) accumulated since the tracker's last update: the track
    stage adds each frame's and clears it when it updates; the foveate stage reads it to warp the predictions."""

    def __init__(self) -> None:
        self.matrix = np.eye(3)

    def clear(self) -> None:
        """The tracker has applied the motion."""
        self.matrix = np.eye(3)


class TrackStage:
    """Feeds the tracker on the frames whose faces are an observation (``faces_observed``: the wide pass ran, or
    foveal windows re-detected tracked faces); between them tracks coast on their motion model.

    Image motion of frames without an update is accumulated and applied at the next update (``since_update``: the
    place stage moves coasting tracks' boxes by it meanwhile). On a view jump every
    track is retired (nobody inherits a track, or a name, by overlap); re-identification can join them again.
    With an ``embedder`` the tracker may embed the faces it cannot place by position alone (aligned on
    full-resolution pixels, or the face-quality stage's crops); the embed stage reuses those vectors."""

    name = "track"
    reads = frozenset({"frame", "faces", "face_crops", "face_quality", "bodies", "image_motion", "view_jumped",
                       "faces_observed"})
    writes = frozenset({"sightings", "tracks", "coasting", "merges", "removed", "since_update"})

    def __init__(self, tracker: Tracker, coast_s: float = 0.25, face_top_fraction: float = 1.0 / 3.0,
                 motion: MotionSinceUpdate | None = None, embedder: FaceEmbedder | None = None,
                 workers: Workers | None = None) -> None:
        self.tracker, self.coast_s, self.face_top_fraction = tracker, coast_s, face_top_fraction
        self.motion = motion or MotionSinceUpdate()
        self.embedder, self.workers = embedder, workers or Workers(0)

    def run(self, state: FrameState) -> None:
        """Associate (on observed frames) and list the matched and the coasting tracks."""
        t = state.t
        retired: list[int] = []
        if state.view_jumped:
            self.tracker.break_continuity(t)
            retired = list(self.tracker.removed_ids)
        self.motion.matrix = state.image_motion @ self.motion.matrix
        state.sightings = build_observations(state.bodies, state.faces, state.face_quality, self.face_top_fraction)
        if state.faces_observed:
            looked_for = BOTH_PARTS if state.bodies is not None else frozenset({"face"})
            state.tracks = self.tracker.update(t, state.sightings, camera_motion=self.motion.matrix,
                                               looked_for=looked_for,
                                               embed=None if self.embedder is None else self._embedder_for(state))
            self.motion.clear()
            state.merges, state.removed = list(self.tracker.merges), retired + list(self.tracker.removed_ids)
        else:
            state.tracks, state.merges, state.removed = [], [], retired
        state.since_update = self.motion.matrix.copy()
        matched = {tr.track_id for tr in state.tracks}
        state.coasting = [tr for tr in self.tracker.tracks if tr.confirmed and tr.track_id not in matched
                          and t - tr.last_seen <= self.coast_s]

    def _embedder_for(self, state: FrameState) -> EmbedFaces:
        """Embeds observations' faces of this frame (``embedding`` set in place; faces without keypoints skipped)."""
        embedder = self.embedder
        assert embedder is not None

        def embed(observations: Sequence[PersonObservation]) -> None:
            faces = [(o, o.face_index, o.face_keypoints) for o in observations]
            usable = [(o, row, kps) for o, row, kps in faces if row is not None and kps is not None]
            if not usable:
                return
            crops = state.face_crops

            def vectors(part: Sequence[tuple[PersonObservation, int, np.ndarray]]) -> list[np.ndarray]:
                aligned = (crops[[row for _, row, _ in part]] if crops is not None
                           else embedder.align(state.frame.image, np.stack([kps for _, _, kps in part])))
                return list(embedder.embed_aligned(aligned))

            # two faces: one on each thread, as the embed stage does
            for (ob, _, _), vector in zip(usable, self.workers.split(usable, vectors), strict=True):
                ob.embedding = vector

        return embed

    def reset(self) -> None:
        """Forget every track."""
        self.tracker.reset()
        self.motion.clear()
