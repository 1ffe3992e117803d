"""Typed containers that every stage speaks (in the spirit of roboflow ``supervision.Detections``).

All coordinates are in the pixel frame of the image they were detected in: boxes are ``x1, y1, x2, y2``
(float32), keypoints ``(N, K, 2)`` in ``x, y`` order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from peoplelens.core.errors import FrameError


def _as_boxes(boxes: np.ndarray | list) -> np.ndarray:
    arr = np.asarray(boxes, dtype=np.float32)
    if arr.size == 0:
        return np.zeros((0, 4), dtype=np.float32)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"boxes must have shape (N, 4), got {arr.shape}")
    return arr


@dataclass
class Detections:
    """N detections in one image: boxes, scores and optional keypoints / class ids / embeddings.

    Index it with an int, slice, boolean mask or index array to get a sub-set (always a ``Detections``).
    """

    boxes: np.ndarray
    scores: np.ndarray
    keypoints: np.ndarray | None = None
    class_ids: np.ndarray | None = None
    embeddings: np.ndarray | None = None
    data: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.boxes = _as_boxes(self.boxes)
        self.scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
        n = len(self.boxes)
        if len(self.scores) != n:
            raise ValueError(f"{n} boxes but {len(self.scores)} scores")
        for name in ("keypoints", "class_ids", "embeddings"):
            value = getattr(self, name)
            if value is not None and len(value) != n:
                raise ValueError(f"{name} has {len(value)} rows for {n} boxes")
        for name, value in self.data.items():
            if len(value) != n:
                raise ValueError(f"data[{name!r}] has {len(value)} rows for {n} boxes")

    @classmethod
    def empty(cls, num_keypoints: int | None = None) -> Detections:
        """An empty set (optionally with a (0, K, 2) keypoint array)."""
        kps = None if num_keypoints is None else np.zeros((0, num_keypoints, 2), np.float32)
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), keypoints=kps)

    def __len__(self) -> int:
        return len(self.boxes)

    def __getitem__(self, index: int | slice | np.ndarray | list) -> Detections:
        if isinstance(index, int | np.integer):
            index = [int(index)]
        pick = (lambda a: None if a is None else a[index])  # noqa: E731
        return Detections(
            boxes=self.boxes[index],
            scores=self.scores[index],
            keypoints=pick(self.keypoints),
            class_ids=pick(self.class_ids),
            embeddings=pick(self.embeddings),
            data={k: v[index] for k, v in self.data.items()},
        )

    @property
    def widths(self) -> np.ndarray:
        """Box widths in pixels."""
        return self.boxes[:, 2] - self.boxes[:, 0]

    @property
    def heights(self) -> np.ndarray:
        """Box heights in pixels."""
        return self.boxes[:, 3] - self.boxes[:, 1]

    @property
    def centers(self) -> np.ndarray:
        """Box centres, shape (N, 2)."""
        return np.stack([(self.boxes[:, 0] + self.boxes[:, 2]) / 2, (self.boxes[:, 1] + self.boxes[:, 3]) / 2], 1)

    @property
    def areas(self) -> np.ndarray:
        """Box areas in square pixels."""
        return self.widths * self.heights

    @property
    def required_keypoints(self) -> np.ndarray:
        """The keypoints (N, K, 2) of detections that always carry them (a face detector's); a ``ValueError``
        for detections made without any."""
        if self.keypoints is None:
            raise ValueError("these detections carry no keypoints")
        return self.keypoints


def box_intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise intersection areas of two box arrays (N, 4) and (M, 4) in xyxy; returns (N, M)."""
    a = _as_boxes(a)
    b = _as_boxes(b)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    return np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of two box arrays (N, 4) and (M, 4) in xyxy; returns (N, M)."""
    a = _as_boxes(a)
    b = _as_boxes(b)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), dtype=np.float32)
    inter = box_intersection(a, b)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0).astype(np.float32)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression; returns the kept indices, best score first."""
    boxes = _as_boxes(boxes)
    order = np.argsort(-np.asarray(scores))
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        if order.size == 1:
            break
        ious = box_iou(boxes[i : i + 1], boxes[order[1:]])[0]
        order = order[1:][ious <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


@dataclass(frozen=True)
class Frame:
    """One camera frame: BGR uint8 pixels (H, W, 3), capture time (seconds, monotonic or video time) and index.

    Checked when made, so a wrong frame fails here with :class:`FrameError` saying how to fix it, not deep inside
    OpenCV or a model."""

    image: np.ndarray
    timestamp: float
    index: int = 0

    def __post_init__(self) -> None:
        check_frame_image(self.image)
        if isinstance(self.timestamp, bool) or not isinstance(self.timestamp, int | float | np.integer | np.floating) \
                or not math.isfinite(float(self.timestamp)):
            raise FrameError(f"a frame's timestamp must be a finite number of seconds, got {self.timestamp!r}")
        if isinstance(self.index, bool) or not isinstance(self.index, int | np.integer) or self.index < 0:
            raise FrameError(f"a frame's index must be an integer >= 0, got {self.index!r}")

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return int(self.image.shape[1]), int(self.image.shape[0])


def check_frame_image(image: object) -> np.ndarray:
    """``image`` if it is a non-empty (H, W, 3) uint8 array, else :class:`FrameError` with the fix."""
    if not isinstance(image, np.ndarray):
        raise FrameError(f"a frame's image must be a numpy array (H, W, 3) uint8, got {type(image).__name__}")
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        raise FrameError(f"a frame must be a colour BGR image (H, W, 3), got a grey image of shape {image.shape}; "
                         "convert it with cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)")
    if image.ndim == 3 and image.shape[2] == 4:
        raise FrameError(f"a frame must be a BGR image (H, W, 3), got 4 channels {image.shape}; "
                         "drop alpha with cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)")
    if image.ndim != 3 or image.shape[2] != 3:
        raise FrameError(f"a frame must be a BGR image of shape (H, W, 3), got shape {image.shape}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise FrameError(f"a frame must have at least one pixel, got shape {image.shape}")
    if image.dtype != np.uint8:
        raise FrameError(f"a frame's pixels must be uint8 (0-255), got {image.dtype}; convert with "
                         "np.clip(image, 0, 255).astype(np.uint8) (scale 0-1 floats by 255 first)")
    return image
