"""Orientation guide: on request, one cue per person in the People Map, nearest first, one after another.

Known people are announced by NAME, everyone else with a neutral ORIENTATION cue, each from that person's
current world direction (remembered ones included, wherever they are). The next item starts only after the
previous one has finished plus ``orientation_gap_s``, so the sweep never overlaps itself; an item that
cannot start (a channel is busy) is retried on the next update, and a person who left the map is skipped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from peoplelens.core.state import AudioEvent, IdentityState, Sound
from peoplelens.lens.experiences.context import Context, camera_azimuth, candidate, make_event, side, who


@dataclass
class OrientationExperience:
    """The sweep in progress: the remaining track ids in order and when the next may start."""

    requested: bool = False
    queue: list[int] = field(default_factory=list)
    total: int = 0
    next_t: float = -math.inf
    in_flight: bool = False

    @property
    def active(self) -> bool:
        """Whether a sweep is requested or running."""
        return self.requested or bool(self.queue) or self.in_flight

    def request(self) -> None:
        """Start a new sweep at the next update (a running one is replaced)."""
        self.requested, self.queue, self.in_flight, self.next_t = True, [], False, -math.inf

    def update(self, ctx: Context) -> None:
        """Order the people on a fresh request; queue the next item when the previous one is done."""
        if self.requested:
            self.requested = False
            order = sorted(ctx.people.values(), key=lambda p: (p.distance_m, p.track_id))
            self.queue, self.total = [p.track_id for p in order], len(order)
        while self.queue and not self.in_flight and ctx.t >= self.next_t:
            person = ctx.people.get(self.queue[0])
            if person is None:
                self.queue.pop(0)  # left the map since the request
                continue
            index = self.total - len(self.queue) + 1
            rel = camera_azimuth(person, ctx.head)
            where = f"{person.distance_m:.1f} m, {abs(rel):.0f}° {side(rel)}"
            if person.identity == IdentityState.KNOWN and person.name:
                reason = f"orientation {index}/{self.total}: known ({person.name}), {where}"
                event = make_event(ctx, Sound.NAME, person, reason, name=person.name)
            else:
                reason = f"orientation {index}/{self.total}: {who(person)} ({person.identity}), {where}"
                event = make_event(ctx, Sound.ORIENTATION, person, reason)
            event.extra.update({"orientation_index": index, "orientation_total": self.total})
            self.in_flight = True
            cand = candidate(ctx, event, on_drop=self._dropped)
            cand.on_emit = lambda ev, busy=cand.duration_s + ctx.config.orientation_gap_s: self._played(ev, busy)
            ctx.submit(cand)

    def _played(self, event: AudioEvent, busy_s: float) -> None:
        self.in_flight = False
        if self.queue and self.queue[0] == event.track_id:
            self.queue.pop(0)
        self.next_t = event.t + busy_s  # the item's duration plus the gap

    def _dropped(self, _why: str) -> None:
        self.in_flight = False
