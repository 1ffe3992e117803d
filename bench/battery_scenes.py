"""The battery benchmark's scenes, made from the shared recordings at a chosen frame size.

* **busy**: the royal-opera walkway clip (up to 9 people, walking, a hand-held camera);
* **quiet**: one person looking at the camera (``talking_heads/liveportrait_s18.mp4``, a still camera);
* **empty**: an empty, still room: the upper part of the walkway's first frame (arches, the sign, the doors: no
  person in it), with fresh sensor noise on every frame (a still camera's frames are never identical);
* **step in**: the empty room, then the quiet scene's person appears in the middle of it (the camera still), for
  the delay before a person who steps into view is bumped.

Frames are centre-cropped to the size's aspect and resized (area-averaged down, linear up): the quiet clip is
1280x720, so its 1920x1080 frames are enlarged 1.5x.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from statistics import NormalDist

import cv2
import numpy as np

from peoplelens.bench.videos import centre_crop, decode_frames, probe

BUSY = "videos/royal_opera_pedestrians_1080p25.mp4"
QUIET = "videos/talking_heads/liveportrait_s18.mp4"
EMPTY_REGION = (0.21, 0.0, 0.42, 0.42)  # x, y, width, height of the walkway's first frame (fractions): no one
NOISE_SIGMA = 2.0  # grey levels of sensor noise on the empty room's frames


@dataclass
class Scene:
    """Frames (BGR, the target size) at ``fps``; ``enters`` is the index of the first frame with a person in it
    (step-in scenes only)."""

    name: str
    frames: list[np.ndarray]
    fps: float
    enters: int | None = None

    @property
    def seconds(self) -> float:
        """The scene's length in seconds of live use."""
        return len(self.frames) / self.fps


def fit(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Centre-crop ``image`` to the aspect of ``size`` (width, height), then resize it to ``size``."""
    x, y, cw, ch = centre_crop(image.shape[1], image.shape[0], size)
    interpolation = cv2.INTER_AREA if cw > size[0] else cv2.INTER_LINEAR
    return cv2.resize(image[y:y + ch, x:x + cw], size, interpolation=interpolation)


def read_video(path: Path, max_frames: int | None = None) -> tuple[list[np.ndarray], float]:
    """Every frame of a video (BGR, its own size) and its frame rate (:func:`~peoplelens.bench.videos.probe`:
    :class:`BenchError` when it cannot be decoded)."""
    info = probe(path)
    frames = [image for _, image, _ in decode_frames(replace(info, size=info.native_size), max_frames)]
    return frames, info.fps


def busy(data: Path, size: tuple[int, int]) -> Scene:
    """The walkway clip at ``size``."""
    frames, fps = read_video(data / BUSY)
    return Scene("busy", [fit(f, size) for f in frames], fps)


def quiet(data: Path, size: tuple[int, int]) -> Scene:
    """One person at ``size``."""
    frames, fps = read_video(data / QUIET)
    return Scene("quiet", [fit(f, size) for f in frames], fps)


def empty_room_image(data: Path, size: tuple[int, int]) -> np.ndarray:
    """The empty room at ``size`` (no noise)."""
    first, _ = read_video(data / BUSY, max_frames=1)
    ih, iw = first[0].shape[:2]
    x, y, w, h = EMPTY_REGION
    region = first[0][round(y * ih):round((y + h) * ih), round(x * iw):round((x + w) * iw)]
    return fit(region, size)


#: whole grey levels of Gaussian noise indexed by a uniform byte (the normal quantiles of 256 equal bins): a
#: byte per pixel and a table look-up cost ~4 ms a 640x480 frame where float normal draws cost ~27 ms
_NOISE_LEVELS = np.array([round(NOISE_SIGMA * NormalDist().inv_cdf((k + 0.5) / 256)) for k in range(256)], np.int16)


def _noisy(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``image`` plus sensor noise of ``NOISE_SIGMA`` grey levels, saturated to uint8."""
    noise = cv2.LUT(rng.integers(0, 256, image.shape, dtype=np.uint8), _NOISE_LEVELS)
    return cv2.add(image, noise, dtype=cv2.CV_8U)


def empty(data: Path, size: tuple[int, int], seconds: float, fps: float = 30.0, seed: int = 0) -> Scene:
    """The empty, still room for ``seconds``."""
    room, rng = empty_room_image(data, size), np.random.default_rng(seed)
    return Scene("empty", [_noisy(room, rng) for _ in range(round(seconds * fps))], fps)


def step_in(room: np.ndarray, person: list[np.ndarray], empty_s: float, person_s: float, fps: float = 30.0,
            scale: float = 0.45, seed: int = 0) -> Scene:
    """The empty ``room`` (:func:`empty_room_image`) for ``empty_s``, then the ``person`` frames (the quiet scene's,
    :data:`QUIET`; ``scale`` of the frame's width, in the middle) for ``person_s``."""
    rng = np.random.default_rng(seed)
    h, w = room.shape[:2]
    pw = round(w * scale)
    ph = round(pw * person[0].shape[0] / person[0].shape[1])
    x0, y0 = (w - pw) // 2, max(0, (h - ph) // 2)
    frames = [_noisy(room, rng) for _ in range(round(empty_s * fps))]
    enters = len(frames)
    for frame in _cycle(person, round(person_s * fps)):
        image = room.copy()
        image[y0:y0 + ph, x0:x0 + pw] = cv2.resize(frame, (pw, ph), interpolation=cv2.INTER_AREA)[:h - y0]
        frames.append(_noisy(image, rng))
    return Scene("step_in", frames, fps, enters)


def _cycle(frames: list[np.ndarray], n: int) -> Iterator[np.ndarray]:
    for i in range(n):
        yield frames[i % len(frames)]
