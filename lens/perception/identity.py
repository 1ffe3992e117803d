"""Open-set face recognition per *track*, not per frame.

Each track accumulates evidence over frames. For every good face (quality >= ``min_quality``) and every enrolled
name it keeps the best cosine to that name's enrolled vectors and the cohort-normalised score (cosine minus the
cohort level, :mod:`peoplelens.lens.perception.identity_scores`). States (``peoplelens.core.state.IdentityState``):

* ``UNSEEN_FACE`` until a face of the track is seen;
* ``IDENTIFYING`` while evidence accumulates, and whenever the evidence is not strong enough for anything;
* ``KNOWN`` (with ``name``) once, over at least ``min_good_frames`` good frames with summed quality
  >= ``min_evidence``, the quality-weighted mean cosine for the name is >= ``accept_threshold``, its mean
  cohort-normalised score >= ``cohort_margin``, it leads the second name by ``margin`` and is the best name in
  ``consistency`` of the frames;
* ``NOT_ENROLLED`` once the last ``reject_frames`` good frames all score below ``reject_threshold`` for every name.

Decisions follow the evidence both ways. The *reported* name (:attr:`TrackIdentity.reported_name`, what may be
shown or said) is withheld while the latest good face contradicts the decision (``doubt``) or while another face in
the same frame holds that name or has nearly as much evidence for it (:func:`.identity_scores.exclusive_names`).
After ``withdraw_frames`` contradicting good frames in a row the decision is withdrawn: the track's older evidence
is dropped (it may be someone else's: a tracker swap), and the track is decided again from
the new faces, by the same rules, so the right name is said again as soon as the new evidence allows.

Thresholds: ``python -m peoplelens.bench.openset`` (open-set FPIR/FNIR on the sample people, see the README
section "Open-set identification"); the operating point is chosen for FPIR <= 0.1 % with room for impostors
stronger than the sample material has (see :class:`IdentityConfig`).

What the pipeline calls, once per frame, after embedding the faces that need evidence::

    identities = tracker.update_frame(t, [FaceEvidence(track_id, protected_vector, quality, face_px), ...],
                                      visible=[every track id with a face in view this frame])
    # then for each visible track: identities[tid].reported_state / .reported_name;
    # tracker.wants_evidence(tid): embed that track's face on the next frames too (identifying, in doubt, contested)

plus ``saw_face`` for faces too poor to embed, ``merge`` for re-identified tracks, ``prune`` now and then and
``set_gallery`` after an enrolment. The per-track record (:class:`TrackIdentity`, with its evidence window) and the
per-face input (:class:`FaceEvidence`) are :mod:`peoplelens.lens.perception.identity_evidence`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
from msgspec import Meta

from peoplelens.core.state import IdentityState
from peoplelens.lens.perception.identity_evidence import FaceEvidence, TrackIdentity
from peoplelens.lens.perception.identity_scores import (
    Cohort,
    CohortConfig,
    IdentityError,
    IdentityGallery,
    exclusive_names,
)

__all__ = ["FaceEvidence", "IdentityConfig", "IdentityError", "IdentityGallery", "IdentityTracker", "TrackIdentity"]


@dataclass(frozen=True)
class IdentityConfig:
    """Thresholds of the per-track identity decision (``[identity]`` config section)."""

    #: quality-weighted mean cosine a name needs. The sample impostors reach 0.40 (a track's mean, group photos at
    #: 640x480) and the issue's held-out look-alikes 0.46 for single faces; genuine group faces p1 0.47-0.50
    accept_threshold: Annotated[float, Meta(ge=-1.0, le=1.0)] = 0.50
    #: mean of (cosine - cohort level) a name needs: the name must stand out from the faces the face, and the
    #: enrolled person, resemble most among people they are not (typical cohort level ~0.19 on the benchmark)
    cohort_margin: Annotated[float, Meta(ge=-1.0, le=1.0)] = 0.22
    #: per-frame best cosine below this = "matches nobody enrolled"
    reject_threshold: Annotated[float, Meta(ge=-1.0, le=1.0)] = 0.30
    #: a not-enrolled track whose faces score this high again is reconsidered
    reopen_threshold: Annotated[float, Meta(ge=-1.0, le=1.0)] = 0.40
    #: weighted-mean margin of the confirmed name over the second-best name
    margin: Annotated[float, Meta(ge=0.0, le=2.0)] = 0.08
    #: another face in view this close to the name's evidence: nobody gets the name
    column_margin: Annotated[float, Meta(ge=0.0, le=2.0)] = 0.08
    min_quality: Annotated[float, Meta(ge=0.0, le=1.0)] = 0.3  # faces below this quality are not evidence at all
    min_good_frames: Annotated[int, Meta(ge=1, le=1000)] = 5  # good frames needed before any decision
    #: summed quality needed before confirming a name (low quality counts less)
    min_evidence: Annotated[float, Meta(ge=0.0, le=1000.0)] = 3.0
    #: fraction of good frames in which the name must be the best one
    consistency: Annotated[float, Meta(ge=0.0, le=1.0)] = 0.8
    #: consecutive good frames all below the reject threshold to confirm not-enrolled
    reject_frames: Annotated[int, Meta(ge=1, le=1000)] = 8
    #: consecutive contradicting good frames (or frames that lose the name) to withdraw
    withdraw_frames: Annotated[int, Meta(ge=1, le=1000)] = 3
    window: Annotated[int, Meta(ge=1, le=10000)] = 60  # good frames kept per track
    cohort_top_fraction: Annotated[float, Meta(gt=0.0, le=1.0)] = CohortConfig.top_fraction
    cohort_seen_size: Annotated[int, Meta(ge=0, le=100000)] = CohortConfig.seen_size
    cohort_seen_memory_s: Annotated[float, Meta(ge=0.0, le=86400.0)] = CohortConfig.seen_memory_s

    def cohort(self) -> CohortConfig:
        """The cohort settings."""
        return CohortConfig(top_fraction=self.cohort_top_fraction, seen_size=self.cohort_seen_size,
                            seen_memory_s=self.cohort_seen_memory_s, seen_max_score=self.reject_threshold)


class IdentityTracker:
    """Per-track open-set identity: :meth:`update_frame` once per frame (or :meth:`observe` per face)."""

    def __init__(self, gallery: Any = None, config: IdentityConfig | None = None) -> None:
        self.config = config or IdentityConfig()
        self.gallery = IdentityGallery.from_any(gallery)
        self.cohort = Cohort(self.gallery, self.config.cohort())
        self.identities: dict[int, TrackIdentity] = {}

    def set_gallery(self, gallery: Any) -> None:
        """Replace the enrolled people: every track's evidence restarts (a known name that is still enrolled
        is kept until contrary evidence, one that was removed goes back to IDENTIFYING)."""
        self.gallery = IdentityGallery.from_any(gallery)
        self.cohort.set_gallery(self.gallery)
        for ident in self.identities.values():
            ident.clear_evidence()
            ident.contrary, ident.doubt, ident.withheld = 0, False, False
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

    def wants_evidence(self, track_id: int) -> bool:
        """Should the pipeline embed this track's face on the next frame? (Identifying, in doubt or contested;
        a settled track only needs the pipeline's periodic re-check.)"""
        ident = self.get(track_id)
        return ident.state in (IdentityState.UNSEEN_FACE, IdentityState.IDENTIFYING) or ident.doubt \
            or ident.withheld or ident.contrary > 0 or ident.lost_frames > 0

    # -- per frame -----------------------------------------------------------------------------------

    def update_frame(self, t: float, evidence: Sequence[FaceEvidence], visible: Iterable[int] = ()
                     ) -> dict[int, TrackIdentity]:
        """One frame: the embedded faces' evidence (each scored against the cohort, with the other faces in view
        as its crowd), the decisions, then one name per face among the ``visible`` tracks (those with a face in
        view; the evidence's tracks are always included). Returns the identities of all of them."""
        visible_ids = list(dict.fromkeys([*visible, *(ev.track_id for ev in evidence)]))
        fresh = {ev.track_id: self.gallery.check(ev.embedding) for ev in evidence}
        for ev in evidence:
            crowd = [fresh.get(tid, self.identities[tid].last_embedding if tid in self.identities else None)
                     for tid in visible_ids if tid != ev.track_id]
            crowd_vectors = [c for c in crowd if c is not None and len(c) == len(fresh[ev.track_id])]
            self._observe(ev.track_id, t, fresh[ev.track_id], ev.quality,
                          np.stack(crowd_vectors) if crowd_vectors else None)
        self._assign(visible_ids)
        self.cohort.expire(t)
        return {tid: self.get(tid) for tid in visible_ids}

    def observe(self, track_id: int, t: float, embedding: np.ndarray | None, quality: float,
                crowd: np.ndarray | None = None) -> TrackIdentity:
        """Add one face of one track (or ``None`` when its face is not visible) and decide; no crowd unless
        ``crowd`` (the other faces in view, (N, D)) is given. Prefer :meth:`update_frame`."""
        ident = self.get(track_id)
        ident.last_t = t
        if embedding is None:
            return ident
        return self._observe(track_id, t, self.gallery.check(embedding), quality, crowd)

    def update(self, t: float, tracks: Sequence[Any]) -> dict[int, TrackIdentity]:
        """Feed this frame's tracks (``tracking.Track``: ``track_id`` and ``observation`` with ``embedding`` and
        ``face_quality``) through :meth:`update_frame`."""
        evidence, visible = [], []
        for tr in tracks:
            ob = getattr(tr, "observation", None)
            if ob is None or ob.face_box is None:
                continue
            visible.append(tr.track_id)
            if ob.embedding is not None:
                evidence.append(FaceEvidence(tr.track_id, ob.embedding, float(ob.face_quality),
                                             float(ob.face_box[2] - ob.face_box[0])))
        out = self.update_frame(t, evidence, visible)
        return {tr.track_id: out.get(tr.track_id, self.get(tr.track_id)) for tr in tracks}

    def _observe(self, track_id: int, t: float, embedding: np.ndarray, quality: float,
                 crowd: np.ndarray | None) -> TrackIdentity:
        cfg = self.config
        ident = self.saw_face(track_id, t)
        ident.last_embedding = embedding
        if quality < cfg.min_quality:
            return ident
        raw, level = self.cohort.levels(embedding, crowd, exclude_track=track_id)
        ident.recent.append(embedding)
        ident.add_evidence(float(quality), raw.astype(np.float64), (raw - level).astype(np.float64), cfg.window)
        ident.good_frames += 1
        self._decide(ident, raw, t)
        return ident

    # -- decision ------------------------------------------------------------------------------------

    def _confirms_name(self, ident: TrackIdentity) -> tuple[str | None, float]:
        """The name the track's evidence confirms (None if none) and its weighted mean cosine."""
        cfg = self.config
        q, s, z = ident._window(None)
        if len(q) < cfg.min_good_frames or q.sum() < cfg.min_evidence or s.shape[1] == 0:
            return None, 0.0
        means = (q[:, None] * s).sum(0) / q.sum()
        normalised = (q[:, None] * z).sum(0) / q.sum()
        order = np.argsort(-means)
        best = int(order[0])
        second = float(means[order[1]]) if len(order) > 1 else -1.0
        top_fraction = float(np.mean(np.argmax(s, axis=1) == best))
        if (means[best] >= cfg.accept_threshold and normalised[best] >= cfg.cohort_margin
                and means[best] - second >= cfg.margin and top_fraction >= cfg.consistency):
            return self.gallery.names[best], float(means[best])
        return None, float(means[best])

    def _confirms_nobody(self, ident: TrackIdentity) -> bool:
        last = self.config.reject_frames
        q, s, _ = ident._window(last)
        if len(q) < last:
            return False
        return s.shape[1] == 0 or bool(np.all(s.max(1) < self.config.reject_threshold))

    def _contradicts(self, ident: TrackIdentity, raw: np.ndarray) -> bool:
        """Does this good face disagree with the track's decision?"""
        cfg = self.config
        if ident.state is IdentityState.NOT_ENROLLED:
            return bool(len(raw) and raw.max() >= cfg.reopen_threshold)
        if ident.state is not IdentityState.KNOWN:
            return False
        if ident.name not in self.gallery.names:
            return True
        mine = float(raw[self.gallery.names.index(ident.name)])
        return mine < cfg.reject_threshold or float(raw.max()) - mine >= cfg.margin

    def _decide(self, ident: TrackIdentity, raw: np.ndarray, t: float) -> None:
        cfg = self.config
        if ident.state in (IdentityState.KNOWN, IdentityState.NOT_ENROLLED):
            ident.doubt = self._contradicts(ident, raw)
            ident.contrary = ident.contrary + 1 if ident.doubt else 0
            if ident.contrary >= cfg.withdraw_frames:
                self._withdraw(ident, keep_last=ident.contrary)
            else:
                self._refresh_confidence(ident)
                return
        name, mean = self._confirms_name(ident)
        if name is not None:
            self._set(ident, IdentityState.KNOWN, name, t)
        elif self._confirms_nobody(ident):
            self._set(ident, IdentityState.NOT_ENROLLED, None, t)
            self.cohort.add_seen(np.stack(list(ident.recent)), t, ident.track_id)  # a stranger: cohort

    def _withdraw(self, ident: TrackIdentity, keep_last: int) -> None:
        """The evidence turned: forget the decision and the evidence before the turn."""
        ident.state, ident.name, ident.confidence = IdentityState.IDENTIFYING, None, 0.0
        ident.doubt = ident.withheld = False
        ident.contrary = ident.lost_frames = 0
        ident.clear_evidence(keep_last)

    def _set(self, ident: TrackIdentity, state: IdentityState, name: str | None, t: float) -> None:
        ident.state, ident.name, ident.decided_t = state, name, t
        ident.doubt, ident.contrary = False, 0
        self._refresh_confidence(ident)

    def _refresh_confidence(self, ident: TrackIdentity) -> None:
        """0..1: how far the recent weighted mean is beyond the threshold that supports the decision."""
        cfg = self.config
        means = ident.mean_scores(cfg.min_good_frames * 4)
        if len(means) == 0 or ident.state is IdentityState.IDENTIFYING:
            ident.confidence = 0.0
            return
        if ident.state is IdentityState.KNOWN and ident.name in self.gallery.names:
            m = float(means[self.gallery.names.index(ident.name)])
            ident.confidence = float(np.clip(0.5 + (m - cfg.accept_threshold) / 0.4, 0.0, 1.0))
        elif ident.state is IdentityState.NOT_ENROLLED:
            m = float(means.max())
            ident.confidence = float(np.clip(0.5 + (cfg.reject_threshold - m) / 0.4, 0.0, 1.0))

    def _assign(self, visible: list[int]) -> None:
        """One name per face among the visible tracks; a track that keeps losing its name loses the decision."""
        cfg = self.config
        idents = [self.get(tid) for tid in visible]
        names = self.gallery.names
        if not names or not idents:
            return
        recent = cfg.min_good_frames * 4
        evidence = np.full((len(idents), len(names)), np.nan)
        for i, ident in enumerate(idents):
            if len(ident.quality_history) >= cfg.min_good_frames:
                evidence[i] = ident.mean_scores(recent)
        claims = np.array([names.index(x.name) if x.state is IdentityState.KNOWN and x.name in names else -1
                           for x in idents])
        kept = exclusive_names(evidence, claims, cfg.column_margin)
        for ident, claim, keep in zip(idents, claims, kept, strict=True):
            lost = bool(claim >= 0 and not keep)
            ident.withheld = lost
            ident.lost_frames = ident.lost_frames + 1 if lost else 0
            if ident.lost_frames >= cfg.withdraw_frames:  # someone else in view is that person (or as likely)
                self._withdraw(ident, keep_last=0)

    # -- bookkeeping ---------------------------------------------------------------------------------

    def merge(self, fresh_id: int, old_id: int) -> TrackIdentity:
        """A re-identified track: ``old_id``'s decision continues and ``fresh_id``'s evidence joins it."""
        old = self.get(old_id)
        fresh = self.identities.pop(fresh_id, None)
        if fresh is not None:
            for q, sc, z in zip(fresh.quality_history, fresh.score_history, fresh.normalised_history, strict=True):
                old.add_evidence(float(q), sc, z, self.config.window)
                old.good_frames += 1
            old.faces_seen += fresh.faces_seen
            old.last_embedding = fresh.last_embedding if fresh.last_embedding is not None else old.last_embedding
            if old.state is IdentityState.UNSEEN_FACE and fresh.state is not IdentityState.UNSEEN_FACE:
                old.state = IdentityState.IDENTIFYING
            if old.state is IdentityState.IDENTIFYING and fresh.state is not IdentityState.IDENTIFYING:
                old.state, old.name, old.decided_t = fresh.state, fresh.name, fresh.decided_t
        return old

    def forget(self, track_id: int) -> None:
        """Drop a track's identity (its track is gone for good)."""
        self.identities.pop(track_id, None)

    def prune(self, t: float, max_age_s: float) -> None:
        """Forget identities not observed for ``max_age_s`` (use the tracker's re-identification memory)."""
        for tid in [k for k, v in self.identities.items() if v.last_t is not None and t - v.last_t > max_age_s]:
            del self.identities[tid]
