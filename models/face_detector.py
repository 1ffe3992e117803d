"""Face detectors with 5 keypoints: SCRFD (InsightFace) and YuNet, thin wrappers around one ONNX session.

Preprocessing comes from the registry entry (colour order, mean, std), never from node names. SCRFD
predicts, per anchor centre, distances to the box sides and offsets to the keypoints
(:func:`distances_to_boxes`, :func:`offsets_to_keypoints`; a test checks them against insightface's).

Keypoint order (both models): right eye (image-left), left eye, nose, right mouth corner, left mouth corner,
which is the order of the ArcFace alignment template.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Protocol

import cv2
import numpy as np
import onnxruntime as ort

from peoplelens.core.types import Detections, nms
from peoplelens.models.assets import AssetManager, default_manager
from peoplelens.models.images import ensure_bgr, letterbox, nchw_blob
from peoplelens.models.registry import AssetSpec, get_spec
from peoplelens.models.sessions import SessionConfig, check_inputs, create_session
from peoplelens.models.variants import model_path, resolve_precision


@dataclass(frozen=True)
class FaceDetectorOptions:
    """Options for a face detector.

    ``max_side`` is the longest side of the network input: the frame is scaled to fit and the canvas rounded
    up to multiples of 32 (SCRFD is fully convolutional). Larger finds smaller (farther) faces, at a cost.
    """

    model: str = "det_2.5g"  # "det_2.5g", "det_500m" or "yunet"
    max_side: int = 640
    score_threshold: float = 0.5
    nms_iou: float = 0.4
    max_faces: int = 0  # 0 = no limit
    min_face_px: float = 0.0  # drop boxes narrower than this (in frame pixels)
    #: Retry once on a frame padded by 50% per side when nothing is found: for photos in which one face fills
    #: the frame (SCRFD/YuNet anchors stop at ~400 px faces). Use for enrolment photos, not for video.
    pad_retry: bool = False
    #: "fp32" (the registry file) or "int8" (made by ``peoplelens assets quantize``); None = $PEOPLELENS_PRECISION,
    #: else fp32 (see ``models/variants.py``). ``from_registry`` fills in the precision it loaded
    precision: str | None = None


class FaceDetector(Protocol):
    """Anything that finds faces with 5 keypoints."""

    options: FaceDetectorOptions

    def detect(self, image: np.ndarray) -> Detections:
        """Faces in a BGR image: boxes (N,4), scores (N,), keypoints (N,5,2), in image pixels."""
        ...

    def input_tensor(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        """The network input for a BGR image and the image-to-network scale (what int8 calibration feeds)."""
        ...


def distances_to_boxes(centers: np.ndarray, distances: np.ndarray) -> np.ndarray:
    """Boxes (N, 4) x1,y1,x2,y2 from anchor centres (N, 2) and distances (N, 4) to the left, top, right and
    bottom sides."""
    return np.concatenate([centers - distances[:, :2], centers + distances[:, 2:4]], axis=-1)


def offsets_to_keypoints(centers: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Keypoints (N, K*2) x0,y0,x1,y1,... from anchor centres (N, 2) and offsets (N, K*2)."""
    return (offsets.reshape(len(offsets), -1, 2) + centers[:, None, :2]).reshape(len(offsets), -1)


def _blob(canvas: np.ndarray, spec: AssetSpec) -> np.ndarray:
    return nchw_blob(canvas, spec.required_preprocess)


def _finish(boxes, scores, kps, options: FaceDetectorOptions) -> Detections:
    if len(boxes) == 0:
        return Detections.empty(num_keypoints=5)
    keep = nms(boxes, scores, options.nms_iou)
    det = Detections(boxes[keep], scores[keep], keypoints=kps[keep].reshape(-1, 5, 2))
    if options.min_face_px > 0:
        det = det[det.widths >= options.min_face_px]
    if options.max_faces and len(det) > options.max_faces:
        det = det[np.argsort(-det.areas)[: options.max_faces]]
    return det


def _detect_with_pad_retry(detect_once, image: np.ndarray, options: FaceDetectorOptions) -> Detections:
    faces = detect_once(image)
    if len(faces) or not options.pad_retry:
        return faces
    pad = max(image.shape[:2]) // 2
    padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    faces = detect_once(padded)
    if len(faces):
        faces.boxes -= pad
        faces.keypoints -= pad
    return faces


