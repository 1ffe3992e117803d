"""The multi-person tracker: ByteTrack-style two-stage assignment over Kalman-predicted boxes, camera-motion
compensation, and re-identification of lost tracks by their face gallery (see the package docstring)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from peoplelens.core.types import box_intersection, box_iou
from peoplelens.lens.perception.tracking.config import TrackerConfig, TrackingError
from peoplelens.lens.perception.tracking.costs import CostFunction, FaceReidCost, cost_for
from peoplelens.lens.perception.tracking.kalman import BoxKalman, camera_motion_matrix
from peoplelens.lens.perception.tracking.observations import PersonObservation, head_fit
from peoplelens.lens.perception.tracking.protocol import BOTH_PARTS, EmbedFaces
from peoplelens.lens.perception.tracking.track import Track


def _assign(cost: np.ndarray, max_cost: float) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """The pairs that minimise the total cost when leaving a track and an observation unmatched costs ``max_cost``
    (ByteTrack's ``lap.lapjv(cost_limit=...)``): a pair is made only where it beats leaving both alone, and one
    close pair is not broken up for two poor ones. Returns (matches, unmatched rows, unmatched columns)."""
    if cost.size == 0:
        return [], list(range(cost.shape[0])), list(range(cost.shape[1]))
    # maximise what each pair saves against leaving both unmatched; pairs over the gate (and vetoed, inf) save nothing
    saving = np.where(cost <= max_cost, max_cost - np.minimum(cost, max_cost), 0.0)
    rows, cols = linear_sum_assignment(saving, maximize=True)
    matches = [(int(r), int(k)) for r, k in zip(rows, cols, strict=True) if cost[r, k] <= max_cost]
    mr, mc = {r for r, _ in matches}, {k for _, k in matches}
    return matches, [r for r in range(cost.shape[0]) if r not in mr], [k for k in range(cost.shape[1]) if k not in mc]


class PersonTracker:
    """Tracks people across frames; call :meth:`update` once per frame with that frame's observations."""

    def __init__(self, config: TrackerConfig | None = None, cost: CostFunction | None = None) -> None:
        self.config = config or TrackerConfig()
        self.cost: CostFunction = cost or cost_for(self.config)
        self.tracks: list[Track] = []  # active: matched recently (confirmed or tentative)
        self.lost: list[Track] = []  # aged out, kept for re-identification
        self.merges: list[tuple[int, int]] = []  # (fresh id, restored id): last update, reidentify_reported
        self.removed_ids: list[int] = []  # ids that ended (lost for good or merged) in the last update
        self.t: float | None = None
        self._ids = itertools.count(1)  # per tracker: two pipelines (or two videos) number tracks alike

    def reset(self) -> None:
        """Forget every track, lost ones included, and number new tracks from 1 again."""
        self.tracks, self.lost, self.merges, self.removed_ids = [], [], [], []
        self.t = None
        self._ids = itertools.count(1)

    def remember_face(self, track: Track, embedding: np.ndarray, quality: float) -> None:
        """Add a face embedding to the track's re-identification gallery when its quality is good enough."""
        if quality >= self.config.gallery_min_quality:
            track.add_embedding(embedding, quality, self.config.gallery_size)

    def update(
        self,
        t: float,
        observations: Sequence[PersonObservation],
        camera_motion: np.ndarray | Sequence[float] | None = None,
        looked_for: frozenset[str] = BOTH_PARTS,
        embed: EmbedFaces | None = None,
    ) -> list[Track]:
        """Advance to time ``t`` (seconds), apply the camera motion since the previous frame, associate the
        observations and return the confirmed tracks matched in this frame. ``looked_for``: the parts the detectors
        looked for in this frame (``"face"``, ``"body"``); a tentative track is dropped as noise only when one of its
        parts was looked for and it was not matched (the body detector runs on fewer frames than the face
        detector: a person seen only by their body, from behind or too far for a face, must be confirmed by the
        next body detection, not dropped by the face-only frames in between). ``embed``: with an appearance cost
        (:class:`FaceReidCost`, the default), the contested faces (:meth:`_contested`) are embedded with it before
        association."""
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
        self._keep_each_body_with_its_own_face(observations)
        obs = [o for o in observations if o.score >= cfg.low_score]
        high = [o for o in obs if o.score >= cfg.high_score]
        low = [o for o in obs if o.score < cfg.high_score]
        cost = np.asarray(self.cost(self.tracks, high), np.float32)
        if embed is not None and isinstance(self.cost, FaceReidCost) and cfg.contested_faces:
            contested = self._contested(cost, high)[: cfg.contested_faces]
            if contested:
                embed([high[j] for j in contested])
                cost[:, contested] = self.cost(self.tracks, [high[j] for j in contested])  # now by appearance too

        matches, un_tracks, un_high = _assign(cost, 1.0 - cfg.match_iou)
        split_off = []
        for ti, oi in matches:
            face = self._split_off_someone_elses_face(self.tracks[ti], high[oi])
            if face is not None:
                split_off.append(face)
            self._apply(self.tracks[ti], high[oi], t)
        rest = [self.tracks[i] for i in un_tracks]
        matches2, _, _ = _assign(self.cost(rest, low), 1.0 - cfg.low_match_iou)
        for ti, oi in matches2:
            self._apply(rest[ti], low[oi], t)

        for ob in [high[oi] for oi in un_high] + split_off:
            if ob.score >= cfg.new_track_score:
                tr = Track(track_id=next(self._ids), first_seen=t, last_seen=t)
                self._apply(tr, ob, t)
                self.tracks.append(tr)

        self._retire(t, looked_for)
        self._reidentify(t)
        self.t = t
        return [tr for tr in self.tracks if tr.confirmed and tr.observation is not None]

    def _split_off_someone_elses_face(self, tr: Track, ob: PersonObservation) -> PersonObservation | None:
        """The face of ``ob`` (a body and an embedded face, matched to ``tr``) as an observation of its own when it
        is someone else's: re-identification among every face gallery (``tr``'s, the other tracks', the lost ones')
        would give it another track's id (cosine >= ``reid_threshold``, ``reid_margin`` ahead of the next, ``tr``'s
        included). ``tr`` keeps the body. The face-body pairing knows no faces: where a person's own face is
        missed, a farther face in their body's head region is paired with it (crowd crossing seed 4000: the middle
        person's face went undetected for a frame, the far person's, just back from behind the near one, took the
        middle person's body, track and gallery). None (``ob`` unchanged) otherwise."""
        if ob.embedding is None or ob.body_box is None or ob.face_box is None or not tr.gallery:
            return None
        mine = tr.gallery_embedding()
        others = [g for g in (c.gallery_embedding() for c in self.tracks + self.lost if c is not tr) if g is not None]
        if mine is None or not others:
            return None
        if not self._decisive([float(g @ ob.embedding) for g in [mine, *others]]):  # None (no match) or 0 (tr's)
            return None
        face = PersonObservation(score=ob.face_score)
        face.swap_face_with(ob)  # ob keeps its body and score, ``face`` is scored by its face
        return face

    def _contested(self, cost: np.ndarray, observations: Sequence[PersonObservation]) -> list[int]:
        """Columns of ``cost`` (tracks x ``observations``, by position) whose face has no embedding, is good enough
        for the gallery, and could be taken by two or more confirmed tracks (within the first stage's gate), one of
        them with a face gallery: a face passing over or beside another, where overlap alone can hand it to the
        wrong person. Most contested first (the smallest gap between the two best costs). Then the faces that
        would jump (:meth:`_face_jumps`): only one track could take them, by their body, but the face is not where
        that track's face is."""
        confirmed = np.array([tr.confirmed for tr in self.tracks], bool)
        has_gallery = np.array([bool(tr.gallery) for tr in self.tracks], bool)
        if not (confirmed & has_gallery).any():
            return []
        gate = 1.0 - self.config.match_iou
        ranked = []
        for j, ob in enumerate(observations):
            # a face too poor for the gallery is not asked: its embedding could not help its own track (a profile)
            if ob.face_box is None or ob.embedding is not None or ob.face_quality < self.config.gallery_min_quality:
                continue
            within = confirmed & (cost[:, j] <= gate)
            if within.sum() >= 2 and (within & has_gallery).any():
                best = np.sort(cost[within, j])
                ranked.append((float(best[1] - best[0]), j))
            elif within.sum() == 1 and self._face_jumps(self.tracks[int(np.argmax(within))], ob):
                ranked.append((1.0, j))  # after the contests (their gaps are within the gate, below 1)
        return [j for _, j in sorted(ranked)]

    def _face_jumps(self, tr: Track, ob: PersonObservation) -> bool:
        """``ob`` pairs a body with a face that does not overlap ``tr``'s predicted face at all, ``tr`` has a face
        gallery, and another track (or a lost one) has one too: the face may be someone else's, who came into the
        body's head region (crowd crossing seed 4015: a person back from behind stood in front of a pedestrian of
        the background, whose track took the person's body and face by overlap). Embedded, the face can leave the
        body (:meth:`_split_off_someone_elses_face`)."""
        if ob.body_box is None or ob.face_box is None or tr.face is None or not tr.gallery:
            return False
        if float(box_iou(ob.face_box[None], tr.face.box[None])[0, 0]) > 0.0:
            return False
        return any(c.gallery for c in self.tracks + self.lost if c is not tr)

    def _keep_each_body_with_its_own_face(self, observations: Sequence[PersonObservation]) -> None:
        """The pairing of faces with bodies knows no tracks: where two faces lie in one body's head region (a face
        peeking over a shoulder, a child's head in front of an adult's chest), it takes the one nearer the expected
        head point. When the track that owns the body (predicted body IoU >= ``match_iou``) has a predicted face
        that the other face, left on its own, continues clearly better (IoU over the paired face's by
        ``shared_head_margin``), the two observations swap faces. Otherwise the background face took the person's
        body and track for a frame, and the person's own face started a second track."""
        cfg = self.config
        owners = [tr for tr in self.tracks if tr.face is not None and tr.body is not None]
        alone = [o for o in observations if o.face_box is not None and o.body_box is None]
        if not owners or not alone:
            return
        track_bodies = np.stack([tr.body.box for tr in owners if tr.body is not None])
        track_faces = np.stack([tr.face.box for tr in owners if tr.face is not None])
        faces = np.stack([o.face_box for o in alone if o.face_box is not None])
        for ob in observations:
            if ob.face_box is None or ob.body_box is None:
                continue
            body_iou = box_iou(ob.body_box[None], track_bodies)[0]
            k = int(np.argmax(body_iou))
            if body_iou[k] < cfg.match_iou:
                continue
            own = float(box_iou(ob.face_box[None], track_faces[k][None])[0, 0])
            fits = box_iou(faces, track_faces[k][None])[:, 0]
            in_head, _ = head_fit(faces, ob.body_box[None], cfg.face_top_fraction)
            fits = np.where(in_head[:, 0], fits, -1.0)
            j = int(np.argmax(fits))
            if fits[j] >= max(cfg.match_iou, own + cfg.shared_head_margin):
                ob.swap_face_with(alone[j])
                faces[j] = alone[j].face_box  # the lone observation now holds the other face

    def _part_of_a_tracked_body(self, new: Track) -> bool:
        """A faceless new body (tentative, or confirmed by this update) lying mostly (``part_inside`` of its area)
        inside an established track's body."""
        if new.body is None:
            return False
        box = new.body.box
        area = float(max(box[2] - box[0], 0.0) * max(box[3] - box[1], 0.0))
        established = [tr.body.box for tr in self.tracks
                       if tr is not new and tr.hits > self.config.min_hits and tr.body is not None]
        if area <= 0 or not established:
            return False
        return bool((box_intersection(box[None], np.stack(established)) >= self.config.part_inside * area).any())

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
        self.merges, self.removed_ids = [], []
        for tr in self.tracks:
            if tr.confirmed and tr.gallery:
                tr.reid_open = False
                self.lost.append(tr)
            self.removed_ids.append(tr.track_id)
        self.tracks = []

    def _retire(self, t: float, looked_for: frozenset[str]) -> None:
        cfg = self.config
        keep = []
        for tr in self.tracks:
            seen_part_looked_for = ("face" in looked_for and tr.face is not None) or (
                "body" in looked_for and tr.body is not None)
            if tr.observation is None and not tr.confirmed and seen_part_looked_for:
                self.removed_ids.append(tr.track_id)  # a tentative track missed where it could be seen: noise
                continue
            if tr.hits <= cfg.min_hits and tr.face is None and self._part_of_a_tracked_body(tr):
                self.removed_ids.append(tr.track_id)  # an arm or a torso boxed on its own: part of someone tracked
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

    def _decisive(self, sims: Sequence[float]) -> int | None:
        """The re-identification rule: the index of the most similar gallery when its cosine is at least
        ``reid_threshold`` and ``reid_margin`` ahead of the next one's (None otherwise, and for no galleries)."""
        if not sims:
            return None
        order = np.argsort(-np.asarray(sims, np.float64))
        best = float(sims[order[0]])
        second = float(sims[order[1]]) if len(order) > 1 else -1.0
        if best < self.config.reid_threshold or best - second < self.config.reid_margin:
            return None
        return int(order[0])

    def reidentify_reported(self, t: float, reported: Sequence[Track]) -> list[tuple[int, int]]:
        """Re-identify, at once, the tracks of ``reported`` (this frame's update) that were reported for the first
        time and have been given a face since (:meth:`remember_face`). Otherwise a person coming back from behind
        someone is shown under a new id until the next update hands the old one back. Only first-time tracks: their
        fresh id has reached nobody downstream yet. Returns the (fresh id, restored id) pairs."""
        first = [tr for tr in reported if tr.hits == self.config.min_hits and tr.observation is not None
                 and tr.gallery and tr in self.tracks]
        before = len(self.merges)
        self._reidentify(t, first)
        return self.merges[before:]

    def _reidentify(self, t: float, candidates: Sequence[Track] | None = None) -> None:
        """Give a new track (of ``candidates``, default all) the id of the lost (or coasting) track its face
        matches. New means new to faces: for ``reid_window_s`` after the track's first face, however long its
        body was tracked before (a person seen from behind who turns round, or whose face a body-only track takes
        as they come back into view: `bench.crossings --kind away` seed 1015)."""
        cfg = self.config
        for tr in list(self.tracks if candidates is None else candidates):
            if not tr.reid_open:
                continue
            g = tr.gallery_embedding()
            if g is None:  # no face yet (a body seen from behind): the window opens with the first face
                continue
            if tr.face_since is None:
                tr.face_since = t
            if t - tr.face_since > cfg.reid_window_s:
                tr.reid_open = False
                continue
            coasting = [c for c in self.tracks
                        if c is not tr and c.observation is None and c.first_seen < tr.first_seen]
            candidates = [c for c in self.lost + coasting if c.gallery]
            if not candidates:
                continue
            k = self._decisive([float(g @ c.gallery_embedding()) for c in candidates])
            if k is None:
                continue
            old = candidates[k]
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
