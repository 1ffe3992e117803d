"""Summary statistics for timing samples: median / p95 / p99 and a trend test for a growing backlog."""

from __future__ import annotations

import bisect
from collections.abc import Sequence

import numpy as np


def summarize_ms(seconds: Sequence[float]) -> dict[str, float | int | None]:
    """``{"n", "mean_ms", "median_ms", "p95_ms", "p99_ms", "max_ms"}`` of samples given in seconds.

    Percentiles use numpy's default linear interpolation; an empty sample gives ``None`` values and ``n = 0``.
    """
    x = np.asarray(list(seconds), dtype=np.float64) * 1000.0
    if x.size == 0:
        return {"n": 0, "mean_ms": None, "median_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}
    p50, p95, p99 = np.percentile(x, [50, 95, 99])
    return {"n": int(x.size), "mean_ms": float(x.mean()), "median_ms": float(p50), "p95_ms": float(p95),
            "p99_ms": float(p99), "max_ms": float(x.max())}


def trend_ms_per_s(times_s: Sequence[float], values_s: Sequence[float]) -> float | None:
    """Least-squares slope of ``values`` (seconds) against ``times`` (seconds), in ms of value per s of time.

    A latency that keeps growing (a backlog) has a clearly positive slope; ``None`` with fewer than 3 points.
    """
    t = np.asarray(list(times_s), dtype=np.float64)
    v = np.asarray(list(values_s), dtype=np.float64) * 1000.0
    if t.size < 3 or float(np.ptp(t)) == 0.0:
        return None
    slope = np.polyfit(t, v, 1)[0]
    return float(slope)


def fifo_backlog(service_s: Sequence[float], fps: float) -> dict[str, float | int]:
    """Replay measured per-frame service times through a FIFO queue fed at ``fps`` (Lindley's recursion).

    Returns the worst and final waiting backlog (frames waiting) and the end-to-end latency percentiles a
    queue without dropping would give; used to show whether a rate is sustainable without a growing queue.
    """
    period = 1.0 / fps
    finish = 0.0
    latencies: list[float] = []
    backlog: list[int] = []
    finishes: list[float] = []
    for i, s in enumerate(service_s):
        arrival = i * period
        start = max(arrival, finish)
        finish = start + float(s)
        # frames that arrived before this one and are not finished when it arrives (finishes are sorted: FIFO)
        backlog.append(i - bisect.bisect_right(finishes, arrival))
        latencies.append(finish - arrival)
        finishes.append(finish)
    lat = summarize_ms(latencies)
    n = len(latencies)
    return {"fps": float(fps), "frames": n, "max_backlog_frames": int(max(backlog, default=0)),
            "final_backlog_frames": int(backlog[-1]) if backlog else 0,
            "latency_p50_ms": lat["median_ms"] or 0.0, "latency_p95_ms": lat["p95_ms"] or 0.0,
            "latency_p99_ms": lat["p99_ms"] or 0.0,
            "latency_trend_ms_per_s": trend_ms_per_s([i * period for i in range(n)], latencies) or 0.0}
