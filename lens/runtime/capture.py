"""Frame sources (camera index, video file, network stream) and the IMU sidecar of a recorded video.

``open_source`` checks the source can deliver a first frame, so a missing camera or an unreadable file is a
clear :class:`CaptureError` at start-up. Recorded video is paced to its own frame rate in real-time mode
(and may loop); cameras and streams deliver at their own pace. The IMU sidecar (CSV with a header line, or
JSON lines) has ``t, yaw_deg, pitch_deg, roll_deg`` per row, ``t`` in seconds of video time; the head
orientation at a frame is interpolated (yaw unwrapped first) at the frame's time in the video and stamped with the
frame's own time (``t_frame``, which keeps growing when a video loops), so a frame and its IMU sample always share
one clock. Beyond the sidecar's ends (more than :data:`IMU_SLACK_S`) a frame has no IMU sample: the IMU has
stopped, and the world frame falls back to the video's own rotation rather than hold a stale heading.
"""

from __future__ import annotations

import csv
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from peoplelens.core.state import HeadOrientation, wrap_deg
from peoplelens.lens.runtime.errors import CaptureError, ImuError
from peoplelens.lens.runtime.stats import RuntimeStats
from peoplelens.models.images import is_image_file

IMU_SLACK_S = 0.25  # a sidecar's first / last sample still stands for frames this close to it


@dataclass
class CapturedFrame:
    """One frame as capture hands it on: pixels, video/camera time, index, wall-clock capture time, head."""

    image: np.ndarray
    t_frame: float
    index: int
    t_capture: float
    head: HeadOrientation | None = None


log = logging.getLogger(__name__)


class FrameSource:
    """An opened camera, video file or stream; iterate to get ``(image, t_frame, index)``."""

    def __init__(self, camera: int | None = None, video: str | None = None, loop: bool = False,
                 resolution: tuple[int, int] | None = None) -> None:
        if (camera is None) == (video is None):
            raise CaptureError("give exactly one of a camera index or a video file / stream URL")
        self.is_file = video is not None and "://" not in video
        self.loop = loop and self.is_file
        self.description = f"camera {camera}" if camera is not None else str(video)
        if self.is_file and not Path(str(video)).is_file():
            raise CaptureError(f"video file not found: {video}")
        if self.is_file and is_image_file(str(video)):  # one frame, then the end: not what a live run is for
            raise CaptureError(f"{video} is a photo, not a video: `peoplelens replay {video}` shows a photo to the "
                               "pipeline as a still scene (--still-seconds)")
        self._target: int | str = camera if camera is not None else str(video)
        self.resolution = resolution if camera is not None else None  # a live camera is asked for this size
        self.cap = self._open()
        ok, first = self.cap.read()
        if not ok or first is None:
            self.cap.release()
            what = "camera" if camera is not None else "video/stream"
            raise CaptureError(f"{what} {self.description} delivered no frame (missing, busy or unreadable)")
        self._first: np.ndarray | None = first
        fps = float(self.cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if 1.0 <= fps <= 240.0 else 30.0
        self.width, self.height = int(first.shape[1]), int(first.shape[0])
        if self.resolution is not None and (self.width, self.height) != tuple(self.resolution):
            log.warning("capture: asked %s for %dx%d, it delivers %dx%d (set [camera] width/height to a size it "
                        "supports)", self.description, *self.resolution, self.width, self.height)

    def _open(self) -> cv2.VideoCapture:
        level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # we raise our own clear error
        try:
            cap = cv2.VideoCapture(self._target)
        finally:
            cv2.utils.logging.setLogLevel(level)
        if not cap.isOpened():
            raise CaptureError(f"cannot open {self.description}")
        if self.resolution is not None:  # native resolution: the far field needs the camera's full frame
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, float(self.resolution[0]))
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, float(self.resolution[1]))
        return cap

    def frames(self) -> Iterator[tuple[np.ndarray, float, int, float]]:
        """Yield ``(image, t_frame, index, t_in_video)``; t_frame keeps growing across loops."""
        index, offset, local = 0, 0.0, 0
        t0 = time.monotonic()
        while True:
            if self._first is not None:
                img, self._first = self._first, None
            else:
                ok, img = self.cap.read()
                if not ok or img is None:
                    if not self.loop or local == 0:
                        return
                    offset += local / self.fps
                    local = 0
                    self.cap.release()
                    self.cap = self._open()
                    continue
            t_local = local / self.fps if self.is_file else time.monotonic() - t0
            yield img, offset + t_local, index, t_local
            index += 1
            local += 1

    def release(self) -> None:
        """Release the capture device/file."""
        self.cap.release()


