"""Head rotation from the video itself (no IMU): track background corners between consecutive frames,
ignore people, and fit a pure camera rotation robustly.

Per frame: the previous and current frames are downscaled to grey (``work_width`` px wide); corners
(``cv2.goodFeaturesToTrack``) are found in the previous frame outside the (dilated) people boxes, tracked
with pyramidal Lucas-Kanade (``cv2.calcOpticalFlowPyrLK``) plus a forward-backward check, turned into unit
rays with the camera intrinsics, and a rotation ``b = R a`` is fitted with RANSAC over 2-point Kabsch
solutions (exact for any field of view, unlike a shift approximation). Translation of the wearer (walking)
shows up as parallax; RANSAC keeps the dominant far background. Bad frames (too few corners or inliers,
an implausibly large jump = a shot cut, a change of image size) give zero rotation and a ``reason``.

A frame is called a cut (``VisualMotion.cut``: the tracker then lets no track continue by overlap) only when the
corners were lost by the optical flow itself, not merely dropped because people cover them, *and* the picture changed:
the normalised cross-correlation of 32-px-wide grey thumbnails of the two frames is below ``cut_max_similarity``. A
close person filling the frame, or a dancer on a plain wall where the few background corners do not track, is no
cut (on the sample videos the three real cuts correlate at 0.01-0.27, every other pair of frames at 0.69 or more).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Annotated

import cv2
import numpy as np
from msgspec import Meta

from peoplelens.core.state import HeadOrientation
from peoplelens.lens.perception.geometry import CameraIntrinsics, head_rotation, rotation_homography, rotation_to_euler
from peoplelens.models.images import halve_towards


@dataclass(frozen=True)
class VisualRotationConfig:
    """``[visual_rotation]`` config section."""

    work_width: Annotated[int, Meta(ge=64, le=1920)] = 320  # grey frames are downscaled to this width for tracking
    max_corners: Annotated[int, Meta(ge=8, le=5000)] = 200
    corner_quality: Annotated[float, Meta(gt=0.0, lt=1.0)] = 0.01
    min_corner_distance_px: Annotated[float, Meta(ge=1.0, le=100.0)] = 7.0
    person_margin: Annotated[float, Meta(ge=0.0, le=2.0)] = 0.15  # people boxes grown by this fraction before masking
    min_points: Annotated[int, Meta(ge=3, le=1000)] = 12  # fewer tracked corners -> no estimate
    min_inlier_ratio: Annotated[float, Meta(ge=0.0, le=1.0)] = 0.4
    # ray-angle residual of a RANSAC inlier (~2 px at 320 px, 70 deg)
    inlier_threshold_deg: Annotated[float, Meta(gt=0.0, le=10.0)] = 0.35
    ransac_iterations: Annotated[int, Meta(ge=1, le=10_000)] = 64
    # a larger rotation between two frames is taken as a shot cut
    max_step_deg: Annotated[float, Meta(gt=0.0, le=180.0)] = 20.0
    fb_threshold_px: Annotated[float, Meta(gt=0.0, le=50.0)] = 1.0  # forward-backward LK error allowed
    # Lucas-Kanade: OpenCV's lk_track sample settings (15 px window, 10 iterations or a 0.03 px step) but 3 pyramid
    # levels, not 2, for fast head turns (2 lost a frame of a 100 deg/s virtual pan). Against the former 21 px /
    # 30 iterations / 0.01: the same yaw error (lens.world.measure), 23 % less time for the estimator (stop 29)
    lk_window_px: Annotated[int, Meta(ge=5, le=63)] = 15  # square window at the work width
    lk_levels: Annotated[int, Meta(ge=0, le=6)] = 3  # pyramid levels above the work frame
    lk_iterations: Annotated[int, Meta(ge=1, le=100)] = 10  # per level, or until a step is below lk_epsilon px
    lk_epsilon: Annotated[float, Meta(gt=0.0, le=1.0)] = 0.03
    # a cut needs the frames' thumbnails to correlate below this (see the module doc)
    cut_max_similarity: Annotated[float, Meta(ge=-1.0, le=1.0)] = 0.5
    seed: Annotated[int, Meta(ge=0)] = 0


@dataclass
class VisualMotion:
    """The image motion between the previous and the current frame.

    ``rotation`` maps previous-camera rays to current-camera rays; ``homography`` maps previous-frame pixels
    to current-frame pixels (full resolution) for camera-motion compensation. ``ok`` is False when the frame
    gave no usable estimate (then both are the identity) and ``reason`` says why; ``cut`` marks a shot cut.
    """

    rotation: np.ndarray = field(default_factory=lambda: np.eye(3))
    homography: np.ndarray = field(default_factory=lambda: np.eye(3))
    yaw_delta_deg: float = 0.0
    pitch_delta_deg: float = 0.0
    roll_delta_deg: float = 0.0
    n_points: int = 0
    n_inliers: int = 0
    ok: bool = False
    cut: bool = False
    reason: str = "first frame"


def _thumbnail(grey: np.ndarray) -> np.ndarray:
    """A 32-px-wide zero-mean, unit-norm thumbnail (for the frame-to-frame correlation that confirms a cut)."""
    h, w = grey.shape[:2]
    t = cv2.resize(grey, (32, max(1, round(32 * h / w))), interpolation=cv2.INTER_AREA).astype(np.float32)
    t -= t.mean()
    return t / max(float(np.linalg.norm(t)), 1e-6)


def _kabsch_batch(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rotations (B, 3, 3) best mapping point sets a (B, N, 3) onto b (B, N, 3) (no translation)."""
    h = np.einsum("bni,bnj->bij", a, b)
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(np.einsum("bij,bjk->bik", vt.transpose(0, 2, 1), u.transpose(0, 2, 1))))
    dmat = np.zeros_like(h)
    dmat[:, 0, 0] = 1.0
    dmat[:, 1, 1] = 1.0
    dmat[:, 2, 2] = d
    return np.einsum("bij,bjk,bkl->bil", vt.transpose(0, 2, 1), dmat, u.transpose(0, 2, 1))


