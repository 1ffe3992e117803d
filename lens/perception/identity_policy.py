"""The identity policy, in one place: which faces to embed, the evidence each track gathers over time, doubt,
re-identification merges, and what name (if any) may be announced.

* **When to embed** (:meth:`IdentityPolicy.select`): a track's face is embedded while it is new or identifying,
  every ``embed_recheck_s`` once decided, and every frame while its latest face contradicts the decision (doubt);
  never a face below the quality that identity and re-identification accept (its vector would be thrown away: it
  only counts as seen); at most ``max_embed_per_frame`` per frame, least recently embedded first.
* **Evidence** (:meth:`observe`): the face's embedding, protected with the installation secret (the people store's
  ``protect``), goes to the per-track :class:`~peoplelens.lens.perception.identity.IdentityTracker`, which decides
  over many frames (thresholds, margin, consistency: see that module).
* **Doubt**: when a decided track's latest good face disagrees with the decision (a re-check finds someone else,
  e.g. after a track jumped to another person), the name is withheld (:meth:`announce` says IDENTIFYING) until the
  identity tracker either switches or the faces agree again. A wrong name is far worse than no name.
* **Merges**: a track re-identified by the tracker continues the old track's decision with the fresh evidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from peoplelens.core.state import IdentityState
from peoplelens.lens.perception.identity import IdentityConfig, IdentityTracker
from peoplelens.lens.perception.tracking import Track


class PeopleGallery(Protocol):
    """The enrolled people as the pipeline needs them (the registration app's people store is one)."""

    def gallery(self) -> Any:
        """Enrolled names and their protected unit vectors (``names``, ``vectors``, ``owner``)."""
        ...

    def protect(self, embeddings: np.ndarray) -> np.ndarray:
        """Raw unit embeddings transformed with the installation secret (the space the gallery lives in)."""
        ...


@dataclass(frozen=True)
class AnnouncedIdentity:
    """What may be said about a track now: the state, the name (only for KNOWN) and the confidence 0..1."""

    state: IdentityState
    name: str | None = None
    confidence: float = 0.0


@dataclass(frozen=True)
class EmbeddingSchedule:
    """When faces are embedded (the ``[identity]`` section's ``embed_recheck_s`` and ``max_embed_per_frame``)."""

    recheck_s: float = 2.0  # a decided track's face is embedded again this often (re-check)
    max_per_frame: int = 2  # cap on faces embedded per frame, least recently embedded first (caps spikes)


class IdentityPolicy:
    """Per-track identity for the pipeline: select faces to embed, feed evidence, merge, announce."""

    def __init__(self, people: PeopleGallery | None = None, config: IdentityConfig | None = None,
                 schedule: EmbeddingSchedule | None = None, min_embed_quality: float | None = None) -> None:
        self.people = people
        self.config = config or IdentityConfig()
        self.schedule = schedule or EmbeddingSchedule()
        #: below this quality a face gives no evidence (identity) and no re-identification gallery entry
        self.min_embed_quality = self.config.min_quality if min_embed_quality is None else min_embed_quality
        self.evidence = IdentityTracker(people.gallery() if people is not None else None, self.config)
        self._last_embed: dict[int, float] = {}
        self._doubt: set[int] = set()

    # -- lifecycle -----------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget every track's evidence (a new recording); the enrolled people stay."""
        self.evidence = IdentityTracker(self.people.gallery() if self.people is not None else None, self.config)
        self._last_embed.clear()
        self._doubt.clear()

    def reload_people(self) -> None:
        """Re-read the enrolled people (after an enrolment or a ``forget``)."""
        self.evidence.set_gallery(self.people.gallery() if self.people is not None else None)

    @property
    def enrolled(self) -> list[str]:
        """The enrolled names the decisions are made against."""
        return list(self.evidence.gallery.names)

    # -- when to embed ---------------------------------------------------------------------------------
    def too_poor(self, track: Track) -> bool:
        """Whether the track's face this frame is below the quality any evidence needs."""
        ob = track.observation
        return ob is not None and ob.face_quality < self.min_embed_quality

    def select(self, tracks: Sequence[Track], t: float) -> list[Track]:
        """The tracks whose face is embedded on this frame (in order); faces too poor to embed count as seen."""
        wanted = []
        for tr in tracks:
            ob = tr.observation
            if ob is None or ob.face_keypoints is None:
                continue
            if self.too_poor(tr):
                self.evidence.saw_face(tr.track_id, t)  # moves "no face yet" to "identifying"
            elif self._needs_evidence(tr.track_id, t):
                wanted.append(tr)
        wanted.sort(key=lambda tr: self._last_embed.get(tr.track_id, -1e9))
        return wanted[: self.schedule.max_per_frame]

    def _needs_evidence(self, track_id: int, t: float) -> bool:
        if self.evidence.get(track_id).state in (IdentityState.UNSEEN_FACE, IdentityState.IDENTIFYING):
            return True
        if track_id in self._doubt:  # gather the contrary evidence quickly, every frame
            return True
        return t - self._last_embed.get(track_id, -1e9) >= self.schedule.recheck_s

    # -- evidence --------------------------------------------------------------------------------------
    def observe(self, track_ids: Sequence[int], t: float, embeddings: np.ndarray, qualities: Sequence[float]) -> None:
        """Add this frame's embedded faces (raw unit vectors, one per track id) as evidence."""
        if not len(track_ids):
            return
        protected = self.people.protect(embeddings) if self.people is not None else embeddings
        for tid, vec, q in zip(track_ids, protected, qualities, strict=True):
            self.evidence.observe(tid, t, vec, float(q))
            self._last_embed[tid] = t
            if self._disagrees(tid):
                self._doubt.add(tid)
            else:
                self._doubt.discard(tid)

    def _disagrees(self, track_id: int) -> bool:
        """Does the track's latest good face contradict its decided identity?"""
        ident = self.evidence.get(track_id)
        if ident.state not in (IdentityState.KNOWN, IdentityState.NOT_ENROLLED) or not ident.scores:
            return False
        last = np.asarray(ident.scores[-1])
        threshold = self.config.reject_threshold
        if ident.state is IdentityState.NOT_ENROLLED:
            return bool(len(last) and last.max() >= threshold)
        names = self.evidence.gallery.names
        if ident.name not in names:
            return True
        mine = names.index(ident.name)
        return bool(last[mine] < threshold or int(np.argmax(last)) != mine)

    def merge(self, fresh_id: int, old_id: int) -> None:
        """A re-identified track: the old id's decision continues with the fresh id's evidence."""
        self.evidence.merge(fresh_id, old_id)
        self._last_embed.pop(fresh_id, None)
        if fresh_id in self._doubt:
            self._doubt.discard(fresh_id)
            self._doubt.add(old_id)

    def ended(self, track_ids: Sequence[int]) -> None:
        """Tracks that ended: their schedule is dropped; their evidence stays for re-identification."""
        for tid in track_ids:
            self._last_embed.pop(tid, None)
            self._doubt.discard(tid)

    def prune(self, t: float, max_age_s: float) -> None:
        """Forget the evidence of tracks not seen for ``max_age_s``."""
        self.evidence.prune(t, max_age_s)

    # -- what may be said ------------------------------------------------------------------------------
    def announce(self, track_id: int) -> AnnouncedIdentity:
        """The identity to show and say now: a KNOWN name whose latest face disagrees is withheld."""
        ident = self.evidence.get(track_id)
        if track_id in self._doubt and ident.state is IdentityState.KNOWN:
            return AnnouncedIdentity(IdentityState.IDENTIFYING, None, 0.0)
        return AnnouncedIdentity(ident.state, ident.name, ident.confidence)

    def in_doubt(self, track_id: int) -> bool:
        """Whether the track's decision is currently contradicted by its latest face."""
        return track_id in self._doubt