class ImuTrack:
    """A recorded head-orientation track, interpolated at any time."""

    def __init__(self, t: np.ndarray, yaw: np.ndarray, pitch: np.ndarray, roll: np.ndarray) -> None:
        order = np.argsort(t)
        self.t = t[order]
        self.yaw = np.unwrap(np.radians(yaw[order]))
        self.pitch, self.roll = pitch[order], roll[order]

    @classmethod
    def load(cls, path: str | Path) -> ImuTrack:
        """Read a CSV (header ``t,yaw_deg,pitch_deg,roll_deg``) or JSONL sidecar; :class:`ImuError` if bad."""
        path = Path(path)
        if not path.is_file():
            raise ImuError(f"IMU file not found: {path}")
        rows: list[dict] = []
        try:
            with path.open(newline="") as fh:
                if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
                    rows = [json.loads(line) for line in fh if line.strip()]
                else:
                    rows = list(csv.DictReader(fh))
            cols = {k: np.array([float(r[k]) for r in rows]) for k in ("t", "yaw_deg", "pitch_deg")}
            cols["roll_deg"] = np.array([float(r.get("roll_deg") or 0.0) for r in rows])
        except (KeyError, ValueError, TypeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ImuError(f"IMU file {path} is malformed (need t,yaw_deg,pitch_deg[,roll_deg]): {exc}") from exc
        if not rows:
            raise ImuError(f"IMU file {path} has no samples")
        if not all(np.isfinite(v).all() for v in cols.values()):
            raise ImuError(f"IMU file {path} has non-finite values")
        return cls(cols["t"], cols["yaw_deg"], cols["pitch_deg"], cols["roll_deg"])

    def covers(self, t: float, slack_s: float = IMU_SLACK_S) -> bool:
        """Whether ``t`` lies within the track's span (plus ``slack_s`` either side)."""
        return bool(self.t[0] - slack_s <= t <= self.t[-1] + slack_s)

    def at(self, t: float) -> HeadOrientation:
        """The interpolated head orientation at time ``t`` (clamped to the track's ends)."""
        yaw = wrap_deg(float(np.degrees(np.interp(t, self.t, self.yaw))))
        return HeadOrientation(yaw, float(np.interp(t, self.t, self.pitch)), float(np.interp(t, self.t, self.roll)),
                               timestamp=t, source="imu")


def capture_loop(source: FrameSource, emit: Callable[[CapturedFrame], None], stop: threading.Event,
                 stats: RuntimeStats, realtime: bool = True, imu: ImuTrack | None = None) -> None:
    """Read frames until the source ends or ``stop`` is set, pacing recorded video in real time.

    ``emit`` hands each frame on (it must not block for long: latest-frame-wins is its job).
    """
    start = time.monotonic()
    try:
        for img, t_frame, index, t_local in source.frames():
            if stop.is_set():
                break
            if realtime and source.is_file:
                delay = start + t_frame - time.monotonic()
                if delay > 0 and stop.wait(delay):
                    break
            stats.count("capture", "frames_read")
            head = replace(imu.at(t_local), timestamp=t_frame) if imu is not None and imu.covers(t_local) else None
            emit(CapturedFrame(img, t_frame, index, time.time(), head))
    finally:
        source.release()
