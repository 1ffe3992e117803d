"""Process life-cycle shared by the run modes: stop on SIGINT/SIGTERM, periodic reports, final stats."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from peoplelens.lens.runtime.stats import PeriodicReporter, RuntimeStats


def emit_report(text: str) -> None:
    """Print a stats report to stderr (stdout carries the event lines)."""
    print(text, file=sys.stderr, flush=True)


@contextmanager
def running(stats: RuntimeStats, report_every_s: float, stats_path: str | None) -> Iterator[threading.Event]:
    """Yield a stop event set by SIGINT/SIGTERM; on exit print the final report and write ``stats_path``."""
    stop = threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda signum, _frame: stop.set())
    reporter = PeriodicReporter(stats, report_every_s, stop, emit_report)
    reporter.start()
    try:
        yield stop
    finally:
        stop.set()
        reporter.join(timeout=1.0)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        emit_report("final " + stats.report())
        if stats_path:
            stats.write(stats_path)
