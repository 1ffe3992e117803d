"""Foveation planning: which heads deserve a full-resolution look, and the windows that fit the time budget.

The pure geometry and policy half of :mod:`peoplelens.lens.perception.foveation` (its docstring describes the
whole method): the ``[foveation]`` settings (:class:`FoveationConfig`), the **targets** (:func:`head_targets`:
small wide-pass faces, heads guessed from body boxes, unconfirmed track predictions), the window around each
(:func:`crop_window`), the detector cost model (:func:`predicted_ms`) and the **plan** (:func:`plan_crops`:
windows in priority order within ``budget_ms``). No detector runs here and no pixel is touched;
:class:`~peoplelens.lens.perception.foveation.Foveator` runs the planned windows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Literal

import numpy as np
from msgspec import Meta

from peoplelens.core.errors import PeopleLensError
from peoplelens.core.types import Detections, box_iou

__all__ = ["FACE_CENTRE_BELOW_TOP", "FACE_PER_BODY_HEIGHT", "Box", "Crop", "FoveationConfig", "FoveationError",
           "HeadTarget", "TrackHint", "canvas_pixels", "crop_window", "head_box_from_body", "head_targets",
           "plan_crops", "predicted_ms", "seen_by"]

Box = tuple[float, float, float, float]

#: expected face-box width over standing-body-box height: adult 0.15 m / 1.70 m = 0.088, child 0.13 / 1.27 = 0.10
FACE_PER_BODY_HEIGHT = 0.095
#: the face centre below the body box's top edge, in body heights (adult ~0.06, child ~0.07)
FACE_CENTRE_BELOW_TOP = 0.065


class FoveationError(PeopleLensError):
    """Foveation settings that cannot work (non-positive sizes or budget)."""


@dataclass(frozen=True)
class FoveationConfig:
    """``[foveation]`` config section. The defaults come from measurements (``bench/crop_range.py``, det_500m,
    82 enrolment photos pasted into a real 1920x1080 frame; CPU ms of one ORT thread, 2-core Xeon):

    * recall by face width, window around a predicted face (context 3, off by <= half a face, size -20..+25 %):
      12 px 85 %, 16 px 96 %, 20-64 px 98-100 % at inputs 96-256 alike (the window is enlarged <= 2x: never enlarged,
      12 px 37 %, 16 px 71 %); the 640-px wide pass: 0 % up to 20 px, 11 % at 32, 27 % at 48, 51 % at 64 px; the
      whole frame at 1920 px (130 ms) 10 % at 12 px, 46 % at 20 px. Context 4 (around a head guessed from a body):
      70 / 83 / 94 % at 12 / 16 / 20 px, 94-99 % above, 128 px inputs 1-4 points below 160;
    * eye keypoints from a window are 0.03-0.06 of the eye spacing off, from the wide pass 0.06-0.25;
    * cost of one window: 0.36 ms + 55 ms per megapixel of input (64 px 0.5, 96 px 1.0, 128 px 1.2, 160 px 1.8,
      192 px 2.2, 256 px 4.0 ms); the wide pass (640x384 + the 1920->640 resize) 12-15 ms.

    So: windows of 128 px around faces (a face ~43 px at the input) and 160 px around bodies' heads (~40 px), and a
    budget of 4 ms a detection frame -- three face windows or two body windows, <= 30 % of the face detector's
    wide pass. ``Foveator.run(budget_ms=...)`` takes a budget per frame instead (e.g. 0.3 x the measured wide pass).

    In the pipeline (``[foveation]``, :mod:`peoplelens.lens.pipeline.stages.foveate`) the windows draw on an
    account in CPU time: each wide face pass adds ``budget_share`` of its measured CPU time, the foveate stage's
    work (windows and planning) takes its measured CPU time, windows are planned at their predicted cost within the
    balance; so over any stretch of frames the windows cost about that share of the wide pass, on detection frames
    and the frames between them together (a fixed ``budget_ms`` per frame when ``budget_share`` is 0).
    ``enabled = "auto"`` turns foveation on when the frame is larger than the wide pass's input (there are pixels
    the wide pass does not see); a 640x480 frame runs as before.
    """

    enabled: bool | Literal["auto"] = "auto"  # "auto": when the frame is larger than the wide pass's input
    #: detector input side of a window around a face (SCRFD rounds up to a multiple of 32)
    input_px: Annotated[int, Meta(ge=32, le=1024)] = 128
    body_input_px: Annotated[int, Meta(ge=32, le=1024)] = 160  # ... around a head guessed from a body box
    #: window side / face width around a face box (wide face or track prediction)
    face_context: Annotated[float, Meta(gt=1.0, le=10.0)] = 3.0
    #: window side / expected face width around a head guessed from a body box
    body_context: Annotated[float, Meta(gt=1.0, le=10.0)] = 4.0
    #: a window is enlarged at most this much (small far faces)
    max_upscale: Annotated[float, Meta(gt=0.0, le=8.0)] = 2.0
    #: face width at the wide pass's input that it finds and locates well (32 px at 640: 96 px of a 1920 frame)
    wide_reliable_px: Annotated[float, Meta(ge=0.0, le=1024.0)] = 32.0
    #: expected faces narrower than this (frame px) are not worth a window
    min_face_px: Annotated[float, Meta(ge=0.0, le=1024.0)] = 10.0
    #: predicted detector time for all windows of one frame (when budget_share is 0)
    budget_ms: Annotated[float, Meta(ge=0.0, le=1000.0)] = 4.0
    #: the foveate stage's CPU time over the wide face pass's, on average (an account; 0 = budget_ms per frame)
    budget_share: Annotated[float, Meta(ge=0.0, le=1.0)] = 0.3
    #: what the account counts: "cpu" = measured CPU time (live: adapts to the device and its load); "predicted" =
    #: the cost model's predictions only (no measurement, no adaptation), so a recording gives the same windows
    #: on any machine and under any load (reproducible replays and comparisons)
    budget_clock: Literal["cpu", "predicted"] = "cpu"
    #: the body detector also runs on a square of this side (frame px) around the gaze at full resolution, so people
    #: 40-80 px tall (~10 m) are found where a bump needs them (0 = whole frame only)
    body_tile_px: Annotated[int, Meta(ge=0, le=8192)] = 720
    #: predicted time of one window: base + per_mpx * input pixels (1 ORT thread)
    cost_base_ms: Annotated[float, Meta(ge=0.0)] = 0.36
    cost_per_mpx_ms: Annotated[float, Meta(gt=0.0)] = 55.0
    #: weight of a new measurement in the running per-pixel cost (0 = fixed model)
    cost_adapt: Annotated[float, Meta(ge=0.0, le=1.0)] = 0.2
    merge_iou: Annotated[float, Meta(gt=0.0, le=1.0)] = 0.3  # a window face replaces a wide face it overlaps this much
    nms_iou: Annotated[float, Meta(gt=0.0, le=1.0)] = 0.4

    def __post_init__(self) -> None:
        if min(self.input_px, self.body_input_px) < 32 or self.face_context <= 1 or self.body_context <= 1 \
                or self.max_upscale <= 0:
            raise FoveationError(f"[foveation] sizes must be positive (input_px >= 32, contexts > 1): {self}")
        if self.budget_ms < 0 or not 0 <= self.budget_share <= 1:
            raise FoveationError(f"[foveation] needs budget_ms >= 0 and 0 <= budget_share <= 1, got {self.budget_ms}, "
                                 f"{self.budget_share}")
        if self.body_tile_px < 0:
            raise FoveationError(f"[foveation] body_tile_px must be >= 0 (0 = off), got {self.body_tile_px}")


@dataclass(frozen=True)
class HeadTarget:
    """A head the foveation may look at: its expected face box in frame pixels and what it came from."""

    box: Box
    source: str  # "face" (wide-pass face), "body" (head region of a body box) or "track" (predicted face)
    identified: bool = False  # the person's identity is decided (known or not enrolled)
    track_id: int | None = None

    @property
    def width(self) -> float:
        """Expected face width in frame pixels."""
        return self.box[2] - self.box[0]

    @property
    def centre(self) -> tuple[float, float]:
        """Expected face centre in frame pixels."""
        return (self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2


@dataclass(frozen=True)
class TrackHint:
    """What the tracker predicts for one person at this frame (frame pixels) and whether they are identified."""

    track_id: int
    face_box: Box | None = None
    body_box: Box | None = None
    identified: bool = False


@dataclass(frozen=True)
class Crop:
    """One planned window: frame pixels ``window`` (x1, y1, x2, y2, integers) resized by ``scale`` to
    ``input_size`` (w, h) for the detector; ``rank`` 0 = nearest the gaze, 1 = not identified, 2 = the rest."""

    target: HeadTarget
    window: tuple[int, int, int, int]
    scale: float
    input_size: tuple[int, int]
    rank: int
    cost_ms: float

    def to_frame(self, faces: Detections) -> Detections:
        """Detections in window-input pixels -> frame pixels (boxes and keypoints)."""
        x0, y0 = self.window[0], self.window[1]
        sx = self.input_size[0] / (self.window[2] - self.window[0])
        sy = self.input_size[1] / (self.window[3] - self.window[1])
        boxes = faces.boxes / np.array([sx, sy, sx, sy], np.float32) + np.array([x0, y0, x0, y0], np.float32)
        kps = None if faces.keypoints is None else faces.keypoints / np.array([sx, sy], np.float32) + \
            np.array([x0, y0], np.float32)
        return Detections(boxes.astype(np.float32), faces.scores, keypoints=None if kps is None
                          else kps.astype(np.float32), data=dict(faces.data))

    def uncut(self, faces: Detections, frame_size: tuple[int, int], edge_px: float = 2.0) -> Detections:
        """``faces`` (frame pixels) without those the window's border cuts: a face reaching within ``edge_px``
        detector-input pixels of a window edge that lies inside the frame goes on beyond the window, so its box and
        keypoints measure part of a face (someone beside the head the window is for; the window gives its own head
        a face width of room on each side). Such a part must not replace the wide pass's whole face. The frame's
        own edges cut nothing that the wide pass sees whole."""
        if len(faces) == 0:
            return faces
        x0, y0, x1, y1 = self.window
        tol_x, tol_y = edge_px * (x1 - x0) / self.input_size[0], edge_px * (y1 - y0) / self.input_size[1]
        b = faces.boxes
        at_border = np.zeros(len(faces), bool)
        if x0 > 0:
            at_border |= b[:, 0] <= x0 + tol_x
        if y0 > 0:
            at_border |= b[:, 1] <= y0 + tol_y
        if x1 < frame_size[0]:
            at_border |= b[:, 2] >= x1 - tol_x
        if y1 < frame_size[1]:
            at_border |= b[:, 3] >= y1 - tol_y
        return faces[np.flatnonzero(~at_border)] if at_border.any() else faces


def head_box_from_body(body: Sequence[float]) -> Box:
    """The expected face box of a standing person's body box (``FACE_PER_BODY_HEIGHT`` etc.)."""
    x1, y1, x2, y2 = (float(v) for v in body[:4])
    h = y2 - y1
    w = FACE_PER_BODY_HEIGHT * h
    cx, cy = (x1 + x2) / 2, y1 + FACE_CENTRE_BELOW_TOP * h
    return cx - w / 2, cy - 0.6 * w, cx + w / 2, cy + 0.6 * w


