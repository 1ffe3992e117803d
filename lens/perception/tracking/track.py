"""One tracked person: a body and/or a face box filter, hits, the latest observation and a face gallery."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from peoplelens.lens.perception.tracking.kalman import BoxKalman
from peoplelens.lens.perception.tracking.observations import PersonObservation


@dataclass
class Track:
    """One tracked person. ``box`` is the body box when a body is tracked, else the face box."""

    track_id: int
    first_seen: float
    last_seen: float
    body: BoxKalman | None = None
    face: BoxKalman | None = None
    hits: int = 0
    confirmed: bool = False
    observation: PersonObservation | None = None  # this frame's observation (None when coasting)
    face_keypoints: np.ndarray | None = None  # of the last observed face
    gallery: list[tuple[float, np.ndarray]] = field(default_factory=list)  # (quality, unit embedding)
    reidentified_from: int | None = None  # the fresh id this track had before re-identification
    reid_open: bool = True  # may still be re-identified as a lost track
    face_since: float | None = None  # when re-identification first saw a face in the gallery

    @property
    def box(self) -> np.ndarray:
        """Body box if tracked, else face box (predicted when coasting)."""
        part = self.body if self.body is not None else self.face
        assert part is not None
        return part.box

    @property
    def body_box(self) -> np.ndarray | None:
        """The (predicted) body box, if a body is tracked."""
        return None if self.body is None else self.body.box

    @property
    def face_box(self) -> np.ndarray | None:
        """The (predicted) face box, if a face is tracked."""
        return None if self.face is None else self.face.box

    @property
    def face_visible(self) -> bool:
        """Whether this frame's observation included a face."""
        return self.observation is not None and self.observation.face_box is not None

    def time_since_update(self, t: float) -> float:
        """Seconds since the last matched observation."""
        return t - self.last_seen

    def gallery_embedding(self) -> np.ndarray | None:
        """Quality-weighted mean of the gallery, unit length (None when the gallery is empty)."""
        if not self.gallery:
            return None
        w = np.array([q for q, _ in self.gallery], np.float64)
        v = np.stack([e for _, e in self.gallery]).astype(np.float64)
        m = (w[:, None] * v).sum(0)
        n = np.linalg.norm(m)
        return None if n < 1e-9 else (m / n).astype(np.float32)

    def add_embedding(self, embedding: np.ndarray, quality: float, size: int) -> None:
        """Keep the ``size`` best-quality embeddings (newest wins ties); a vector already kept is not added twice
        (the tracker keeps a contested face's embedding, and the identity stage may hand the same one in)."""
        if any(np.array_equal(e, embedding) for _, e in self.gallery):
            return
        self.gallery.append((float(quality), np.asarray(embedding, np.float32)))
        if len(self.gallery) > size:
            self.gallery.sort(key=lambda qe: qe[0])
            self.gallery.pop(0)
