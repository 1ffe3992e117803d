"""Head orientation from an IMU: a recorded sidecar (CSV or JSONL) or live samples, interpolated to any time.

Sidecar format (``t`` in seconds of video time, strictly increasing; angles in degrees, conventions of
:mod:`peoplelens.core.state`)::

    t,yaw_deg,pitch_deg,roll_deg          {"t": 0.0, "yaw_deg": 0.0, "pitch_deg": 0.0, "roll_deg": 0.0}
    0.00,0.0,0.0,0.0                      {"t": 0.04, "yaw_deg": 1.2, "pitch_deg": 0.0, "roll_deg": 0.0}

``pitch_deg`` and ``roll_deg`` may be left out (0). Yaw is unwrapped before interpolating, so a turn through
+-180 deg interpolates the short way round.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from peoplelens.core.errors import PeopleLensError
from peoplelens.core.state import HeadOrientation, wrap_deg

COLUMNS = ("t", "yaw_deg", "pitch_deg", "roll_deg")
REQUIRED = ("t", "yaw_deg")


class ImuSidecarError(PeopleLensError):
    """An IMU sidecar (or a live sample) is missing columns, holds non-numbers or goes back in time."""


def _unwrap_next(prev_unwrapped: float, yaw: float) -> float:
    """The representative of ``yaw`` closest to the previous unwrapped yaw."""
    return prev_unwrapped + wrap_deg(yaw - prev_unwrapped)


class ImuTrack:
    """Time-stamped head orientations (from a sidecar or pushed live) that can be sampled at any time.

    Outside the recorded span the first/last sample is held. ``max_samples`` bounds memory for live use.
    """

    def __init__(self, samples: Iterable[HeadOrientation] = (), max_samples: int | None = None) -> None:
        self.max_samples = max_samples
        self._t: list[float] = []
        self._yaw: list[float] = []  # unwrapped
        self._pitch: list[float] = []
        self._roll: list[float] = []  # unwrapped
        for s in samples:
            self.push(s)

    def __len__(self) -> int:
        return len(self._t)

    @property
    def start(self) -> float | None:
        """Time of the first sample (None when empty)."""
        return self._t[0] if self._t else None

    @property
    def end(self) -> float | None:
        """Time of the last sample (None when empty)."""
        return self._t[-1] if self._t else None

    @property
    def last(self) -> HeadOrientation | None:
        """The latest sample (yaw and roll wrapped), or None when empty."""
        if not self._t:
            return None
        return HeadOrientation(wrap_deg(self._yaw[-1]), self._pitch[-1], wrap_deg(self._roll[-1]), self._t[-1], "imu")

    def clear(self) -> None:
        """Forget every sample (the IMU's clock or reference changed: a new segment starts)."""
        for arr in (self._t, self._yaw, self._pitch, self._roll):
            arr.clear()

    def push(self, sample: HeadOrientation) -> None:
        """Append a live sample; its timestamp must be later than the previous one."""
        values = (sample.timestamp, sample.yaw_deg, sample.pitch_deg, sample.roll_deg)
        if not all(math.isfinite(float(v)) for v in values):
            raise ImuSidecarError(f"IMU sample has a non-finite value: {sample}")
        t = float(sample.timestamp)
        if self._t and t <= self._t[-1]:
            raise ImuSidecarError(f"IMU time must increase: {t} after {self._t[-1]}")
        if self._t:
            self._yaw.append(_unwrap_next(self._yaw[-1], sample.yaw_deg))
            self._roll.append(_unwrap_next(self._roll[-1], sample.roll_deg))
        else:
            self._yaw.append(wrap_deg(sample.yaw_deg))
            self._roll.append(wrap_deg(sample.roll_deg))
        self._t.append(t)
        self._pitch.append(float(sample.pitch_deg))
        if self.max_samples is not None and len(self._t) > self.max_samples:
            drop = len(self._t) - self.max_samples
            for arr in (self._t, self._yaw, self._pitch, self._roll):
                del arr[:drop]

    def at(self, t: float) -> HeadOrientation:
        """The orientation at time ``t`` (linear interpolation; yaw and roll the short way round)."""
        if not self._t:
            raise ImuSidecarError("no IMU samples yet")
        ts = self._t
        yaw = float(np.interp(t, ts, self._yaw))
        pitch = float(np.interp(t, ts, self._pitch))
        roll = float(np.interp(t, ts, self._roll))
        return HeadOrientation(wrap_deg(yaw), pitch, wrap_deg(roll), float(t), "imu")

    def covers(self, t: float, slack_s: float = 0.25) -> bool:
        """Whether ``t`` lies within the recorded span (plus ``slack_s`` either side). One sample covers
        ``slack_s`` either side of itself; beyond that :meth:`at` would only hold a stale value."""
        return bool(self._t) and self._t[0] - slack_s <= t <= self._t[-1] + slack_s

    def samples(self) -> list[HeadOrientation]:
        """All samples (yaw/roll wrapped)."""
        return [HeadOrientation(wrap_deg(y), p, wrap_deg(r), t, "imu")
                for t, y, p, r in zip(self._t, self._yaw, self._pitch, self._roll, strict=True)]


def _parse_row(row: dict, where: str) -> HeadOrientation:
    missing = [c for c in REQUIRED if c not in row or row[c] is None or str(row[c]).strip() == ""]
    if missing:
        raise ImuSidecarError(f"{where}: missing column(s) {', '.join(missing)} (need t,yaw_deg[,pitch_deg,roll_deg])")
    values = {}
    for c in COLUMNS:
        raw = row.get(c)
        if raw is None or str(raw).strip() == "":
            values[c] = 0.0
            continue
        try:
            values[c] = float(raw)
        except (TypeError, ValueError):
            raise ImuSidecarError(f"{where}: {c}={raw!r} is not a number") from None
        if not math.isfinite(values[c]):
            raise ImuSidecarError(f"{where}: {c}={raw!r} is not finite")
    return HeadOrientation(values["yaw_deg"], values["pitch_deg"], values["roll_deg"], values["t"], "imu")


def _rows(path: Path) -> Iterable[tuple[dict, str]]:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".jsonl", ".json", ".ndjson") or text.lstrip().startswith("{"):
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ImuSidecarError(f"{path}:{n}: not valid JSON ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise ImuSidecarError(f"{path}:{n}: expected a JSON object with keys t, yaw_deg, ...")
            yield obj, f"{path}:{n}"
        return
    reader = csv.DictReader(line for line in text.splitlines() if line.strip() and not line.startswith("#"))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise ImuSidecarError(f"{path}: header {header} lacks column(s) {', '.join(missing)}; "
                              f"expected t,yaw_deg,pitch_deg,roll_deg")
    reader.fieldnames = header
    for n, row in enumerate(reader, 2):
        yield row, f"{path}:{n}"


def load_imu_sidecar(path: str | Path) -> ImuTrack:
    """Read a CSV or JSONL IMU sidecar into an :class:`ImuTrack` (errors name the file and line)."""
    path = Path(path)
    if not path.is_file():
        raise ImuSidecarError(f"IMU sidecar not found: {path}")
    track = ImuTrack()
    for row, where in _rows(path):
        sample = _parse_row(row, where)
        if track.end is not None and sample.timestamp <= track.end:
            raise ImuSidecarError(f"{where}: time {sample.timestamp} does not increase (previous {track.end})")
        track.push(sample)
    if len(track) == 0:
        raise ImuSidecarError(f"{path}: no IMU samples")
    return track


def write_imu_sidecar(path: str | Path, samples: Iterable[HeadOrientation]) -> Path:
    """Write samples as a CSV (``.csv``) or JSONL (any other suffix) sidecar; returns the path."""
    path = Path(path)
    rows = [(s.timestamp, wrap_deg(s.yaw_deg), s.pitch_deg, wrap_deg(s.roll_deg)) for s in samples]
    with path.open("w", encoding="utf-8", newline="") as fh:
        if path.suffix.lower() == ".csv":
            fh.write(",".join(COLUMNS) + "\n")
            for r in rows:
                fh.write(",".join(f"{v:.6f}" for v in r) + "\n")
        else:
            for r in rows:
                fh.write(json.dumps(dict(zip(COLUMNS, (round(v, 6) for v in r), strict=True))) + "\n")
    return path
