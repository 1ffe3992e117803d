"""``peoplelens replay``: run the whole system on recorded video, measure it, show it, scale it out."""

from __future__ import annotations

from pathlib import Path

import click

from peoplelens.core.config import load_config
from peoplelens.core.extras import available, install_hint
from peoplelens.sim_harness.errors import ReplayError

# numpy, OpenCV and the pipeline are imported inside the command, so --help is instant.


def _window(value: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"expected WIDTHxHEIGHT, e.g. 960x720, got {value!r}") from None
    if w < 32 or h < 32:
        raise click.BadParameter("window must be at least 32x32")
    return w, h


@click.command("replay")
@click.argument("video", type=click.Path(exists=True, path_type=Path))
@click.option("--imu", type=click.Path(exists=True, dir_okay=False), help="IMU sidecar (CSV/JSONL) of the video.")
@click.option("--truth", default=None, help="Ground truth file (MOT boxes, start_s,end_s,name,facing CSV or a "
              "shots CSV), or 'auto' to look next to the video. Folders use 'auto' unless 'none'.")
@click.option("--people", "people_store", type=click.Path(), help="People store to name against (default: the one "
              "`peoplelens enroll` writes, $PEOPLELENS_STORE or the per-user data dir).")
@click.option("--enroll-dir", type=click.Path(exists=True, file_okay=False),
              help="Enrol DIR/<person>/*.jpg into a temporary store for this run.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Output folder (default: replay-out/<video stem>, or replay-out/ for a folder).")
@click.option("--realtime", is_flag=True, help="Pace frames in real time (late frames are dropped, as live).")
@click.option("--max-frames", type=click.IntRange(min=1), default=None, help="Stop after N frames.")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False), help="TOML overrides.")
@click.option("--debug-frames", is_flag=True, help="DEBUG: also write every annotated overlay frame as JPEG.")
@click.option("--virtual-pan", default=None, help="Scripted head yaw on the footage: '0:0,2:30,4:-30' "
              "(TIME:YAW keyframes) or 'sin:AMPLITUDE:PERIOD'; the frames become a panning window.")
@click.option("--window", default="960x720", show_default=True, help="Virtual pan window size.")
@click.option("--wide-hfov", type=float, default=90.0, show_default=True,
              help="Horizontal field of view assumed for the wide video in --virtual-pan.")
@click.option("--write-imu", type=click.Path(dir_okay=False), help="Where to write the pan's IMU sidecar "
              "(default OUT/imu.csv).")
@click.option("--processor", default=None, help="Processor factory module:attr (default: the pipeline).")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Folder: videos replayed in parallel (processes, or Ray actors with --ray).")
@click.option("--ray", "use_ray", is_flag=True, help="Folder: run on Ray (local cluster unless --ray-address).")
@click.option("--ray-address", default=None, help="Ray cluster address (e.g. ray://head:10001).")
@click.option("--cpus-per-actor", type=float, default=1.0, show_default=True, help="Ray num_cpus per actor.")
@click.option("--no-overlay", is_flag=True, help="Skip overlay.mp4.")
@click.option("--no-audio", is_flag=True, help="Skip audio.wav.")
@click.option("--report/--no-report", "report", default=None,
              help="Write report.html (needs the 'report' extra). Default: when that extra is installed.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--overwrite", is_flag=True, help="Replace the outputs of a previous replay in a non-empty --out.")
@click.option("--still-seconds", type=click.FloatRange(min=0.04, max=600.0), default=4.0,
              show_default=True, help="VIDEO may be a photo (JPEG, PNG, WebP, BMP): it is shown to the camera as "
                                      "a still scene this long, at 25 fps.")