def _inside(point: tuple[float, float], box: Sequence[float]) -> bool:
    return box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3]


def head_targets(wide_faces: Detections, person_boxes: np.ndarray | None = None, tracks: Sequence[TrackHint] = (),
                 config: FoveationConfig = FoveationConfig(), wide_scale: float = 3.0) -> list[HeadTarget]:
    """The heads worth a full-resolution look (module docstring); every box in frame pixels. ``wide_scale``: frame
    pixels per pixel of the wide pass's input (3 for 1920 -> 640).

    A body, face or prediction belongs to an identified person when it overlaps an identified track's
    predicted face (face boxes) or body (body boxes) by IoU >= 0.3."""
    reliable = config.wide_reliable_px * wide_scale
    faces_xyxy = wide_faces.boxes if len(wide_faces) else np.zeros((0, 4), np.float32)
    bodies = np.zeros((0, 4), np.float32) if person_boxes is None else np.asarray(person_boxes, np.float32)
    known_faces = np.array([t.face_box for t in tracks if t.identified and t.face_box is not None], np.float32)
    known_bodies = np.array([t.body_box for t in tracks if t.identified and t.body_box is not None], np.float32)

    def identified(box: np.ndarray, known: np.ndarray) -> bool:
        return bool(len(known)) and float(box_iou(box[None], known.reshape(-1, 4)).max()) >= 0.3

    targets: list[HeadTarget] = []
    for box in faces_xyxy:
        if config.min_face_px <= box[2] - box[0] < reliable:
            targets.append(HeadTarget(_box(box), "face", identified(box, known_faces)))
    for body in bodies:
        head = head_box_from_body(body)
        if any(_inside(((f[0] + f[2]) / 2, (f[1] + f[3]) / 2), _grow(head, 2.0)) for f in faces_xyxy):
            continue  # the wide pass found this head (a small one is already a target)
        if config.min_face_px <= head[2] - head[0] < reliable:
            targets.append(HeadTarget(head, "body", identified(body, known_bodies)))
    for tr in tracks:
        if tr.face_box is None:
            continue
        box = np.asarray(tr.face_box, np.float32)
        if len(faces_xyxy) and float(box_iou(box[None], faces_xyxy).max()) >= 0.3:
            continue  # confirmed by the wide pass (a small one is a "face" target)
        if box[2] - box[0] >= config.min_face_px:
            targets.append(HeadTarget(_box(box), "track", tr.identified, tr.track_id))
    return targets


