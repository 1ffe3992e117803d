"""``peoplelens run``: every stage as a thread of one process, joined by latest-frame-wins slots.

capture -> LatestSlot -> perception (processor) -> BoundedQueue -> audio output (+ seen signal).
In real-time mode a frame nobody took before the next one arrived is dropped and counted
(``perception.frames_dropped``); with ``--fast`` capture waits for perception instead (every frame is
processed, no pacing, and a frame's capture time is when perception takes it) - the mode for measuring
processing cost and latency on recorded video.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from typing import Any

import zmq

from peoplelens.core.state import AudioEvent, HeadOrientation, SeenSignal
from peoplelens.lens.runtime.capture import CapturedFrame, FrameSource, ImuTrack, capture_loop
from peoplelens.lens.runtime.lifecycle import running
from peoplelens.lens.runtime.perception import process_captured
from peoplelens.lens.runtime.protocol import DEFAULT_FACTORY, build_processor, close_processor
from peoplelens.lens.runtime.sinks import EventSink, OutputStage, SeenPublisher
from peoplelens.lens.runtime.slots import BoundedQueue, LatestSlot
from peoplelens.lens.runtime.stats import RuntimeStats
from peoplelens.lens.runtime.transport import seen_publisher


@dataclass
class LocalOptions:
    """Options of ``peoplelens run``."""

    camera: int | None = None
    video: str | None = None
    imu: str | None = None
    realtime: bool = True
    loop: bool = False
    duration_s: float = 0.0  # 0 = until the source ends or a signal
    processor: str = DEFAULT_FACTORY
    slow_ms: float = 0.0
    seen_bind: str | None = None
    stats_path: str | None = None
    report_every_s: float = 5.0
    events_path: str | None = None  # write every event as a JSON line (replay's events.jsonl schema)
    resolution: tuple[int, int] | None = None  # asked of a live camera ([camera] width/height)


_Batch = tuple[list[AudioEvent], list[SeenSignal], float, HeadOrientation | None, int]


def run_local(opts: LocalOptions, sink: EventSink, config: dict[str, Any], people: Any = None) -> RuntimeStats:
    """Run all stages until the source ends, ``duration_s`` passes or SIGINT/SIGTERM; returns the stats.
    ``people`` is the enrolled people store the processor names against (None: nobody enrolled)."""
    stats = RuntimeStats("run")
    source = FrameSource(opts.camera, opts.video, loop=opts.loop, resolution=opts.resolution)
    imu = ImuTrack.load(opts.imu) if opts.imu else None
    processor = build_processor(opts.processor, config, opts.slow_ms, people=people)
    ctx: zmq.Context = zmq.Context.instance()
    seen_sock = seen_publisher(ctx, opts.seen_bind) if opts.seen_bind else None
    output = OutputStage(sink, SeenPublisher(seen_sock, stats), stats, opts.events_path)
    stats.info.update(source=source.description, fps=source.fps, processor=opts.processor, realtime=opts.realtime,
                      seen_bind=opts.seen_bind, slow_ms=opts.slow_ms)
    slot: LatestSlot[CapturedFrame] = LatestSlot()
    queue: BoundedQueue[_Batch] = BoundedQueue(256)

    with running(stats, opts.report_every_s, opts.stats_path) as stop:

        def emit(frame: CapturedFrame) -> None:
            if opts.realtime:
                if slot.put(frame):
                    stats.count("perception", "frames_dropped")
            elif not slot.put_wait(frame, stop):
                return
            stats.count("capture", "frames_sent")

        def capture() -> None:
            try:
                capture_loop(source, emit, stop, stats, realtime=opts.realtime, imu=imu)
            finally:
                slot.close()

        def perceive() -> None:
            try:
                while not stop.is_set() and not slot.drained:
                    item = slot.get(0.1)
                    if item is None:
                        continue
                    if not opts.realtime:  # offline: a frame counts as captured when perception takes it
                        item = replace(item, t_capture=time.time())
                    result = process_captured(processor, item, stats)
                    if result is None or not (result.events or result.seen):
                        continue
                    if queue.put((result.events, result.seen, item.t_capture, result.head, item.index)):
                        stats.count("audio", "batches_dropped")
            finally:
                queue.close()

        def play() -> None:
            while not queue.drained:
                batch = queue.get(0.1)
                if batch is not None:
                    output.deliver(*batch)
                elif stop.is_set():
                    break

        threads = [threading.Thread(target=f, name=f.__name__, daemon=True) for f in (capture, perceive, play)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + opts.duration_s if opts.duration_s > 0 else None
        while threads[2].is_alive() and not stop.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                break
            stop.wait(0.1)
        stop.set()
        for t in threads:
            t.join(timeout=5.0)
        output.close()
        close_processor(processor)
        if seen_sock is not None:
            seen_sock.close(0)
    return stats
