"""The benchmark's videos: found under a folder, decoded with OpenCV and fitted inside 640x480.

Frames are downscaled (aspect kept, never upscaled) to fit in ``MAX_SIZE``: the goal is stated for 640x480
with up to 6 people, so the 1920x1080 pedestrian clip becomes 640x360; 640x360 and 480x480 clips stay native.
With an ``aspect`` (e.g. 4:3) each frame's centre is cropped to it first: the pedestrian clip then runs at exactly
640x480 (its 1440x1080 centre).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from peoplelens.bench.errors import BenchError

MAX_SIZE = (640, 480)
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm")


@dataclass(frozen=True)
class VideoInfo:
    """A video's container properties and the size the benchmark processes it at."""

    path: Path
    native_size: tuple[int, int]  # (width, height)
    size: tuple[int, int]
    fps: float
    frame_count: int
    crop: tuple[int, int, int, int] | None = None  # (x, y, width, height) of the native frame kept, or all of it

    @property
    def name(self) -> str:
        """File name without the folder."""
        return self.path.name


def fit_size(width: int, height: int, max_size: tuple[int, int] = MAX_SIZE) -> tuple[int, int]:
    """(width, height) scaled down to fit inside ``max_size`` with the aspect kept; never scaled up."""
    scale = min(1.0, max_size[0] / width, max_size[1] / height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def find_videos(folder: Path) -> list[Path]:
    """Every video file under ``folder`` (recursively), sorted; :class:`BenchError` when there is none."""
    if not folder.is_dir():
        raise BenchError(f"--videos {folder} is not a folder")
    found = sorted(p for p in folder.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file())
    if not found:
        raise BenchError(f"no video files ({', '.join(VIDEO_SUFFIXES)}) under {folder}")
    return found


def parse_aspect(text: str) -> tuple[int, int]:
    """``"4:3"`` -> (4, 3); :class:`BenchError` for anything else."""
    try:
        w, h = (int(v) for v in text.split(":"))
    except ValueError:
        raise BenchError(f"aspect {text!r}: write it as W:H, e.g. 4:3") from None
    if w <= 0 or h <= 0:
        raise BenchError(f"aspect {text!r}: both sides must be positive")
    return w, h


def centre_crop(width: int, height: int, aspect: tuple[int, int]) -> tuple[int, int, int, int]:
    """The largest centred (x, y, w, h) of a ``width`` x ``height`` frame with the ``aspect`` (w:h)."""
    target = aspect[0] / aspect[1]
    if width / height > target:  # too wide: keep the full height
        w = max(1, round(height * target))
        return (width - w) // 2, 0, w, height
    h = max(1, round(width / target))
    return 0, (height - h) // 2, width, h


def probe(path: Path, aspect: tuple[int, int] | None = None) -> VideoInfo:
    """Open ``path`` and read its properties (with the centre crop to ``aspect`` when given); :class:`BenchError`
    when it cannot be decoded."""
    cap = cv2.VideoCapture(str(path))
    try:
        ok, image = cap.read() if cap.isOpened() else (False, None)
        if not ok or image is None:
            raise BenchError(f"cannot decode {path} (not a video, or a codec OpenCV lacks)")
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        if not math.isfinite(fps) or not 1.0 <= fps <= 240.0:
            fps = 30.0
        h, w = image.shape[:2]
        crop = centre_crop(w, h, aspect) if aspect is not None else None
        kept = (crop[2], crop[3]) if crop is not None else (w, h)
        return VideoInfo(path, (w, h), fit_size(*kept), fps, int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0), crop)
    finally:
        cap.release()


def decode_frames(info: VideoInfo, max_frames: int | None = None) -> Iterator[tuple[int, np.ndarray, float]]:
    """Yield ``(index, BGR frame at info.size, decode seconds)``; decode time includes the crop and resize."""
    cap = cv2.VideoCapture(str(info.path))
    try:
        index = 0
        while max_frames is None or index < max_frames:
            t0 = time.perf_counter()
            ok, image = cap.read()
            if not ok or image is None:
                return
            if info.crop is not None:
                x, y, w, h = info.crop
                image = image[y : y + h, x : x + w]
            if (image.shape[1], image.shape[0]) != info.size:
                image = cv2.resize(image, info.size, interpolation=cv2.INTER_AREA)
            yield index, image, time.perf_counter() - t0
            index += 1
    finally:
        cap.release()
