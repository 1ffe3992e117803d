"""Foveated face detection: small face-detector crops of full-resolution heads, within a per-frame time budget.

The wide pass sees the whole frame shrunk (face detector at 640 px, body detector at 416 px): on a 1920x1080,
70 deg camera an adult face at 4 m is ~48 px in the frame but ~16 px at 640, where det_500m finds about a
quarter of faces (27 % of 48-px faces pasted into a real 1080p frame), and none below 20 px (7 m for an adult,
6 m for a child). This module looks again, at full resolution, only where a head is or may be:

* **targets** (:func:`head_targets`): a wide-pass face too small for reliable keypoints (narrower than
  ``wide_reliable_px`` at the wide pass's input); the head region of a body box with no wide face in it whose
  expected face is below that size; a track's predicted face box that no wide face confirms (on frames
  where the wide face detector did not run that is every tracked face);
* **plan** (:func:`plan_crops`): one square window per target, ``context`` times the expected face width
  (3 around a face box, 4 around a head guessed from a body box), scaled so the face reaches the detector at
  about 40 pixels (``input_px / context``; at most ``max_upscale`` times enlarged); windows are taken in priority
  order -- the target nearest the wearer's gaze (the image centre), then people not yet identified, then the
  rest, each group nearest the gaze first -- while their predicted cost fits ``budget_ms``. A target whose
  centre already lies in a planned window that sees it at a usable scale needs no window of its own;
* **detect** (:meth:`Foveator.detect`): the face detector runs on each window (full-resolution pixels); its
  boxes and keypoints are mapped back to frame pixels exactly (``x = x_crop / scale + x0``) and merged by NMS;
  :meth:`Foveator.run` replaces the wide faces they re-detect (full-resolution keypoints align better).

Sizes and budget come from ``python -m peoplelens.bench.crop_range`` (det_500m, 1 ORT thread, enrolment
photos pasted into a real 1920x1080 frame; windows placed off-centre by up to half a face and mis-sized by
-20..+25 % as real predictions are): see :class:`FoveationConfig` for the figures behind each default.
``python -m peoplelens.bench.fovea_range`` measures it on the range scenes.

Nothing is written to disk: windows are views of the frame in memory.

Targets, windows, the cost model and the plan are :mod:`peoplelens.lens.perception.foveation_plan` (re-exported
here); this module runs them: the window pixels (:func:`cut`), the detector runs (:class:`Foveator`) and the merge
with the wide pass (:func:`merge_wide_and_foveal`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from peoplelens.core.types import Detections, box_iou, nms
from peoplelens.lens.perception.foveation_plan import (
    FACE_CENTRE_BELOW_TOP,
    FACE_PER_BODY_HEIGHT,
    Box,
    Crop,
    FoveationConfig,
    FoveationError,
    HeadTarget,
    TrackHint,
    canvas_pixels,
    crop_window,
    head_box_from_body,
    head_targets,
    plan_crops,
    predicted_ms,
    seen_by,
)

__all__ = ["FACE_CENTRE_BELOW_TOP", "FACE_PER_BODY_HEIGHT", "Box", "Crop", "FoveationConfig", "FoveationError",
           "FoveationResult", "Foveator", "HeadTarget", "Split", "TrackHint", "crop_window", "cut",
           "head_box_from_body", "head_targets", "merge_wide_and_foveal", "plan_crops", "predicted_ms", "seen_by"]

#: runs ``fn`` over ``items``, possibly in parts on several threads, results in order (``Workers.split``)
Split = Callable[[Sequence[Any], Callable[[Sequence[Any]], list[Any]]], list[Any]]

_DEFAULT_CONFIG = FoveationConfig()  # the shared default of Foveator(config=...), as the plan functions use theirs


def cut(image: np.ndarray, crop: Crop) -> np.ndarray:
    """The detector input of ``crop``: the window's full-resolution pixels resized to ``crop.input_size``."""
    x0, y0, x1, y1 = crop.window
    window = image[y0:y1, x0:x1]
    if (x1 - x0, y1 - y0) == crop.input_size:
        return np.ascontiguousarray(window)
    interpolation = cv2.INTER_AREA if crop.scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(window, crop.input_size, interpolation=interpolation)


@dataclass
class FoveationResult:
    """One frame's foveation: the merged faces (frame pixels), the windows run and what they cost."""

    faces: Detections
    crops: list[Crop] = field(default_factory=list)
    crop_faces: Detections = field(default_factory=lambda: Detections.empty(num_keypoints=5))
    ms: float = 0.0  # wall time of the windows' detector runs (and their resizes)
    targets: int = 0  # heads that wanted a window (planned or not)
    cpu_ms: float = 0.0  # the same, CPU time of this thread