def replay(video: Path, imu, truth, people_store, enroll_dir, out_dir, realtime, max_frames, config_file,
           debug_frames, virtual_pan, window, wide_hfov, write_imu, processor, jobs, use_ray, ray_address,
           cpus_per_actor, no_overlay, no_audio, report, quiet, overwrite, still_seconds) -> None:
    """Replay VIDEO (a photo: held still; or every video in a FOLDER) through the live processor; write events,
    audio, overlay, report."""
    from peoplelens.config_cli import check_file
    from peoplelens.lens.runtime.protocol import DEFAULT_FACTORY
    from peoplelens.sim_harness.replay import ReplayOptions

    processor = processor or DEFAULT_FACTORY
    if people_store and enroll_dir:
        raise ReplayError("use --people or --enroll-dir, not both")
    config = check_file(config_file) if config_file else load_config()  # every section checked before any work
    options = ReplayOptions(imu=imu, truth=None, realtime=realtime, max_frames=max_frames, virtual_pan=virtual_pan,
                            window=_window(window), wide_hfov_deg=wide_hfov, write_imu=write_imu,
                            overlay=not no_overlay, audio=not no_audio, report=report,
                            debug_frames=debug_frames, progress=not quiet, overwrite=overwrite,
                            still_seconds=still_seconds)
    from peoplelens.sim_harness.output_dir import prepare_output

    out = out_dir or (Path("replay-out") if video.is_dir() else Path("replay-out") / video.stem)
    for notice in prepare_output(out, overwrite):  # before any model loads: refuse a non-empty --out at once
        click.echo(f"note: {notice}", err=True)
    if video.is_dir():
        _replay_folder(video, out, options, config, processor, people_store, enroll_dir, truth, jobs, use_ray,
                       ray_address, cpus_per_actor, quiet)
        return
    if jobs > 1 or use_ray:
        raise ReplayError("--jobs/--ray apply to a folder of videos")
    _replay_one(video, out, options, config, processor, people_store, enroll_dir, truth)


def _replay_one(video: Path, out: Path, options, config, processor, people_store, enroll_dir, truth) -> None:
    from peoplelens.lens.runtime.protocol import close_processor
    from peoplelens.sim_harness.enrollment import enroll_folder, open_people
    from peoplelens.sim_harness.processors import build_replay_processor
    from peoplelens.sim_harness.replay import replay_video
    from peoplelens.sim_harness.truth import find_truth

    if truth == "auto":
        found = find_truth(video)
        truth = str(found) if found else None
        if truth and not available("motmetrics"):
            click.echo(f"truth: {truth} found, metrics skipped: they need the 'report' extra "
                       f"({install_hint('report')})", err=True)
            truth = None
        else:
            click.echo(f"truth: {truth or 'none found'}", err=True)
    options.truth = None if truth in (None, "none") else truth
    from peoplelens.sim_harness.replay import make_source

    make_source(video, options)  # fail fast (bad video, impossible pan) before loading models
    people = enroll_folder(enroll_dir) if enroll_dir else open_people(people_store)
    try:
        click.echo(people.description, err=True)
        proc = build_replay_processor(processor, config, people.store)
        try:
            result = replay_video(video, proc, out, options, people.enrolled)
        finally:
            close_processor(proc)
    finally:
        people.close()
    _print_summary(result.summary())
    click.echo(f"outputs in {out}")


def _replay_folder(folder: Path, out: Path, options, config, processor, people_store, enroll_dir, truth, jobs,
                   use_ray, ray_address, cpus_per_actor, quiet) -> None:
    from peoplelens.sim_harness.batch import BatchSettings, run_batch
    from peoplelens.sim_harness.video import list_videos

    if truth not in (None, "auto", "none"):
        raise ReplayError("for a folder, --truth is 'auto' (files next to each video) or 'none'")
    if not enroll_dir:
        from peoplelens.registration_app.people import open_run_people

        click.echo(open_run_people(people_store).describe(), err=True)
    settings = BatchSettings(processor=processor, config=config, people=people_store, enroll_dir=enroll_dir,
                             options=options, auto_truth=truth != "none")
    results = run_batch(list_videos(folder), out, settings, jobs=jobs, use_ray=use_ray, ray_address=ray_address,
                        cpus_per_actor=cpus_per_actor, progress=not quiet)
    for r in results:
        _print_summary(r.summary())
    click.echo(f"outputs in {out} (summary.json, report.html, one folder per video)")


def _print_summary(s: dict) -> None:
    from peoplelens.sim_harness.records import describe_last_frame

    lat = s["frame_latency_ms"]
    click.echo(f"{Path(s['video']).name}: {s['frames']} frames, {s['fps_achieved']} fps, events {s['events']} "
               f"{s['events_by_sound']}, latency p50 {lat['p50']} ms p90 {lat['p90']} ms")
    click.echo(f"  on the last frame: {describe_last_frame(s['on_last_frame'])}")
    metrics = {k: v for k, v in s["metrics"].items() if not isinstance(v, dict | list) and k != "truth"}
    if metrics:
        click.echo("  metrics: " + ", ".join(f"{k}={v}" for k, v in metrics.items()))
    for k, v in s["metrics"].items():
        if isinstance(v, dict | list) and v:
            click.echo(f"  {k}: {v}")
