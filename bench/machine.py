"""Which machine a benchmark ran on, saved with its figures: timings mean little without the CPU they came from
(the same code runs 20-30 % apart on two 2-core cloud machines), and the load average says whether it was busy."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name (Linux: ``/proc/cpuinfo``; elsewhere what :func:`platform.processor` says)."""
    try:
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def load_average() -> float:
    """The 1-minute load average (0.0 where the system has none)."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return 0.0


def machine_info() -> dict:
    """CPU model and count, platform, Python and ONNX Runtime versions, and the load average now
    (``load_avg_1m_start``; a benchmark adds ``load_avg_1m_end`` when it ends)."""
    import onnxruntime as ort

    return {"cpu": cpu_model(), "cpu_count": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "onnxruntime": ort.__version__, "load_avg_1m_start": load_average()}
