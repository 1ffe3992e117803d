"""The interface the pipeline's track stage speaks, so another tracker (a plain ByteTrack, one with more
appearance re-identification) plugs in without touching the stages."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from peoplelens.lens.perception.tracking.observations import PersonObservation
from peoplelens.lens.perception.tracking.track import Track

BOTH_PARTS = frozenset({"face", "body"})  # what an update looked for when the caller does not say
#: fills in ``embedding`` (unit vector) of each observation given, from its face: what a tracker calls to see faces
#: it cannot tell apart by position alone
EmbedFaces = Callable[[Sequence[PersonObservation]], None]


@runtime_checkable
class Tracker(Protocol):
    """People in, tracks out, once per detection frame."""

    merges: list[tuple[int, int]]  # (fresh id, restored id) pairs handed back by re-identification in the last update
    removed_ids: list[int]  # ids that ended (lost for good, merged or retired) in the last update

    @property
    def tracks(self) -> list[Track]:
        """The active tracks (matched recently; confirmed or tentative)."""
        ...

    def update(self, t: float, observations: Sequence[PersonObservation],
               camera_motion: np.ndarray | Sequence[float] | None = None,
               looked_for: frozenset[str] = BOTH_PARTS, embed: EmbedFaces | None = None) -> list[Track]:
        """Advance to ``t``, move predictions by the camera motion, associate; the confirmed tracks matched now.
        ``looked_for``: which parts (``"face"``, ``"body"``) the detectors looked for in this frame; ``embed``: how
        to embed an observation's face when the tracker wants its appearance (None: position alone)."""
        ...

    def break_continuity(self, t: float) -> None:
        """The view jumped (a cut, a head turn too fast to follow): no track may continue by overlap."""
        ...

    def remember_face(self, track: Track, embedding: np.ndarray, quality: float) -> None:
        """Keep a face embedding of the track for re-identification (the tracker decides what is good enough)."""
        ...

    def reidentify_reported(self, t: float, reported: Sequence[Track]) -> list[tuple[int, int]]:
        """After :meth:`remember_face`: re-identify the tracks of this update reported for the first time; the
        (fresh id, restored id) pairs."""
        ...

    def reset(self) -> None:
        """Forget every track (a new recording)."""
        ...
