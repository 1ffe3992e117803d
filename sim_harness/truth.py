"""Ground truth for replays: MOT-style face boxes and time ranges of who is visible / facing the camera.

Two formats are read (:func:`load_truth` picks by content):

**MOT boxes** (``*.txt``, no header; lines starting with ``#`` are notes): ``frame,id,x,y,w,h[,conf,x,y,z]`` —
1-based frame numbers, pixel box ``x,y`` top-left + ``w,h``, one row per annotated face. Only the frames that appear
are annotated (e.g. the royal opera file annotates 9 frames); metrics are computed on those frames only.

**Time ranges** (CSV with header)::

    start_s,end_s,name,facing
    0.000,0.634,lin_manuel_miranda,no
    2.736,7.007,lin_manuel_miranda,yes

``start_s``/``end_s`` in seconds of video time (inclusive), ``name`` the enrolled name of a person who is
visible in that range, ``facing`` ``yes``/``no`` (1/0, true/false): whether their face points at the camera
(recognisable). Only named people are listed; anybody else in view is "not enrolled" for the metrics.
A shots file such as ``hamilton_short_clip.shots.csv`` (``shot,start_frame,end_frame,start_s,end_s,...,
named_people_visible,faces_toward_camera``) is converted on load (:func:`shots_to_ranges`), or explicitly with
``python -m peoplelens.sim_harness.truth shots-to-ranges SHOTS.csv OUT.csv``.
"""

from __future__ import annotations

import argparse
import csv
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from peoplelens.sim_harness.errors import TruthError

RANGE_COLUMNS = ("start_s", "end_s", "name", "facing")
_TRUE = {"yes", "y", "1", "true"}
_FALSE = {"no", "n", "0", "false", ""}
_NAME = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)+")


@dataclass(frozen=True)
class TruthRange:
    """A named person visible from ``start_s`` to ``end_s`` (facing the camera or not)."""

    start_s: float
    end_s: float
    name: str
    facing: bool

    def covers(self, t: float, slack_s: float = 0.0) -> bool:
        """Whether ``t`` lies in the range (widened by ``slack_s``)."""
        return self.start_s - slack_s <= t <= self.end_s + slack_s


@dataclass
class Truth:
    """Loaded ground truth: face boxes per 0-based frame index and/or named time ranges."""

    path: str
    boxes: dict[int, list[tuple[int, tuple[float, float, float, float]]]] | None = None  # frame0 -> (id, xyxy)
    ranges: list[TruthRange] = field(default_factory=list)

    def names_at(self, t: float, slack_s: float = 0.0) -> set[str]:
        """Named people visible at ``t``."""
        return {r.name for r in self.ranges if r.covers(t, slack_s)}

    def facing_at(self, t: float) -> set[str]:
        """Named people visible and facing the camera at ``t``."""
        return {r.name for r in self.ranges if r.facing and r.covers(t)}

    def first_facing(self) -> dict[str, float]:
        """The first time each named person faces the camera."""
        out: dict[str, float] = {}
        for r in sorted(self.ranges, key=lambda r: r.start_s):
            if r.facing:
                out.setdefault(r.name, r.start_s)
        return out


def _bool(value: str, where: str) -> bool:
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise TruthError(f"{where}: facing must be yes/no, got {value!r}")


def load_mot(path: str | Path) -> Truth:
    """Read MOT-style boxes (1-based frames) into 0-based frame indices and xyxy boxes."""
    path = Path(path)
    boxes: dict[int, list[tuple[int, tuple[float, float, float, float]]]] = defaultdict(list)
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = [p.strip() for p in line.split(",")]
        try:
            frame, pid = int(float(parts[0])), int(float(parts[1]))
            x, y, w, h = (float(v) for v in parts[2:6])
        except (ValueError, IndexError):
            raise TruthError(f"{path}:{number}: expected frame,id,x,y,w,h,... got {line!r}") from None
        if frame < 1 or w <= 0 or h <= 0:
            raise TruthError(f"{path}:{number}: frame must be >= 1 (1-based) and w, h > 0")
        boxes[frame - 1].append((pid, (x, y, x + w, y + h)))
    if not boxes:
        raise TruthError(f"{path}: no boxes")
    return Truth(str(path), boxes=dict(sorted(boxes.items())))


