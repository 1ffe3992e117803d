"""``peoplelens bench`` / ``python -m peoplelens.bench``: ours against the insightface baseline."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from peoplelens.bench.baseline_sessions import BASELINE_SESSIONS
from peoplelens.bench.errors import BenchError
from peoplelens.core.errors import PeopleLensError

# The benchmark (numpy, OpenCV, ONNX Runtime, the pipeline) is imported inside the command: --help is instant.


def _default_data(rel: str) -> Path:
    root = os.environ.get("PEOPLELENS_ASSETS")
    if not root:
        raise BenchError("set PEOPLELENS_ASSETS (the shared assets folder) or pass --videos and --enroll")
    return Path(root) / rel


@click.command("bench")
@click.option("--videos", "videos", type=click.Path(path_type=Path), default=None,
              help="Folder of videos (recursively). Default: $PEOPLELENS_ASSETS/data/videos.")
@click.option("--enroll", "enroll", type=click.Path(path_type=Path), default=None,
              help="Folder of <person>/*.jpg to enrol first. Default: $PEOPLELENS_ASSETS/data/faces/enroll.")
@click.option("--json", "json_path", type=click.Path(path_type=Path), default=None, help="Write the figures here.")
@click.option("--max-frames", type=click.IntRange(min=1), default=None, help="Frames per video (default: all).")
@click.option("--providers", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option("--skip-baseline", is_flag=True, help="Do not run the insightface baseline.")
@click.option("--skip-paced", is_flag=True, help="Do not run the real-time paced run.")
@click.option("--paced-seconds", type=click.FloatRange(min=0.0, max=600.0), default=20.0, show_default=True,
              help="Pace each video again from its start (a new recording) until this many seconds are paced, at "
                   "most 10 times, so the latency p95 rests on enough frames and events (0: once).")
@click.option("--pace-fps", type=click.FloatRange(min=1.0, max=240.0), default=None,
              help="Frame rate of the paced run (default: each video's own).")
@click.option("--threads", type=click.IntRange(min=1, max=64), default=None,
              help="ONNX Runtime intra-op threads per session (default: the pipeline's own, 1); the face detector's "
                   "come from [pipeline] face_detector_threads.")
@click.option("--only", "only", multiple=True, help="Only videos whose file name contains this (repeatable).")
@click.option("--baseline-session", type=click.Choice(list(BASELINE_SESSIONS)), default="default", show_default=True,
              help="The baseline's ONNX Runtime sessions: " + "; ".join(f"{k} = {v}" for k, v in
                                                                       BASELINE_SESSIONS.items()) + ".")
@click.option("--aspect", default=None, metavar="W:H",
              help="Centre-crop every frame to this aspect first (4:3 runs the 1080p pedestrian clip at 640x480).")
@click.option("--native/--no-native", default=True, show_default=True,
              help="Also run ours on videos larger than 640x480 at their own size (the 1080p arm, foveation on).")
@click.option("--range", "range_", is_flag=True,
              help="Also run the range scenes (1-10 m, adult and child): today's pipeline on 640-px frames against "
                   "the product on native 1080p frames (python -m peoplelens.bench.range; minutes).")
@click.option("--battery", is_flag=True,
              help="Also run the battery budget: CPU s per minute of live use for a busy scene, a quiet one and an "
                   "empty room at 640x480 and 1920x1080, float32 and int8, adaptive schedule on and off, and the "
                   "delay before a person stepping into an idle view is bumped (python -m peoplelens.bench.battery; "
                   "minutes; int8 needs `peoplelens assets quantize` first).")
@click.option("--range-per-cell", type=click.IntRange(min=1, max=20), default=2, show_default=True,
              help="Range scenes per distance and scale.")
def bench(videos: Path | None, enroll: Path | None, json_path: Path | None, max_frames: int | None, providers: str,
          skip_baseline: bool, skip_paced: bool, pace_fps: float | None, threads: int | None,
          only: tuple[str, ...], baseline_session: str, aspect: str | None, native: bool, range_: bool,
          battery: bool, range_per_cell: int, paced_seconds: float) -> None:
    """Time every stage, end-to-end latency, sustained fps, peak memory and identity precision/recall of our
    pipeline against insightface FaceAnalysis on every frame, on the same videos in the same run."""
    from peoplelens.core.config import load_config

    try:
        _run(videos, enroll, json_path, max_frames, providers, skip_baseline, skip_paced, pace_fps, threads, only,
             load_config(), baseline_session, aspect, native, _default_data("data") if range_ else None,
             range_per_cell, _default_data("data") if battery else None, paced_seconds)
    except PeopleLensError as exc:
        raise click.ClickException(str(exc)) from exc


def _run(videos: Path | None, enroll: Path | None, json_path: Path | None, max_frames: int | None, providers: str,
         skip_baseline: bool, skip_paced: bool, pace_fps: float | None, threads: int | None, only: tuple[str, ...],
         config: dict, baseline_session: str = "default", aspect: str | None = None, native: bool = True,
         range_data: Path | None = None, range_per_cell: int = 2, battery_data: Path | None = None,
         paced_seconds: float = 20.0) -> None:
    from peoplelens.bench.core import BenchOptions, run_benchmark
    from peoplelens.bench.print_report import print_report

    if not skip_baseline:
        from peoplelens.bench.baseline import require_insightface

        require_insightface()  # before any work: a missing 'baseline' extra is said at once
    options = BenchOptions(videos=videos or _default_data("data/videos"),
                           enroll=enroll or _default_data("data/faces/enroll"), max_frames=max_frames,
                           providers=providers, skip_baseline=skip_baseline, skip_paced=skip_paced,
                           pace_fps=pace_fps, config=config, only=only, threads=threads,
                           baseline_session=baseline_session, aspect=aspect, native=native,
                           range_data=range_data, range_per_cell=range_per_cell, paced_seconds=paced_seconds)
    report = run_benchmark(options, say=lambda s: click.echo(s, err=True))
    print_report(report)
    if battery_data is not None:
        report["battery"] = _battery(battery_data, options.enroll)
    if json_path is not None:
        try:
            json_path.write_text(json.dumps(report, indent=2, default=str) + "\n")
        except OSError as exc:
            raise BenchError(f"cannot write {json_path}: {exc}") from exc
        click.echo(f"wrote {json_path}", err=True)


def _battery(data: Path, enroll: Path) -> dict:
    """The battery budget (:mod:`peoplelens.bench.battery`) with the enrolment photos' people enrolled."""
    from peoplelens.bench.battery import print_battery, run_battery
    from peoplelens.sim_harness.enrollment import enroll_folder

    people = enroll_folder(enroll)
    try:
        report = run_battery(data, people.store, say=lambda s: click.echo(s, err=True))
    finally:
        people.close()
    print_battery(report, click.echo)
    return report
