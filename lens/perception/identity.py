"""Open-set face recognition per *track*, not per frame.

Each track accumulates evidence over frames: for every enrolled name, the best cosine of the frame's face
embedding against that name's gallery vectors, weighted by the face quality (``face_quality``). States
(``peoplelens.core.state.IdentityState``):

* ``UNSEEN_FACE`` until a face of the track is seen;
* ``IDENTIFYING`` while evidence accumulates;
* ``KNOWN`` (with ``name``) once the evidence is strong and consistent: at least ``min_good_frames`` frames of
  quality >= ``min_quality`` and summed quality >= ``min_evidence``, the quality-weighted mean for the name
  >= ``accept_threshold``, a margin >= ``margin`` over the second-best name, and the name best in at least
  ``consistency`` of those frames;
* ``NOT_ENROLLED`` once the last ``reject_frames`` good frames all score below ``reject_threshold`` for every
  name (and their weighted mean does too).

A decision is sticky: a confirmed name changes only when, at least ``switch_frames`` good frames after the
decision, the last ``switch_frames`` good frames all favour another name and confirm it on their own (or all
stay below the reject threshold). One bad frame never flips
anything; a wrong name is far worse than no name.

Thresholds (``python -m peoplelens.sim_harness.eval_identity thresholds``, det_2.5g alignment + arcface_mobileface128):

* faces_pairs.csv: 378 genuine pairs min 0.415 / p1 0.443 / mean 0.768; 378 impostor pairs max 0.267 /
  p99.9 0.263 / p99 0.240; EER 0 %.
* small-LFW aligned pairs: 10 genuine min 0.545; 10 impostor max 0.174.
* open set, 30 probes vs the 19-identity gallery (best cosine per name): true name min 0.547, best *other*
  name max 0.291 (the max over a gallery is higher than a single impostor pair); 0 rank-1 errors.
* all 418 impostor scores together: max 0.291, p99.9 0.287, p99 0.266; all 418 genuine: min 0.415.

Chosen: ``accept_threshold = 0.40`` on the quality-weighted *mean* over >= 5 good frames (impostor max 0.291
+ 0.11 margin; a mean over five frames is tighter still), ``reject_threshold = 0.30`` per frame (above every
impostor score measured, below every genuine one: a not-enrolled face must stay under it for 8 consecutive
good frames). Between the two the track stays IDENTIFYING, which costs time, never a wrong name. The
video measurements (``python -m peoplelens.sim_harness.eval_identity videos``) are in the README section "Tracking and
identity".
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from peoplelens.core.errors import PeopleLensError
from peoplelens.core.state import IdentityState


class IdentityError(PeopleLensError):
    """Malformed gallery or embedding."""


@dataclass(frozen=True)
class IdentityConfig:
    """Thresholds of the per-track identity decision (see the module docstring for the measurements)."""

    accept_threshold: float = 0.40  # quality-weighted mean cosine needed to confirm a name
    reject_threshold: float = 0.30  # per-frame best cosine below this = "matches nobody enrolled"
    margin: float = 0.08  # weighted-mean margin of the confirmed name over the second-best name
    min_quality: float = 0.3  # faces below this quality are not evidence at all
    min_good_frames: int = 5  # good frames needed before any decision
    min_evidence: float = 3.0  # summed quality needed before confirming a name (low quality counts less)
    consistency: float = 0.8  # fraction of good frames in which the name must be the best one
    reject_frames: int = 8  # consecutive good frames all below the reject threshold to confirm not-enrolled
    switch_frames: int = 20  # good frames after a decision that must confirm something else to change it
    window: int = 60  # good frames kept per track


@dataclass
class IdentityGallery:
    """Enrolled people: ``names`` (K,), unit ``vectors`` (M, D) and ``owner`` (M,) index into ``names``.

    Any object with those three attributes (the registration store's ``Gallery``) can be converted with
    :meth:`from_any`."""

    names: list[str]
    vectors: np.ndarray
    owner: np.ndarray

    def __post_init__(self) -> None:
        self.names = list(self.names)
        self.vectors = np.asarray(self.vectors, np.float32).reshape(len(self.vectors), -1) if len(self.vectors) \
            else np.zeros((0, 0), np.float32)
        self.owner = np.asarray(self.owner, np.int64).reshape(-1)
        if len(self.owner) != len(self.vectors):
            raise IdentityError(f"gallery has {len(self.vectors)} vectors but {len(self.owner)} owners")
        if len(self.owner) and (self.owner.min() < 0 or self.owner.max() >= len(self.names)):
            raise IdentityError("gallery owner indices must index into names")
        if len(self.vectors) and not np.allclose(np.linalg.norm(self.vectors, axis=1), 1.0, atol=1e-3):
            raise IdentityError("gallery vectors must be unit length")

    @classmethod
    def empty(cls) -> IdentityGallery:
        """Nobody enrolled."""
        return cls([], np.zeros((0, 0), np.float32), np.zeros(0, np.int64))

    @classmethod
    def from_any(cls, gallery: Any) -> IdentityGallery:
        """From ``None``, an ``IdentityGallery`` or anything with ``names``, ``vectors`` and ``owner``."""
        if gallery is None:
            return cls.empty()
        if isinstance(gallery, IdentityGallery):
            return gallery
        try:
            return cls(list(gallery.names), gallery.vectors, gallery.owner)
        except AttributeError as exc:
            raise IdentityError(f"a gallery needs names, vectors and owner: {exc}") from exc

    def without(self, names: set[str] | list[str]) -> IdentityGallery:
        """A copy with the given people removed."""
        keep_names = [n for n in self.names if n not in set(names)]
        new_index = {n: i for i, n in enumerate(keep_names)}
        rows = [i for i, o in enumerate(self.owner) if self.names[o] in new_index]
        owner = np.array([new_index[self.names[self.owner[i]]] for i in rows], np.int64)
        vectors = self.vectors[rows] if rows else np.zeros((0, 0), np.float32)
        return IdentityGallery(keep_names, vectors, owner)

    def scores(self, embedding: np.ndarray) -> np.ndarray:
        """Best cosine per name (K,) for one unit embedding (D,); -1 for a name with no vectors."""
        out = np.full(len(self.names), -1.0, np.float32)
        if len(self.vectors) == 0:
            return out
        e = np.asarray(embedding, np.float32).reshape(-1)
        if e.shape[0] != self.vectors.shape[1]:
            raise IdentityError(f"embedding has {e.shape[0]} dims, gallery {self.vectors.shape[1]}")
        np.maximum.at(out, self.owner, self.vectors @ e)
        return out


@dataclass
class TrackIdentity:
    """The identity decision of one track and the evidence behind it."""

    track_id: int
    state: IdentityState = IdentityState.UNSEEN_FACE
    name: str | None = None
    confidence: float = 0.0
    first_face_t: float | None = None
    decided_t: float | None = None
    last_t: float | None = None
    faces_seen: int = 0
    good_frames: int = 0  # total good frames ever
    decided_at_frame: int = 0  # good_frames count when the current decision was made
    qualities: deque = field(default_factory=deque)  # per good frame
    scores: deque = field(default_factory=deque)  # per good frame: (K,) best cosine per name

    def mean_scores(self, last: int | None = None) -> np.ndarray:
        """Quality-weighted mean cosine per name over the last ``last`` good frames (all when None)."""
        q, s = self._window(last)
        if len(q) == 0:
            return np.zeros(0, np.float32)
        return (q[:, None] * s).sum(0) / max(q.sum(), 1e-9)

    def _window(self, last: int | None) -> tuple[np.ndarray, np.ndarray]:
        n = len(self.qualities) if last is None else min(last, len(self.qualities))
        if n == 0:
            return np.zeros(0), np.zeros((0, 0))
        q = np.array(list(self.qualities)[-n:], np.float64)
        s = np.stack(list(self.scores)[-n:]).astype(np.float64)
        return q, s


class IdentityTracker:
    """Per-track open-set identity; call :meth:`update` once per frame with the tracker's tracks (or
    :meth:`observe` per track), :meth:`merge` for re-identified tracks, :meth:`prune` now and then."""

    def __init__(self, gallery: Any = None, config: IdentityConfig | None = None) -> None:
        self.config = config or IdentityConfig()
        self.gallery = IdentityGallery.from_any(gallery)
        self.identities: dict[int, TrackIdentity] = {}

    def set_gallery(self, gallery: Any) -> None:
        """Replace the enrolled people: every track's evidence restarts (a known name that is still enrolled
        is kept until contrary evidence, one that was removed goes back to IDENTIFYING)."""
        self.gallery = IdentityGallery.from_any(gallery)
        for ident in self.identities.values():
            ident.qualities.clear()
            ident.scores.clear()
            ident.decided_at_frame = ident.good_frames = 0
            if ident.state is IdentityState.KNOWN and ident.name in self.gallery.names:
                continue
            if ident.state is not IdentityState.UNSEEN_FACE:
                ident.state, ident.name, ident.confidence = IdentityState.IDENTIFYING, None, 0.0

    def get(self, track_id: int) -> TrackIdentity:
        """The identity of a track (a fresh UNSEEN_FACE one for an unknown id)."""
        if track_id not in self.identities:
            self.identities[track_id] = TrackIdentity(track_id)
        return self.identities[track_id]

    def saw_face(self, track_id: int, t: float) -> TrackIdentity:
        """Note that the track's face was seen at ``t`` without evidence about who it is (a face below
        ``min_quality`` needs no embedding: it would not count): the track is now IDENTIFYING."""
        ident = self.get(track_id)
        ident.last_t = t
        ident.faces_seen += 1
        if ident.first_face_t is None:
            ident.first_face_t = t
        if ident.state is IdentityState.UNSEEN_FACE:
            ident.state = IdentityState.IDENTIFYING
        return ident

    def update(self, t: float, tracks: Sequence[Any]) -> dict[int, TrackIdentity]:
        """Feed this frame's tracks (``tracking.Track``: ``track_id`` and ``observation`` with
        ``embedding`` and ``face_quality``); returns the identities of those tracks."""
        out = {}
        for tr in tracks:
            ob = getattr(tr, "observation", None)
            emb = None if ob is None else ob.embedding
            quality = 0.0 if ob is None else ob.face_quality
            out[tr.track_id] = self.observe(tr.track_id, t, emb, quality)
        return out

    def observe(self, track_id: int, t: float, embedding: np.ndarray | None, quality: float) -> TrackIdentity:
        """Add one frame's face (or ``None`` when the track's face is not visible) and decide."""
        ident = self.get(track_id)
        ident.last_t = t
        if embedding is None:
            return ident
        cfg = self.config
        self.saw_face(track_id, t)
        if quality < cfg.min_quality:
            return ident
        ident.qualities.append(float(quality))
        ident.scores.append(self.gallery.scores(embedding))
        while len(ident.qualities) > cfg.window:
            ident.qualities.popleft()
            ident.scores.popleft()
        ident.good_frames += 1
        self._decide(ident, t)
        return ident

    # -- decision ------------------------------------------------------------------------------------

    def _confirms_name(self, ident: TrackIdentity, last: int | None, consistency: float) -> tuple[str | None, float]:
        """The name the last ``last`` good frames confirm (None if none) and its weighted mean."""
        cfg = self.config
        q, s = ident._window(last)
        if len(q) < cfg.min_good_frames or q.sum() < cfg.min_evidence or s.shape[1] == 0:
            return None, 0.0
        means = (q[:, None] * s).sum(0) / q.sum()
        order = np.argsort(-means)
        best = int(order[0])
        second = float(means[order[1]]) if len(order) > 1 else -1.0
        top_fraction = float(np.mean(np.argmax(s, axis=1) == best))
        if means[best] >= cfg.accept_threshold and means[best] - second >= cfg.margin and top_fraction >= consistency:
            return self.gallery.names[best], float(means[best])
        return None, float(means[best])

    def _confirms_nobody(self, ident: TrackIdentity, last: int) -> bool:
        q, s = ident._window(last)
        if len(q) < last:
            return False
        if s.shape[1] == 0:
            return True
        best = s.max(1)
        return bool(np.all(best < self.config.reject_threshold))

    def _decide(self, ident: TrackIdentity, t: float) -> None:
        cfg = self.config
        since = ident.good_frames - ident.decided_at_frame
        if ident.state is IdentityState.IDENTIFYING:
            name, mean = self._confirms_name(ident, None, cfg.consistency)
            if name is not None:
                self._set(ident, IdentityState.KNOWN, name, t, mean)
            elif self._confirms_nobody(ident, cfg.reject_frames):
                self._set(ident, IdentityState.NOT_ENROLLED, None, t, mean)
            return
        # A decision exists: only sustained evidence gathered after it can change it.
        if since < cfg.switch_frames:
            self._refresh_confidence(ident)
            return
        name, mean = self._confirms_name(ident, cfg.switch_frames, 1.0)  # every recent frame must agree
        if name is not None and name != ident.name:
            self._set(ident, IdentityState.KNOWN, name, t, mean)
        elif ident.state is IdentityState.KNOWN and self._confirms_nobody(ident, cfg.switch_frames):
            self._set(ident, IdentityState.NOT_ENROLLED, None, t, mean)
        else:
            self._refresh_confidence(ident)

    def _set(self, ident: TrackIdentity, state: IdentityState, name: str | None, t: float, mean: float) -> None:
        ident.state, ident.name, ident.decided_t = state, name, t
        ident.decided_at_frame = ident.good_frames
        self._refresh_confidence(ident)

    def _refresh_confidence(self, ident: TrackIdentity) -> None:
        """0..1: how far the recent weighted mean is beyond the threshold that supports the decision."""
        cfg = self.config
        means = ident.mean_scores(cfg.switch_frames)
        if len(means) == 0 or ident.state is IdentityState.IDENTIFYING:
            ident.confidence = 0.0
            return
        if ident.state is IdentityState.KNOWN and ident.name in self.gallery.names:
            m = float(means[self.gallery.names.index(ident.name)])
            ident.confidence = float(np.clip(0.5 + (m - cfg.accept_threshold) / 0.4, 0.0, 1.0))
        elif ident.state is IdentityState.NOT_ENROLLED:
            m = float(means.max())
            ident.confidence = float(np.clip(0.5 + (cfg.reject_threshold - m) / 0.4, 0.0, 1.0))

    # -- bookkeeping ---------------------------------------------------------------------------------

    def merge(self, fresh_id: int, old_id: int) -> TrackIdentity:
        """A re-identified track: ``old_id``'s decision continues and ``fresh_id``'s evidence joins it."""
        old = self.get(old_id)
        fresh = self.identities.pop(fresh_id, None)
        if fresh is not None:
            for q, s in zip(fresh.qualities, fresh.scores, strict=True):
                old.qualities.append(q)
                old.scores.append(s)
                old.good_frames += 1
            while len(old.qualities) > self.config.window:
                old.qualities.popleft()
                old.scores.popleft()
            old.faces_seen += fresh.faces_seen
            if old.state is IdentityState.UNSEEN_FACE and fresh.state is not IdentityState.UNSEEN_FACE:
                old.state = IdentityState.IDENTIFYING
            if old.state is IdentityState.IDENTIFYING and fresh.state is not IdentityState.IDENTIFYING:
                old.state, old.name = fresh.state, fresh.name
                old.decided_t, old.decided_at_frame = fresh.decided_t, old.good_frames
        return old

    def forget(self, track_id: int) -> None:
        """Drop a track's identity (its track is gone for good)."""
        self.identities.pop(track_id, None)

    def prune(self, t: float, max_age_s: float) -> None:
        """Forget identities not observed for ``max_age_s`` (use the tracker's re-identification memory)."""
        for tid in [k for k, v in self.identities.items() if v.last_t is not None and t - v.last_t > max_age_s]:
            del self.identities[tid]