def load_ranges(path: str | Path) -> Truth:
    """Read a ``start_s,end_s,name,facing`` CSV."""
    path = Path(path)
    ranges = []
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in RANGE_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise TruthError(f"{path}: missing column(s) {', '.join(missing)}; expected {','.join(RANGE_COLUMNS)}")
        for number, row in enumerate(reader, 2):
            where = f"{path}:{number}"
            try:
                start, end = float(row["start_s"]), float(row["end_s"])
            except ValueError:
                raise TruthError(f"{where}: start_s/end_s must be numbers") from None
            if end < start or not row["name"].strip():
                raise TruthError(f"{where}: need start_s <= end_s and a name")
            ranges.append(TruthRange(start, end, row["name"].strip(), _bool(row["facing"], where)))
    if not ranges:
        raise TruthError(f"{path}: no ranges")
    return Truth(str(path), ranges=ranges)


def shots_to_ranges(path: str | Path) -> list[TruthRange]:
    """Convert a shots annotation: one range per shot and named person (the first ``word_word`` token).

    ``facing`` is yes when the shot's ``faces_toward_camera`` text calls the face frontal (e.g. "mostly
    near-frontal") and does not start with "no"; shots whose named column is "not asserted/annotated" are skipped.
    """
    path = Path(path)
    out = []
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        need = ("start_s", "end_s", "named_people_visible", "faces_toward_camera")
        if any(c not in (reader.fieldnames or []) for c in need):
            raise TruthError(f"{path}: not a shots file (needs {', '.join(need)})")
        for row in reader:
            named = row["named_people_visible"].strip().lower()
            facing_text = row["faces_toward_camera"].strip().lower()
            for part in named.split(";"):
                m = _NAME.match(part.strip())
                if not m:
                    continue
                facing = "frontal" in facing_text and not facing_text.startswith("no")
                out.append(TruthRange(float(row["start_s"]), float(row["end_s"]), m.group(0), facing))
    return out


def write_ranges(path: str | Path, ranges: list[TruthRange]) -> Path:
    """Write ranges in the ``start_s,end_s,name,facing`` format."""
    path = Path(path)
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(RANGE_COLUMNS)
        for r in ranges:
            w.writerow([f"{r.start_s:.3f}", f"{r.end_s:.3f}", r.name, "yes" if r.facing else "no"])
    return path


def load_truth(path: str | Path) -> Truth:
    """Load a truth file of any supported format (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise TruthError(f"truth file not found: {path}")
    try:
        first = next((ln for ln in path.read_text(encoding="utf-8").splitlines()
                      if ln.strip() and not ln.lstrip().startswith("#")), "")  # '#' lines: a file's own notes
    except (OSError, UnicodeDecodeError) as exc:
        raise TruthError(f"cannot read truth file {path}: {exc}") from exc
    header = [c.strip() for c in first.split(",")]
    if all(c in header for c in RANGE_COLUMNS):
        return load_ranges(path)
    if "named_people_visible" in header:
        ranges = shots_to_ranges(path)
        if not ranges:
            raise TruthError(f"{path}: no named person in any shot")
        return Truth(str(path), ranges=ranges)
    if len(header) >= 6 and re.fullmatch(r"[\d.]+", header[0] or "x"):
        return load_mot(path)
    raise TruthError(f"{path}: unknown truth format (expected MOT rows frame,id,x,y,w,h,... or a CSV with "
                     f"{','.join(RANGE_COLUMNS)} or a shots file)")


TRUTH_SUFFIXES = (".truth.csv", ".faces_gt_mot.txt", ".shots.csv")


def find_truth(video: str | Path) -> Path | None:
    """A truth file next to ``video``: ``<prefix><suffix>`` where the video's stem starts with ``<prefix>``.

    Suffixes, in order of preference: ``.truth.csv`` (time ranges), ``.faces_gt_mot.txt`` (MOT boxes),
    ``.shots.csv`` (shots, converted). E.g. ``royal_opera_pedestrians_1080p25.mp4`` finds
    ``royal_opera_pedestrians.faces_gt_mot.txt``. The longest matching prefix wins.
    """
    video = Path(video)
    for suffix in TRUTH_SUFFIXES:
        found = [p for p in video.parent.glob(f"*{suffix}") if video.stem.startswith(p.name[: -len(suffix)])]
        if found:
            return max(found, key=lambda p: len(p.name))
    return None


def main(argv: list[str] | None = None) -> None:
    """``python -m peoplelens.sim_harness.truth shots-to-ranges SHOTS.csv OUT.csv``."""
    parser = argparse.ArgumentParser(prog="python -m peoplelens.sim_harness.truth")
    sub = parser.add_subparsers(dest="cmd", required=True)
    conv = sub.add_parser("shots-to-ranges", help="convert a shots annotation to start_s,end_s,name,facing")
    conv.add_argument("shots")
    conv.add_argument("out")
    args = parser.parse_args(argv)
    ranges = shots_to_ranges(args.shots)
    write_ranges(args.out, ranges)
    print(f"wrote {len(ranges)} range(s) to {args.out}")


if __name__ == "__main__":
    main()
