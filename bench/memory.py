"""Peak memory of this process: the resident-set high-water mark."""

from __future__ import annotations

import resource
import sys


def peak_rss_mb() -> float:
    """Peak resident set size so far in MiB (``getrusage``: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


METHOD = "resource.getrusage(RUSAGE_SELF).ru_maxrss (psutil is not installed; high-water mark of the process)"
