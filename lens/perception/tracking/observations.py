"""One frame's person observations: faces paired with bodies (a face whose centre lies in the upper part
of a body box belongs to it, best pairs by assignment; a face without a body is still a person)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

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

    @property
    def box(self) -> np.ndarray:
        """The body box when there is one, else the face box."""
        box = self.body_box if self.body_box is not None else self.face_box
        if box is None:
            raise TrackingError("an observation needs a body box or a face box")
        return box


def pair_faces_with_bodies(
    face_boxes: np.ndarray, body_boxes: np.ndarray, top_fraction: float = 1.0 / 3.0
) -> list[tuple[int, int]]:
    """(face index, body index) pairs: a face may belong to a body when its centre is inside the body box's
    top ``top_fraction``; among feasible pairs the assignment minimises the distance of the face centre to
    the expected head point (horizontal centre, 1/8 of the height from the top), relative to the body width."""
    face_boxes = np.asarray(face_boxes, np.float32).reshape(-1, 4)
    body_boxes = np.asarray(body_boxes, np.float32).reshape(-1, 4)
    if len(face_boxes) == 0 or len(body_boxes) == 0:
        return []
    fc = np.stack([(face_boxes[:, 0] + face_boxes[:, 2]) / 2, (face_boxes[:, 1] + face_boxes[:, 3]) / 2], 1)
    bx1, by1, bx2, by2 = (body_boxes[:, k][None, :] for k in range(4))
    bw, bh = np.maximum(bx2 - bx1, 1.0), np.maximum(by2 - by1, 1.0)
    fx, fy = fc[:, 0:1], fc[:, 1:2]
    feasible = (fx >= bx1) & (fx <= bx2) & (fy >= by1) & (fy <= by1 + top_fraction * bh)
    head_x, head_y = (bx1 + bx2) / 2, by1 + bh / 8
    cost = np.hypot(fx - head_x, fy - head_y) / bw
    big = 1e6
    cost = np.where(feasible, cost, big)
    rows, cols = linear_sum_assignment(cost)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if feasible[r, c]]


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
