"""The annotated "looking at the camera" samples of the shared clips and our talking-head annotation, how the
annotated person is found among a frame's faces, and confusion counts (used by :mod:`.gaze_eval` and its
helpers :mod:`.gaze_product` and :mod:`.gaze_hysteresis_cv`)."""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from peoplelens.core.types import Detections, box_iou

OUR_ANNOTATION = Path(__file__).resolve().parents[1] / "tests" / "data" / "talking_heads_gaze.csv"


@dataclass
class Sample:
    """One annotated face: which clip, frame and face (ground-truth box, or a rule), and the label."""

    clip: str
    video: Path
    frame: int
    looking: bool
    gt_box: list[float] | None = None
    rule: str = "largest"  # "largest", "gt" or "hamilton"


def load_samples(videos: Path, ours: Path) -> list[Sample]:
    """Every decided (yes/no) annotation of the shared clips and of our talking-head annotation."""
    out: list[Sample] = []
    gt: dict[int, dict[int, list[float]]] = defaultdict(dict)
    for line in (videos / "royal_opera_pedestrians.faces_gt_mot.txt").read_text().split():
        f, i, x, y, w, h = (float(v) for v in line.split(",")[:6])
        gt[int(f) - 1][int(i)] = [x, y, x + w, y + h]
    opera = videos / "royal_opera_pedestrians_1080p25.mp4"
    with open(videos / "royal_opera_pedestrians.samples_0p5s.csv") as fh:
        for r in csv.DictReader(fh):
            if r["looking_at_camera"] in ("yes", "no"):
                fr = int(r["frame0"])
                out.append(Sample("royal_opera", opera, fr, r["looking_at_camera"] == "yes",
                                  gt[fr].get(int(r["person_id"])), "gt"))
    with open(videos / "hamilton_short_clip.samples_0p5s.csv") as fh:
        for r in csv.DictReader(fh):
            lab = r["performer_looking_at_camera"]
            if r["performer_visible"].startswith("yes") and lab in ("yes", "no"):
                out.append(Sample("hamilton", videos / "hamilton_short_clip.mp4", int(r["frame"]), lab == "yes",
                                  rule="hamilton"))
    with open(ours) as fh:
        for r in csv.DictReader(line for line in fh if not line.startswith("#")):
            if r["looking_at_camera"] in ("yes", "no"):
                out.append(Sample(r["clip"], videos / "talking_heads" / f"liveportrait_{r['clip']}.mp4",
                                  int(r["frame"]), r["looking_at_camera"] == "yes"))
    return out


def pick_face(sample: Sample, image_width: int, faces: Detections) -> int | None:
    """The annotated person's face among the detections in an image ``image_width`` wide (None when missed)."""
    if len(faces) == 0:
        return None
    if sample.rule == "gt":
        if sample.gt_box is None:
            return None
        iou = box_iou(np.array([sample.gt_box]), faces.boxes)[0]
        return int(iou.argmax()) if iou.max() >= 0.3 else None
    cand = list(range(len(faces)))
    if sample.rule == "hamilton" and sample.frame <= 20:  # wide shot: the performer is in the right half
        cand = [j for j in cand if faces.centers[j, 0] > image_width / 2]
    return max(cand, key=lambda j: faces.areas[j]) if cand else None


@dataclass
class Counts:
    """Confusion counts of "looking at the wearer"."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    missed: int = 0  # annotated face not found by the detector (scored as "not looking")

    def add(self, truth: bool, pred: bool) -> None:
        """Count one decision."""
        self.tp += truth and pred
        self.fp += (not truth) and pred
        self.fn += truth and not pred
        self.tn += (not truth) and not pred

    def __iadd__(self, other: Counts) -> Counts:
        self.tp, self.fp, self.fn, self.tn = (self.tp + other.tp, self.fp + other.fp, self.fn + other.fn,
                                              self.tn + other.tn)
        self.missed += other.missed
        return self

    def ratios(self, empty: float = 0.0) -> tuple[float, float]:
        """(precision, recall); ``empty`` where a ratio has nothing to count."""
        return (self.tp / (self.tp + self.fp) if self.tp + self.fp else empty,
                self.tp / (self.tp + self.fn) if self.tp + self.fn else empty)

    def line(self) -> str:
        """Precision, recall, accuracy and the counts."""
        n = self.tp + self.fp + self.fn + self.tn
        p, r = self.ratios(float("nan"))
        return (f"P={p:4.2f} R={r:4.2f} acc={(self.tp + self.tn) / max(1, n):4.2f}  "
                f"TP={self.tp:3d} FP={self.fp:3d} FN={self.fn:3d} TN={self.tn:3d}" +
                (f" (face missed: {self.missed})" if self.missed else ""))

    def goal_line(self, goal: float = 0.9) -> str:
        """Whether precision and recall both reach ``goal``, judged on the exact ratios (:meth:`line` rounds to two
        decimals: 106 of 118 shows as R=0.90 and is 0.898)."""
        p, r = self.ratios()
        met = p >= goal and r >= goal
        return f"goal, precision and recall >= {goal:g}: {'met' if met else 'NOT met'} (P {p:.3f}, R {r:.3f})"

    def worst(self) -> float:
        """min(precision, recall): what the threshold search maximises."""
        p, r = self.ratios()
        return min(p, r) + 1e-3 * (p + r)
