"""Bump, then name or click: what the wearer hears when the gaze crosses a person.

Per person, a small state machine:

* **crossing**: the camera azimuth enters the cone ``crossing_cone_deg(distance)`` or changes sign between
  two updates (both sides within ``bump_sweep_max_deg``), with the person in view and ``<= bump_max_distance_m``;
* **bump** when crossed and armed; the person is then *attended* until the gaze leaves the cone by
  ``bump_rearm_margin_deg`` (or the person leaves the view); re-armed once the gaze has left and
  ``bump_rearm_min_s`` has passed since the bump — so no repeated bumps while the wearer keeps looking;
* **announcement** once per attention episode, after the bump: the NAME of a KNOWN person within
  ``name_max_distance_m`` with both ears visible, or a CLICK for a NOT_ENROLLED person. If the conditions fail
  at bump time they are re-checked on every update while the person stays attended (the person turns so both
  ears show, comes closer, or is identified) and the announcement is made then, once. Per-person cool-downs
  (``name_cooldown_s``, ``click_cooldown_s``) skip the announcement of an episode altogether; the name
  cool-down also follows the name, so a person re-identified under a new track id is not named again at once.
* an announcement that is actually played yields a :class:`peoplelens.core.state.SeenSignal` (peers' "seen" LED).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial

from peoplelens.core.state import AudioEvent, IdentityState, PersonState, SeenSignal, Sound
from peoplelens.lens.experiences.context import (
    Context,
    camera_azimuth,
    candidate,
    crossing_cone_deg,
    make_event,
    side,
    who,
)


@dataclass
class _PersonAttention:
    prev_az: float | None = None
    left: bool = True  # the gaze has left the person (by the margin) since the last bump
    attended: bool = False
    last_bump_t: float = -math.inf
    last_name_t: float = -math.inf
    last_click_t: float = -math.inf
    announced: bool = False  # this episode's announcement is done (or skipped by a cool-down)
    in_flight: bool = False  # a NAME/CLICK for this episode waits in the scheduler


@dataclass
class AttentionExperience:
    """Bumps, names and clicks for people the gaze crosses; collects the seen signals of what was played."""

    _state: dict[int, _PersonAttention] = field(default_factory=dict)
    _named_at: dict[str, float] = field(default_factory=dict)  # name cool-downs survive track-id changes
    seen: list[SeenSignal] = field(default_factory=list)

    def attended(self) -> list[int]:
        """Track ids currently attended (bumped, and the gaze has not left them)."""
        return [tid for tid, s in self._state.items() if s.attended]

    def update(self, ctx: Context) -> None:
        """Detect crossings and queue bumps and announcements for this update."""
        for tid in [tid for tid in self._state if tid not in ctx.people]:
            del self._state[tid]
        for person in ctx.people.values():
            self._update_person(ctx, person, self._state.setdefault(person.track_id, _PersonAttention()))

    def _update_person(self, ctx: Context, p: PersonState, st: _PersonAttention) -> None:
        cfg = ctx.config
        if cfg.bump_requires_in_view and not p.in_view:
            st.prev_az, st.left, st.attended = None, True, False
            return
        az = camera_azimuth(p, ctx.head)
        cone = crossing_cone_deg(p.distance_m, cfg)
        if abs(az) > cone + cfg.bump_rearm_margin_deg:
            st.left, st.attended = True, False
        in_cone = abs(az) <= cone
        swept = (st.prev_az is not None and abs(st.prev_az) <= cfg.bump_sweep_max_deg
                 and abs(az) <= cfg.bump_sweep_max_deg and ((st.prev_az < 0 <= az) or (st.prev_az > 0 >= az)))
        st.prev_az = az
        armed = st.left and ctx.t - st.last_bump_t >= cfg.bump_rearm_min_s
        if (in_cone or swept) and armed and p.gate_distance_m <= cfg.bump_max_distance_m:
            how = "entered the gaze cone" if in_cone else "gaze swept across"
            reason = (f"gaze crossed {who(p)} at {p.distance_m:.1f} m ({how}: camera azimuth {az:+.1f}°, "
                      f"cone ±{cone:.1f}°, <= {cfg.bump_max_distance_m:g} m)")
            ctx.submit(candidate(ctx, make_event(ctx, Sound.BUMP, p, reason)))
            st.left, st.attended, st.last_bump_t = False, True, ctx.t
            st.announced, st.in_flight = False, False
            self._announce(ctx, p, st, after_s=cfg.cue_duration("bump"))
        elif st.attended:
            self._announce(ctx, p, st, after_s=0.0)

    def _announce(self, ctx: Context, p: PersonState, st: _PersonAttention, after_s: float) -> None:
        cfg = ctx.config
        if st.announced or st.in_flight:
            return
        if p.identity == IdentityState.KNOWN and p.name:
            last = max(st.last_name_t, self._named_at.get(p.name, -math.inf))
            if ctx.t - last < cfg.name_cooldown_s:
                st.announced = True  # named recently (under this or an earlier track id): this visit stays a bump
                return
            if p.gate_distance_m > cfg.name_max_distance_m:
                return
            if cfg.name_requires_both_ears and not p.both_ears_visible:
                return
            ears = ", both ears visible" if p.both_ears_visible else ""
            near = (f" (a child's size: {p.gate_distance_m:.1f} m)"
                    if abs(p.gate_distance_m - p.distance_m) >= 0.05 else "")
            reason = f"known ({p.name}), {p.distance_m:.1f} m{near} <= {cfg.name_max_distance_m:g} m{ears}"
            event = make_event(ctx, Sound.NAME, p, reason, name=p.name)
        elif p.identity == IdentityState.NOT_ENROLLED:
            if ctx.t - st.last_click_t < cfg.click_cooldown_s:
                st.announced = True
                return
            reason = f"not enrolled: {who(p)} at {p.distance_m:.1f} m, {side(camera_azimuth(p, ctx.head))}"
            event = make_event(ctx, Sound.CLICK, p, reason)
        else:
            return
        st.in_flight = True
        ctx.submit(candidate(ctx, event, delay_s=after_s,
                             on_emit=partial(self._emitted, st=st), on_drop=partial(self._dropped, st=st)))

    @staticmethod
    def _dropped(why: str, st: _PersonAttention) -> None:
        st.in_flight = False

    def _emitted(self, event: AudioEvent, st: _PersonAttention) -> None:
        st.in_flight, st.announced = False, True
        if event.sound == Sound.NAME:
            st.last_name_t = event.t
            if event.name:
                self._named_at[event.name] = event.t
            reason = f"name announced: {event.name}"
        else:
            st.last_click_t = event.t
            reason = "acknowledged with a click (not enrolled)"
        assert event.track_id is not None
        self.seen.append(SeenSignal(t=event.t, track_id=event.track_id, name=event.name, reason=reason))

    def take_seen(self) -> list[SeenSignal]:
        """The seen signals produced since the last call."""
        out, self.seen = self.seen, []
        return out
