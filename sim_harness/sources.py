"""Frame sources for a replay: a recorded video (with an optional IMU sidecar) or a virtual head turn on it; a photo
is a still scene held for a while (:mod:`peoplelens.sim_harness.still`).

Every source yields ``(frame, head)`` pairs, ``head`` being what the IMU would report at the frame's time
(``None`` when there is no IMU: the pipeline then estimates rotation from the video, as live).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from peoplelens.core.state import HeadOrientation
from peoplelens.core.types import Frame
from peoplelens.lens.world import ImuTrack, VirtualHeadTurn, YawScript, load_imu_sidecar, write_imu_sidecar
from peoplelens.models.images import is_image_file
from peoplelens.sim_harness.errors import ReplayError
from peoplelens.sim_harness.still import DEFAULT_STILL_SECONDS, StillFrames
from peoplelens.sim_harness.video import RecordedFrames, VideoFrames, VideoInfo

DEFAULT_WINDOW = (960, 720)


def open_frames(video: str | Path, max_frames: int | None = None,
                still_seconds: float = DEFAULT_STILL_SECONDS) -> RecordedFrames:
    """The frames of ``video``: a video file's, or a photo's held still for ``still_seconds``."""
    if is_image_file(video):
        return StillFrames(video, still_seconds, max_frames)
    return VideoFrames(video, max_frames)


class FrameSource:
    """A recorded video (or a photo held still), optionally with the head orientations of an IMU sidecar."""

    def __init__(self, video: str | Path, imu: str | Path | ImuTrack | None = None,
                 max_frames: int | None = None, still_seconds: float = DEFAULT_STILL_SECONDS) -> None:
        self.frames = open_frames(video, max_frames, still_seconds)
        self.imu = load_imu_sidecar(imu) if isinstance(imu, str | Path) else imu

    @property
    def info(self) -> VideoInfo:
        """The underlying video's properties."""
        return self.frames.info

    @property
    def output_size(self) -> tuple[int, int]:
        """(width, height) of the frames this source yields."""
        return self.info.width, self.info.height

    @property
    def expected_frames(self) -> int:
        """Roughly how many frames will be yielded."""
        return self.frames.expected_frames

    @property
    def description(self) -> str:
        """One line for reports."""
        return f"{Path(self.info.path).name}{self._still()}" + (" + IMU sidecar" if self.imu is not None else "")

    def _still(self) -> str:
        """" (a photo held still for N s)" for a photo, else nothing."""
        if isinstance(self.frames, StillFrames):
            return f" (a photo held still for {self.info.duration_s:g} s)"
        return ""

    def head_at(self, t: float) -> HeadOrientation | None:
        """The IMU head orientation at ``t`` (None without IMU or outside its time range)."""
        if self.imu is not None and self.imu.covers(t):
            return self.imu.at(t)
        return None

    def __iter__(self) -> Iterator[tuple[Frame, HeadOrientation | None]]:
        for frame in self.frames:
            yield frame, self.head_at(frame.timestamp)


def parse_pan(spec: str, duration_s: float) -> YawScript:
    """A yaw script from ``"0:0,2:30,4:-30"`` keyframes or ``"sin:AMPLITUDE:PERIOD"`` (degrees, seconds)."""
    spec = spec.strip()
    if spec.lower().startswith("sin"):
        parts = spec.split(":")
        try:
            amplitude, period = float(parts[1]), float(parts[2])
        except (IndexError, ValueError):
            raise ReplayError(f"bad sinusoid pan {spec!r}; expected sin:AMPLITUDE_DEG:PERIOD_S, e.g. sin:25:4"
                              ) from None
        if period <= 0:
            raise ReplayError(f"pan period must be > 0 s, got {period}")
        return YawScript.sinusoid(amplitude, period, max(duration_s, period))
    return YawScript.parse(spec)


class VirtualPanSource(FrameSource):
    """A scripted head turn on recorded footage: a window pans across each wide frame (in memory).

    The yielded frames are the window images; ``head`` is the scripted orientation (what an IMU would say),
    so the world frame and bumps are exercised on real pixels. :meth:`write_imu` writes the matching sidecar.
    """

    def __init__(self, video: str | Path, pan: str, window: tuple[int, int] = DEFAULT_WINDOW,
                 wide_hfov_deg: float = 90.0, max_frames: int | None = None,
                 still_seconds: float = DEFAULT_STILL_SECONDS) -> None:
        super().__init__(video, None, max_frames, still_seconds)
        info = self.info
        window = (min(window[0], info.width), min(window[1], info.height))
        self.yaw = parse_pan(pan, info.duration_s)
        self.turn = VirtualHeadTurn((info.width, info.height), window, self.yaw, wide_hfov_deg=wide_hfov_deg)
        lo, hi = self.turn.yaw_limits()
        peak_lo, peak_hi = float(np.min(self.yaw.yaws)), float(np.max(self.yaw.yaws))
        if peak_lo < lo - 1e-6 or peak_hi > hi + 1e-6:
            raise ReplayError(f"pan {pan!r} reaches yaw {peak_lo:.1f}..{peak_hi:.1f} deg but a {window[0]}x{window[1]} "
                              f"window fits in {info.width}x{info.height} only for yaw {lo:.1f}..{hi:.1f} deg")
        self.pan_spec = pan
        self.times: list[float] = []

    @property
    def output_size(self) -> tuple[int, int]:
        """The window size."""
        return self.turn.window.width, self.turn.window.height

    @property
    def description(self) -> str:
        """One line for reports."""
        return f"{Path(self.info.path).name}{self._still()} + virtual pan {self.pan_spec!r}"

    def __iter__(self) -> Iterator[tuple[Frame, HeadOrientation | None]]:
        self.times = []
        for frame in self.frames:
            image, head = self.turn.render(frame.image, frame.timestamp)
            self.times.append(frame.timestamp)
            yield Frame(image, frame.timestamp, frame.index), head

    def imu_samples(self, times: list[float] | None = None) -> list[HeadOrientation]:
        """The scripted head orientations at the frame times (after iterating) or at ``times``."""
        return self.turn.imu_samples(self.times if times is None else times)

    def write_imu(self, path: str | Path, times: list[float] | None = None) -> Path:
        """Write the IMU sidecar matching the pan (at the frame times, or ``times``)."""
        samples = self.imu_samples(times)
        if not samples:
            raise ReplayError("no frame times yet: iterate the source first or pass times")
        return write_imu_sidecar(path, samples)
