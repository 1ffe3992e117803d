"""Who each tracked person is: embed the faces the identity policy asks for, then feed the evidence and say what
may be announced (see :mod:`peoplelens.lens.perception.identity_policy`, where the whole policy lives)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from peoplelens.lens.perception.face_quality import FaceQualityConfig, face_quality, sharpness
from peoplelens.lens.perception.identity_policy import EmbeddedFace, IdentityPolicy
from peoplelens.lens.perception.tracking import Track, Tracker
from peoplelens.lens.pipeline.frame_state import FrameState
from peoplelens.lens.pipeline.stage import Workers
from peoplelens.models.face_embedder import FaceEmbedder


class EmbedStage:
    """ArcFace embeddings of the faces the policy selects, from crops aligned here on full-resolution pixels
    (or the face-quality stage's crops), split over both threads; each face's evidence quality then includes the
    blur of its aligned crop."""

    name = "embed"
    reads = frozenset({"frame", "tracks", "face_crops"})
    writes = frozenset({"embeddings"})

    def __init__(self, policy: IdentityPolicy, embedder: FaceEmbedder, workers: Workers,
                 quality: FaceQualityConfig | None = None) -> None:
        self.policy, self.embedder, self.workers = policy, embedder, workers
        self.quality = quality or FaceQualityConfig()

    def run(self, state: FrameState) -> None:
        """Embed the selected faces (raw unit vectors, blur-aware quality, width) by track id."""
        state.embeddings = {}
        wanted = self.policy.select(state.tracks, state.t)
        if not wanted:
            return
        crops, image = state.face_crops, state.frame.image

        def embed(part: Sequence[Track]) -> list[EmbeddedFace]:
            faces = [_face_of(tr) for tr in part]
            aligned = (crops[[index for index, _, _ in faces]] if crops is not None
                       else self.embedder.align(image, np.stack([kps for _, kps, _ in faces])))
            # a face the tracker embedded to settle a contest is not embedded again
            known = [tr.observation.embedding if tr.observation is not None else None for tr in part]
            todo = [i for i, v in enumerate(known) if v is None]
            fresh = iter(self.embedder.embed_aligned(aligned[todo]) if todo else [])
            vectors = [v if v is not None else next(fresh) for v in known]
            out = []
            for tr, (_, kps, score), crop, vec in zip(part, faces, aligned, vectors, strict=True):
                q = face_quality(kps, score, sharpness_value=sharpness(crop), config=self.quality).quality
                box = tr.observation.face_box if tr.observation is not None else None
                width = float(box[2] - box[0]) if box is not None else 0.0
                out.append(EmbeddedFace(tr.track_id, vec, q, width))
            return out

        state.embeddings = {f.track_id: f for f in self.workers.split(wanted, embed)}

    def reset(self) -> None:
        """The policy is reset by the identify stage."""


class IdentifyStage:
    """Evidence in, identities out: merges from re-identification, this frame's embedded faces (also kept by the
    tracker for re-identification, which may give a track reported for the first time its old id at once) with every
    face in view, ended tracks, and the identity each visible or coasting track may announce."""

    name = "identify"
    reads = frozenset({"tracks", "coasting", "embeddings", "merges", "removed", "run_faces"})
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
        faces = [f for tid, f in state.embeddings.items() if tid in by_id]
        for f in faces:
            self.tracker.remember_face(by_id[f.track_id], f.embedding, f.quality)
        # a track first reported now whose face matches a lost or coasting person takes their id on this frame
        restored = dict(self.tracker.reidentify_reported(t, state.tracks) if faces else [])
        if restored:
            for fresh_id, restored_id in restored.items():
                self.policy.merge(fresh_id, restored_id)
            faces = [replace(f, track_id=restored.get(f.track_id, f.track_id)) for f in faces]
        if state.run_faces:  # the faces in view compete for names once per detection frame
            visible = [tr.track_id for tr in state.tracks
                       if tr.observation is not None and tr.observation.face_box is not None]
            self.policy.observe(t, faces, visible)
        self.policy.ended(state.removed)
        self._frames += 1
        if self._frames % 100 == 0:
            self.policy.prune(t, self.forget_after_s)
        state.identities = {tr.track_id: self.policy.announce(tr.track_id) for tr in (*state.tracks, *state.coasting)}

    def reset(self) -> None:
        """Forget every track's evidence."""
        self.policy.reset()
        self._frames = 0


def _face_of(track: Track) -> tuple[int, np.ndarray, float]:
    """The row of the track's face in this frame's detections, its keypoints and detector score."""
    ob = track.observation
    assert ob is not None and ob.face_index is not None and ob.face_keypoints is not None, "a face was selected"
    return ob.face_index, ob.face_keypoints, ob.face_score
