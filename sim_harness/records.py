"""Plain-data records of a replay (JSON-ready): per frame (head, tracks, timings, latency) and per event."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from peoplelens.core.state import ProcessResult, TrackView


def _f(x: float | None, digits: int = 4) -> float | None:
    if x is None:
        return None
    x = float(x)
    return round(x, digits) if math.isfinite(x) else None


def track_record(tv: TrackView) -> dict[str, Any]:
    """A TrackView as a JSON-ready dict."""
    return {
        "track": tv.track_id,
        "box": [_f(v, 1) for v in tv.box] if tv.box is not None else None,
        "face_box": [_f(v, 1) for v in tv.face_box] if tv.face_box is not None else None,
        "identity": str(tv.identity), "name": tv.name,
        "head_yaw_deg": _f(tv.head_yaw_deg, 1), "head_pitch_deg": _f(tv.head_pitch_deg, 1),
        "both_ears_visible": bool(tv.both_ears_visible), "looking_at_wearer": bool(tv.looking_at_wearer),
        "distance_m": _f(tv.distance_m, 2),
    }


@dataclass
class FrameRecord:
    """What one frame produced, minus pixels."""

    index: int
    t: float  # seconds into the video
    head_yaw_deg: float
    head_pitch_deg: float
    head_source: str
    tracks: list[dict[str, Any]]
    people: list[dict[str, Any]]
    timings: dict[str, float]
    latency_s: float  # wall time from frame available to result produced
    events: int

    @classmethod
    def from_result(cls, result: ProcessResult, t0: float, latency_s: float) -> FrameRecord:
        """Build from a :class:`ProcessResult`."""
        people = [{"track": p.track_id, "identity": str(p.identity), "name": p.name,
                   "azimuth_deg": _f(p.azimuth_deg, 1), "distance_m": _f(p.distance_m, 2), "in_view": p.in_view}
                  for p in result.people]
        return cls(result.frame_index, round(result.t - t0, 4), float(result.head.yaw_deg),
                   float(result.head.pitch_deg), result.head.source, [track_record(tv) for tv in result.tracks],
                   people, {k: float(v) for k, v in result.timings.items()}, float(latency_s), len(result.events))

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


@dataclass
class ReplayResult:
    """Everything a replay measured (the outputs are written from this)."""

    video: str
    source: str
    width: int
    height: int
    fps: float
    frames: list[FrameRecord] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    wall_s: float = 0.0
    dropped_frames: int = 0
    frames_undecodable: int = 0  # skipped: the video's data for them is damaged
    realtime: bool = False
    people_enrolled: list[str] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    skipped_outputs: dict[str, str] = field(default_factory=dict)  # output -> why it was not written
    audio: dict[str, Any] = field(default_factory=dict)

    @property
    def fps_achieved(self) -> float:
        """Frames processed per wall-clock second."""
        return len(self.frames) / self.wall_s if self.wall_s > 0 else 0.0

    def events_by_sound(self) -> dict[str, int]:
        """Event counts per sound."""
        out: dict[str, int] = {}
        for e in self.events:
            out[e["sound"]] = out.get(e["sound"], 0) + 1
        return dict(sorted(out.items()))

    def on_last_frame(self) -> dict[str, Any]:
        """Who the last frame shows (for a photo: who is in it): the names it carries, and how many others there are
        by identity state (not enrolled, still identifying, no face seen)."""
        tracks = self.frames[-1].tracks if self.frames else []
        others: dict[str, int] = {}
        for t in tracks:
            if not t["name"]:
                others[t["identity"]] = others.get(t["identity"], 0) + 1
        return {"named": sorted(t["name"] for t in tracks if t["name"]), "others": dict(sorted(others.items()))}

    def summary(self) -> dict[str, Any]:
        """The JSON summary (``summary.json``): counts, speed, latency percentiles, metrics, outputs."""
        import numpy as np

        lat = np.array([f.latency_s for f in self.frames]) if self.frames else np.zeros(0)
        ev_lat = np.array([e["latency_s"] for e in self.events]) if self.events else np.zeros(0)
        stages: dict[str, list[float]] = {}
        for f in self.frames:
            for k, v in f.timings.items():
                stages.setdefault(k, []).append(v)
        return {
            "video": self.video, "source": self.source, "size": [self.width, self.height], "video_fps": self.fps,
            "frames": len(self.frames), "duration_s": self.frames[-1].t if self.frames else 0.0,
            "wall_s": round(self.wall_s, 3), "fps_achieved": round(self.fps_achieved, 2),
            "realtime": self.realtime, "dropped_frames": self.dropped_frames,
            "frames_undecodable": self.frames_undecodable,
            "events": len(self.events), "events_by_sound": self.events_by_sound(),
            "people_enrolled": self.people_enrolled, "on_last_frame": self.on_last_frame(),
            "frame_latency_ms": _percentiles(lat * 1000),
            "event_latency_ms": _percentiles(ev_lat * 1000),
            "stage_ms_mean": {k: round(1000 * float(np.mean(v)), 2) for k, v in sorted(stages.items())},
            "metrics": self.metrics, "outputs": self.outputs, "skipped_outputs": self.skipped_outputs,
            "audio": self.audio,
        }


def describe_last_frame(on_last_frame: dict[str, Any]) -> str:
    """``on_last_frame`` of a summary in words: "barack_obama, joe_biden named; 1 not enrolled"."""
    others = ", ".join(f"{n} {state.replace('_', ' ')}" for state, n in on_last_frame["others"].items())
    return f"{', '.join(on_last_frame['named']) or 'nobody'} named" + (f"; {others}" if others else "")


def _percentiles(x: Any) -> dict[str, float | None]:
    import numpy as np

    if len(x) == 0:
        return {"p50": None, "p90": None, "p99": None, "max": None}
    p = np.percentile(x, [50, 90, 99])
    return {"p50": round(float(p[0]), 2), "p90": round(float(p[1]), 2), "p99": round(float(p[2]), 2),
            "max": round(float(np.max(x)), 2)}
