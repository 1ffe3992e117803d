"""The event log: every cue the experiences chose, with why, as JSON lines (``events.jsonl``) or log records.

One line per event::

    {"t": 12.345, "track": 3, "name": "ana", "sound": "name", "azimuth_deg": -21.5, "elevation_deg": 0.0,
     "distance_m": 2.1, "reason": "known (ana), 2.1 m <= 4 m, both ears visible", "priority": 60,
     "pitch_semitones": 0.0, "frame_t": 12.345, "extra": {}}

``t`` is the event time minus the log's ``t0`` (seconds into the video when ``t0`` is the first frame's time);
``name`` is null unless the person is known. Non-finite numbers are written as null (JSON has no NaN).
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import IO, Any

from peoplelens.core.errors import PeopleLensError
from peoplelens.core.state import AudioEvent

REQUIRED_KEYS = ("t", "track", "name", "sound", "azimuth_deg", "distance_m", "reason")


class EventLogError(PeopleLensError):
    """The event log cannot be written, or a log file is not a valid event log."""


def _num(x: float | None, digits: int = 4) -> float | None:
    if x is None:
        return None
    x = float(x)
    return round(x, digits) if math.isfinite(x) else None


def _plain(obj: Any) -> Any:
    """JSON-safe copy of ``extra`` values (numpy scalars, enums, tuples, non-finite floats)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, int):
        return obj
    if hasattr(obj, "item"):
        return _plain(obj.item())
    if isinstance(obj, float):
        return _num(obj, 6)
    return str(obj)


def event_record(event: AudioEvent, t0: float = 0.0) -> dict[str, Any]:
    """The JSON-ready record of one event (the keys in :data:`REQUIRED_KEYS` and a few more)."""
    return {
        "t": _num(event.t - t0),
        "track": event.track_id,
        "name": event.name,
        "sound": str(event.sound),
        "azimuth_deg": _num(event.azimuth_deg, 2),
        "elevation_deg": _num(event.elevation_deg, 2),
        "distance_m": _num(event.distance_m, 3),
        "reason": event.reason,
        "priority": event.priority,
        "pitch_semitones": _num(event.pitch_semitones, 3),
        "frame_t": _num(event.frame_t - t0) if event.frame_t is not None else None,
        "extra": _plain(event.extra),
    }


def event_line(event: AudioEvent, t0: float, latency_s: float, frame_index: int) -> dict[str, Any]:
    """The ``events.jsonl`` record that replay and the live runtime (``--events``) write: :func:`event_record` plus
    the frame's index and the latency from frame capture to the event (replay: to the processor's result; live: to
    the audio sink)."""
    rec = event_record(event, t0)
    rec["frame_index"] = frame_index
    rec["latency_s"] = round(latency_s, 6)
    return rec


class EventLog:
    """Writes every event as one JSON line to a file and/or a Python logger (``logging.INFO``)."""

    def __init__(self, path: str | Path | None = None, logger: logging.Logger | None = None, t0: float = 0.0,
                 append: bool = False) -> None:
        self.path = Path(path) if path is not None else None
        self.logger = logger
        self.t0 = t0
        self.count = 0
        self._fh: IO[str] | None = None
        if self.path is not None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fh = open(self.path, "a" if append else "w", encoding="utf-8")  # noqa: SIM115 - held open
            except OSError as exc:
                raise EventLogError(f"cannot write the event log {self.path}: {exc}") from exc

    def log(self, event: AudioEvent, frame_index: int | None = None, latency_s: float | None = None) -> dict[str, Any]:
        """Log one event; returns its record (:func:`event_line`'s when the frame index and latency are given)."""
        if frame_index is not None and latency_s is not None:
            record = event_line(event, self.t0, latency_s, frame_index)
        else:
            record = event_record(event, self.t0)
        line = json.dumps(record, ensure_ascii=False, allow_nan=False)
        if self._fh is not None:
            self._fh.write(line + "\n")
            self._fh.flush()
        if self.logger is not None:
            self.logger.info("%s", line)
        self.count += 1
        return record

    def log_many(self, events: list[AudioEvent]) -> None:
        """Log several events in order."""
        for event in events:
            self.log(event)

    def close(self) -> None:
        """Close the file (the logger is left alone)."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_event_log(path: str | Path) -> list[dict[str, Any]]:
    """Read an ``events.jsonl`` file back, checking every line is a JSON object with the required keys."""
    records: list[dict[str, Any]] = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise EventLogError(f"cannot read the event log {path}: {exc}") from exc
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EventLogError(f"{path}:{number}: not JSON ({exc.msg})") from exc
        if not isinstance(record, dict):
            raise EventLogError(f"{path}:{number}: expected a JSON object")
        missing = [k for k in REQUIRED_KEYS if k not in record]
        if missing:
            raise EventLogError(f"{path}:{number}: missing key(s) {', '.join(missing)}")
        records.append(record)
    return records
