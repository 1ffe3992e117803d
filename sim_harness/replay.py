"""Deterministic replay of a recorded video through the processor the live runtime uses.

Frames are read in order with the video's own timestamps and processed one by one — as fast as possible by
default, or paced to real time (``realtime``: frames whose time has passed while the processor was busy are
dropped, as the live runtime's latest-frame slot does). Outputs (``out_dir``): ``events.jsonl``,
``frames.jsonl`` (tracks/head/timings per frame), ``audio.wav``, ``overlay.mp4``, ``report.html`` and
``summary.json``. Everything but ``report.html`` (matplotlib) and the ground-truth metrics (motmetrics) comes
with the base install; without the ``report`` extra the report is skipped with one line saying so, unless it
was asked for explicitly (``report=True``), which is then an error before any frame is processed. The outputs
are written into a hidden staging folder beside ``out_dir`` and moved into place only when the replay
succeeded, so a failure never leaves half-written outputs and two runs never mix; a non-empty ``out_dir`` is
refused unless ``overwrite``, and what a killed run left is cleaned up or flagged by the next (see
:mod:`peoplelens.sim_harness.output_dir`). Undecodable frames are skipped and counted (``frames_undecodable``
in the summary); too many fail the replay.

Latency: the wall time from the moment a frame is available to the harness (decoded; in real-time mode its
scheduled capture time) to the moment the processor returned its events.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from peoplelens.core.event_log import event_line
from peoplelens.core.extras import available, install_hint, require
from peoplelens.core.state import AudioEvent
from peoplelens.lens.runtime.protocol import Processor
from peoplelens.sim_harness.errors import ReplayError
from peoplelens.sim_harness.output_dir import prepare_output, staged_output
from peoplelens.sim_harness.records import FrameRecord, ReplayResult
from peoplelens.sim_harness.sources import DEFAULT_WINDOW, FrameSource, VirtualPanSource
from peoplelens.sim_harness.still import DEFAULT_STILL_SECONDS

log = logging.getLogger(__name__)
REPORT_FEATURE = "the replay report (report.html)"
TRUTH_FEATURE = "ground-truth metrics (--truth)"

OUTPUT_FILES = ("events.jsonl", "frames.jsonl", "audio.wav", "overlay.mp4", "report.html", "summary.json")


@dataclass
class ReplayOptions:
    """How to replay one video (see ``peoplelens replay --help``)."""

    imu: str | None = None  # IMU sidecar (CSV/JSONL)
    truth: str | None = None  # ground truth (MOT face boxes or time ranges CSV)
    realtime: bool = False
    max_frames: int | None = None
    virtual_pan: str | None = None  # yaw keyframes "0:0,2:30" or "sin:AMP:PERIOD"
    window: tuple[int, int] = DEFAULT_WINDOW
    wide_hfov_deg: float = 90.0
    write_imu: str | None = None  # where to write the virtual pan's IMU sidecar (default out/imu.csv)
    overlay: bool = True
    audio: bool = True
    report: bool | None = None  # None: written when the 'report' extra is installed (else skipped, said once)
    debug_frames: bool = False
    progress: bool = True
    overwrite: bool = False  # replace a non-empty output folder that holds a previous replay's outputs
    overlay_max_width: int = 960
    still_seconds: float = DEFAULT_STILL_SECONDS  # a photo is replayed as a still scene this long


def make_source(video: str | Path, options: ReplayOptions) -> FrameSource:
    """The frame source for ``video`` and the options (plain, with IMU sidecar, or virtual pan)."""
    if options.virtual_pan:
        if options.imu:
            raise ReplayError("--imu and --virtual-pan cannot be combined (the pan makes its own IMU track)")
        return VirtualPanSource(video, options.virtual_pan, options.window, options.wide_hfov_deg,
                                options.max_frames, options.still_seconds)
    return FrameSource(video, options.imu, options.max_frames, options.still_seconds)


def _progress(total: int, label: str, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=label, unit="frame", disable=not enabled, leave=False)


def run_frames(source: FrameSource, processor: Processor, options: ReplayOptions,
               on_frame: Callable[[np.ndarray, Any], None] | None = None) -> tuple[ReplayResult, list[AudioEvent]]:
    """Process every frame of ``source``; ``on_frame(image, result)`` sees each (for the overlay)."""
    info = source.info
    out_w, out_h = source.output_size
    result = ReplayResult(info.path, source.description, out_w, out_h, info.fps, realtime=options.realtime)
    events: list[AudioEvent] = []
    frame_dt = 1.0 / info.fps
    t0 = 0.0  # video time is already "seconds into the video"
    start_wall = time.perf_counter()
    first_t: float | None = None
    with _progress(source.expected_frames, Path(info.path).name, options.progress) as bar:
        for frame, head in source:
            if options.realtime:
                first_t = frame.timestamp if first_t is None else first_t
                scheduled = start_wall + (frame.timestamp - first_t)
                now = time.perf_counter()
                if now < scheduled:
                    time.sleep(scheduled - now)
                elif now > scheduled + frame_dt:
                    result.dropped_frames += 1
                    bar.update(1)
                    continue
                available = scheduled
            else:
                available = time.perf_counter()
            out = processor.process(frame, head)
            produced = time.perf_counter()
            latency = produced - available
            result.frames.append(FrameRecord.from_result(out, t0, latency))
            for ev in out.events:
                events.append(ev)
                result.events.append(event_line(ev, t0, latency, frame.index))
            if on_frame is not None:
                on_frame(frame.image, out)
            bar.update(1)
    result.wall_s = time.perf_counter() - start_wall
    result.frames_undecodable = getattr(getattr(source, "frames", None), "frames_undecodable", 0)
    if result.frames_undecodable:
        log.warning("replay: %s: %d frame(s) could not be decoded and were skipped (%d processed)",
                    info.path, result.frames_undecodable, len(result.frames))
    if not result.frames:
        raise ReplayError(f"no frame of {info.path} could be processed")
    return result, events


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False, allow_nan=False) + "\n")


def replay_video(video: str | Path, processor: Processor, out_dir: str | Path | None,
                 options: ReplayOptions | None = None, people_enrolled: list[str] | None = None) -> ReplayResult:
    """Replay ``video`` through ``processor`` and write the outputs into ``out_dir`` (None = measure only)."""
    options = options or ReplayOptions()
    source = make_source(video, options)
    write_report, skipped = resolve_report(options.report)
    truth = None
    if options.truth:
        from peoplelens.sim_harness.truth import load_truth

        require("motmetrics", extra="report", feature=TRUTH_FEATURE)  # before any work, as a bad truth file
        truth = load_truth(options.truth)  # a bad truth file fails before any work
    if out_dir is None:
        result = _replay_into(source, processor, options, None, truth)
        result.people_enrolled = list(people_enrolled or [])
        result.skipped_outputs = dict(skipped)
        return result
    out = Path(out_dir)
    for notice in prepare_output(out, options.overwrite):  # fail fast, and say what a crashed run left
        log.warning("replay: %s", notice)
    try:
        with staged_output(out, options.overwrite) as staging:
            result = _replay_into(source, processor, options, staging, truth)
            result.people_enrolled = list(people_enrolled or [])
            result.skipped_outputs = dict(skipped)
            result.outputs = {name: str(out / name) for name in sorted(p.name for p in staging.iterdir())
                              if name not in ("summary.json", "report.html")}
            result.outputs.update({"summary.json": str(out / "summary.json")})
            if write_report:
                from peoplelens.sim_harness.report import write_report as write_html

                result.outputs["report.html"] = str(out / "report.html")
                write_html(staging / "report.html", result)
            (staging / "summary.json").write_text(json.dumps(result.summary(), indent=2, allow_nan=False))
    except Exception as exc:
        raise ReplayError(f"replay of {video} failed, nothing was written to {out}: {exc}") from exc
    return result


def resolve_report(wanted: bool | None) -> tuple[bool, dict[str, str]]:
    """Whether to write report.html: ``True`` needs the 'report' extra (error now if missing), ``None`` writes it
    when the extra is installed and otherwise says once that it is skipped. Also the skipped outputs."""
    if wanted is False:
        return False, {}
    if wanted:
        require("matplotlib", extra="report", feature=REPORT_FEATURE)
        return True, {}
    if available("matplotlib"):
        return True, {}
    reason = f"needs the 'report' extra: {install_hint('report')}"
    log.warning("report.html skipped: %s", reason)
    return False, {"report.html": reason}


def _replay_into(source: FrameSource, processor: Processor, options: ReplayOptions, staging: Path | None,
                 truth: Any) -> ReplayResult:
    writer = renderer = None
    debug_dir = None
    if staging is not None and (options.overlay or options.debug_frames):
        from peoplelens.sim_harness.overlay import OverlayRenderer, OverlayWriter

        renderer = OverlayRenderer(*source.output_size, max_width=options.overlay_max_width)
        if options.overlay:
            writer = OverlayWriter(staging / "overlay.mp4", source.info.fps, renderer.size)
        if options.debug_frames:  # explicit debug option: annotated frames of the recorded video
            debug_dir = staging / "debug_frames"
            debug_dir.mkdir()

    def on_frame(image: np.ndarray, res: Any) -> None:
        if renderer is None:
            return
        composite = renderer.draw(image, res)
        if writer is not None:
            writer.write(composite)
        if debug_dir is not None:
            cv2.imwrite(str(debug_dir / f"frame_{res.frame_index:06d}.jpg"), composite)

    try:
        result, events = run_frames(source, processor, options, on_frame)
    finally:
        if writer is not None:
            writer.close()
    if truth is not None:
        from peoplelens.sim_harness.metrics import evaluate

        result.metrics = evaluate(truth, result)
    if staging is None:
        return result
    _write_jsonl(staging / "events.jsonl", result.events)
    _write_jsonl(staging / "frames.jsonl", [f.to_json() for f in result.frames])
    if isinstance(source, VirtualPanSource):
        imu_path = Path(options.write_imu) if options.write_imu else staging / "imu.csv"
        source.write_imu(imu_path)
    if options.audio:
        from peoplelens.sim_harness.audio_track import render_wav

        times = np.array([f.t for f in result.frames])
        yaws = np.array([f.head_yaw_deg for f in result.frames])
        duration = result.frames[-1].t + 1.0 / source.info.fps
        result.audio = render_wav(staging / "audio.wav", events, times, yaws, duration)
        result.audio["path"] = "audio.wav"
    return result
