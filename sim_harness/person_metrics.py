"""Person-level tracking metrics of a replay: is each annotated person shown as exactly one track?

The truth is MOT face boxes (:mod:`peoplelens.sim_harness.truth`); the hypotheses are the product's tracks as the
overlay shows them (``frames.jsonl``: a track's ``box`` and, where a face was detected, its ``face_box``). A track
*sits on* a truth face when

* its face box overlaps the truth face by IoU >= 0.3 (distance ``1 - IoU``), or
* its box does (a face-only track), or
* it has no face box and the truth face's centre lies in the upper half of its box, the face no wider than the box
  (a body carrying a person whose face the detector lost, e.g. in profile): distance 0.69, the weakest valid match.

On each annotated frame the tracks are matched one-to-one to the truth faces (Hungarian, motmetrics), giving IDF1, ID
switches, fragmentations, recall and precision. Tracks that sit on no annotated face are left out (the truth files
annotate the people they are about, not every face in the crowd), so precision here counts only doubles.

**Split** (one person shown as two): on an annotated frame, a truth person on whom two or more tracks sit, each of
them closer to this person than to any other annotated person (a body-only track whose upper half holds several
annotated faces is left out: it cannot be attributed). ``split_frames`` counts those (frame, person) pairs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from peoplelens.sim_harness.records import ReplayResult
from peoplelens.sim_harness.truth import Truth

HEAD_REGION_DISTANCE = 0.69  # a body-only track on a face: valid, but any face overlap of IoU > 0.31 is preferred
METRICS = ("idf1", "num_switches", "num_fragmentations", "recall", "precision", "num_unique_objects")


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    lt, rb = np.maximum(a[:2], b[:2]), np.minimum(a[2:], b[2:])
    inter = float(np.prod(np.clip(rb - lt, 0, None)))
    union = float(np.prod(a[2:] - a[:2]) + np.prod(b[2:] - b[:2]) - inter)
    return inter / union if union > 0 else 0.0


def person_distance(truth_face: tuple[float, ...], track: dict[str, Any], iou_threshold: float = 0.3) -> float:
    """Distance of one track (a ``frames.jsonl`` track record) to one truth face box; NaN = may not match."""
    g = np.asarray(truth_face, float)
    best = np.nan
    for key in ("face_box", "box"):
        if track.get(key):
            iou = _iou(g, np.asarray(track[key], float))
            if iou >= iou_threshold:
                best = np.nanmin([best, 1.0 - iou])
    if np.isnan(best) and not track.get("face_box") and track.get("box"):
        x1, y1, x2, y2 = track["box"]
        cx, cy = (g[0] + g[2]) / 2, (g[1] + g[3]) / 2
        if x1 <= cx <= x2 and y1 <= cy <= (y1 + y2) / 2 and g[2] - g[0] <= x2 - x1:
            best = HEAD_REGION_DISTANCE
    return float(best)


def person_metrics(truth: Truth, result: ReplayResult, iou_threshold: float = 0.3) -> dict[str, Any]:
    """IDF1, ID switches, fragmentations, recall, precision, splits and tracks per person (see the module doc)."""
    import motmetrics as mm

    if truth.boxes is None:
        raise ValueError(f"{truth.path} has no boxes: person metrics need MOT face boxes")
    records = {f.index: f for f in result.frames}
    frames = [f for f in truth.boxes if f in records]
    acc = mm.MOTAccumulator(auto_id=False)
    split_pairs = 0
    split_where: list[int] = []
    for f in frames:
        gt = truth.boxes[f]
        tracks = records[f].tracks
        dist = np.array([[person_distance(box, tr, iou_threshold) for tr in tracks] for _, box in gt],
                        float).reshape(len(gt), len(tracks))
        on_someone = [j for j in range(len(tracks)) if np.isfinite(dist[:, j]).any()]
        dist = dist[:, on_someone]
        # a body-only track whose upper half holds several annotated faces cannot be attributed: not counted as a split
        clear = [k for k in range(dist.shape[1])
                 if np.nanmin(dist[:, k]) < HEAD_REGION_DISTANCE or np.isfinite(dist[:, k]).sum() == 1]
        owners = np.nanargmin(dist[:, clear], axis=0) if clear else np.zeros(0, int)
        counts = np.bincount(owners, minlength=len(gt))
        if (counts >= 2).any():
            split_pairs += int((counts >= 2).sum())
            split_where.append(f)
        acc.update([pid for pid, _ in gt], [tracks[j]["track"] for j in on_someone], dist, frameid=f)
    mh = mm.metrics.create()
    df = mh.compute(acc, metrics=list(METRICS), name="people")
    out: dict[str, Any] = {"annotated_frames": len(frames),
                           "annotated_people": int(sum(len(truth.boxes[f]) for f in frames))}
    for k in METRICS:
        v = float(df.loc["people", k])
        out[k] = int(v) if k.startswith("num_") else (round(v, 4) if np.isfinite(v) else None)
    events = acc.mot_events
    matched = events[events["Type"].isin(["MATCH", "SWITCH"])]
    per_person = matched.groupby("OId")["HId"].nunique() if len(matched) else None
    out["tracks_per_person_max"] = int(per_person.max()) if per_person is not None else 0
    out["tracks_per_person_mean"] = round(float(per_person.mean()), 2) if per_person is not None else 0.0
    out["split_frames"] = split_pairs
    out["split_frame_indices"] = split_where
    return out
