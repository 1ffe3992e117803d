"""One frame's person observations: faces paired with bodies (a face whose centre lies in the head region of a body
box belongs to it, the closest pairs first; a face without a body is still a person)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from peoplelens.core.types import Detections
from peoplelens.lens.perception.tracking.config import TrackingError


@dataclass
class PersonObservation:
    """One person seen in one frame: a body box and/or a face (box, keypoints, embedding, quality)."""

    score: float
    body_box: np.ndarray | None = None  # (4,) xyxy
    face_box: np.ndarray | None = None  # (4,) xyxy
    face_keypoints: np.ndarray | None = None  # (5, 2)
    face_score: float = 0.0
    embedding: np.ndarray | None = None  # (D,) unit vector
    face_quality: float = 0.0
    body_index: int | None = None  # row in the body Detections this came from
    face_index: int | None = None  # row in the face Detections this came from

    def swap_face_with(self, other: PersonObservation) -> None:
        """Exchange faces (box, keypoints, score, embedding, quality, row) with ``other``; an observation without a
        body is scored by its face, so its score follows the face."""
        for name in ("face_box", "face_keypoints", "face_score", "embedding", "face_quality", "face_index"):
            mine, theirs = getattr(self, name), getattr(other, name)
            setattr(self, name, theirs)
            setattr(other, name, mine)
        for ob in (self, other):
            if ob.body_box is None:
                ob.score = ob.face_score

    @property
    def box(self) -> np.ndarray:
        """The body box when there is one, else the face box."""
        box = self.body_box if self.body_box is not None else self.face_box
        if box is None:
            raise TrackingError("an observation needs a body box or a face box")
        return box


def head_fit(face_boxes: np.ndarray, body_boxes: np.ndarray,
             top_fraction: float = 1.0 / 3.0) -> tuple[np.ndarray, np.ndarray]:
    """Where faces (F, 4) could be the heads of bodies (B, 4): ``(feasible, distance)``, both (F, B).

    Feasible: the face centre lies inside the body box horizontally, at most ``top_fraction`` of the body's height
    below its top *or* within 1.5 face heights of it (a close-up's body box is cut by the frame's bottom edge, so its
    face can sit lower than the top third), and the face is no wider than the body. Distance: from the face centre
    to the expected head point (horizontal centre, 0.6 face heights below the top, at most half the body), relative
    to the body width."""
    face_boxes = np.asarray(face_boxes, np.float32).reshape(-1, 4)
    body_boxes = np.asarray(body_boxes, np.float32).reshape(-1, 4)
    fx = ((face_boxes[:, 0] + face_boxes[:, 2]) / 2)[:, None]
    fy = ((face_boxes[:, 1] + face_boxes[:, 3]) / 2)[:, None]
    fw = (face_boxes[:, 2] - face_boxes[:, 0])[:, None]
    fh = np.maximum(face_boxes[:, 3] - face_boxes[:, 1], 1.0)[:, None]
    bx1, by1, bx2, by2 = (body_boxes[:, k][None, :] for k in range(4))
    bw, bh = np.maximum(bx2 - bx1, 1.0), np.maximum(by2 - by1, 1.0)
    below_top = fy - by1
    feasible = ((fx >= bx1) & (fx <= bx2) & (below_top >= 0) & (fw <= bw)
                & ((below_top <= top_fraction * bh) | (below_top <= 1.5 * fh)))
    head_y = by1 + np.minimum(0.6 * fh, bh / 2)
    distance = np.hypot(fx - (bx1 + bx2) / 2, fy - head_y) / bw
    return feasible, distance


def pair_faces_with_bodies(
    face_boxes: np.ndarray, body_boxes: np.ndarray, top_fraction: float = 1.0 / 3.0
) -> list[tuple[int, int]]:
    """(face index, body index) pairs, sorted by face: a face may belong to a body where :func:`head_fit` says it fits.
    The pairs are the stable matching of the distances from each face centre to each body's expected head point:
    the closest feasible pair first, then the closest among the faces and bodies still free, and so on. So no face and
    body that fit each other better than their partners are left apart, and a face stays without a body rather than
    break up a close pair. An assignment that pairs as many faces as it can did break them up: a background face low
    in a person's body box, and the person's own face at the edge of a neighbour's, made two pairs out of one exact
    pair (away crossing 2001, frame 162: the person's face went to the neighbour's track)."""
    face_boxes = np.asarray(face_boxes, np.float32).reshape(-1, 4)
    body_boxes = np.asarray(body_boxes, np.float32).reshape(-1, 4)
    if len(face_boxes) == 0 or len(body_boxes) == 0:
        return []
    feasible, distance = head_fit(face_boxes, body_boxes, top_fraction)
    faces, bodies = np.nonzero(feasible)
    order = np.argsort(distance[faces, bodies], kind="stable")
    pairs: dict[int, int] = {}
    taken: set[int] = set()
    for f, b in zip(faces[order].tolist(), bodies[order].tolist(), strict=True):
        if f not in pairs and b not in taken:
            pairs[f] = b
            taken.add(b)
    return sorted(pairs.items())


def build_observations(
    bodies: Detections | None,
    faces: Detections | None,
    face_quality: np.ndarray | None = None,
    top_fraction: float = 1.0 / 3.0,
) -> list[PersonObservation]:
    """Person observations for one frame from body detections and face detections (either may be None).

    Faces carry keypoints, optional ``embeddings`` and a quality from ``face_quality`` (or
    ``faces.data["quality"]``). Each face is attached to at most one body (see :func:`pair_faces_with_bodies`);
    unpaired bodies and unpaired faces are observations of their own."""
    bodies = bodies if bodies is not None else Detections.empty()
    faces = faces if faces is not None else Detections.empty(num_keypoints=5)
    if face_quality is None:
        face_quality = faces.data.get("quality") if faces.data else None
    quality = np.zeros(len(faces), np.float32) if face_quality is None else np.asarray(face_quality, np.float32)
    if len(quality) != len(faces):
        raise TrackingError(f"{len(quality)} face qualities for {len(faces)} faces")
    pairs = dict(pair_faces_with_bodies(faces.boxes, bodies.boxes, top_fraction))
    body_to_face = {b: f for f, b in pairs.items()}

    def face_fields(i: int) -> dict:
        return dict(
            face_box=faces.boxes[i].copy(),
            face_keypoints=None if faces.keypoints is None else faces.keypoints[i].copy(),
            face_score=float(faces.scores[i]),
            embedding=None if faces.embeddings is None else np.asarray(faces.embeddings[i], np.float32),
            face_quality=float(quality[i]),
            face_index=i,
        )

    out: list[PersonObservation] = []
    for b in range(len(bodies)):
        extra = face_fields(body_to_face[b]) if b in body_to_face else {}
        out.append(PersonObservation(score=float(bodies.scores[b]), body_box=bodies.boxes[b].copy(), body_index=b,
                                     **extra))
    for f in range(len(faces)):
        if f not in pairs:
            out.append(PersonObservation(score=float(faces.scores[f]), **face_fields(f)))
    return out
