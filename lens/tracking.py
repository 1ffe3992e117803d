"""Multi-person tracker: one track = one person, fed once per frame with body and/or face observations.

ByteTrack / OC-SORT style:

* a constant-velocity Kalman filter per box (``cx, cy, w, h`` and their rates, in pixels and pixels per
  **second**, so any frame rate works) — one for the body box and one for the face box of each track;
* two-stage assignment with ``scipy.optimize.linear_sum_assignment``: high-score observations first, then the
  low-score ones against the tracks that are still unmatched (ByteTrack's trick for occluded people);
* a pluggable cost function (norfair's idea): :func:`iou_cost` by default (1 - the best IoU of body or face
  boxes), :class:`FaceReidCost` adds face-embedding distance;
* camera-motion compensation: an optional 3x3 homography or ``(dx, dy)`` image shift per frame (a head turn)
  moves every predicted box before association (norfair's ``camera_motion``);
* re-identification: a new track whose face matches the embedding gallery of a lost (or coasting) track gets
  that track's id back, so identity survives leaving and re-entering the view.

Faces are paired with bodies first (:func:`build_observations`): a face whose centre lies in the upper third
of a body box belongs to it, best pairs by assignment; a face without a body (a close-up) is still a person.

Typical use, once per frame::

    tracker = PersonTracker(TrackerConfig())
    obs = build_observations(bodies, faces)      # Detections from the person and face detectors
    tracks = tracker.update(frame.timestamp, obs, camera_motion=shift_or_homography)
    for fresh_id, old_id in tracker.merges: ...  # ids handed back by re-identification this frame
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from peoplelens.core.errors import PeopleLensError
from peoplelens.core.types import Detections, box_iou


class TrackingError(PeopleLensError):
    """Bad input to the tracker (time going backwards, malformed boxes or camera motion)."""


@dataclass(frozen=True)
class TrackerConfig:
    """Tracker thresholds. Times are in seconds (frame rates vary); scores are detector confidences."""

    high_score: float = 0.5  # observations at or above this go to the first association stage
    low_score: float = 0.1  # below this an observation is ignored; between the two: second stage only
    new_track_score: float = 0.6  # an unmatched observation starts a track only at this score
    match_iou: float = 0.2  # first stage: a pair needs cost <= 1 - match_iou (IoU cost)
    low_match_iou: float = 0.4  # second stage (low-score observations): stricter
    min_hits: int = 2  # a track is reported once it was matched this many times (tentative before)
    max_age_s: float = 1.5  # a track survives this long without an observation (occlusion, head turn)
    part_max_age_s: float = 0.7  # a body/face box part not seen this long stops being predicted
    reid_threshold: float = 0.45  # cosine between face galleries to give a lost track's id back
    reid_margin: float = 0.05  # ... and at least this much above the second-best lost track
    reid_window_s: float = 2.0  # a new track may be re-identified during its first seconds
    reid_memory_s: float = 120.0  # lost tracks are remembered this long for re-identification
    gallery_size: int = 16  # best-quality face embeddings kept per track
    gallery_min_quality: float = 0.3  # faces below this quality do not enter the gallery
    face_top_fraction: float = 1.0 / 3.0  # a face belongs to a body when its centre is in this top part


# ---------------------------------------------------------------------------------------------- observations


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


# ---------------------------------------------------------------------------------------------- motion model


def _xyxy_to_state(box: np.ndarray) -> np.ndarray:
    x1, y1, x2, y2 = (float(v) for v in box)
    return np.array([(x1 + x2) / 2, (y1 + y2) / 2, max(x2 - x1, 1.0), max(y2 - y1, 1.0)])


def _state_to_xyxy(s: np.ndarray) -> np.ndarray:
    cx, cy, w, h = s[:4]
    w, h = max(w, 1.0), max(h, 1.0)
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dtype=np.float32)


class BoxKalman:
    """Constant-velocity Kalman filter on ``(cx, cy, w, h)`` with rates per second; noise scales with box size
    (DeepSORT's choice: 1/20 of the height for position, about 0.2 heights per second for velocity at 30 fps)."""

    POS_STD = 0.05  # measurement / process position noise, fraction of the box size
    VEL_STD = 0.2  # velocity process noise, box sizes per second per sqrt(frame at 30 fps)

    def __init__(self, box: np.ndarray, t: float) -> None:
        self.x = np.concatenate([_xyxy_to_state(box), np.zeros(4)])
        size = np.array([self.x[3], self.x[3], self.x[2], self.x[3]])
        self.P = np.diag(np.concatenate([(2 * self.POS_STD * size) ** 2, (2.0 * size) ** 2]))
        self.t = t
        self.t_update = t

    def predict(self, t: float) -> None:
        """Advance the state to time ``t`` (no-op when ``t`` is not later)."""
        dt = t - self.t
        if dt <= 0:
            return
        F = np.eye(8)
        F[:4, 4:] = np.eye(4) * dt
        size = np.array([self.x[3], self.x[3], self.x[2], self.x[3]])
        frames = dt * 30.0
        Q = np.diag(np.concatenate([(self.POS_STD * size) ** 2 * frames, (self.VEL_STD * size) ** 2 * frames]))
        self.x = F @ self.x
        self.x[2:4] = np.maximum(self.x[2:4], 1.0)
        self.P = F @ self.P @ F.T + Q
        self.t = t

    def update(self, box: np.ndarray) -> None:
        """Correct the state with a measured box (at the current time)."""
        z = _xyxy_to_state(box)
        H = np.zeros((4, 8))
        H[:4, :4] = np.eye(4)
        size = np.array([z[3], z[3], z[2], z[3]])
        R = np.diag((self.POS_STD * size) ** 2)
        S = H @ self.P @ H.T + R
        K = self.P @ H.T @ np.linalg.inv(S)
        self.x = self.x + K @ (z - H @ self.x)
        self.P = (np.eye(8) - K @ H) @ self.P
        self.t_update = self.t

    def warp(self, homography: np.ndarray) -> None:
        """Move the state by a camera motion: the box corners go through the homography, the velocity through
        its local linear part."""
        box = _state_to_xyxy(self.x)
        corners = np.array([[box[0], box[1]], [box[2], box[1]], [box[2], box[3]], [box[0], box[3]]], np.float64)
        warped = apply_homography(homography, corners)
        x1, y1 = warped.min(0)
        x2, y2 = warped.max(0)
        self.x[:4] = _xyxy_to_state(np.array([x1, y1, x2, y2]))
        c = self.x[:2]
        jac = np.empty((2, 2))
        eps = 1.0
        base = apply_homography(homography, c[None])[0]
        for k in range(2):
            d = np.zeros(2)
            d[k] = eps
            jac[:, k] = (apply_homography(homography, (c + d)[None])[0] - base) / eps
        self.x[4:6] = jac @ self.x[4:6]

    @property
    def box(self) -> np.ndarray:
        """The current box estimate, xyxy float32."""
        return _state_to_xyxy(self.x)


def apply_homography(homography: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map (N, 2) points through a 3x3 homography."""
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    h = np.concatenate([pts, np.ones((len(pts), 1))], 1) @ np.asarray(homography, np.float64).T
    return h[:, :2] / np.where(np.abs(h[:, 2:3]) < 1e-12, 1e-12, h[:, 2:3])


def camera_motion_matrix(motion: np.ndarray | Sequence[float] | None) -> np.ndarray | None:
    """A 3x3 homography from ``None``, an image shift ``(dx, dy)`` (content moved by dx, dy pixels) or a 3x3
    (or 2x3 affine) matrix mapping previous-frame pixels to current-frame pixels."""
    if motion is None:
        return None
    m = np.asarray(motion, np.float64)
    if m.shape == (2,):
        out = np.eye(3)
        out[:2, 2] = m
        return out
    if m.shape == (2, 3):
        return np.vstack([m, [0.0, 0.0, 1.0]])
    if m.shape == (3, 3) and np.all(np.isfinite(m)):
        return m
    raise TrackingError(f"camera motion must be (dx, dy), a 2x3 affine or a 3x3 homography, got shape {m.shape}")


# ---------------------------------------------------------------------------------------------- tracks




@dataclass
class Track:
    """One tracked person. ``box`` is the body box when a body is tracked, else the face box."""

    track_id: int
    first_seen: float
    last_seen: float
    body: BoxKalman | None = None
    face: BoxKalman | None = None
    hits: int = 0
    confirmed: bool = False
    observation: PersonObservation | None = None  # this frame's observation (None when coasting)
    face_keypoints: np.ndarray | None = None  # of the last observed face
    gallery: list[tuple[float, np.ndarray]] = field(default_factory=list)  # (quality, unit embedding)
    reidentified_from: int | None = None  # the fresh id this track had before re-identification
    reid_open: bool = True  # may still be re-identified as a lost track

    @property
    def box(self) -> np.ndarray:
        """Body box if tracked, else face box (predicted when coasting)."""
        part = self.body if self.body is not None else self.face
        assert part is not None
        return part.box

    @property
    def body_box(self) -> np.ndarray | None:
        """The (predicted) body box, if a body is tracked."""
        return None if self.body is None else self.body.box

    @property
    def face_box(self) -> np.ndarray | None:
        """The (predicted) face box, if a face is tracked."""
        return None if self.face is None else self.face.box

    @property
    def face_visible(self) -> bool:
        """Whether this frame's observation included a face."""
        return self.observation is not None and self.observation.face_box is not None

    def time_since_update(self, t: float) -> float:
        """Seconds since the last matched observation."""
        return t - self.last_seen

    def gallery_embedding(self) -> np.ndarray | None:
        """Quality-weighted mean of the gallery, unit length (None when the gallery is empty)."""
        if not self.gallery:
            return None
        w = np.array([q for q, _ in self.gallery], np.float64)
        v = np.stack([e for _, e in self.gallery]).astype(np.float64)
        m = (w[:, None] * v).sum(0)
        n = np.linalg.norm(m)
        return None if n < 1e-9 else (m / n).astype(np.float32)

    def add_embedding(self, embedding: np.ndarray, quality: float, size: int) -> None:
        """Keep the ``size`` best-quality embeddings (newest wins ties)."""
        self.gallery.append((float(quality), np.asarray(embedding, np.float32)))
        if len(self.gallery) > size:
            self.gallery.sort(key=lambda qe: qe[0])
            self.gallery.pop(0)


# ---------------------------------------------------------------------------------------------- costs

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


def _assign(cost: np.ndarray, max_cost: float) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    if cost.size == 0:
        return [], list(range(cost.shape[0])), list(range(cost.shape[1]))
    c = np.where(cost <= max_cost, cost, 1e6)  # also replaces inf (vetoed pairs)
    rows, cols = linear_sum_assignment(c)
    matches = [(int(r), int(k)) for r, k in zip(rows, cols, strict=True) if cost[r, k] <= max_cost]
    mr, mc = {r for r, _ in matches}, {k for _, k in matches}
    return matches, [r for r in range(cost.shape[0]) if r not in mr], [k for k in range(cost.shape[1]) if k not in mc]


# ---------------------------------------------------------------------------------------------- tracker


class PersonTracker:
    """Tracks people across frames; call :meth:`update` once per frame with that frame's observations."""

    def __init__(self, config: TrackerConfig | None = None, cost: CostFunction | None = None) -> None:
        self.config = config or TrackerConfig()
        self.cost: CostFunction = cost or iou_cost
        self.tracks: list[Track] = []  # active: matched recently (confirmed or tentative)
        self.lost: list[Track] = []  # aged out, kept for re-identification
        self.merges: list[tuple[int, int]] = []  # (fresh id, restored id) pairs from the last update
        self.removed_ids: list[int] = []  # ids that ended (lost for good or merged) in the last update
        self.t: float | None = None
        self._ids = itertools.count(1)  # per tracker: two pipelines (or two videos) number tracks alike

    def update(
        self,
        t: float,
        observations: Sequence[PersonObservation],
        camera_motion: np.ndarray | Sequence[float] | None = None,
    ) -> list[Track]:
        """Advance to time ``t`` (seconds), apply the camera motion since the previous frame, associate the
        observations and return the confirmed tracks matched in this frame."""
        if self.t is not None and t < self.t:
            raise TrackingError(f"time went backwards: {t} after {self.t}")
        cfg = self.config
        homography = camera_motion_matrix(camera_motion)
        self.merges, self.removed_ids = [], []
        for tr in self.tracks:
            tr.observation = None
            for part in (tr.body, tr.face):
                if part is not None:
                    part.predict(t)
                    if homography is not None:
                        part.warp(homography)
        obs = [o for o in observations if o.score >= cfg.low_score]
        high = [o for o in obs if o.score >= cfg.high_score]
        low = [o for o in obs if o.score < cfg.high_score]

        matches, un_tracks, un_high = _assign(self.cost(self.tracks, high), 1.0 - cfg.match_iou)
        for ti, oi in matches:
            self._apply(self.tracks[ti], high[oi], t)
        rest = [self.tracks[i] for i in un_tracks]
        matches2, _, _ = _assign(self.cost(rest, low), 1.0 - cfg.low_match_iou)
        for ti, oi in matches2:
            self._apply(rest[ti], low[oi], t)

        for oi in un_high:
            if high[oi].score >= cfg.new_track_score:
                tr = Track(track_id=next(self._ids), first_seen=t, last_seen=t)
                self._apply(tr, high[oi], t)
                self.tracks.append(tr)

        self._retire(t)
        self._reidentify(t)
        self.t = t
        return [tr for tr in self.tracks if tr.confirmed and tr.observation is not None]

    def _apply(self, tr: Track, ob: PersonObservation, t: float) -> None:
        cfg = self.config
        for name, box in (("body", ob.body_box), ("face", ob.face_box)):
            if box is None:
                continue
            part = getattr(tr, name)
            if part is None:
                setattr(tr, name, BoxKalman(box, t))
            else:
                part.predict(t)
                part.update(box)
        tr.observation = ob
        tr.last_seen = t
        tr.hits += 1
        tr.confirmed = tr.confirmed or tr.hits >= cfg.min_hits
        if ob.face_keypoints is not None:
            tr.face_keypoints = ob.face_keypoints
        if ob.embedding is not None and ob.face_quality >= cfg.gallery_min_quality:
            tr.add_embedding(ob.embedding, ob.face_quality, cfg.gallery_size)

    def break_continuity(self, t: float) -> None:
        """The view jumped (a shot cut, or a head turn too fast to follow): no prediction can be trusted, so
        every active track is retired now. Tracks with a face gallery stay re-identifiable: when the same
        face comes back a new track gets their id (and identity) again; nobody inherits a track by overlap."""
        for tr in self.tracks:
            if tr.confirmed and tr.gallery:
                tr.reid_open = False
                self.lost.append(tr)
            self.removed_ids.append(tr.track_id)
        self.tracks = []

    def _retire(self, t: float) -> None:
        cfg = self.config
        keep = []
        for tr in self.tracks:
            if tr.observation is None and not tr.confirmed:
                self.removed_ids.append(tr.track_id)  # a tentative track that missed a frame: noise
                continue
            if tr.time_since_update(t) > cfg.max_age_s:
                if tr.gallery:
                    self.lost.append(tr)
                self.removed_ids.append(tr.track_id)
                continue
            if tr.body is not None and tr.face is not None:  # drop a part not seen for a while, keep the other
                if t - tr.body.t_update > cfg.part_max_age_s:
                    tr.body = None
                elif t - tr.face.t_update > cfg.part_max_age_s:
                    tr.face = None
            keep.append(tr)
        self.tracks = keep
        self.lost = [tr for tr in self.lost if t - tr.last_seen <= cfg.reid_memory_s]

    def _reidentify(self, t: float) -> None:
        """Give a new track the id of the lost (or coasting) track its face matches."""
        cfg = self.config
        for tr in list(self.tracks):
            if not tr.reid_open:
                continue
            if t - tr.first_seen > cfg.reid_window_s:
                tr.reid_open = False
                continue
            g = tr.gallery_embedding()
            if g is None:
                continue
            coasting = [c for c in self.tracks
                        if c is not tr and c.observation is None and c.first_seen < tr.first_seen]
            candidates = [c for c in self.lost + coasting if c.gallery]
            if not candidates:
                continue
            sims = np.array([float(g @ c.gallery_embedding()) for c in candidates])
            order = np.argsort(-sims)
            best = float(sims[order[0]])
            second = float(sims[order[1]]) if len(order) > 1 else -1.0
            if best < cfg.reid_threshold or best - second < cfg.reid_margin:
                continue
            old = candidates[int(order[0])]
            self.merges.append((tr.track_id, old.track_id))
            self.removed_ids.append(tr.track_id)
            tr.reidentified_from = tr.track_id
            tr.track_id = old.track_id
            tr.first_seen = old.first_seen
            tr.confirmed = tr.confirmed or old.confirmed
            tr.reid_open = False
            for q, e in old.gallery:
                tr.add_embedding(e, q, cfg.gallery_size)
            if old in self.lost:
                self.lost.remove(old)
            else:
                self.tracks.remove(old)
