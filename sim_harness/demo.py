"""``peoplelens demo``: the main job on the sample material.

Enrols the sample people (``data/faces/enroll``) into a temporary protected store, replays sample videos
through the live pipeline (the Hamilton clip as recorded; the pedestrian clip with a scripted virtual head turn
so bumps and the world frame are exercised), and prints who was announced, where and when. Each replay leaves
``events.jsonl``, ``audio.wav`` (binaural), ``overlay.mp4`` and ``report.html`` in ``--out``.
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from peoplelens.models.assets import default_manager

console = Console()

#: (video, virtual head pan or None, what it shows)
DEMO_VIDEOS: tuple[tuple[str, str | None, str], ...] = (
    ("data/videos/hamilton_short_clip.mp4", None, "an enrolled performer among people who are not enrolled"),
    ("data/videos/royal_opera_pedestrians_1080p25.mp4", "0:-15,2:15,4:-10",
     "pedestrians, with a virtual head turn from 15 deg left to 15 deg right and back"),
)


@click.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("runs/demo"),
              show_default=True, help="Where the replays' outputs go.")
@click.option("--max-frames", type=int, default=None, help="Replay only the first N frames of each video.")
def demo(out_dir: Path, max_frames: int | None) -> None:
    """Enrol the sample people, replay the sample videos, print who was announced, where and when."""
    from peoplelens.sim_harness.enrollment import enroll_folder
    from peoplelens.sim_harness.processors import build_replay_processor
    from peoplelens.sim_harness.replay import ReplayOptions, replay_video

    manager = default_manager()
    enroll_dir = manager.path("data/faces/enroll/lin_manuel_miranda/fr_01.jpg").parents[1]
    console.print(f"[bold]1. Enrolling the sample people[/bold] from {enroll_dir} (photos are read in memory, "
                  "only protected vectors go into a temporary encrypted store)")
    people = enroll_folder(enroll_dir)
    try:
        console.print(f"   enrolled {len(people.enrolled)} people: {', '.join(people.enrolled)}")
        processor = build_replay_processor(store=people.store)
        for relpath, pan, what in DEMO_VIDEOS:
            video = manager.path(relpath)
            out = out_dir / video.stem
            console.print(f"\n[bold]2. Replaying {video.name}[/bold]: {what}")
            reset = getattr(processor, "reset", None)
            if callable(reset):
                reset()
            options = ReplayOptions(virtual_pan=pan, max_frames=max_frames)
            result = replay_video(video, processor, out, options, people.enrolled)
            _print_events(result.events)
            summary = result.summary()
            fps = summary.get("fps") or summary.get("processing_fps")
            console.print(f"   {len(result.frames)} frames" + (f", {fps:.1f} frames/s" if fps else "")
                          + f"; outputs in {out}/ (events.jsonl, audio.wav, overlay.mp4, report.html)")
    finally:
        people.close()


def _print_events(events: list[dict]) -> None:
    table = Table(title="what the wearer heard", show_lines=False)
    for col in ("t (s)", "sound", "person", "azimuth", "distance", "why"):
        table.add_column(col, overflow="fold")
    for e in events:  # the events.jsonl records
        who = e["name"] or (f"person {e['track']}" if e["track"] is not None else "-")
        az = e["azimuth_deg"]
        side = "ahead" if abs(az) < 5 else ("right" if az > 0 else "left")
        table.add_row(f"{e['t']:.2f}", e["sound"], who, f"{az:+.0f}° {side}", f"{e['distance_m']:.1f} m",
                      e["reason"])
    console.print(table)
    names = sorted({e["name"] for e in events if e["sound"] == "name" and e["name"]})
    console.print(f"   announced by name: {', '.join(names) if names else 'nobody'}")
