"""Counters and latency percentiles for every stage, periodic reports and the ``--stats`` JSON file.

Stats JSON (``--stats FILE.json``), written on exit::

    {
      "version": 1,
      "mode": "run" | "device" | "phone",
      "wall_s": seconds the command ran,
      "counters": {stage: {name: number}},       # e.g. capture.frames_sent, perception.frames_dropped,
                                                 #      perception.rejected, audio.events, seen.published,
                                                 #      world.imu_fallbacks, world.visual_s, clock.epochs
      "latency_ms": {metric: {"count", "mean", "p50", "p90", "p95", "p99", "max"}},
      "info": {...}                              # mode-specific facts (source, endpoints, processor, sessions)
    }

Latency metrics (milliseconds):

* ``end_to_end``: audio-sink time - frame capture time, per audio event (what the wearer waits);
* ``frame_age_at_processing``: processing start - frame capture time (queueing + transport);
* ``processing``: the processor's ``process`` call; ``stage.<name>``: its sub-stage timings;
* ``transport_events``: events message sent by perception -> received by the device (ZeroMQ mode).

All ages use the wall clock (``time.time``): across two machines they are only as good as their clock sync,
except ``end_to_end``, which the device measures against its own capture time.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections import defaultdict, deque
from pathlib import Path
from typing import Any

import numpy as np

PERCENTILES = (50, 90, 95, 99)


class Samples:
    """A bounded window of recent values (the last ``maxlen``) with percentile summaries."""

    def __init__(self, maxlen: int = 20000) -> None:
        self._values: deque[float] = deque(maxlen=maxlen)
        self.count = 0

    def add(self, value: float) -> None:
        """Record one value."""
        self._values.append(float(value))
        self.count += 1

    def summary(self) -> dict[str, float]:
        """``count`` (all time) and ``mean``/``p50``/``p90``/``p95``/``p99``/``max`` of the window."""
        if not self._values:
            return {"count": 0}
        arr = np.fromiter(self._values, dtype=np.float64)
        out: dict[str, float] = {"count": self.count, "mean": round(float(arr.mean()), 3)}
        for p, v in zip(PERCENTILES, np.percentile(arr, PERCENTILES), strict=True):
            out[f"p{p}"] = round(float(v), 3)
        out["max"] = round(float(arr.max()), 3)
        return out


class LogLimiter:
    """Keeps a flood from flooding the log: per key, the first ``burst`` lines, then one line every ``every_s``
    seconds that says how many were left out since the last one."""

    def __init__(self, burst: int = 20, every_s: float = 5.0) -> None:
        self.burst, self.every_s = burst, every_s
        self._lock = threading.Lock()
        self._state: dict[str, tuple[int, float, int]] = {}  # key -> (lines so far, last line time, left out since)

    def allow(self, key: str) -> tuple[bool, int]:
        """Whether to write this line for ``key``, and how many lines were left out before it."""
        now = time.monotonic()
        with self._lock:
            lines, last, skipped = self._state.get(key, (0, -float("inf"), 0))
            if lines < self.burst or now - last >= self.every_s:
                self._state[key] = (lines + 1, now, 0)
                return True, skipped
            self._state[key] = (lines, last, skipped + 1)
            return False, skipped + 1


class RuntimeStats:
    """Thread-safe counters (per stage) and latency samples (milliseconds) for one runtime process."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.started = time.time()
        self._lock = threading.Lock()
        self._counters: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self._samples: dict[str, Samples] = defaultdict(Samples)
        self._sections: dict[str, dict[str, float]] = {}
        self.info: dict[str, Any] = {}
        self.log_limiter = LogLimiter()

    def count(self, stage: str, name: str, n: int = 1) -> None:
        """Add ``n`` to counter ``stage.name``."""
        with self._lock:
            self._counters[stage][name] += n

    def get(self, stage: str, name: str) -> float:
        """The current value of a counter (0 when never counted)."""
        with self._lock:
            if stage in self._sections:
                return self._sections[stage].get(name, 0)
            return self._counters.get(stage, {}).get(name, 0)

    def set_section(self, stage: str, values: dict[str, float]) -> None:
        """Replace the counters of ``stage`` by ``values`` (counters kept elsewhere, e.g. the pipeline's
        ``world`` and ``clock`` health)."""
        with self._lock:
            self._sections[stage] = dict(values)

    def reject(self, stage: str, what: str, logger: logging.Logger | None = None) -> None:
        """Count one rejected message of ``stage`` (``<stage>.rejected``) and log ``"<stage>: <what>"`` (rate
        limited: a flood of bad messages writes a few lines, then one every few seconds with the count)."""
        self.count(stage, "rejected")
        self.note(stage, f"{stage}: {what}", logger)

    def note(self, key: str, line: str, logger: logging.Logger | None = None) -> None:
        """Log ``line`` (warning level, or stderr without a logger) unless lines of ``key`` are flooding."""
        ok, skipped = self.log_limiter.allow(key)
        if not ok:
            return
        if skipped:
            line += f" ({skipped} more like it not logged)"
        if logger is not None:
            logger.warning("%s", line)
        else:
            print(line, file=sys.stderr, flush=True)

    def observe_s(self, metric: str, seconds: float) -> None:
        """Record a duration given in seconds (stored in milliseconds)."""
        with self._lock:
            self._samples[metric].add(seconds * 1000.0)

    def snapshot(self) -> dict[str, Any]:
        """Everything as a JSON-ready dict (the ``--stats`` file format)."""
        with self._lock:
            counters: dict[str, dict[str, float]] = {s: dict(c) for s, c in self._counters.items()}
            counters.update({s: dict(v) for s, v in self._sections.items()})
            latency = {m: s.summary() for m, s in sorted(self._samples.items())}
        return {"version": 1, "mode": self.mode, "wall_s": round(time.time() - self.started, 3),
                "counters": counters, "latency_ms": latency, "info": dict(self.info)}

    def report(self) -> str:
        """A few human-readable lines: counters and the main latency percentiles."""
        snap = self.snapshot()
        lines = [f"[{self.mode} {snap['wall_s']:.1f}s]"]
        for stage, counters in sorted(snap["counters"].items()):
            lines.append(f"  {stage}: " + ", ".join(f"{k}={v}" for k, v in sorted(counters.items())))
        for metric, s in snap["latency_ms"].items():
            if s.get("count"):
                lines.append(f"  {metric} ms: n={s['count']} p50={s['p50']:.1f} p90={s['p90']:.1f} "
                             f"p95={s['p95']:.1f} p99={s['p99']:.1f} max={s['max']:.1f}")
        return "\n".join(lines)

    def write(self, path: str | Path) -> None:
        """Write :meth:`snapshot` as JSON (atomically: temp file then rename)."""
        path = Path(path)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.snapshot(), indent=2))
        tmp.replace(path)


class PeriodicReporter(threading.Thread):
    """Calls ``emit(stats.report())`` every ``every_s`` seconds until ``stop`` is set (0 = never)."""

    def __init__(self, stats: RuntimeStats, every_s: float, stop: threading.Event, emit) -> None:
        super().__init__(name="stats-reporter", daemon=True)
        self.stats, self.every_s, self.stop_event, self.emit = stats, every_s, stop, emit

    def run(self) -> None:
        """The reporting loop."""
        if self.every_s <= 0:
            return
        while not self.stop_event.wait(self.every_s):
            self.emit(self.stats.report())
