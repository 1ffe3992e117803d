"""The perception stage's per-frame work, shared by both run modes: run the processor, time it, count it."""

from __future__ import annotations

import logging
import time

from peoplelens.core.state import ProcessResult
from peoplelens.core.types import Frame
from peoplelens.lens.runtime.capture import CapturedFrame
from peoplelens.lens.runtime.protocol import Processor
from peoplelens.lens.runtime.stats import RuntimeStats

log = logging.getLogger(__name__)


def process_captured(processor: Processor, item: CapturedFrame, stats: RuntimeStats) -> ProcessResult | None:
    """Process one captured frame; records frame age, processing time and sub-stage timings.

    A processor exception is logged in one line and counted as ``perception.errors`` (None is returned), so
    one bad frame never stops the stage.
    """
    start = time.time()
    stats.observe_s("frame_age_at_processing", start - item.t_capture)
    t0 = time.perf_counter()
    try:
        result = processor.process(Frame(item.image, item.t_frame, item.index), item.head)
    except Exception as exc:  # a processor bug must not kill the runtime
        stats.count("perception", "errors")
        log.error("perception: processor failed on frame %d: %s: %s", item.index, type(exc).__name__, exc)
        return None
    stats.observe_s("processing", time.perf_counter() - t0)
    stats.count("perception", "frames_processed")
    for name, seconds in result.timings.items():
        stats.observe_s(f"stage.{name}", seconds)
    return result
