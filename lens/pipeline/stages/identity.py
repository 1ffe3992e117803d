"""Who each tracked person is: embed the faces the identity policy asks for, then feed the evidence and say what
may be announced (see :mod:`peoplelens.lens.perception.identity_policy`, where the whole policy lives)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from peoplelens.lens.perception.identity_policy import IdentityPolicy
from peoplelens.lens.perception.tracking import Track, Tracker
from peoplelens.lens.pipeline.frame_state import FrameState
from peoplelens.lens.pipeline.stage import Workers
from peoplelens.models.face_embedder import FaceEmbedder


class EmbedStage:
    """ArcFace embeddings of the faces the policy selects (aligned here, or the face-quality stage's crops),
    split over both threads."""

    name = "embed"
    reads = frozenset({"frame", "tracks", "face_crops"})
    writes = frozenset({"embeddings"})

    def __init__(self, policy: IdentityPolicy, embedder: FaceEmbedder, workers: Workers) -> None:
        self.policy, self.embedder, self.workers = policy, embedder, workers

    def run(self, state: FrameState) -> None:
        """Embed the selected faces (raw unit vectors by track id)."""
        state.embeddings = {}
        wanted = self.policy.select(state.tracks, state.t)
        if not wanted:
            return
        crops, image = state.face_crops, state.frame.image

        def embed(part: Sequence[Track]) -> list[np.ndarray]:
            faces = [_face_of(tr) for tr in part]
            if crops is not None:
                return list(self.embedder.embed_aligned(crops[[index for index, _ in faces]]))
            return list(self.embedder.embed(image, np.stack([keypoints for _, keypoints in faces])))

        vectors = self.workers.split(wanted, embed)
        state.embeddings = {tr.track_id: v for tr, v in zip(wanted, vectors, strict=True)}

    def reset(self) -> None:
        """The policy is reset by the identify stage."""


class IdentifyStage:
    """Evidence in, identities out: merges from re-identification, this frame's embeddings (also kept by the tracker
    for re-identification), ended tracks, and the identity each visible or coasting track may announce."""

    name = "identify"
    reads = frozenset({"tracks", "coasting", "embeddings", "merges", "removed"})
    writes = frozenset({"identities"})

    def __init__(self, policy: IdentityPolicy, tracker: Tracker, forget_after_s: float = 120.0) -> None:
        self.policy, self.tracker, self.forget_after_s = policy, tracker, forget_after_s
        self._frames = 0

    def run(self, state: FrameState) -> None:
        """Merge, observe, forget, announce."""
        t = state.t
        for fresh_id, restored_id in state.merges:
            self.policy.merge(fresh_id, restored_id)
        by_id = {tr.track_id: tr for tr in state.tracks}
        ids = [tid for tid in state.embeddings if tid in by_id]
        qualities = [_quality(by_id[tid]) for tid in ids]
        for tid, q in zip(ids, qualities, strict=True):
            self.tracker.remember_face(by_id[tid], state.embeddings[tid], q)
        if ids:
            self.policy.observe(ids, t, np.stack([state.embeddings[tid] for tid in ids]), qualities)
        self.policy.ended(state.removed)
        self._frames += 1
        if self._frames % 100 == 0:
            self.policy.prune(t, self.forget_after_s)
        state.identities = {tr.track_id: self.policy.announce(tr.track_id) for tr in (*state.tracks, *state.coasting)}

    def reset(self) -> None:
        """Forget every track's evidence."""
        self.policy.reset()
        self._frames = 0


def _face_of(track: Track) -> tuple[int, np.ndarray]:
    """The row of the track's face in this frame's detections, and its keypoints."""
    ob = track.observation
    assert ob is not None and ob.face_index is not None and ob.face_keypoints is not None, "a face was selected"
    return ob.face_index, ob.face_keypoints


def _quality(track: Track) -> float:
    return track.observation.face_quality if track.observation is not None else 0.0
