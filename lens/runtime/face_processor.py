"""A small real processor: the face detector plus one experiences rule (a bump for faces straight ahead).

For every frame it runs SCRFD (``det_500m`` at ``max_side`` 320 by default), converts each face centre to a
camera direction with a pinhole model of the given horizontal field of view, and emits an
``AudioEvent(sound=BUMP)`` for every face within ``centre_half_width_deg`` of the image centre. A cool-down is
kept per *number of centred faces*: the same count re-fires only after ``cooldown_s``; a new count fires at
once (unless it fired within ``cooldown_s``). When at least one face stays centred for ``seen_after_s``, a
:class:`SeenSignal` is raised once for that episode. It is the runtime's test processor; the product
processor is ``peoplelens.lens.pipeline:build_system``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from peoplelens.core.config import section
from peoplelens.core.state import AudioEvent, HeadOrientation, ProcessResult, SeenSignal, Sound, wrap_deg
from peoplelens.core.types import Frame
from peoplelens.models.face_detector import FaceDetectorOptions, create_face_detector
from peoplelens.models.sessions import SessionConfig

FACE_WIDTH_M = 0.16  # typical adult face width, for a rough distance from the box width


@dataclass
class FaceProcessorConfig:
    """Settings of the ``[face_processor]`` config section."""

    model: str = "det_500m"
    max_side: int = 320
    score_threshold: float = 0.5
    hfov_deg: float = 60.0  # horizontal field of view of the camera
    centre_half_width_deg: float = 10.0  # a face this close to the image centre (horizontally) is "ahead"
    cooldown_s: float = 1.0  # per centred-face count
    seen_after_s: float = 1.0  # a face centred this long raises a seen signal (0 = never)
    threads: int = 1  # ONNX Runtime intra-op threads


class FaceBumpProcessor:
    """Face detection + the "bump when a face is straight ahead" rule (see the module docstring)."""

    def __init__(self, config: FaceProcessorConfig | None = None) -> None:
        self.config = config or FaceProcessorConfig()
        c = self.config
        self.detector = create_face_detector(
            FaceDetectorOptions(model=c.model, max_side=c.max_side, score_threshold=c.score_threshold),
            session_config=SessionConfig(providers=("cpu",), intra_op_threads=c.threads),
        )
        self._last_emit: dict[int, float] = {}
        self._episode_start: float | None = None
        self._episode_signalled = False

    def directions(self, frame: Frame, centres_x: list[float], centres_y: list[float]) -> list[tuple[float, float]]:
        """Camera (azimuth, elevation) in degrees of image points, azimuth + = right, elevation + = up."""
        w, h = frame.size
        f = (w / 2.0) / math.tan(math.radians(self.config.hfov_deg) / 2.0)
        return [(math.degrees(math.atan2(x - w / 2.0, f)), math.degrees(math.atan2(h / 2.0 - y, f)))
                for x, y in zip(centres_x, centres_y, strict=True)]

    def process(self, frame: Frame, head: HeadOrientation | None) -> ProcessResult:
        """Detect faces and apply the bump rule; timings ``detect`` and ``experiences`` in seconds."""
        c = self.config
        head = head or HeadOrientation(0.0, timestamp=frame.timestamp, source="none")
        t0 = time.perf_counter()
        faces = self.detector.detect(frame.image)
        t1 = time.perf_counter()
        w = frame.size[0]
        f = (w / 2.0) / math.tan(math.radians(c.hfov_deg) / 2.0)
        centres = faces.centers
        dirs = self.directions(frame, list(centres[:, 0]), list(centres[:, 1])) if len(faces) else []
        ahead = [i for i, (az, _) in enumerate(dirs) if abs(az) <= c.centre_half_width_deg]
        events: list[AudioEvent] = []
        seen: list[SeenSignal] = []
        t = frame.timestamp
        n = len(ahead)
        if n and t - self._last_emit.get(n, -math.inf) >= c.cooldown_s:
            self._last_emit[n] = t
            for rank, i in enumerate(ahead):
                az, el = dirs[i]
                distance = FACE_WIDTH_M * f / max(float(faces.widths[i]), 1.0)
                events.append(AudioEvent(
                    t=t, sound=Sound.BUMP, track_id=None, azimuth_deg=wrap_deg(head.yaw_deg + az),
                    elevation_deg=head.pitch_deg + el, distance_m=round(distance, 2),
                    reason=f"face {rank + 1}/{n} {az:+.1f} deg from centre (|az| <= {c.centre_half_width_deg:g})",
                    frame_t=t, extra={"frame_index": frame.index, "score": round(float(faces.scores[i]), 3)},
                ))
        if n:
            if self._episode_start is None:
                self._episode_start, self._episode_signalled = t, False
            if c.seen_after_s > 0 and not self._episode_signalled and t - self._episode_start >= c.seen_after_s:
                self._episode_signalled = True
                seen.append(SeenSignal(t=t, track_id=0, name=None, reason=f"face centred {c.seen_after_s:g} s"))
        else:
            self._episode_start = None
        t2 = time.perf_counter()
        return ProcessResult(frame_index=frame.index, t=t, head=head, events=events, seen=seen,
                             timings={"detect": t1 - t0, "experiences": t2 - t1})


def build_face_processor(config: dict[str, Any], people: Any = None) -> FaceBumpProcessor:
    """Factory for the runtime (``--processor peoplelens.lens.runtime.face_processor:build_face_processor``).

    Reads the ``[face_processor]`` section of ``config`` (see :class:`FaceProcessorConfig`); it names nobody, so
    ``people`` is not used.
    """
    return FaceBumpProcessor(section(config, "face_processor", FaceProcessorConfig))
