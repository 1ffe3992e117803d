"""Reading recorded video deterministically: frames with the video's own timestamps, in order, in memory.

Timestamps come from ``cv2.CAP_PROP_POS_MSEC`` (the presentation time of the frame just decoded); when the
container does not give usable ones (missing, not increasing) the frame index / fps is used instead, so the
same file always yields the same ``(index, timestamp)`` sequence.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from peoplelens.core.types import Frame
from peoplelens.sim_harness.errors import ReplayError

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm")


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video."""

    path: str
    width: int
    height: int
    fps: float
    frame_count: int  # as reported by the container (may be approximate)

    @property
    def duration_s(self) -> float:
        """Duration from the reported frame count and frame rate."""
        return self.frame_count / self.fps if self.fps > 0 else 0.0


def probe_video(path: str | Path) -> VideoInfo:
    """Open ``path``, decode its first frame and return its properties; :class:`ReplayError` if unreadable."""
    path = Path(path)
    if not path.is_file():
        raise ReplayError(f"video not found: {path}")
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise ReplayError(f"cannot open video {path} (not a video file, or a codec OpenCV lacks)")
        ok, image = cap.read()
        if not ok or image is None or image.size == 0:
            raise ReplayError(f"video {path} has no decodable frame (corrupt or truncated file?)")
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        if not math.isfinite(fps) or fps <= 0 or fps > 1000:
            fps = 30.0
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        return VideoInfo(str(path), int(image.shape[1]), int(image.shape[0]), fps, max(count, 1))
    finally:
        cap.release()


class VideoFrames:
    """Iterates the frames of a video file as :class:`peoplelens.core.types.Frame` (timestamps in
    seconds of video time).

    ``max_frames`` limits how many frames are read. Decoding errors in the middle of a file end the iteration
    early; :attr:`frames_read` tells how many were read (the harness reports it).
    """

    def __init__(self, path: str | Path, max_frames: int | None = None) -> None:
        self.info = probe_video(path)
        self.max_frames = max_frames
        self.frames_read = 0

    @property
    def expected_frames(self) -> int:
        """How many frames the iteration will probably yield (for progress bars)."""
        n = self.info.frame_count
        return min(n, self.max_frames) if self.max_frames else n

    def __iter__(self) -> Iterator[Frame]:
        cap = cv2.VideoCapture(self.info.path)
        if not cap.isOpened():
            raise ReplayError(f"cannot open video {self.info.path}")
        fps = self.info.fps
        last_t = -math.inf
        use_index = False
        index = 0
        try:
            while self.max_frames is None or index < self.max_frames:
                ok, image = cap.read()
                if not ok or image is None:
                    break
                t = float(cap.get(cv2.CAP_PROP_POS_MSEC)) / 1000.0
                if use_index or not math.isfinite(t) or t <= last_t or (index > 0 and t == 0.0):
                    use_index = True  # the container's clock is unusable: fall back to index / fps for good
                    t = index / fps
                last_t = t
                self.frames_read = index + 1
                yield Frame(np.ascontiguousarray(image), t, index)
                index += 1
        finally:
            cap.release()


def list_videos(folder: str | Path) -> list[Path]:
    """The video files directly inside ``folder`` or below it, sorted; :class:`ReplayError` if there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ReplayError(f"not a folder: {folder}")
    videos = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
    if not videos:
        raise ReplayError(f"no video files ({', '.join(VIDEO_SUFFIXES)}) in {folder}")
    return videos

