"""The three runs on one video: as fast as possible (per-stage times, identity, audio render), real-time paced
(frames arrive at a fixed rate, latest frame wins, capture -> event latency) and the insightface baseline."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, cast

import numpy as np

from peoplelens.bench.baseline import Baseline
from peoplelens.bench.videos import VideoInfo, decode_frames
from peoplelens.core.state import AudioEvent, HeadOrientation, IdentityState, wrap_deg
from peoplelens.core.types import Frame

#: the product's stages, in frame order (``ProcessResult.timings`` keys; see peoplelens.lens.pipeline.system)
PIPELINE_STAGES = ("clock", "schedule", "detect_faces", "detect_people", "motion", "world", "bodies", "foveate",
                   "face_quality", "track", "face_attributes", "embed", "identify", "place", "people_map",
                   "experiences")


@dataclass
class FastRun:
    """Our pipeline on every frame as fast as it goes (decode done in the same thread, timed separately)."""

    stages: dict[str, list[float]] = field(default_factory=dict)  # stage -> seconds per frame (or per event)
    process_s: list[float] = field(default_factory=list)  # LensSystem.process wall time per frame
    named: dict[int, list[str]] = field(default_factory=dict)  # frame -> names given
    events: Counter = field(default_factory=Counter)  # sound -> count
    max_people: int = 0
    wall_s: float = 0.0  # decode + process, whole run
    cpu_s: float = 0.0  # process CPU time (all threads, decode included) over the whole run
    frames: int = 0


@dataclass
class PacedRun:
    """Our pipeline fed at ``fps`` by a capture thread; the processing loop takes the newest frame."""

    fps: float
    offered: int = 0
    processed: int = 0
    dropped: int = 0
    frame_latency_s: list[float] = field(default_factory=list)  # capture -> result, per processed frame
    capture_t_s: list[float] = field(default_factory=list)  # capture time (from start) of each processed frame
    queue_wait_s: list[float] = field(default_factory=list)  # capture -> processing starts
    event_latency_s: list[float] = field(default_factory=list)  # capture -> event emitted, per event


@dataclass
class BaselineRun:
    """The baseline on every frame: ``FaceAnalysis.get()`` + matching time and the names given."""

    frame_s: list[float] = field(default_factory=list)
    named: dict[int, list[str]] = field(default_factory=dict)
    faces: list[int] = field(default_factory=list)
    cpu_s: float = 0.0  # process CPU time (all threads, decode included) over the whole run
    frames: int = 0


def names_given(result, name_map: dict[str, str]) -> list[str]:
    """Names our pipeline gives in a frame: every track in view whose identity is a known (enrolled) name."""
    return [name_map.get(tv.name, tv.name) for tv in result.tracks
            if tv.identity == IdentityState.KNOWN and tv.name]


def run_fast(pipeline, info: VideoInfo, max_frames: int | None, name_map: dict[str, str],
             render_event: Callable | None = None) -> FastRun:
    """Decode and process every frame back to back; render each event's cue when ``render_event`` is given."""
    run = FastRun()
    for stage in ("decode", *PIPELINE_STAGES, "audio_render"):
        run.stages[stage] = []
    t_start, cpu_start = time.perf_counter(), time.process_time()
    for index, image, decode_s in decode_frames(info, max_frames):
        run.stages["decode"].append(decode_s)
        t0 = time.perf_counter()
        result = pipeline.process(Frame(image, index / info.fps, index))
        run.process_s.append(time.perf_counter() - t0)
        for stage in PIPELINE_STAGES:
            run.stages[stage].append(float(result.timings.get(stage, 0.0)))
        names = names_given(result, name_map)
        if names:
            run.named[index] = names
        run.max_people = max(run.max_people, len(result.tracks))
        for event in result.events:
            run.events[str(event.sound)] += 1
            if render_event is not None:
                t1 = time.perf_counter()
                render_event(event, result.head)
                run.stages["audio_render"].append(time.perf_counter() - t1)
        run.frames += 1
    run.wall_s = time.perf_counter() - t_start
    run.cpu_s = time.process_time() - cpu_start
    return run


