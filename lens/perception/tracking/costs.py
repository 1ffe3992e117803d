"""Association costs between predicted tracks and this frame's observations (norfair's idea: the cost is a
parameter of the tracker).

A person is seen as a body, a face, or both, and not always the same way from one frame to the next: the body
detector runs on fewer frames than the face detector, a face turned to profile is lost while the body stays, a close-up
has a face and no body. :class:`PersonCost` therefore compares a track and an observation part by part (body with
body, face with face by IoU) and across parts (a face inside the head region of a body box, as the face-body pairing
decides), so a person whose face comes back, or whose body is seen again, is not taken for a second person."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from peoplelens.core.types import box_iou
from peoplelens.lens.perception.tracking.config import TrackerConfig
from peoplelens.lens.perception.tracking.observations import PersonObservation, head_fit
from peoplelens.lens.perception.tracking.track import Track

CostFunction = Callable[[Sequence[Track], Sequence[PersonObservation]], np.ndarray]

#: a face inside a body's head region counts as this much overlap at best (at the expected head point; less farther
#: away): enough to associate (the IoU gate is 0.2), less than a face-to-face or body-to-body match usually gives
CROSS_PART_SIMILARITY = 0.6


def _part_iou(track_boxes: list[np.ndarray | None], obs_boxes: list[np.ndarray | None]) -> np.ndarray:
    out = np.zeros((len(track_boxes), len(obs_boxes)), np.float32)
    ti = [i for i, b in enumerate(track_boxes) if b is not None]
    oi = [j for j, b in enumerate(obs_boxes) if b is not None]
    if ti and oi:
        iou = box_iou(np.stack([b for b in track_boxes if b is not None]),
                      np.stack([b for b in obs_boxes if b is not None]))
        out[np.ix_(ti, oi)] = iou
    return out


def head_region_similarity(bodies: list[np.ndarray | None], faces: list[np.ndarray | None],
                           top_fraction: float = 1.0 / 3.0) -> np.ndarray:
    """(len(bodies), len(faces)) similarity 0..``CROSS_PART_SIMILARITY`` of a face to a body's head: 0 where the
    face-body pairing would not pair them (:func:`~peoplelens.lens.perception.tracking.observations.head_fit`), else
    falling with the distance to the body's expected head point (relative to the body width)."""
    out = np.zeros((len(bodies), len(faces)), np.float32)
    bi = [i for i, b in enumerate(bodies) if b is not None]
    fi = [j for j, f in enumerate(faces) if f is not None]
    if not bi or not fi:
        return out
    feasible, distance = head_fit(np.stack([f for f in faces if f is not None]),
                                  np.stack([b for b in bodies if b is not None]), top_fraction)
    sim = np.where(feasible, CROSS_PART_SIMILARITY * np.clip(1.0 - distance, 0.0, 1.0), 0.0)
    out[np.ix_(bi, fi)] = sim.T
    return out


def iou_cost(tracks: Sequence[Track], observations: Sequence[PersonObservation]) -> np.ndarray:
    """1 - the best IoU between a track's predicted body/face boxes and an observation's body/face boxes (same parts
    only; see :class:`PersonCost` for the cost the product uses)."""
    body = _part_iou([t.body_box for t in tracks], [o.body_box for o in observations])
    face = _part_iou([t.face_box for t in tracks], [o.face_box for o in observations])
    return 1.0 - np.maximum(body, face)


@dataclass
class PersonCost:
    """1 - the best of: body IoU, face IoU, and (only where the track or the observation lacks that part) a face
    inside the other's body head region (:func:`head_region_similarity`). The cross-part terms let a body carry a
    person whose face is lost (a profile turn) and a returning face join its body's track, instead of starting a
    second track for the same person."""

    top_fraction: float = 1.0 / 3.0

    def __call__(self, tracks: Sequence[Track], observations: Sequence[PersonObservation]) -> np.ndarray:
        t_body, t_face = [t.body_box for t in tracks], [t.face_box for t in tracks]
        o_body, o_face = [o.body_box for o in observations], [o.face_box for o in observations]
        best = np.maximum(_part_iou(t_body, o_body), _part_iou(t_face, o_face))
        # a track's body and an observation's face: only when the observation has no body (else body IoU decides)
        # and the track has no face part to compare (else face IoU decides)
        no_obs_body = np.array([b is None for b in o_body], bool)[None, :]
        no_track_face = np.array([f is None for f in t_face], bool)[:, None]
        cross = head_region_similarity(t_body, o_face, self.top_fraction)
        best = np.maximum(best, np.where(no_obs_body & no_track_face, cross, 0.0))
        no_track_body = np.array([b is None for b in t_body], bool)[:, None]
        no_obs_face = np.array([f is None for f in o_face], bool)[None, :]
        cross = head_region_similarity(o_body, t_face, self.top_fraction).T
        best = np.maximum(best, np.where(no_track_body & no_obs_face, cross, 0.0))
        return (1.0 - best).astype(np.float32)


@dataclass
class FaceReidCost:
    """A spatial cost (``base``), lowered by face-embedding similarity for spatially plausible pairs (BoT-SORT's
    fusion): ``min(base, 1 - cosine)`` where the cosine to the track's gallery is at least ``min_cosine`` and the
    observation lies within ``max_centre_dist`` box sizes of the prediction. With ``veto_below`` set, a pair
    whose face clearly belongs to someone else (cosine to the track's gallery below it) is forbidden, whatever
    the overlap: on the hamilton shot cut the blurred audience face that lands on the performer's predicted box
    scores 0.02 against his gallery, while his own faces score 0.79-0.98. Breaking a track (re-identification
    can join it again) is much cheaper than carrying a confirmed name over to another person.

    It acts only on observations that carry an embedding: in the product, the contested faces the tracker has
    embedded before association (:meth:`PersonTracker._contested`), with the veto off (:func:`cost_for`)."""

    min_cosine: float = 0.45
    max_centre_dist: float = 2.0
    veto_below: float | None = 0.15
    base: CostFunction = field(default=iou_cost)

    def __call__(self, tracks: Sequence[Track], observations: Sequence[PersonObservation]) -> np.ndarray:
        cost = np.array(self.base(tracks, observations), np.float32)
        if all(ob.embedding is None for ob in observations):  # the product's usual update: nothing to compare
            return cost
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


def cost_for(config: TrackerConfig) -> CostFunction:
    """The association cost ``[tracking] cost`` names. ``face_reid`` only lowers costs, it vetoes nothing: the faces
    the product embeds before association are contested ones, and a face blurred by a fast head turn can score under
    the veto against its own track's gallery (crowd crossing seed 2008 lost its near person's track that way)."""
    person = PersonCost(config.face_top_fraction)
    costs: dict[str, CostFunction] = {"person": person, "iou": iou_cost,
                                      "face_reid": FaceReidCost(base=person, veto_below=None)}
    return costs[config.cost]