class ScrfdDetector:
    """SCRFD face detector (det_2.5g / det_500m)."""

    STRIDES = (8, 16, 32)
    ANCHORS_PER_CELL = 2

    def __init__(self, session: ort.InferenceSession, spec: AssetSpec, options: FaceDetectorOptions) -> None:
        check_inputs(session, {"input.1": 4}, spec.name)
        outputs = session.get_outputs()
        if len(outputs) != 9:
            raise_wrong = f"{spec.name}: expected 9 outputs (scores/boxes/keypoints x 3 strides), got {len(outputs)}"
            from peoplelens.models.errors import ModelLoadError

            raise ModelLoadError(raise_wrong)
        self.session, self.spec, self.options = session, spec, options
        self.input_name = session.get_inputs()[0].name
        self.output_names = [o.name for o in outputs]
        self._centers: dict[tuple[int, int, int], np.ndarray] = {}

    @classmethod
    def from_registry(
        cls, options: FaceDetectorOptions | None = None, manager: AssetManager | None = None,
        session_config: SessionConfig | None = None,
    ) -> ScrfdDetector:
        """Build from the registry asset named by ``options.model``."""
        options = options or FaceDetectorOptions()
        spec = get_spec(options.model)
        options = replace(options, precision=resolve_precision(spec.name, options.precision))
        path = model_path(spec.name, options.precision, manager or default_manager())
        return cls(create_session(path, session_config), spec, options)

    def canvas_size(self, width: int, height: int) -> tuple[int, int]:
        """The network input (w, h) for a frame: longest side ``max_side`` (never upscaled), rounded up to 32.

        Upscaling a small image only makes its faces larger than the detector's anchors: a 150 px face crop
        upscaled to 640 is missed, at its own size it is found."""
        scale = min(1.0, self.options.max_side / max(width, height))
        cw = int(math.ceil(width * scale / 32) * 32)
        ch = int(math.ceil(height * scale / 32) * 32)
        return max(cw, 32), max(ch, 32)

    def _anchor_centers(self, h: int, w: int, stride: int) -> np.ndarray:
        key = (h, w, stride)
        if key not in self._centers:
            gh, gw = h // stride, w // stride
            grid = np.stack(list(np.mgrid[:gh, :gw][::-1]), axis=-1).astype(np.float32) * stride
            grid = grid.reshape(-1, 2)
            self._centers[key] = np.repeat(grid, self.ANCHORS_PER_CELL, axis=0)
        return self._centers[key]

    def detect(self, image: np.ndarray) -> Detections:
        """Faces in a BGR image: boxes, scores and 5 keypoints in image pixels."""
        return _detect_with_pad_retry(self._detect_once, ensure_bgr(image), self.options)

    def input_tensor(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        """The network input for a BGR image (letterboxed to :meth:`canvas_size`, registry normalisation) and
        the scale from image to network pixels. Also what int8 calibration feeds the model."""
        h, w = image.shape[:2]
        canvas, scale = letterbox(image, self.canvas_size(w, h), self.spec.required_preprocess.pad_value)
        return _blob(canvas, self.spec), scale

    def _detect_once(self, image: np.ndarray) -> Detections:
        blob, scale = self.input_tensor(image)
        ch, cw = blob.shape[2:]
        outs = self.session.run(self.output_names, {self.input_name: blob})
        n = len(self.STRIDES)
        all_boxes, all_scores, all_kps = [], [], []
        for i, stride in enumerate(self.STRIDES):
            scores = outs[i].reshape(-1)
            centers = self._anchor_centers(ch, cw, stride)
            pos = np.where(scores >= self.options.score_threshold)[0]
            if pos.size == 0:
                continue
            boxes = distances_to_boxes(centers[pos], outs[i + n].reshape(-1, 4)[pos] * stride)
            kps = offsets_to_keypoints(centers[pos], outs[i + 2 * n].reshape(-1, 10)[pos] * stride)
            all_boxes.append(boxes)
            all_scores.append(scores[pos])
            all_kps.append(kps)
        if not all_boxes:
            return Detections.empty(num_keypoints=5)
        boxes = np.concatenate(all_boxes) / scale
        kps = np.concatenate(all_kps) / scale
        return _finish(boxes.astype(np.float32), np.concatenate(all_scores), kps.astype(np.float32), self.options)


class YuNetDetector:
    """YuNet-s face detector (fixed 640x640 input, permissive licence)."""

    STRIDES = (8, 16, 32)

    def __init__(self, session: ort.InferenceSession, spec: AssetSpec, options: FaceDetectorOptions) -> None:
        check_inputs(session, {"input": 4}, spec.name)
        self.session, self.spec, self.options = session, spec, options
        names = [o.name for o in session.get_outputs()]
        self.output_names = [f"{k}_{s}" for k in ("cls", "obj", "bbox", "kps") for s in self.STRIDES]
        missing = [n for n in self.output_names if n not in names]
        if missing:
            from peoplelens.models.errors import ModelLoadError

            raise ModelLoadError(f"{spec.name}: outputs {missing} missing; is this the YuNet model?")
        self.size = spec.required_preprocess.input_size or (640, 640)

    @classmethod
    def from_registry(
        cls, options: FaceDetectorOptions | None = None, manager: AssetManager | None = None,
        session_config: SessionConfig | None = None,
    ) -> YuNetDetector:
        """Build from the registry's YuNet asset."""
        options = options or FaceDetectorOptions(model="yunet", nms_iou=0.3, score_threshold=0.6)
        spec = get_spec("yunet")
        options = replace(options, precision=resolve_precision(spec.name, options.precision))
        path = model_path(spec.name, options.precision, manager or default_manager())
        return cls(create_session(path, session_config), spec, options)

    def detect(self, image: np.ndarray) -> Detections:
        """Faces in a BGR image: boxes, scores and 5 keypoints in image pixels."""
        return _detect_with_pad_retry(self._detect_once, ensure_bgr(image), self.options)

    def input_tensor(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        """The network input for a BGR image (letterboxed to 640x640) and the image-to-network scale."""
        canvas, scale = letterbox(image, self.size, self.spec.required_preprocess.pad_value)
        return _blob(canvas, self.spec), scale

    def _detect_once(self, image: np.ndarray) -> Detections:
        blob, scale = self.input_tensor(image)
        outs = dict(zip(self.output_names, self.session.run(self.output_names, {"input": blob}), strict=True))
        all_boxes, all_scores, all_kps = [], [], []
        w, h = self.size
        for s in self.STRIDES:
            cls_ = np.clip(outs[f"cls_{s}"].reshape(-1), 0, 1)
            obj = np.clip(outs[f"obj_{s}"].reshape(-1), 0, 1)
            score = np.sqrt(cls_ * obj)
            pos = np.where(score >= self.options.score_threshold)[0]
            if pos.size == 0:
                continue
            gw = w // s
            grid = np.stack([pos % gw, pos // gw], axis=1).astype(np.float32)
            bbox = outs[f"bbox_{s}"].reshape(-1, 4)[pos]
            kps = outs[f"kps_{s}"].reshape(-1, 10)[pos].reshape(-1, 5, 2)
            cxy = (grid + bbox[:, :2]) * s
            wh = np.exp(bbox[:, 2:4]) * s
            all_boxes.append(np.concatenate([cxy - wh / 2, cxy + wh / 2], axis=1))
            all_kps.append(((kps + grid[:, None, :]) * s).reshape(-1, 10))
            all_scores.append(score[pos])
        if not all_boxes:
            return Detections.empty(num_keypoints=5)
        boxes = (np.concatenate(all_boxes) / scale).astype(np.float32)
        kps = (np.concatenate(all_kps) / scale).astype(np.float32)
        return _finish(boxes, np.concatenate(all_scores).astype(np.float32), kps, self.options)


def create_face_detector(
    options: FaceDetectorOptions | None = None, manager: AssetManager | None = None,
    session_config: SessionConfig | None = None,
) -> FaceDetector:
    """The face detector named by ``options.model`` ("det_2.5g", "det_500m" or "yunet")."""
    options = options or FaceDetectorOptions()
    if options.model == "yunet":
        return YuNetDetector.from_registry(options, manager, session_config)
    return ScrfdDetector.from_registry(options, manager, session_config)
