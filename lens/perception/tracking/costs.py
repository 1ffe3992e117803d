"""Association costs between predicted tracks and this frame's observations (norfair's idea: the cost is a
parameter of the tracker)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from peoplelens.core.types import box_iou
from peoplelens.lens.perception.tracking.observations import PersonObservation
from peoplelens.lens.perception.tracking.track import Track

CostFunction = Callable[[Sequence[Track], Sequence[PersonObservation]], np.ndarray]


def _part_iou(track_boxes: list[np.ndarray | None], obs_boxes: list[np.ndarray | None]) -> np.ndarray:
    out = np.zeros((len(track_boxes), len(obs_boxes)), np.float32)
    ti = [i for i, b in enumerate(track_boxes) if b is not None]
    oi = [j for j, b in enumerate(obs_boxes) if b is not None]
    if ti and oi:
        iou = box_iou(np.stack([track_boxes[i] for i in ti]), np.stack([obs_boxes[j] for j in oi]))
        out[np.ix_(ti, oi)] = iou
    return out


def iou_cost(tracks: Sequence[Track], observations: Sequence[PersonObservation]) -> np.ndarray:
    """1 - the best IoU between a track's predicted body/face boxes and an observation's body/face boxes."""
    body = _part_iou([t.body_box for t in tracks], [o.body_box for o in observations])
    face = _part_iou([t.face_box for t in tracks], [o.face_box for o in observations])
    return 1.0 - np.maximum(body, face)


@dataclass
class FaceReidCost:
    """IoU cost, lowered by face-embedding similarity for spatially plausible pairs (BoT-SORT's fusion):
    ``min(iou_cost, 1 - cosine)`` where the cosine to the track's gallery is at least ``min_cosine`` and the
    observation lies within ``max_centre_dist`` box sizes of the prediction. With ``veto_below`` set, a pair
    whose face clearly belongs to someone else (cosine to the track's gallery below it) is forbidden, whatever
    the overlap: on the hamilton shot cut the blurred audience face that lands on the performer's predicted box
    scores 0.02 against his gallery, while his own faces score 0.79-0.98. Breaking a track (re-identification
    can join it again) is much cheaper than carrying a confirmed name over to another person."""

    min_cosine: float = 0.45
    max_centre_dist: float = 2.0
    veto_below: float | None = 0.15

    def __call__(self, tracks: Sequence[Track], observations: Sequence[PersonObservation]) -> np.ndarray:
        cost = iou_cost(tracks, observations)
        for i, tr in enumerate(tracks):
            g = tr.gallery_embedding()
            if g is None:
                continue
            tb = tr.box
            tc, ts = (tb[:2] + tb[2:]) / 2, max(tb[2] - tb[0], tb[3] - tb[1])
            for j, ob in enumerate(observations):
                if ob.embedding is None:
                    continue
                cos = float(g @ ob.embedding)
                oc = (ob.box[:2] + ob.box[2:]) / 2
                if cos >= self.min_cosine and np.linalg.norm(oc - tc) <= self.max_centre_dist * ts:
                    cost[i, j] = min(cost[i, j], 1.0 - cos)
                elif self.veto_below is not None and cos < self.veto_below:
                    cost[i, j] = np.inf
        return cost
