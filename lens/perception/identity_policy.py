"""The identity policy, in one place: which faces to embed, the evidence each track gathers, re-identification
merges, and what name (if any) may be announced.

* **When to embed** (:meth:`IdentityPolicy.select`): a track's face is embedded while the identity tracker wants
  evidence (new, identifying, in doubt, contested by another face in view) and, once decided, every
  ``recheck_s``; never a face below the quality that identity and re-identification accept (its vector would be
  thrown away: it only counts as seen); at most ``max_per_frame`` per frame, least recently embedded first. The
  tracker may embed up to ``[tracking] contested_faces`` more on the same frame to settle who is who; a face it
  embedded is not embedded again here. (Counting those toward the cap was measured and not kept: see the README.)
* **Evidence** (:meth:`observe`): each embedded face, protected with the installation secret (the people store's
  ``protect``) and weighted by its quality *with* blur (read from the aligned crop the embedder used), goes to the
  per-track :class:`~peoplelens.lens.perception.identity.IdentityTracker` once per detection frame, together with
  every track whose face is in view: it decides over many frames (thresholds, cohort normalisation, margin,
  consistency, one name per face in a frame, doubt, withdrawal: see that module).
* **What may be said** (:meth:`announce`): the tracker's *reported* identity: a name in doubt or held by another
  face in view is withheld (IDENTIFYING). A wrong name is far worse than no name.
* **Merges**: a track re-identified by the tracker continues the old track's decision with the fresh evidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from peoplelens.core.state import IdentityState
from peoplelens.lens.perception.identity import FaceEvidence, IdentityConfig, IdentityTracker
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
    """When faces are embedded (the ``[pipeline]`` section's ``embed_recheck_s`` and ``max_embed_per_frame``)."""

    recheck_s: float = 2.0  # a decided, settled track's face is embedded again this often (re-check)
    max_per_frame: int = 2  # cap on faces embedded per frame, least recently embedded first (caps spikes)


@dataclass(frozen=True)
class EmbeddedFace:
    """One face embedded on this frame: its track, raw unit vector, quality (blur included) and width in pixels."""

    track_id: int
    embedding: np.ndarray
    quality: float
    face_px: float


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

    # -- lifecycle -----------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget every track's evidence (a new recording); the enrolled people stay."""
        self.evidence = IdentityTracker(self.people.gallery() if self.people is not None else None, self.config)
        self._last_embed.clear()

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
            elif self.evidence.wants_evidence(tr.track_id) or \
                    t - self._last_embed.get(tr.track_id, -1e9) >= self.schedule.recheck_s:
                wanted.append(tr)
        wanted.sort(key=lambda tr: self._last_embed.get(tr.track_id, -1e9))
        return wanted[: self.schedule.max_per_frame]

    # -- evidence --------------------------------------------------------------------------------------
    def observe(self, t: float, faces: Sequence[EmbeddedFace], visible: Sequence[int]) -> None:
        """One detection frame: the faces embedded now (raw unit vectors) and every track whose face is in view
        (they compete for names: one name per face)."""
        protected = (self.people.protect(np.stack([f.embedding for f in faces])) if self.people is not None and faces
                     else [f.embedding for f in faces])
        evidence = [FaceEvidence(f.track_id, vec, f.quality, f.face_px) for f, vec in zip(faces, protected,
                                                                                          strict=True)]
        self.evidence.update_frame(t, evidence, visible)
        for f in faces:
            self._last_embed[f.track_id] = t

    def merge(self, fresh_id: int, old_id: int) -> None:
        """A re-identified track: the old id's decision continues with the fresh id's evidence."""
        self.evidence.merge(fresh_id, old_id)
        self._last_embed.pop(fresh_id, None)

    def ended(self, track_ids: Sequence[int]) -> None:
        """Tracks that ended: their schedule is dropped; their evidence stays for re-identification."""
        for tid in track_ids:
            self._last_embed.pop(tid, None)

    def prune(self, t: float, max_age_s: float) -> None:
        """Forget the evidence of tracks not seen for ``max_age_s``."""
        self.evidence.prune(t, max_age_s)

    # -- what may be said ------------------------------------------------------------------------------
    def announce(self, track_id: int) -> AnnouncedIdentity:
        """The identity to show and say now (a name in doubt or contested is withheld)."""
        ident = self.evidence.get(track_id)
        state = ident.reported_state
        return AnnouncedIdentity(state, ident.reported_name, ident.confidence if state is ident.state else 0.0)

    def in_doubt(self, track_id: int) -> bool:
        """Whether the track's decided name is being withheld now."""
        ident = self.evidence.get(track_id)
        return ident.state is IdentityState.KNOWN and ident.reported_state is not IdentityState.KNOWN
