"""Metrics of a replay against ground truth (see :mod:`peoplelens.sim_harness.truth`).

Face boxes (MOT truth), on the annotated frames only, with ``motmetrics``: every pipeline track's
``TrackView.face_box`` is matched to truth face boxes by IoU >= 0.3 (distance ``1 - IoU`` <= 0.7, Hungarian),
giving detection precision / recall, MOTA, IDF1 and ID switches.

Names (time-range truth), per processed frame and per event:

* identity precision: of all (frame, track) pairs the pipeline called KNOWN, the share whose name is a
  truth person visible at that time;
* identity recall: of all (frame, truth person facing the camera) pairs, the share where some track carried
  that name;
* name precision: of all NAME events, the share whose name is a truth person visible at the event time
  (wrong names are listed);
* announcement delay: first NAME event for a person minus the first time the truth says they face the camera
  (``null`` if never announced).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from peoplelens.core.extras import require
from peoplelens.sim_harness.records import ReplayResult
from peoplelens.sim_harness.truth import Truth

Box = tuple[float, float, float, float]
FrameBoxes = dict[int, list[tuple[int, Box]]]
MOT_METRICS = ("num_frames", "num_objects", "num_predictions", "num_detections", "num_matches", "num_false_positives",
               "num_misses", "num_switches", "precision", "recall", "mota", "idf1", "idp", "idr")


def iou_distance(gt: list[Box], hyp: list[Box], iou_threshold: float) -> np.ndarray:
    """``1 - IoU`` between xyxy boxes, NaN (= may not match) where IoU < ``iou_threshold``.

    (motmetrics' own ``iou_matrix`` uses ``np.asfarray``, which NumPy 2 removed.)
    """
    a = np.array(gt, dtype=float).reshape(-1, 4)
    b = np.array(hyp, dtype=float).reshape(-1, 4)
    if len(a) == 0 or len(b) == 0:
        return np.empty((len(a), len(b)))
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    iou = inter / (area(a)[:, None] + area(b)[None, :] - inter)
    dist = 1.0 - iou
    dist[iou < iou_threshold] = np.nan
    return dist


def mot_metrics(truth: FrameBoxes, hyp: FrameBoxes, iou_threshold: float = 0.3,
                frames: list[int] | None = None) -> dict[str, float | None]:
    """CLEAR-MOT + identity metrics (motmetrics) of ``hyp`` against ``truth`` on ``frames`` (default: truth's).

    Both map a frame index to ``[(id, (x1, y1, x2, y2)), ...]``.
    """
    mm = require("motmetrics", extra="report", feature="ground-truth tracking metrics (--truth)")

    acc = mm.MOTAccumulator(auto_id=False)
    for f in frames if frames is not None else sorted(truth):
        gt, hy = truth.get(f, []), hyp.get(f, [])
        dist = iou_distance([b for _, b in gt], [b for _, b in hy], iou_threshold)
        acc.update([i for i, _ in gt], [i for i, _ in hy], dist, frameid=f)
    mh = mm.metrics.create()
    df = mh.compute(acc, metrics=list(MOT_METRICS), name="replay")
    out: dict[str, float | None] = {}
    for k in MOT_METRICS:
        v = float(df.loc["replay", k])
        out[k] = int(v) if k.startswith("num_") else (round(v, 4) if np.isfinite(v) else None)
    return out


def hypothesis_faces(result: ReplayResult) -> FrameBoxes:
    """The pipeline's face boxes per frame index (``TrackView.face_box`` of every track)."""
    return {f.index: [(t["track"], tuple(t["face_box"])) for t in f.tracks if t.get("face_box")]
            for f in result.frames}


def identity_metrics(truth: Truth, result: ReplayResult) -> dict[str, Any]:
    """Identity precision / recall, name precision, wrong names and announcement delay (see module doc)."""
    known = correct = 0
    facing_pairs = facing_hit = 0
    for f in result.frames:
        names = truth.names_at(f.t)
        said = {t["name"] for t in f.tracks if t["identity"] == "known" and t.get("name")}
        for t in f.tracks:
            if t["identity"] == "known" and t.get("name"):
                known += 1
                correct += t["name"] in names
        for name in truth.facing_at(f.t):
            facing_pairs += 1
            facing_hit += name in said
    name_events = [e for e in result.events if e["sound"] == "name"]
    wrong = [{"t": e["t"], "name": e["name"], "truth": sorted(truth.names_at(e["t"]))}
             for e in name_events if e.get("name") not in truth.names_at(e["t"])]
    first_named: dict[str, float] = {}
    for e in name_events:
        if e.get("name"):
            first_named.setdefault(e["name"], e["t"])
    delays = {name: (round(first_named[name] - t0, 3) if name in first_named else None)
              for name, t0 in truth.first_facing().items()}
    return {
        "identity_known_assertions": known,
        "identity_precision": round(correct / known, 4) if known else None,
        "identity_recall": round(facing_hit / facing_pairs, 4) if facing_pairs else None,
        "name_events": len(name_events),
        "name_precision": round(1 - len(wrong) / len(name_events), 4) if name_events else None,
        "wrong_names": wrong,
        "announcement_delay_s": delays,
    }


def evaluate(truth: Truth, result: ReplayResult, iou_threshold: float = 0.3) -> dict[str, Any]:
    """All metrics that apply to this truth (boxes: MOT metrics; ranges: identity metrics)."""
    out: dict[str, Any] = {"truth": truth.path}
    if truth.boxes is not None:
        processed = {f.index for f in result.frames}
        frames = [f for f in truth.boxes if f in processed]
        if "virtual pan" in result.source:
            out["mot_skipped"] = "virtual pan: truth boxes are in the wide frame, not the window"
        elif not frames:
            out["mot_skipped"] = "no annotated frame was replayed"
        else:
            out["annotated_frames"] = len(frames)
            out.update(mot_metrics(truth.boxes, hypothesis_faces(result), iou_threshold, frames))
    if truth.ranges:
        out.update(identity_metrics(truth, result))
    return out
