"""``peoplelens demo``: the main job on the sample material.

Names against the people store ``peoplelens enroll`` writes (``--people PATH``, else ``$PEOPLELENS_STORE``, else the
per-user data dir) when anyone is enrolled there; otherwise it enrols the sample people (``data/faces/enroll``)
into a temporary protected store and says so. Then it replays sample videos through the product (the Hamilton clip
as recorded; the pedestrian clip with a scripted virtual head turn so bumps and the world frame are exercised) and
prints who was announced, where and when. Each replay leaves ``events.jsonl``, ``audio.wav`` (binaural),
``overlay.mp4`` and ``report.html`` in ``--out`` (the media outputs need the ``report`` and ``audio`` extras).
"""

from __future__ import annotations

from pathlib import Path

import click

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
@click.option("--people", "people_path", type=click.Path(), default=None,
              help="People store to name against (default: the one `peoplelens enroll` writes; the sample people "
                   "when nobody is enrolled there).")
def demo(out_dir: Path, max_frames: int | None, people_path: str | None) -> None:
    """Name people on the sample videos: who was announced, where and when."""
    from peoplelens.core.config import load_config
    from peoplelens.lens.runtime.protocol import close_processor
    from peoplelens.models.assets import default_manager
    from peoplelens.sim_harness.enrollment import enroll_folder, open_people
    from peoplelens.sim_harness.processors import build_replay_processor
    from peoplelens.sim_harness.replay import ReplayOptions, replay_video

    manager = default_manager()
    people = open_people(people_path)
    if people.store is None or not people.enrolled:
        enroll_dir = manager.path("data/faces/enroll/lin_manuel_miranda/fr_01.jpg").parents[1]
        click.echo(f"{people.description}\n1. Enrolling the sample people from {enroll_dir} into a temporary store "
                   "(photos are read in memory; only protected vectors are stored)")
        people = enroll_folder(enroll_dir)
    click.echo(people.description)
    try:
        processor = build_replay_processor(config=load_config(), store=people.store)
        try:
            for step, (relpath, pan, what) in enumerate(DEMO_VIDEOS, start=2):
                video = manager.path(relpath)
                out = out_dir / video.stem
                click.echo(f"\n{step}. Replaying {video.name}: {what}")
                processor.reset()  # type: ignore[attr-defined]
                options = ReplayOptions(virtual_pan=pan, max_frames=max_frames, overwrite=True)
                result = replay_video(video, processor, out, options, people.enrolled)
                _print_events(result.events)
                fps = result.summary().get("fps_achieved")
                click.echo(f"   {len(result.frames)} frames" + (f", {fps:.1f} frames/s" if fps else "")
                           + f"; outputs in {out}/")
        finally:
            close_processor(processor)
    finally:
        people.close()


def _print_events(events: list[dict]) -> None:
    """What the wearer heard, one short line per event (fits 80 columns; the reasons are in events.jsonl)."""
    click.echo(f"   {'time':>6s}  {'sound':<11s} {'direction':<11s} {'dist':>6s}  who")
    for e in events:  # the events.jsonl records
        who = e["name"] or (f"person {e['track']}" if e["track"] is not None else "-")
        az = e["azimuth_deg"] or 0.0
        side = "ahead" if abs(az) < 5 else ("right" if az > 0 else "left")
        dist = f"{e['distance_m']:.1f} m" if e["distance_m"] is not None else "?"
        click.echo(f"   {e['t']:5.2f}s  {e['sound']:<11s} {az:+4.0f}° {side:<5s} {dist:>6s}  {who[:30]}")
    names = sorted({e["name"] for e in events if e["sound"] == "name" and e["name"]})
    click.echo(f"   announced by name: {', '.join(names) if names else 'nobody'}")
