"""Follow: a soft repeating cue from one person's current world direction, wherever they are.

The People Map keeps people who left the view (or are behind the wearer) at their remembered world direction,
so the cue keeps coming from there. Following by name survives a track-id change: when the followed track
disappears, another track with the same name takes over. When nobody matches any more, one final cue (with
``extra["final"] = True``) is played from the last direction and following stops.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from peoplelens.core.errors import PeopleLensError
from peoplelens.core.state import AudioEvent, PersonState, Sound, wrap_deg
from peoplelens.lens.experiences.context import Context, camera_azimuth, candidate, make_event, side, who


class FollowError(PeopleLensError):
    """Nobody in the People Map matches the follow request."""


@dataclass
class FollowExperience:
    """The follow state: who is followed and when the last cue played."""

    track_id: int | None = None
    name: str | None = None
    last_cue_t: float = -math.inf
    last_person: PersonState | None = None

    @property
    def active(self) -> bool:
        """Whether someone is being followed."""
        return self.track_id is not None

    def start(self, person: PersonState, by_name: bool) -> None:
        """Follow ``person`` (re-acquired by name after a track change when ``by_name``)."""
        self.track_id, self.name = person.track_id, (person.name if by_name else None)
        self.last_cue_t, self.last_person = -math.inf, person

    def stop(self) -> None:
        """Stop following (no final cue)."""
        self.track_id, self.name, self.last_person = None, None, None

    def update(self, ctx: Context) -> None:
        """Queue the periodic cue (or the final one when the person left the map)."""
        if self.track_id is None:
            return
        person = ctx.people.get(self.track_id)
        if person is None and self.name is not None:
            same = [p for p in ctx.people.values() if p.name == self.name]
            person = min(same, key=lambda p: p.distance_m, default=None)
            if person is not None:
                self.track_id = person.track_id
        if person is None:
            last = self.last_person
            assert last is not None
            reason = f"follow ended: {who(last)} left the People Map (last seen {last.distance_m:.1f} m away)"
            final = candidate(ctx, make_event(ctx, Sound.FOLLOW, last, reason, extra={"final": True}))
            final.needs_person = False
            ctx.submit(final)
            self.stop()
            return
        self.last_person = person
        if ctx.t - self.last_cue_t < ctx.config.follow_interval_s - 1e-9:
            return
        rel = camera_azimuth(person, ctx.head)
        where = "in view" if person.in_view else "remembered direction, out of view"
        reason = (f"following {who(person)}: {person.distance_m:.1f} m, world azimuth "
                  f"{wrap_deg(person.azimuth_deg):+.0f}° ({abs(rel):.0f}° {side(rel)} of the gaze, {where})")
        event = make_event(ctx, Sound.FOLLOW, person, reason, extra={"final": False})
        ctx.submit(candidate(ctx, event, max_delay_s=0.0, on_emit=self._played))

    def _played(self, event: AudioEvent) -> None:
        self.last_cue_t = event.t