def _box(values: Sequence[float] | np.ndarray) -> Box:
    return float(values[0]), float(values[1]), float(values[2]), float(values[3])


def _grow(box: Sequence[float], factor: float) -> Box:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    hw, hh = (box[2] - box[0]) * factor / 2, (box[3] - box[1]) * factor / 2
    return cx - hw, cy - hh, cx + hw, cy + hh


def crop_window(target: HeadTarget, frame_size: tuple[int, int], config: FoveationConfig
                ) -> tuple[tuple[int, int, int, int], float, tuple[int, int]]:
    """The square window around ``target`` (shifted inside the frame, clipped only when larger than it), the
    scale to the detector input and the input size (w, h)."""
    width, height = frame_size
    body = target.source == "body"
    context = config.body_context if body else config.face_context
    side = max(8.0, context * max(target.width, 1.0))
    cx, cy = target.centre
    x0 = int(round(min(max(cx - side / 2, 0.0), max(width - side, 0.0))))
    y0 = int(round(min(max(cy - side / 2, 0.0), max(height - side, 0.0))))
    x1, y1 = min(width, int(round(x0 + side))), min(height, int(round(y0 + side)))
    scale = min((config.body_input_px if body else config.input_px) / max(x1 - x0, y1 - y0), config.max_upscale)
    size = (max(1, int(round((x1 - x0) * scale))), max(1, int(round((y1 - y0) * scale))))
    return (x0, y0, x1, y1), scale, size


