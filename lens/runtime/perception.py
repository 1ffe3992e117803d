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
    one bad frame never stops the stage. A processor with a ``health()`` (the product's
    :class:`~peoplelens.lens.pipeline.LensSystem`: ``clock.*`` and ``world.*``, how it coped with jumping clocks and
    a misbehaving IMU) has those counters copied into the stats after every frame.
    """
    start = time.time()
    stats.observe_s("frame_age_at_processing", start - item.t_capture)
    t0 = time.perf_counter()
    try:
        result = processor.process(Frame(item.image, item.t_frame, item.index), item.head)
    except Exception as exc:  # a processor bug must not kill the runtime
        stats.count("perception", "errors")
        stats.note("perception.errors", f"perception: processor failed on frame {item.index}: "
                                        f"{type(exc).__name__}: {exc}", log)
        return None
    finally:
        _copy_health(processor, stats)
    stats.observe_s("processing", time.perf_counter() - t0)
    stats.count("perception", "frames_processed")
    for name, seconds in result.timings.items():
        stats.observe_s(f"stage.{name}", seconds)
    return result


def _copy_health(processor: Processor, stats: RuntimeStats) -> None:
    health = getattr(getattr(processor, "inner", processor), "health", None)
    if callable(health):
        for section, values in health().items():
            stats.set_section(section, values)
