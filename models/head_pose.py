"""Head pose (yaw, pitch, roll) of faces from FSA-Net: the average of the ``fsanet_1x1`` and ``fsanet_var`` models.

Preprocessing (MANIFEST §5, registry ``preprocess``): the face box expanded by 20% of its width/height on
each side, cropped (zero padding where it leaves the image), stretched to 64x64, BGR, ``(x - 127.5) / 128``,
NCHW. Both models have a fixed batch of 1, so faces are a loop (~0.5 ms per model per face).

Project convention for a person's head pose **relative to the camera** (``PersonState.head_yaw_deg`` etc.):

* ``yaw``: 0 = facing the camera; **positive = the face turned toward the image's right** as the camera sees it
  (= toward the wearer's right). FSA-Net's native yaw is the opposite (positive = toward image-left), so it is
  negated here.
* ``pitch``: positive = head tilted up (chin up), FSA-Net's native sign.
* ``roll``: positive = the top of the head tilted toward the image's right, i.e. the face turned clockwise in
  the image (the eye line then slopes down toward image-right), FSA-Net's native sign.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import onnxruntime as ort

from peoplelens.models.assets import AssetManager, default_manager
from peoplelens.models.errors import ModelLoadError
from peoplelens.models.images import ensure_bgr, nchw_blob
from peoplelens.models.registry import AssetSpec, get_spec
from peoplelens.models.sessions import SessionConfig, check_inputs, create_session


@dataclass(frozen=True)
class HeadPoseOptions:
    """Options for the FSA-Net head-pose estimator."""

    models: tuple[str, ...] = ("fsanet_1x1", "fsanet_var")
    expand: float = 0.2  # fraction of the box width/height added on each side before cropping


def fsanet_to_project(angles: np.ndarray) -> np.ndarray:
    """FSA-Net (yaw, pitch, roll) -> the project convention (yaw negated; pitch and roll unchanged)."""
    out = np.array(angles, dtype=np.float32, copy=True)
    out[..., 0] *= -1.0
    return out


def expand_boxes(boxes: np.ndarray, expand: float) -> np.ndarray:
    """Boxes (N,4) xyxy grown by ``expand`` x width (height) on the left and right (top and bottom)."""
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    d = np.stack([-w, -h, w, h], 1) * expand
    return boxes + d


def crop_boxes(image: np.ndarray, boxes: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Each box (N,4) stretched to ``size`` (w, h) with one affine warp; outside the image is black."""
    tw, th = size
    crops = np.zeros((len(boxes), th, tw, 3), np.uint8)
    for i, (x1, y1, x2, y2) in enumerate(np.asarray(boxes, np.float64)):
        sx, sy = tw / max(x2 - x1, 1e-3), th / max(y2 - y1, 1e-3)
        m = np.array([[sx, 0, -x1 * sx], [0, sy, -y1 * sy]])
        crops[i] = cv2.warpAffine(image, m, (tw, th), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return crops


class HeadPoseEstimator:
    """FSA-Net ensemble: ``estimate(bgr, boxes) -> (N, 3)`` yaw, pitch, roll in degrees (project convention)."""

    def __init__(self, sessions: list[ort.InferenceSession], spec: AssetSpec, options: HeadPoseOptions) -> None:
        if not sessions:
            raise ModelLoadError("head pose: no FSA-Net model given")
        for s in sessions:
            check_inputs(s, {"input": 4}, spec.name)
            if s.get_outputs()[0].shape[-1] != 3:
                raise ModelLoadError(f"{spec.name}: expected a (1, 3) yaw/pitch/roll output, "
                                     f"got {s.get_outputs()[0].shape}")
        self.sessions, self.spec, self.options = sessions, spec, options
        self.size = spec.required_preprocess.input_size or (64, 64)

    @classmethod
    def from_registry(
        cls, options: HeadPoseOptions | None = None, manager: AssetManager | None = None,
        session_config: SessionConfig | None = None,
    ) -> HeadPoseEstimator:
        """Build every model named in ``options.models`` (their registry preprocessing must agree)."""
        options = options or HeadPoseOptions()
        manager = manager or default_manager()
        specs = [get_spec(name) for name in options.models]
        if len({s.preprocess for s in specs}) != 1:
            raise ModelLoadError(f"head pose models {options.models} need different preprocessing; use one kind")
        sessions = [create_session(manager.path(s.name), session_config) for s in specs]
        return cls(sessions, specs[0], options)

    def blobs(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """The network inputs (N, 3, 64, 64) for face boxes (N, 4) in ``image``."""
        crops = crop_boxes(ensure_bgr(image), expand_boxes(boxes, self.options.expand), self.size)
        return nchw_blob(crops, self.spec.required_preprocess)

    def estimate_native(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """FSA-Net's own (yaw, pitch, roll) per box, averaged over the models: (N, 3) degrees."""
        boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        if len(boxes) == 0:
            return np.zeros((0, 3), np.float32)
        blobs = self.blobs(image, boxes)
        out = np.zeros((len(boxes), 3), np.float32)
        for session in self.sessions:
            name = session.get_inputs()[0].name
            for i in range(len(boxes)):  # fixed batch of 1
                out[i] += session.run(None, {name: blobs[i : i + 1]})[0].reshape(3)
        return out / len(self.sessions)

    def estimate(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """Head (yaw, pitch, roll) per face box in the project convention (see the module docstring)."""
        return fsanet_to_project(self.estimate_native(image, boxes))
