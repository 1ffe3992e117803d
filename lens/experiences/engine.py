"""The experience engine: People Map + head + time in, the cues to play now (and the seen signals) out."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from peoplelens.core.errors import PeopleLensError
from peoplelens.core.state import AudioEvent, HeadOrientation, PersonState, SeenSignal
from peoplelens.lens.experiences.attention import AttentionExperience
from peoplelens.lens.experiences.config import ExperienceConfig, experience_config
from peoplelens.lens.experiences.context import Context, camera_azimuth
from peoplelens.lens.experiences.follow import FollowError, FollowExperience
from peoplelens.lens.experiences.gaze_notify import GazeNotifyExperience
from peoplelens.lens.experiences.guidance import GuidanceExperience
from peoplelens.lens.experiences.orientation import OrientationExperience
from peoplelens.lens.experiences.scheduler import CueScheduler


class ExperienceError(PeopleLensError):
    """The engine was given input it cannot use (time going backwards, a malformed person, ...)."""


@dataclass
class UpdateResult:
    """What one update produced: the cues to play now and the "seen" records to publish for peers."""

    events: list[AudioEvent] = field(default_factory=list)
    seen: list[SeenSignal] = field(default_factory=list)


def _check_person(p: Any) -> PersonState:
    if not isinstance(p, PersonState):
        raise ExperienceError(f"the People Map must hold PersonState objects, got {type(p).__name__}")
    for name in ("azimuth_deg", "elevation_deg", "seen_duration_s"):
        if not math.isfinite(getattr(p, name)):
            raise ExperienceError(f"person {p.track_id}: {name} is {getattr(p, name)!r}, not a finite number")
    if math.isnan(p.distance_m) or p.distance_m < 0:
        raise ExperienceError(f"person {p.track_id}: distance_m is {p.distance_m!r} (must be >= 0; inf = unknown)")
    return p


class ExperienceEngine:
    """Decides what the wearer hears: bump, name, click, woodblock guidance, gaze, follow and orientation cues.

    Call :meth:`update` once per People Map update (e.g. every frame, ~30 Hz) with the capture time, the wearer's
    head orientation and every person in the map; play the returned events now; publish the returned seen
    signals. Every event carries a human-readable ``reason``; when an
    :class:`peoplelens.core.event_log.EventLog` is given, every emitted event is logged to it.
    """

    def __init__(self, config: ExperienceConfig | None = None, event_log: Any | None = None) -> None:
        self.config = config or ExperienceConfig()
        self.event_log = event_log
        self.reset()

    @classmethod
    def from_config(cls, config: dict[str, Any] | None = None, event_log: Any | None = None) -> ExperienceEngine:
        """An engine with the ``[experiences]`` section of a loaded TOML configuration."""
        return cls(experience_config(config), event_log=event_log)

    def reset(self) -> None:
        """Forget everything (people's cool-downs, follow, a running sweep, pending cues)."""
        self.scheduler = CueScheduler()
        self.attention = AttentionExperience()
        self.guidance = GuidanceExperience()
        self.gaze = GazeNotifyExperience()
        self.follower = FollowExperience()
        self.orientation = OrientationExperience()
        self._people: dict[int, PersonState] = {}
        self._head = HeadOrientation(0.0)
        self._t = -math.inf

    # ------------------------------------------------------------------ per-frame update
    def update(self, people: Sequence[PersonState], head: HeadOrientation, t: float) -> UpdateResult:
        """Advance to capture time ``t`` (seconds, non-decreasing) with the whole People Map and the wearer's head;
        returns the cues that start now and the seen signals to publish."""
        if isinstance(people, PersonState) or not isinstance(people, Sequence):
            raise ExperienceError(f"people must be a list of PersonState, got {type(people).__name__}")
        if not isinstance(t, int | float) or not math.isfinite(t):
            raise ExperienceError(f"update time must be a finite number of seconds, got {t!r}")
        if t < self._t - 1e-6:
            raise ExperienceError(f"update time went backwards ({t:.3f} s < {self._t:.3f} s); call reset() first")
        if not isinstance(head, HeadOrientation) or not math.isfinite(head.yaw_deg):
            raise ExperienceError(f"head must be a HeadOrientation with a finite yaw, got {head!r}")
        by_id: dict[int, PersonState] = {}
        for p in people:
            p = _check_person(p)
            if p.track_id in by_id:
                raise ExperienceError(f"track id {p.track_id} appears twice in the People Map")
            by_id[p.track_id] = p
        self._t, self._head, self._people = float(t), head, by_id
        ctx = Context(t=float(t), head=head, people=by_id, config=self.config, scheduler=self.scheduler)
        self.orientation.update(ctx)
        self.attention.update(ctx)
        self.gaze.update(ctx)
        self.guidance.update(ctx)
        self.follower.update(ctx)
        events = [c.event for c in self.scheduler.step(float(t), by_id)]
        if self.event_log is not None:
            for ev in events:
                self.event_log.log(ev)
        return UpdateResult(events=events, seen=self.attention.take_seen())

    def speech_finished(self, t: float) -> None:
        """The audio layer reports that the utterance it was playing ended at ``t``: speech may start again."""
        self.scheduler.speech_finished(t)

    # ------------------------------------------------------------------ follow
    def follow(self, name: str) -> PersonState:
        """Follow the (nearest) person called ``name`` in the last People Map; raises :class:`FollowError`."""
        matches = [p for p in self._people.values() if p.name == name]
        if not matches:
            known = sorted({p.name for p in self._people.values() if p.name})
            raise FollowError(f"nobody named {name!r} is in the People Map (known now: {', '.join(known) or 'none'})")
        person = min(matches, key=lambda p: p.distance_m)
        self.follower.start(person, by_name=True)
        return person

    def follow_track(self, track_id: int) -> PersonState:
        """Follow the person with this track id; raises :class:`FollowError` when not in the People Map."""
        person = self._people.get(track_id)
        if person is None:
            raise FollowError(f"track {track_id} is not in the People Map")
        self.follower.start(person, by_name=False)
        return person

    def follow_front(self) -> PersonState:
        """Follow the person closest to the gaze direction (within ``follow_front_max_offset_deg``)."""
        limit = self.config.follow_front_max_offset_deg
        options = [p for p in self._people.values() if abs(camera_azimuth(p, self._head)) <= limit]
        if not options:
            raise FollowError(f"nobody is within {limit:g}° of the gaze direction")
        person = min(options, key=lambda p: abs(camera_azimuth(p, self._head)))
        self.follower.start(person, by_name=person.name is not None)
        return person

    def unfollow(self) -> None:
        """Stop following (silently)."""
        self.follower.stop()

    @property
    def following(self) -> int | None:
        """The followed track id, or None."""
        return self.follower.track_id

    # ------------------------------------------------------------------ orientation
    def request_orientation(self) -> None:
        """Play the orientation sweep (everyone in the People Map, nearest first) from the next update on."""
        self.orientation.request()
