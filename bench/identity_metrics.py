"""Per-frame identity precision / recall, the same definition for our pipeline and the baseline.

Definition (printed with the results):

* every face / track a system names in a frame is one *name given*;
* a name is *correct* when that enrolled person is visible in that frame; the person is one person, so a
  second face given the same name in the same frame is wrong;
* precision = correct names / names given;
* recall = frames where an enrolled person is visible (in the frames scored for recall) and named at least
  once / frames where they are visible there.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TypeVar

DEFINITION = (
    "per frame, every face/track a system names counts as one name given; a name is correct if that enrolled "
    "person is visible in that frame (at most one correct per person per frame); precision = correct / names "
    "given; recall = frames where the enrolled person is visible (recall frames: face big enough to detect) and "
    "named / those frames; names of anyone else (everyone in the other videos) are false positives"
)

#: A frame of one video, or ``(video index, frame)`` across videos (:func:`merge_named`).
FrameKey = TypeVar("FrameKey", int, tuple[int, int])


@dataclass
class IdentityScore:
    """Counts and rates of :func:`score_identity` (``precision``/``recall`` are None when undefined)."""

    names_given: int
    correct: int
    precision: float | None
    recall_frames: int
    recall_hits: int
    recall: float | None
    wrong_names: dict[str, int] = field(default_factory=dict)
    wrong_frames: list = field(default_factory=list)  # frames (or (video, frame)) with a wrong name, first 200

    def to_json(self) -> dict:
        """Plain dict for the JSON report."""
        return asdict(self)


def score_identity(named: Mapping[FrameKey, Sequence[str]], visible: Mapping[FrameKey, Collection[str]],
                   recall_frames: Mapping[str, set[FrameKey]]) -> IdentityScore:
    """Score the names a system gave.

    ``named[frame]``: the names given in that frame (one entry per named face/track); ``visible[frame]``: the
    enrolled people truly visible in that frame; ``recall_frames[person]``: the frames where that person is
    visible with a detectable face (the recall denominator). Frames absent from ``visible`` show nobody enrolled.
    """
    given = correct = 0
    wrong: Counter[str] = Counter()
    wrong_frames: list[FrameKey] = []
    for frame, names in sorted(named.items()):
        truth = visible.get(frame, set())
        for name, count in Counter(names).items():
            given += count
            ok = 1 if name in truth else 0
            correct += ok
            if count - ok:
                wrong[name] += count - ok
                if len(wrong_frames) < 200 and (not wrong_frames or wrong_frames[-1] != frame):
                    wrong_frames.append(frame)
    denominator = sum(len(frames) for frames in recall_frames.values())
    hits = sum(1 for person, frames in recall_frames.items() for f in frames if person in named.get(f, ()))
    return IdentityScore(given, correct, correct / given if given else None, denominator, hits,
                         hits / denominator if denominator else None, dict(sorted(wrong.items())), wrong_frames)


def merge_named(per_video: Sequence[Mapping[int, Sequence[str]]]) -> dict[tuple[int, int], list[str]]:
    """Join per-video ``named`` maps into one keyed by ``(video index, frame)`` (for an all-videos score)."""
    return {(v, f): list(names) for v, named in enumerate(per_video) for f, names in named.items()}