def fit_rotation_ransac(a: np.ndarray, b: np.ndarray, threshold_deg: float, iterations: int,
                        rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Robustly fit ``b ~ R a`` for unit rays (N, 3); returns (R, inlier mask)."""
    n = len(a)
    cos_thr = math.cos(math.radians(threshold_deg))
    first = rng.integers(0, n, iterations)
    idx = np.stack([first, (first + rng.integers(1, n, iterations)) % n], axis=1)  # two distinct points each
    hyps = _kabsch_batch(a[idx], b[idx])
    score = (np.matmul(hyps, a.T) * b.T[None]).sum(1) > cos_thr  # (B, N): cos(predicted ray, observed ray)
    best = int(np.argmax(score.sum(1)))
    inliers = score[best]
    if inliers.sum() >= 2:
        r = _kabsch_batch(a[inliers][None], b[inliers][None])[0]
        inliers = (a @ r.T * b).sum(1) > cos_thr
        if inliers.sum() >= 2:
            r = _kabsch_batch(a[inliers][None], b[inliers][None])[0]
        return r, inliers
    return hyps[best], inliers


@dataclass
class TrackedCorners:
    """What :meth:`VisualRotationEstimator.track` found: the frame (grey, work size) and the previous frame's
    corners ``p0`` tracked to ``p1`` in it (work-size pixels), or the ``failure`` that stopped it early."""

    grey: np.ndarray
    p0: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.float32))
    p1: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.float32))
    n_corners: int = 0
    failure: VisualMotion | None = None
    thumbnail: np.ndarray | None = None  # zero-mean unit-norm 32-px-wide grey thumbnail of this frame
    similarity: float = 1.0  # normalised cross-correlation of this frame's thumbnail with the previous one's


class VisualRotationEstimator:
    """Integrates the frame-to-frame camera rotation into a head orientation (``source="visual"``).

    Call :meth:`update` once per frame with the people boxes of that frame (full-resolution xyxy pixels).
    The heading starts at ``initial`` (yaw 0 by default) and drifts slowly, as any visual odometry does.
    """

    def __init__(self, intrinsics: CameraIntrinsics, config: VisualRotationConfig = VisualRotationConfig(),
                 initial_yaw_deg: float = 0.0) -> None:
        self.intrinsics = intrinsics
        self.config = config
        self._rng = np.random.default_rng(config.seed)
        self._orientation = head_rotation(initial_yaw_deg)
        self._prev_grey: np.ndarray | None = None
        self._prev_mask: np.ndarray | None = None
        self._prev_thumbnail: np.ndarray | None = None
        self._work: CameraIntrinsics | None = None
        self.last_motion = VisualMotion()
        self.cuts = 0
        self.failed_frames = 0

    def reset(self, yaw_deg: float = 0.0, pitch_deg: float = 0.0, roll_deg: float = 0.0) -> None:
        """Forget the previous frame and set the heading (e.g. to an IMU reading)."""
        self._orientation = head_rotation(yaw_deg, pitch_deg, roll_deg)
        self._prev_grey = self._prev_thumbnail = None

    def anchor(self, bgr: np.ndarray, person_boxes: np.ndarray | None, yaw_deg: float, pitch_deg: float = 0.0,
               roll_deg: float = 0.0) -> None:
        """Set the heading (e.g. to an IMU reading) and take ``bgr`` as the previous frame, so that if the next
        frame needs the video's rotation it continues from here without losing a frame (costs a grey downscale)."""
        h, w = bgr.shape[:2]
        if (w, h) != (self.intrinsics.width, self.intrinsics.height):
            self.intrinsics = self.intrinsics.scaled(w, h)
        self._orientation = head_rotation(yaw_deg, pitch_deg, roll_deg)
        grey = self._grey(bgr)
        self._prev_grey, self._prev_mask = grey, self._mask(grey.shape, person_boxes)

    @property
    def orientation_matrix(self) -> np.ndarray:
        """The integrated camera-to-world rotation."""
        return self._orientation.copy()

    def head(self, timestamp: float = 0.0) -> HeadOrientation:
        """The integrated head orientation."""
        yaw, pitch, roll = rotation_to_euler(self._orientation)
        return HeadOrientation(yaw, pitch, roll, timestamp, "visual")

    def _grey(self, bgr: np.ndarray) -> np.ndarray:
        """The frame in grey at the work width (and the work-size intrinsics set to match)."""
        h, w = bgr.shape[:2]
        ww = min(self.config.work_width, w)
        wh = max(1, round(h * ww / w))
        # halved in colour first (fast 2x2 means), so the grey conversion and the area resize see few pixels
        small = halve_towards(bgr, (ww, wh))
        grey = small if small.ndim == 2 else cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        grey = cv2.resize(grey, (ww, wh), interpolation=cv2.INTER_AREA) if grey.shape[:2] != (wh, ww) else grey
        self._work = self.intrinsics.scaled(ww, wh)
        return grey

    def _mask(self, shape: tuple[int, ...], boxes: np.ndarray | None) -> np.ndarray:
        """255 on background, 0 on (grown) people boxes, at the work size ``shape``."""
        wh, ww = shape[:2]
        mask = np.full((wh, ww), 255, np.uint8)
        if boxes is not None and len(boxes):
            s = ww / self.intrinsics.width
            for x1, y1, x2, y2 in np.asarray(boxes, dtype=np.float64).reshape(-1, 4)[:, :4]:
                mx, my = (x2 - x1) * self.config.person_margin, (y2 - y1) * self.config.person_margin
                a = (max(0, int((x1 - mx) * s)), max(0, int((y1 - my) * s)))
                b = (min(ww - 1, int(math.ceil((x2 + mx) * s))), min(wh - 1, int(math.ceil((y2 + my) * s))))
                cv2.rectangle(mask, a, b, 0, thickness=-1)
        return mask

    def update(self, bgr: np.ndarray, person_boxes: np.ndarray | None = None,
               timestamp: float = 0.0) -> HeadOrientation:
        """Process one frame; returns the integrated head orientation (``last_motion`` holds the details)."""
        return self.finish(self.track(bgr), person_boxes, timestamp)

    def track(self, bgr: np.ndarray) -> TrackedCorners:
        """First half of :meth:`update`, the costly one: the previous frame's background corners tracked into
        this frame. It changes no estimate, so it can run (on another thread) before the frame's people are
        known; :meth:`finish` then drops the corners on people and fits the rotation."""
        h, w = bgr.shape[:2]
        if (w, h) != (self.intrinsics.width, self.intrinsics.height):
            self.intrinsics = self.intrinsics.scaled(w, h)
        grey = self._grey(bgr)
        thumbnail = _thumbnail(grey)
        tracked = TrackedCorners(grey, thumbnail=thumbnail)
        if self._prev_thumbnail is not None and self._prev_thumbnail.shape == thumbnail.shape:
            tracked.similarity = float((thumbnail * self._prev_thumbnail).sum())
        prev = self._prev_grey
        if prev is None or prev.shape != grey.shape:
            tracked.failure = VisualMotion(reason="first frame" if prev is None else "image size changed",
                                           cut=prev is not None)
            return tracked
        cfg = self.config
        pts = cv2.goodFeaturesToTrack(prev, cfg.max_corners, cfg.corner_quality, cfg.min_corner_distance_px,
                                      mask=self._prev_mask)
        if pts is None or len(pts) < cfg.min_points:
            tracked.failure = VisualMotion(reason=f"low texture: {0 if pts is None else len(pts)} corners")
            return tracked
        win, levels = (cfg.lk_window_px, cfg.lk_window_px), cfg.lk_levels
        criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, cfg.lk_iterations, cfg.lk_epsilon)
        nxt, st, _ = cv2.calcOpticalFlowPyrLK(prev, grey, pts, None, winSize=win, maxLevel=levels, criteria=criteria)
        back, st2, _ = cv2.calcOpticalFlowPyrLK(grey, prev, nxt, None, winSize=win, maxLevel=levels,
                                                criteria=criteria)
        fb = np.linalg.norm((back - pts).reshape(-1, 2), axis=1)
        good = (st.reshape(-1) == 1) & (st2.reshape(-1) == 1) & (fb < cfg.fb_threshold_px)
        p0, p1 = pts.reshape(-1, 2)[good], nxt.reshape(-1, 2)[good]
        gh, gw = grey.shape
        inside = (p1[:, 0] >= 0) & (p1[:, 0] < gw) & (p1[:, 1] >= 0) & (p1[:, 1] < gh)
        tracked.p0, tracked.p1, tracked.n_corners = p0[inside], p1[inside], len(pts)
        return tracked

    def finish(self, tracked: TrackedCorners, person_boxes: np.ndarray | None = None,
               timestamp: float = 0.0) -> HeadOrientation:
        """Second half of :meth:`update`: mask out ``person_boxes`` (full-resolution pixels), fit the rotation,
        integrate it; returns the head orientation."""
        mask = self._mask(tracked.grey.shape, person_boxes)
        motion = tracked.failure if tracked.failure is not None else self._estimate(tracked, mask)
        if motion.ok:
            self._orientation = self._orientation @ motion.rotation.T
        else:
            self.failed_frames += self._prev_grey is not None
            self.cuts += motion.cut
        self.last_motion = motion
        self._prev_grey, self._prev_mask, self._prev_thumbnail = tracked.grey, mask, tracked.thumbnail
        return self.head(timestamp)

    def _estimate(self, tracked: TrackedCorners, cur_mask: np.ndarray) -> VisualMotion:
        cfg = self.config
        p0, p1 = tracked.p0, tracked.p1
        changed = tracked.similarity < cfg.cut_max_similarity  # the picture itself changed
        lost_by_flow = len(p0) < tracked.n_corners / 3  # the flow lost them (not: people cover them)
        on_bg = cur_mask[p1[:, 1].astype(int), p1[:, 0].astype(int)] > 0
        p0, p1 = p0[on_bg], p1[on_bg]
        n = len(p0)
        if n < cfg.min_points:
            return VisualMotion(n_points=n, reason=f"only {n} corners tracked (cut or blur)",
                                cut=lost_by_flow and changed)
        work = self._work
        assert work is not None
        a = work.pixel_to_ray(p0[:, 0], p0[:, 1])
        b = work.pixel_to_ray(p1[:, 0], p1[:, 1])
        rot, inliers = fit_rotation_ransac(a, b, cfg.inlier_threshold_deg, cfg.ransac_iterations, self._rng)
        n_in = int(inliers.sum())
        step = math.degrees(math.acos(float(np.clip((np.trace(rot) - 1.0) / 2.0, -1.0, 1.0))))
        if n_in < max(cfg.min_points // 2, cfg.min_inlier_ratio * n):
            return VisualMotion(n_points=n, n_inliers=n_in, reason=f"no consistent motion ({n_in}/{n} inliers)",
                                cut=n_in < 0.2 * n and changed)
        if step > cfg.max_step_deg:
            return VisualMotion(n_points=n, n_inliers=n_in, cut=True,
                                reason=f"jump of {step:.1f} deg > {cfg.max_step_deg} (shot cut)")
        # camera rotation: world ray w = R_prev a = R_cur b, b = rot a  ->  R_cur = R_prev rot^T
        yaw, pitch, roll = rotation_to_euler(rot.T)  # the head turn, in head-rotation terms
        return VisualMotion(rotation=rot, homography=rotation_homography(self.intrinsics, rot), yaw_delta_deg=yaw,
                            pitch_delta_deg=pitch, roll_delta_deg=roll, n_points=n, n_inliers=n_in, ok=True,
                            reason="ok")

