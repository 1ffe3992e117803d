"""Decoding images from files or bytes with clear errors (never a crash deep inside OpenCV)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from peoplelens.models.errors import ImageDecodeError

if TYPE_CHECKING:
    from peoplelens.models.registry import Preprocess


def decode_image(data: bytes, what: str = "image") -> np.ndarray:
    """Decode encoded image bytes (JPEG, PNG, ...) to a BGR uint8 array, in memory only."""
    if not data:
        raise ImageDecodeError(f"{what} is empty")
    buf = np.frombuffer(data, dtype=np.uint8)
    image = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        raise ImageDecodeError(f"{what} is not a decodable image (JPEG/PNG/BMP/WebP expected)")
    return image


def load_image(path: str | Path) -> np.ndarray:
    """Read an image file to a BGR uint8 array, with a clear error when it is missing or not an image."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImageDecodeError(f"image file not found: {path}") from None
    except IsADirectoryError:
        raise ImageDecodeError(f"{path} is a directory, not an image") from None
    return decode_image(data, what=str(path))


def ensure_bgr(image: np.ndarray) -> np.ndarray:
    """Check an in-memory frame is HxWx3 uint8 (grey images are expanded); raise ImageDecodeError otherwise."""
    if not isinstance(image, np.ndarray) or image.size == 0:
        raise ImageDecodeError("expected a non-empty numpy image array")
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ImageDecodeError(f"expected an HxWx3 BGR image, got shape {image.shape}")
    if image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.dtype != np.uint8:
        raise ImageDecodeError(f"expected uint8 pixels, got {image.dtype}")
    return image


def letterbox(image: np.ndarray, canvas_wh: tuple[int, int], pad: float) -> tuple[np.ndarray, float]:
    """Scale ``image`` to fit a (w, h) canvas keeping its aspect, in the top-left corner, the rest ``pad``;
    returns the canvas and the scale (divide network coordinates by it to get image pixels)."""
    h, w = image.shape[:2]
    cw, ch = canvas_wh
    scale = min(cw / w, ch / h)
    nw, nh = max(1, int(round(w * scale))), max(1, int(round(h * scale)))
    canvas = np.full((ch, cw, 3), pad, dtype=np.uint8)
    canvas[:nh, :nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR if scale < 1 else cv2.INTER_CUBIC)
    return canvas, scale


def nchw_blob(images: np.ndarray, preprocess: Preprocess) -> np.ndarray:
    """Network input (N, 3, H, W) float32 from BGR uint8 ``images`` (H, W, 3) or (N, H, W, 3):
    ``(pixel - mean) / std`` after the registry's colour conversion, in one OpenCV pass (``blobFromImages``)."""
    images = np.asarray(images)
    batch = [images] if images.ndim == 3 else list(images)
    if not batch:
        return np.zeros((0, 3, 0, 0), np.float32)
    mean = float(preprocess.mean)
    return cv2.dnn.blobFromImages(batch, 1.0 / float(preprocess.std), None, (mean, mean, mean),
                                  swapRB=preprocess.color == "RGB", crop=False)
