"""The overlay video: what the pipeline saw, drawn on each frame, plus a top-down People Map panel.

Per track: box (colour = identity state), track id and name/state, the face box, a head-pose arrow (the
person's yaw/pitch relative to the camera), a marker when they look at the wearer, and the distance. Beside
the frame: the People Map seen from above (wearer in the centre, world azimuth 0 = up, rings every 2 m),
everyone's world direction and distance, and the wearer's heading as a cone. A ticker lists recent events.
The frame is scaled to at most ``max_width`` pixels wide; :func:`overlay_size` gives the output size.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
from collections import deque
from pathlib import Path

import cv2
import numpy as np

from peoplelens.core.sounds import colour_bgr
from peoplelens.core.state import AudioEvent, IdentityState, PersonState, ProcessResult
from peoplelens.sim_harness.errors import ReplayError

STATE_COLOURS = {  # BGR
    IdentityState.UNSEEN_FACE: (160, 160, 160),
    IdentityState.IDENTIFYING: (0, 200, 255),
    IdentityState.KNOWN: (60, 220, 60),
    IdentityState.NOT_ENROLLED: (60, 60, 230),
}
PANEL_RANGE_M = 10.0
TICKER_S = 3.0


def _scale_for(width: int, max_width: int) -> float:
    return min(1.0, max_width / float(width))


def overlay_size(width: int, height: int, max_width: int = 960) -> tuple[int, int]:
    """(width, height) of overlay frames for a ``width`` x ``height`` video: scaled frame + square panel."""
    s = _scale_for(width, max_width)
    h = int(round(height * s)) // 2 * 2
    w = int(round(width * s)) // 2 * 2
    return w + h, h


class OverlayRenderer:
    """Draws one composite overlay frame per :class:`ProcessResult`."""

    def __init__(self, width: int, height: int, max_width: int = 960) -> None:
        self.scale = _scale_for(width, max_width)
        self.size = overlay_size(width, height, max_width)
        self.frame_w = self.size[0] - self.size[1]
        self.h = self.size[1]
        self.ticker: deque[tuple[float, str, tuple[int, int, int]]] = deque(maxlen=6)

    def draw(self, image: np.ndarray, result: ProcessResult) -> np.ndarray:
        """The composite BGR image (frame with annotations | People Map panel)."""
        for ev in result.events:
            self.ticker.append((ev.t, _event_text(ev), colour_bgr(str(ev.sound))))
        canvas = np.zeros((self.h, self.size[0], 3), np.uint8)
        frame = cv2.resize(image, (self.frame_w, self.h), interpolation=cv2.INTER_AREA)
        self._draw_tracks(frame, result)
        self._draw_ticker(frame, result.t)
        canvas[:, : self.frame_w] = frame
        canvas[:, self.frame_w:] = self._panel(result)
        return canvas

    def _draw_tracks(self, img: np.ndarray, result: ProcessResult) -> None:
        s = self.scale
        for tv in result.tracks:
            colour = STATE_COLOURS.get(IdentityState(tv.identity), (255, 255, 255))
            label = f"#{tv.track_id} " + (tv.name if tv.name else str(tv.identity).replace("_", " "))
            if tv.distance_m is not None and math.isfinite(tv.distance_m):
                label += f" {tv.distance_m:.1f}m"
            anchor = None
            if tv.box is not None:
                x1, y1, x2, y2 = (int(round(v * s)) for v in tv.box)
                cv2.rectangle(img, (x1, y1), (x2, y2), colour, 2)
                anchor = (x1, max(12, y1 - 4))
            if tv.face_box is not None:
                fx1, fy1, fx2, fy2 = (v * s for v in tv.face_box)
                cv2.rectangle(img, (int(fx1), int(fy1)), (int(fx2), int(fy2)), colour, 1)
                anchor = anchor or (int(fx1), max(12, int(fy1) - 4))
                cx, cy, size = (fx1 + fx2) / 2, (fy1 + fy2) / 2, max(fx2 - fx1, 8.0)
                if tv.head_yaw_deg is not None:
                    pitch = tv.head_pitch_deg or 0.0
                    dx = math.sin(math.radians(tv.head_yaw_deg)) * size  # yaw + = face turned toward image-right
                    dy = -math.sin(math.radians(pitch)) * size
                    cv2.arrowedLine(img, (int(cx), int(cy)), (int(cx + dx), int(cy + dy)), (255, 255, 0), 2,
                                    tipLength=0.3)
                if tv.looking_at_wearer:
                    cv2.circle(img, (int(cx), int(fy1) - 8), 6, (255, 0, 255), -1)
            if anchor is not None:
                cv2.putText(img, label, anchor, cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 3, cv2.LINE_AA)
                cv2.putText(img, label, anchor, cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv2.LINE_AA)

    def _draw_ticker(self, img: np.ndarray, t: float) -> None:
        cv2.putText(img, f"t={t:6.2f}s", (8, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
        recent = [item for item in self.ticker if t - item[0] <= TICKER_S]
        for i, (et, text, colour) in enumerate(reversed(recent)):
            y = self.h - 10 - 16 * i
            cv2.putText(img, f"{et:5.2f} {text}", (8, y), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 3, cv2.LINE_AA)
            cv2.putText(img, f"{et:5.2f} {text}", (8, y), cv2.FONT_HERSHEY_SIMPLEX, 0.42, colour, 1, cv2.LINE_AA)

    def _panel(self, result: ProcessResult) -> np.ndarray:
        n = self.h
        panel = np.full((n, n, 3), 30, np.uint8)
        c = n / 2
        px_per_m = (n / 2 - 14) / PANEL_RANGE_M
        for r_m in range(2, int(PANEL_RANGE_M) + 1, 2):
            cv2.circle(panel, (int(c), int(c)), int(r_m * px_per_m), (70, 70, 70), 1)
        yaw = result.head.yaw_deg
        half = 30.0  # heading cone half-width (deg)
        pts = [(c, c)]
        for a in np.linspace(yaw - half, yaw + half, 13):
            pts.append((c + math.sin(math.radians(a)) * n / 2, c - math.cos(math.radians(a)) * n / 2))
        overlay = panel.copy()
        cv2.fillPoly(overlay, [np.array(pts, np.int32)], (90, 90, 50))
        cv2.addWeighted(overlay, 0.5, panel, 0.5, 0, panel)
        cv2.circle(panel, (int(c), int(c)), 5, (255, 255, 255), -1)
        for p in result.people:
            _draw_person(panel, p, c, px_per_m)
        cv2.putText(panel, f"People Map  head {yaw:+.0f} deg ({result.head.source})", (6, 16),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.42, (230, 230, 230), 1, cv2.LINE_AA)
        return panel


def _draw_person(panel: np.ndarray, p: PersonState, c: float, px_per_m: float) -> None:
    d = p.distance_m if math.isfinite(p.distance_m) else PANEL_RANGE_M
    d = min(d, PANEL_RANGE_M)
    x = c + math.sin(math.radians(p.azimuth_deg)) * d * px_per_m
    y = c - math.cos(math.radians(p.azimuth_deg)) * d * px_per_m
    colour = STATE_COLOURS.get(IdentityState(p.identity), (255, 255, 255))
    if not p.in_view:
        colour = (colour[0] // 2, colour[1] // 2, colour[2] // 2)
    cv2.circle(panel, (int(x), int(y)), 6 if p.in_view else 4, colour, -1)
    label = f"#{p.track_id}" + (f" {p.name}" if p.name else "")
    cv2.putText(panel, label, (int(x) + 7, int(y) + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.38, colour, 1, cv2.LINE_AA)


def _event_text(ev: AudioEvent) -> str:
    who = ev.name or (f"#{ev.track_id}" if ev.track_id is not None else "")
    return f"{ev.sound} {who} {ev.azimuth_deg:+.0f}deg"


_FOURCC: str | None = None


@contextlib.contextmanager
def _quiet_stderr():
    """Silence native stderr (FFmpeg's encoder probing noise) for the duration."""
    try:
        fd = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(fd, 2)
        os.close(fd)


def best_fourcc() -> str:
    """``avc1`` (H.264) when this OpenCV build can encode it, else ``mp4v`` (probed once per process)."""
    global _FOURCC
    if _FOURCC is None:
        _FOURCC = "mp4v"
        with tempfile.TemporaryDirectory() as tmp, _quiet_stderr():
            w = cv2.VideoWriter(str(Path(tmp) / "probe.mp4"), cv2.VideoWriter.fourcc(*"avc1"), 10, (64, 48))
            if w.isOpened():
                _FOURCC = "avc1"
            w.release()
    return _FOURCC


class OverlayWriter:
    """Writes overlay frames to an mp4 with :class:`cv2.VideoWriter`."""

    def __init__(self, path: str | Path, fps: float, size: tuple[int, int]) -> None:
        self.path = Path(path)
        self.size = size
        self.fourcc = best_fourcc()
        self.writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter.fourcc(*self.fourcc), float(fps), size)
        if not self.writer.isOpened():
            raise ReplayError(f"cannot write the overlay video {self.path} ({self.fourcc})")
        self.frames = 0

    def write(self, image: np.ndarray) -> None:
        """Append one frame (must be of :attr:`size`)."""
        self.writer.write(image)
        self.frames += 1

    def close(self) -> None:
        """Finish the file."""
        self.writer.release()
