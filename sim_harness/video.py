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


#: A replay fails when more than this fraction of a video's frames cannot be decoded.
MAX_UNDECODABLE_FRACTION = 0.1
#: This many failed reads in a row end the video (the end of the stream, or a corrupt tail).
_END_AFTER_FAILED_READS = 100
#: A container's frame count may be off by a frame or two (rounded durations); a shorter tail is not "missing".
_TAIL_SLACK = 2


class RecordedFrames:
    """What every replay frame reader has: the source's :class:`VideoInfo`, a frame limit, and the counts of frames
    read and undecodable; iterating yields :class:`peoplelens.core.types.Frame` s."""

    def __init__(self, info: VideoInfo, max_frames: int | None = None) -> None:
        self.info = info
        self.max_frames = max_frames
        self.frames_read = 0
        self.frames_undecodable = 0

    @property
    def expected_frames(self) -> int:
        """How many frames the iteration will probably yield (for progress bars)."""
        n = self.info.frame_count
        return min(n, self.max_frames) if self.max_frames else n

    def __iter__(self) -> Iterator[Frame]:
        raise NotImplementedError


class VideoFrames(RecordedFrames):
    """Iterates the frames of a video file as :class:`peoplelens.core.types.Frame` (timestamps in
    seconds of video time).

    ``max_frames`` limits how many frames are read. A frame that cannot be decoded in the middle of a file is
    skipped and counted (:attr:`frames_undecodable`; the following frames keep their own timestamps and
    indices), as are frames the container promises but that never come (a truncated or corrupt tail). When more
    than ``max_undecodable_fraction`` of the frames are undecodable the iteration ends with a
    :class:`ReplayError`: the result would not describe the video.
    """

    def __init__(self, path: str | Path, max_frames: int | None = None,
                 max_undecodable_fraction: float = MAX_UNDECODABLE_FRACTION) -> None:
        super().__init__(probe_video(path), max_frames)
        self.max_undecodable_fraction = max_undecodable_fraction

    def __iter__(self) -> Iterator[Frame]:
        cap = cv2.VideoCapture(self.info.path)
        if not cap.isOpened():
            raise ReplayError(f"cannot open video {self.info.path}")
        fps = self.info.fps
        last_t = -math.inf
        use_index = False
        index = -1  # the position of the last frame yielded
        failed = 0  # failed reads since the last good frame
        self.frames_read = self.frames_undecodable = 0
        try:
            while self.max_frames is None or index + 1 < self.max_frames:
                ok, image = cap.read()
                if not ok or image is None or image.size == 0:
                    failed += 1
                    if failed >= _END_AFTER_FAILED_READS:
                        break
                    continue
                t = float(cap.get(cv2.CAP_PROP_POS_MSEC)) / 1000.0
                skipped = failed
                if use_index or not math.isfinite(t) or t <= last_t or (index >= 0 and t == 0.0):
                    use_index = True  # the container's clock is unusable: fall back to index / fps for good
                    t = (index + 1 + skipped) / fps
                elif failed and last_t > -math.inf:  # frames lost in a gap: the clock says how many
                    skipped = max(skipped, round((t - last_t) * fps) - 1)
                self.frames_undecodable += skipped
                index += 1 + skipped
                failed = 0
                last_t = t
                self.frames_read += 1
                yield Frame(np.ascontiguousarray(image), t, index)
        finally:
            cap.release()
        ended = self.max_frames is None or index + 1 < self.max_frames
        if ended and self.info.frame_count - (index + 1) > _TAIL_SLACK:
            self.frames_undecodable += self.info.frame_count - (index + 1)
        self._check_enough_decoded()

    def _check_enough_decoded(self) -> None:
        total = self.frames_read + self.frames_undecodable
        if total and self.frames_undecodable > self.max_undecodable_fraction * total:
            raise ReplayError(f"{self.info.path}: {self.frames_undecodable} of {total} frames cannot be decoded "
                              f"(more than {self.max_undecodable_fraction:.0%}); the file is damaged. Repair or "
                              "re-encode it (e.g. ffmpeg -err_detect ignore_err -i IN -c:v libx264 OUT)")


def list_videos(folder: str | Path) -> list[Path]:
    """The video files directly inside ``folder`` or below it, sorted; :class:`ReplayError` if there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ReplayError(f"not a folder: {folder}")
    videos = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
    if not videos:
        raise ReplayError(f"no video files ({', '.join(VIDEO_SUFFIXES)}) in {folder}")
    return videos