class LatestFrameSlot:
    """A one-frame mailbox: a new frame replaces an unprocessed one (counted as dropped)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: tuple | None = None
        self._closed = False
        self.dropped = 0

    def put(self, item: tuple) -> None:
        """Offer a frame; the one still waiting (if any) is dropped."""
        with self._cond:
            if self._item is not None:
                self.dropped += 1
            self._item = item
            self._cond.notify()

    def close(self) -> None:
        """No more frames will come."""
        with self._cond:
            self._closed = True
            self._cond.notify()

    def get(self) -> tuple | None:
        """The newest frame (waits for one); None once closed and empty."""
        with self._cond:
            while self._item is None and not self._closed:
                self._cond.wait()
            item, self._item = self._item, None
            return item


def run_paced(pipeline, info: VideoInfo, max_frames: int | None, fps: float) -> PacedRun:
    """Frames are captured at ``fps`` (capture time = when the camera would deliver it; decoding happens after,
    in the capture thread, like a real camera/stream decoder); latency includes queueing and decoding."""
    run = PacedRun(fps=fps)
    slot = LatestFrameSlot()
    t0 = time.perf_counter() + 0.05
    errors: list[BaseException] = []

    def capture() -> None:
        try:
            for index, image, _ in decode_frames_paced(info, max_frames, t0, fps):
                slot.put((index, image, t0 + index / fps))
                run.offered += 1
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            errors.append(exc)
        finally:
            slot.close()

    thread = threading.Thread(target=capture, name="bench-capture", daemon=True)
    thread.start()
    while (item := slot.get()) is not None:
        index, image, captured = item
        start = time.perf_counter()
        result = pipeline.process(Frame(image, index / fps, index))
        done = time.perf_counter()
        run.processed += 1
        run.frame_latency_s.append(done - captured)
        run.capture_t_s.append(captured - t0)
        run.queue_wait_s.append(start - captured)
        run.event_latency_s.extend(done - captured for _ in result.events)
    thread.join()
    if errors:
        raise errors[0]
    run.dropped = slot.dropped
    return run


def decode_frames_paced(info: VideoInfo, max_frames: int | None, t0: float, fps: float):
    """Like :func:`decode_frames`, but each frame is decoded only once its capture time has come."""
    frames = decode_frames(info, max_frames)
    index = 0
    while True:
        wait = t0 + index / fps - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        try:
            item = next(frames)
        except StopIteration:
            return
        yield item
        index += 1


def run_baseline(baseline: Baseline, info: VideoInfo, max_frames: int | None) -> BaselineRun:
    """The baseline on every frame (decode excluded from its time, as for ours)."""
    run = BaselineRun()
    cpu_start = time.process_time()
    for index, image, _ in decode_frames(info, max_frames):
        t0 = time.perf_counter()
        names = baseline.process(image)
        run.frame_s.append(time.perf_counter() - t0)
        if names:
            run.named[index] = names
        run.frames += 1
    run.cpu_s = time.process_time() - cpu_start
    return run


class EventRenderer(Protocol):
    """``render(event, head) -> samples`` with ``describe()``, the renderer's description for the report."""

    def __call__(self, event: AudioEvent, head: HeadOrientation | None) -> np.ndarray: ...

    def describe(self) -> str:
        """The renderer's backend and settings in words."""
        ...


def make_event_renderer(backend: str | None = None) -> EventRenderer:
    """``render(event, head)``: the event's cue from the sound bank, spatialised head-relative by the renderer."""
    from peoplelens.audio.bank import SoundBank
    from peoplelens.audio.config import AudioConfig
    from peoplelens.audio.render import make_renderer

    config = AudioConfig()
    renderer = make_renderer(backend, config)
    bank = SoundBank(config)

    def render(event, head) -> np.ndarray:
        mono = bank.get(str(event.sound), event.pitch_semitones, event.name)
        az = wrap_deg(event.azimuth_deg - (head.yaw_deg if head is not None else 0.0))
        el = float(np.clip(event.elevation_deg - (head.pitch_deg if head is not None else 0.0), -90.0, 90.0))
        return renderer.render(mono, az, el, max(0.0, float(event.distance_m)) if np.isfinite(event.distance_m)
                               else 1.0)

    render.describe = renderer.describe  # type: ignore[attr-defined]
    return cast(EventRenderer, render)
