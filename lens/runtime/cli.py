"""The ``peoplelens run | device | phone`` commands."""

from __future__ import annotations

from typing import Any

import click

from peoplelens.core.config import load_config

# Heavy modules (numpy, OpenCV, ZeroMQ, the pipeline) are imported inside the commands, so --help is instant.


def _sink(audio: bool, audio_device: str | None) -> Any:
    from peoplelens.lens.runtime.sinks import AudioPlayerSink, LogSink

    return AudioPlayerSink(audio_device) if audio else LogSink()


def _factory(processor: str | None) -> str:
    from peoplelens.lens.runtime.protocol import DEFAULT_FACTORY

    return processor or DEFAULT_FACTORY


def _camera_resolution(config: dict[str, Any]) -> tuple[int, int] | None:
    """The ``[camera]`` width/height a live camera is asked for (None: its default)."""
    from peoplelens.core.config import section
    from peoplelens.lens.perception.geometry import CameraConfig

    camera = section(config, "camera", CameraConfig)
    return (camera.width, camera.height) if camera.width and camera.height else None


def _check_source(camera: int | None, video: str | None) -> None:
    if (camera is None) == (video is None):
        raise click.UsageError("give exactly one of --camera INDEX or --video FILE|URL")


_source_options = [
    click.option("--camera", type=int, default=None, help="Camera index for cv2.VideoCapture."),
    click.option("--video", default=None, help="Video file or stream URL (rtsp://, http://...)."),
    click.option("--imu", type=click.Path(dir_okay=False), default=None,
                 help="IMU sidecar for a recorded video: CSV/JSONL with t,yaw_deg,pitch_deg,roll_deg."),
    click.option("--realtime/--fast", default=True, show_default=True,
                 help="Pace recorded video at its frame rate, or run as fast as possible."),
    click.option("--loop", is_flag=True, help="Loop a video file until stopped."),
]
_common_options = [
    click.option("--duration", "duration_s", type=float, default=0.0, help="Stop after S seconds (0 = no limit)."),
    click.option("--stats", "stats_path", type=click.Path(dir_okay=False), default=None,
                 help="Write counters and latency percentiles as JSON on exit."),
    click.option("--report-every", "report_every_s", type=float, default=5.0, show_default=True,
                 help="Print stats every S seconds (0 = only at exit)."),
]
_processor_options = [
    click.option("--people", "people_path", type=click.Path(dir_okay=True), default=None,
                 help="People store to name against (default: the one `peoplelens enroll` writes, "
                      "$PEOPLELENS_STORE or the per-user data dir)."),
    click.option("--processor", default=None,
                 help="Processor factory 'module:function' (called with the config and the people store; "
                      "default: the product, peoplelens.lens.pipeline:build_system)."),
    click.option("--slow-ms", type=float, default=0.0, help="Add this delay per frame (testing back-pressure)."),
]
_events_option = click.option(
    "--events", "events_path", type=click.Path(dir_okay=False), default=None,
    help="Also write every event as a JSON line to FILE (the schema of replay's events.jsonl; names included).")
_output_options = [
    click.option("--seen-bind", default=None, help="Bind a ZeroMQ PUB for the 'seen' topic here (e.g. tcp://*:5560)."),
    click.option("--audio", is_flag=True, help="Play events on the real-time spatial audio output."),
    click.option("--audio-device", default=None, help="Output device for --audio (index or name)."),
]


def _apply(options):
    def deco(f):
        for opt in reversed(options):
            f = opt(f)
        return f
    return deco


def _open_people(people_path: str | None):
    from peoplelens.registration_app.people import open_run_people

    people = open_run_people(people_path)
    click.echo(people.describe(), err=True)
    return people.store


@click.command()
@_apply(_source_options + _common_options + _processor_options + _output_options + [_events_option])
def run(camera, video, imu, realtime, loop, duration_s, stats_path, report_every_s, people_path, processor, slow_ms,
        seen_bind, audio, audio_device, events_path) -> None:
    """Run every stage in this process (capture, perception, experiences, audio output, seen signal)."""
    from peoplelens.lens.runtime.local import LocalOptions, run_local

    _check_source(camera, video)
    config = load_config()
    opts = LocalOptions(camera=camera, video=video, imu=imu, realtime=realtime, loop=loop, duration_s=duration_s,
                        processor=_factory(processor), slow_ms=slow_ms, seen_bind=seen_bind, stats_path=stats_path,
                        report_every_s=report_every_s, events_path=events_path,
                        resolution=_camera_resolution(config))
    run_local(opts, _sink(audio, audio_device), config, people=_open_people(people_path))


@click.command()
@click.option("--connect", default="tcp://127.0.0.1:5555", show_default=True,
              help="The phone's base endpoint (tcp://HOST:PORT uses PORT..PORT+2, or ipc:///path).")
@_apply(_source_options + _common_options + _output_options + [_events_option])
@click.option("--jpeg-quality", type=click.IntRange(0, 100), default=85, show_default=True,
              help="JPEG quality of sent frames (0 = raw pixels).")
def device(connect, camera, video, imu, realtime, loop, duration_s, stats_path, report_every_s, seen_bind, audio,
           audio_device, events_path, jpeg_quality) -> None:
    """Run capture, audio output and the seen signal on the device, with perception on the phone."""
    from peoplelens.lens.runtime.device import DeviceOptions, run_device

    _check_source(camera, video)
    opts = DeviceOptions(connect=connect, camera=camera, video=video, imu=imu, realtime=realtime, loop=loop,
                         duration_s=duration_s, seen_bind=seen_bind, stats_path=stats_path,
                         report_every_s=report_every_s, jpeg_quality=jpeg_quality, events_path=events_path,
                         resolution=_camera_resolution(load_config()))
    run_device(opts, _sink(audio, audio_device))


@click.command()
@click.option("--bind", default="tcp://*:5555", show_default=True,
              help="Base endpoint to bind (tcp://HOST:PORT uses PORT..PORT+2, or ipc:///path).")
@_apply(_common_options + _processor_options)
@click.option("--max-frame-age", "max_frame_age_s", type=float, default=0.0,
              help="Skip frames older than S seconds on arrival (needs synchronised clocks; 0 = off).")
def phone(bind, duration_s, stats_path, report_every_s, people_path, processor, slow_ms, max_frame_age_s) -> None:
    """Run perception + world + experiences, serving a device over ZeroMQ."""
    from peoplelens.lens.runtime.phone import PhoneOptions, run_phone

    opts = PhoneOptions(bind=bind, processor=_factory(processor), slow_ms=slow_ms, max_frame_age_s=max_frame_age_s,
                        duration_s=duration_s, stats_path=stats_path, report_every_s=report_every_s)
    config = load_config()
    run_phone(opts, config, people=_open_people(people_path))
