"""Who is visible when: the identity ground truth the benchmark scores against.

Only ``hamilton_short_clip.mp4`` shows an enrolled person (``lin_manuel_miranda``, the performer, per
``hamilton_short_clip.shots.csv``); every other video shows nobody enrolled, so any name given there is wrong.
The performer is listed in shot 1 (wide shot, face ~15-20 px tall: naming him there is correct but not
expected) and shot 3 (frames 82-210, medium shot): recall is counted over shot 3 only.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from peoplelens.bench.errors import BenchError

RECALL_SHOTS: dict[str, set[int]] = {"hamilton_short_clip": {3}}  # shots whose named faces are detectable


@dataclass
class VideoTruth:
    """Enrolled people visible per frame, and the frames each must be named in to count for recall."""

    visible: dict[int, set[str]] = field(default_factory=dict)
    recall_frames: dict[str, set[int]] = field(default_factory=dict)
    source: str = "nobody enrolled in this video"


def load_truth(video: Path, enrolled: set[str]) -> VideoTruth:
    """The truth for ``video``: from ``<stem>.shots.csv`` beside it when present, else "nobody enrolled"."""
    shots = video.with_name(video.stem + ".shots.csv")
    if not shots.is_file():
        return VideoTruth()
    truth = VideoTruth(source=shots.name)
    try:
        with open(shots, newline="") as fh:
            rows = list(csv.DictReader(fh))
        for row in rows:
            shot, start, end = int(row["shot"]), int(row["start_frame"]), int(row["end_frame"])
            named = row.get("named_people_visible", "").strip()
            # "not asserted ..." / "not annotated ...": nobody counts as visible (any name there is wrong)
            people = set() if named.lower().startswith("not ") else {p for p in enrolled if p in named}
            for person in people:
                for f in range(start, end + 1):
                    truth.visible.setdefault(f, set()).add(person)
                if shot in RECALL_SHOTS.get(video.stem, set()):
                    truth.recall_frames.setdefault(person, set()).update(range(start, end + 1))
    except (KeyError, ValueError, OSError) as exc:
        raise BenchError(f"cannot read the shot annotation {shots}: {exc}") from exc
    return truth


def restrict(truth: VideoTruth, frames: set[int]) -> VideoTruth:
    """The truth limited to the frames a run actually processed (``--max-frames``)."""
    return VideoTruth({f: p for f, p in truth.visible.items() if f in frames},
                      {person: fs & frames for person, fs in truth.recall_frames.items()}, truth.source)