def predicted_ms(size: tuple[int, int], config: FoveationConfig, cost_per_mpx_ms: float | None = None) -> float:
    """The cost model's time for one detector run on an input of ``size`` (w, h), e.g. a window or the wide pass."""
    per_mpx = config.cost_per_mpx_ms if cost_per_mpx_ms is None else cost_per_mpx_ms
    return config.cost_base_ms + per_mpx * canvas_pixels(size) / 1e6


def seen_by(target: HeadTarget, crops: Sequence[Crop], config: FoveationConfig) -> bool:
    """Whether one of ``crops`` looks at ``target`` (its own window, or one that covers it at a usable scale)."""
    return any(c.target is target or _covered(target, c, config) for c in crops)


def canvas_pixels(size: tuple[int, int]) -> int:
    """Pixels the detector really runs on: SCRFD rounds each side up to a multiple of 32."""
    return int(math.ceil(size[0] / 32) * 32 * math.ceil(size[1] / 32) * 32)


def plan_crops(targets: Sequence[HeadTarget], frame_size: tuple[int, int], gaze_xy: tuple[float, float] | None = None,
               config: FoveationConfig = FoveationConfig(), cost_per_mpx_ms: float | None = None,
               budget_ms: float | None = None) -> list[Crop]:
    """Windows for ``targets`` by priority within ``budget_ms`` (default ``config.budget_ms``; module docstring).
    ``gaze_xy`` is the wearer's gaze in frame pixels (default: the image centre); ``cost_per_mpx_ms`` overrides the
    cost model."""
    if not targets:
        return []
    gx, gy = gaze_xy if gaze_xy is not None else (frame_size[0] / 2, frame_size[1] / 2)
    per_mpx = config.cost_per_mpx_ms if cost_per_mpx_ms is None else cost_per_mpx_ms
    budget = config.budget_ms if budget_ms is None else budget_ms

    def off_gaze(t: HeadTarget) -> float:
        return math.hypot(t.centre[0] - gx, t.centre[1] - gy)

    order = sorted(range(len(targets)), key=lambda i: off_gaze(targets[i]))
    first = order[0]
    ranked = sorted(order, key=lambda i: (0 if i == first else 1 if not targets[i].identified else 2,
                                          off_gaze(targets[i])))
    crops: list[Crop] = []
    spent = 0.0
    for i in ranked:
        target = targets[i]
        if any(_covered(target, c, config) for c in crops):
            continue
        window, scale, size = crop_window(target, frame_size, config)
        cost = predicted_ms(size, config, per_mpx)
        if spent + cost > budget:
            continue  # a cheaper (smaller) window further down may still fit
        rank = 0 if i == first else 1 if not target.identified else 2
        crops.append(Crop(target, window, scale, size, rank, cost))
        spent += cost
    return crops


def _covered(target: HeadTarget, crop: Crop, config: FoveationConfig) -> bool:
    """Does ``crop`` already see ``target`` whole and at a usable scale (face at input within 0.6-1.6x of the
    intended ``input_px / context``)?"""
    x1, y1, x2, y2 = crop.window
    margin = target.width
    if not (x1 + margin <= target.centre[0] <= x2 - margin and y1 + margin <= target.centre[1] <= y2 - margin):
        return False
    if target.source == "body":
        intended = config.body_input_px / config.body_context
    else:
        intended = config.input_px / config.face_context
    return 0.6 * intended <= target.width * crop.scale <= 1.6 * intended
