"""What every experience sees in one update, and the small geometry and event helpers they share."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from peoplelens.core.state import AudioEvent, HeadOrientation, IdentityState, PersonState, Sound, wrap_deg
from peoplelens.lens.experiences.config import ExperienceConfig
from peoplelens.lens.experiences.scheduler import PRIORITY, Candidate, CueScheduler


@dataclass
class Context:
    """One update: the time, the wearer's head, the People Map (by track id), the config and the scheduler."""

    t: float
    head: HeadOrientation
    people: dict[int, PersonState]
    config: ExperienceConfig
    scheduler: CueScheduler

    def submit(self, candidate: Candidate) -> None:
        """Hand a candidate cue to the scheduler."""
        self.scheduler.submit(candidate)


def camera_azimuth(person: PersonState, head: HeadOrientation) -> float:
    """Where the person is relative to the gaze now: the map's camera azimuth, else from the world direction."""
    if person.camera_azimuth_deg is not None:
        return float(person.camera_azimuth_deg)
    return wrap_deg(person.azimuth_deg - head.yaw_deg)


def camera_elevation(person: PersonState, head: HeadOrientation) -> float:
    """The person's elevation relative to the camera axis (the map's value, else from the world elevation)."""
    if person.camera_elevation_deg is not None:
        return float(person.camera_elevation_deg)
    return person.elevation_deg - head.pitch_deg


def side(azimuth_deg: float) -> str:
    """``"right"``, ``"left"`` or ``"ahead"`` for a camera/world azimuth."""
    if abs(azimuth_deg) < 0.5:
        return "ahead"
    return "right" if azimuth_deg > 0 else "left"


def crossing_cone_deg(distance_m: float, config: ExperienceConfig) -> float:
    """Half-width of the cone around the gaze in which a person at ``distance_m`` counts as crossed."""
    half = math.degrees(math.atan2(config.person_half_width_m, max(distance_m, 1e-3)))
    return min(max(half, config.bump_min_cone_deg), config.bump_max_cone_deg)


def who(person: PersonState) -> str:
    """A short human-readable label for reasons: ``person 3`` or ``person 3 (ana)``."""
    return f"person {person.track_id} ({person.name})" if person.name else f"person {person.track_id}"


def make_event(ctx: Context, sound: Sound, person: PersonState | None, reason: str, **kwargs: Any) -> AudioEvent:
    """An event from ``person``'s world direction (or ``azimuth_deg``/``elevation_deg``/``distance_m`` given)."""
    azimuth = kwargs.pop("azimuth_deg", None)
    elevation = kwargs.pop("elevation_deg", None)
    distance = kwargs.pop("distance_m", None)
    # every event names the person it is about when they are known (the event log's "name" column)
    if "name" not in kwargs and person is not None and person.identity is IdentityState.KNOWN:
        kwargs["name"] = person.name
    return AudioEvent(
        t=ctx.t,
        sound=sound,
        track_id=person.track_id if person else None,
        azimuth_deg=float(azimuth if azimuth is not None else (person.azimuth_deg if person else 0.0)),
        elevation_deg=float(elevation if elevation is not None else (person.elevation_deg if person else 0.0)),
        distance_m=float(distance if distance is not None else (person.distance_m if person else 1.0)),
        reason=reason,
        priority=PRIORITY[sound],
        frame_t=ctx.t,
        **kwargs,
    )


def candidate(ctx: Context, event: AudioEvent, *, delay_s: float = 0.0, max_delay_s: float | None = None,
              on_emit: Callable[[AudioEvent], None] | None = None,
              on_drop: Callable[[str], None] | None = None) -> Candidate:
    """A scheduler candidate for ``event``: may start ``delay_s`` after now, dropped ``max_delay_s`` after that."""
    cfg = ctx.config
    if event.sound == Sound.NAME:
        duration = cfg.speech_duration(event.name or "")
    else:
        duration = cfg.cue_duration(str(event.sound))
    max_delay = cfg.max_delay_s if max_delay_s is None else max_delay_s
    return Candidate(event=event, duration_s=duration, not_before=ctx.t + delay_s,
                     deadline=ctx.t + delay_s + max_delay, on_emit=on_emit, on_drop=on_drop)