class Foveator:
    """Runs planned windows through a face detector (any object with ``detect(image) -> Detections`` whose
    network input is not smaller than ``config.input_px``; SCRFD never upscales, so it runs at the window's size).
    """

    def __init__(self, detector, config: FoveationConfig = _DEFAULT_CONFIG) -> None:
        self.detector = detector
        self.config = config
        self.cost_per_mpx_ms = config.cost_per_mpx_ms  # adapted to the measured time when cost_adapt > 0

    def targets(self, wide_faces: Detections, person_boxes: np.ndarray | None, tracks: Sequence[TrackHint],
                wide_scale: float = 3.0) -> list[HeadTarget]:
        """The heads worth a window (:func:`head_targets`)."""
        return head_targets(wide_faces, person_boxes, tracks, self.config, wide_scale)

    def plan_targets(self, targets: Sequence[HeadTarget], frame_size: tuple[int, int],
                     gaze_xy: tuple[float, float] | None = None, budget_ms: float | None = None) -> list[Crop]:
        """Windows for ``targets`` within the budget, with the running cost model (:func:`plan_crops`)."""
        return plan_crops(targets, frame_size, gaze_xy, self.config, self.cost_per_mpx_ms, budget_ms)

    def predicted_ms(self, size: tuple[int, int]) -> float:
        """The running cost model's time for one detector input of ``size`` (w, h)."""
        return predicted_ms(size, self.config, self.cost_per_mpx_ms)

    def plan(self, wide_faces: Detections, person_boxes: np.ndarray | None, tracks: Sequence[TrackHint],
             frame_size: tuple[int, int], gaze_xy: tuple[float, float] | None = None,
             budget_ms: float | None = None, wide_scale: float = 3.0) -> tuple[list[Crop], int]:
        """The windows to run this frame and how many heads wanted one."""
        targets = self.targets(wide_faces, person_boxes, tracks, wide_scale)
        return self.plan_targets(targets, frame_size, gaze_xy, budget_ms), len(targets)

    def detect(self, image: np.ndarray, crops: Sequence[Crop], split: Split | None = None
               ) -> tuple[Detections, float, float]:
        """Faces found in ``crops`` (frame pixels, NMS-merged, none cut by a window's border: :meth:`Crop.uncut`;
        ``data["crop"]`` = index of the window), the wall time and the windows' CPU time in ms (each window's thread
        time: a one-thread ONNX session computes in the calling thread). ``split(items, fn)`` may share the windows
        between threads (``Workers.split``). The per-pixel cost model follows the CPU time: the work, which a busy
        machine does not inflate."""

        frame_size = (image.shape[1], image.shape[0])

        def run(part: Sequence[tuple[int, Crop]]) -> list[tuple[Detections, float]]:
            out = []
            for k, crop in part:
                c0 = time.thread_time()
                faces = crop.uncut(crop.to_frame(self.detector.detect(cut(image, crop))), frame_size)
                faces.data["crop"] = np.full(len(faces), k, np.int32)
                out.append((faces, 1000.0 * (time.thread_time() - c0)))
            return out

        t0 = time.perf_counter()
        items = list(enumerate(crops))
        results = split(items, run) if split is not None else run(items)
        ms = 1000.0 * (time.perf_counter() - t0)
        cpu_ms = float(sum(c for _, c in results))
        if crops and self.config.cost_adapt > 0 and self.config.budget_clock == "cpu":
            mpx = sum(canvas_pixels(c.input_size) for c in crops) / 1e6
            measured = max(0.0, cpu_ms - self.config.cost_base_ms * len(crops)) / max(mpx, 1e-6)
            self.cost_per_mpx_ms += self.config.cost_adapt * (measured - self.cost_per_mpx_ms)
        return _merge([f for f, _ in results], self.config.nms_iou), ms, cpu_ms

    def run(self, image: np.ndarray, wide_faces: Detections, person_boxes: np.ndarray | None = None,
            tracks: Sequence[TrackHint] = (), gaze_xy: tuple[float, float] | None = None,
            budget_ms: float | None = None) -> FoveationResult:
        """Plan, detect, and merge with the wide faces: a window face replaces the wide faces it overlaps (IoU
        >= ``merge_iou``); ``faces.data["foveal"]`` marks the faces that came from a window. ``budget_ms``
        overrides ``config.budget_ms`` for this frame."""
        h, w = image.shape[:2]
        crops, wanted = self.plan(wide_faces, person_boxes, tracks, (w, h), gaze_xy, budget_ms)
        crop_faces, ms, cpu_ms = self.detect(image, crops)
        return FoveationResult(merge_wide_and_foveal(wide_faces, crop_faces, self.config.merge_iou),
                               crops, crop_faces, ms, wanted, cpu_ms)


def _merge(parts: list[Detections], iou: float) -> Detections:
    parts = [p for p in parts if len(p)]
    if not parts:
        out = Detections.empty(num_keypoints=5)
        out.data["crop"] = np.zeros(0, np.int32)
        return out
    boxes = np.concatenate([p.boxes for p in parts])
    scores = np.concatenate([p.scores for p in parts])
    kps = np.concatenate([p.keypoints for p in parts])
    crop_ids = np.concatenate([p.data["crop"] for p in parts])
    keep = nms(boxes, scores, iou)
    return Detections(boxes[keep], scores[keep], keypoints=kps[keep], data={"crop": crop_ids[keep]})


def merge_wide_and_foveal(wide: Detections, foveal: Detections, iou: float = 0.3) -> Detections:
    """Wide faces not re-detected by a window, plus every window face; ``data["foveal"]`` 1 for window faces."""
    if len(foveal) and len(wide):
        keep_wide = box_iou(wide.boxes, foveal.boxes).max(axis=1) < iou
        wide = wide[np.flatnonzero(keep_wide)]
    kps_wide = wide.keypoints if wide.keypoints is not None else np.zeros((len(wide), 5, 2), np.float32)
    kps_fov = foveal.keypoints if foveal.keypoints is not None else np.zeros((len(foveal), 5, 2), np.float32)
    return Detections(np.concatenate([wide.boxes, foveal.boxes]), np.concatenate([wide.scores, foveal.scores]),
                      keypoints=np.concatenate([kps_wide, kps_fov]).astype(np.float32),
                      data={"foveal": np.concatenate([np.zeros(len(wide), np.int8), np.ones(len(foveal), np.int8)])})
