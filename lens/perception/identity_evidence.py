"""The per-track identity record: one track's decision and the window of evidence behind it.

:class:`FaceEvidence` is one embedded face of one track in one frame (what the pipeline hands the
:class:`~peoplelens.lens.perception.identity.IdentityTracker`); :class:`TrackIdentity` is a track's state, name,
confidence and flags, with its good frames kept as arrays: the quality of each, the best cosine per enrolled name
and the cohort-normalised score per name (:mod:`peoplelens.lens.perception.identity_scores`). The decision rules
that read and change these records are in :mod:`peoplelens.lens.perception.identity`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from peoplelens.core.state import IdentityState

__all__ = ["FaceEvidence", "TrackIdentity"]


@dataclass(frozen=True)
class FaceEvidence:
    """One embedded face of one track in one frame."""

    track_id: int
    embedding: np.ndarray  # unit vector, in the same (protected) space as the gallery
    quality: float  # ``peoplelens.lens.perception.face_quality`` with the aligned crop (blur known)
    face_px: float = 0.0  # face box width in pixels (kept for the record)


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
    doubt: bool = False  # the latest good face contradicts the decision
    withheld: bool = False  # another face in view this frame holds the name or is as likely to be that person
    contrary: int = 0  # consecutive contradicting good frames
    lost_frames: int = 0  # consecutive frames in which another face in view kept the name from this one
    quality_history: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (n,) per good frame, oldest first
    score_history: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (n, K) best cosine per name
    normalised_history: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (n, K) cosine - level
    last_embedding: np.ndarray | None = field(default=None, repr=False)
    recent: deque = field(default_factory=lambda: deque(maxlen=3), repr=False)  # the last good faces' vectors

    @property
    def qualities(self) -> list[float]:
        """Quality of each good frame kept, oldest first."""
        return self.quality_history.tolist()

    @property
    def scores(self) -> list[np.ndarray]:
        """Best cosine per name (K,) of each good frame kept, oldest first."""
        return list(self.score_history)

    @property
    def reported_state(self) -> IdentityState:
        """What may be shown or said: a name in doubt or held by another face is reported as IDENTIFYING."""
        if self.state is IdentityState.KNOWN and (self.doubt or self.withheld):
            return IdentityState.IDENTIFYING
        return self.state

    @property
    def reported_name(self) -> str | None:
        """The name that may be said now (None while withheld)."""
        return self.name if self.reported_state is IdentityState.KNOWN else None

    def mean_scores(self, last: int | None = None) -> np.ndarray:
        """Quality-weighted mean cosine per name over the last ``last`` good frames (all when None)."""
        return self.means(last)[0]

    def means(self, last: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Quality-weighted mean cosine and mean cohort-normalised score per name over the last ``last`` good
        frames (all when None); empty arrays without evidence."""
        q, s, z = self._window(last)
        if len(q) == 0:
            return np.zeros(0), np.zeros(0)
        w = q / max(q.sum(), 1e-9)
        return w @ s, w @ z

    def _window(self, last: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = len(self.quality_history) if last is None else min(last, len(self.quality_history))
        start = len(self.quality_history) - n
        return self.quality_history[start:], self.score_history[start:], self.normalised_history[start:]

    def add_evidence(self, quality: float, scores: np.ndarray, normalised: np.ndarray, window: int) -> None:
        """Append one good frame, keeping the last ``window``."""
        if self.score_history.shape[1:] != scores.shape:
            self.clear_evidence()
            self.score_history = self.normalised_history = np.zeros((0, len(scores)))
        self.quality_history = np.append(self.quality_history, quality)[-window:]
        self.score_history = np.concatenate([self.score_history, scores[None]])[-window:]
        self.normalised_history = np.concatenate([self.normalised_history, normalised[None]])[-window:]

    def clear_evidence(self, keep_last: int = 0) -> None:
        """Drop all but the last ``keep_last`` good frames."""
        start = max(0, len(self.quality_history) - keep_last)
        self.quality_history = self.quality_history[start:]
        self.score_history, self.normalised_history = self.score_history[start:], self.normalised_history[start:]
