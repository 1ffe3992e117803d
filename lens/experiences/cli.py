"""``peoplelens experiences simulate``: run the sound scheme on a built-in scripted scene (no camera, no models).

It prints every event with its reason (what the wearer would hear and why), optionally writes them as
``events.jsonl``, and reports the engine's time per update.
"""

from __future__ import annotations

import math
import statistics
import time

import click

from peoplelens.core.config import load_config
from peoplelens.core.event_log import EventLog
from peoplelens.core.state import HeadOrientation, IdentityState
from peoplelens.lens.experiences.config import experience_config
from peoplelens.lens.experiences.engine import ExperienceEngine
from peoplelens.lens.experiences.scripted import ScriptedPerson, ScriptedScene


def demo_scene(extra_people: int = 0) -> ScriptedScene:
    """Six people around the wearer (plus ``extra_people`` unidentified ones further away)."""
    people = [
        ScriptedPerson(1, -35.0, 2.0, identity=IdentityState.KNOWN, name="ana"),
        ScriptedPerson(2, -10.0, 3.5, identity=IdentityState.IDENTIFYING, name="bo", face_offset_deg=(0.0, 6.0)),
        ScriptedPerson(3, 15.0, 2.5, identity=IdentityState.NOT_ENROLLED),
        ScriptedPerson(4, 40.0, 6.0, identity=IdentityState.KNOWN, name="chen"),
        ScriptedPerson(5, 60.0, 12.0, identity=IdentityState.UNSEEN_FACE),
        ScriptedPerson(6, 170.0, 3.0, identity=IdentityState.KNOWN, name="dara"),
    ]
    for k in range(extra_people):
        people.append(ScriptedPerson(100 + k, -180.0 + 360.0 * k / max(extra_people, 1), 8.0))
    return ScriptedScene(people)


def _script(t: float, scene: ScriptedScene) -> None:
    scene.person(2).identity = IdentityState.KNOWN if t >= 6.0 else IdentityState.IDENTIFYING
    scene.person(3).looking_at_wearer = 3.0 <= t < 9.0
    scene.person(4).distance_m = max(6.0 - 0.3 * max(t - 8.0, 0.0), 2.0)  # chen walks closer


@click.group()
def experiences() -> None:
    """The sound scheme (bump, name, click, woodblock guidance, gaze, follow, orientation)."""


@experiences.command()
@click.option("--duration", type=click.FloatRange(0.1, 3600), default=20.0, show_default=True, help="Seconds.")
@click.option("--hz", type=click.FloatRange(1, 240), default=30.0, show_default=True, help="Updates per second.")
@click.option("--extra-people", type=click.IntRange(0, 500), default=0, show_default=True,
              help="More (unidentified, 8 m) people in the map, to time larger scenes.")
@click.option("--events", "events_file", type=click.Path(dir_okay=False), default=None, help="Write events.jsonl.")
@click.option("--quiet", is_flag=True, help="Only the summary.")
def simulate(duration: float, hz: float, extra_people: int, events_file: str | None, quiet: bool) -> None:
    """Sweep the head across a scripted scene, follow ana from 5 s, request the orientation sweep at 12 s."""
    log = EventLog(events_file) if events_file else None
    engine = ExperienceEngine(experience_config(load_config()), event_log=log)
    scene = demo_scene(extra_people)
    costs: list[float] = []
    counts: dict[str, int] = {}
    for i in range(int(round(duration * hz))):
        t = i / hz
        _script(t, scene)
        head = HeadOrientation(yaw_deg=60.0 * math.sin(2 * math.pi * t / 8.0), timestamp=t)
        people = scene.states(t, head)
        if i == int(5 * hz):
            engine.follow("ana")
        if i == int(12 * hz):
            engine.request_orientation()
        start = time.perf_counter()
        result = engine.update(people, head, t)
        costs.append(time.perf_counter() - start)
        for ev in result.events:
            counts[str(ev.sound)] = counts.get(str(ev.sound), 0) + 1
            if not quiet:
                click.echo(f"{ev.t:7.2f}s  {str(ev.sound):11s} track {ev.track_id!s:>4}  az {ev.azimuth_deg:+7.1f}°  "
                           f"{ev.distance_m:5.1f} m  {ev.reason}")
        for s in result.seen if not quiet else []:
            click.echo(f"{s.t:7.2f}s  SEEN        track {s.track_id:>4}  {s.reason}")
    if engine.event_log is not None:
        engine.event_log.close()
    costs.sort()
    p95 = costs[min(len(costs) - 1, int(0.95 * len(costs)))]
    click.echo(f"{len(costs)} updates, {len(scene.people)} people: events {dict(sorted(counts.items()))}")
    click.echo(f"engine time per update: median {statistics.median(costs) * 1e3:.3f} ms, p95 {p95 * 1e3:.3f} ms, "
               f"max {costs[-1] * 1e3:.3f} ms")
