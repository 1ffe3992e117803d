"""Gaze notification: a distinct chime from a person who *starts* looking at the wearer.

``looking_at_wearer`` is debounced per person: the stable state changes only after the raw flag has held the
other value for ``gaze_debounce_s`` (so one-frame flickers neither start nor end a look). A notification is
queued on the stable rising edge, for people in view within ``gaze_max_distance_m``, at most once per
``gaze_cooldown_s`` per person. Someone who keeps looking is notified once, however long they look.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial

from peoplelens.core.state import AudioEvent, Sound
from peoplelens.lens.experiences.context import Context, camera_azimuth, candidate, make_event, side, who


@dataclass
class _Look:
    stable: bool = False
    change_since: float | None = None  # when the raw flag first disagreed with the stable state
    last_notified: float = -math.inf


@dataclass
class GazeNotifyExperience:
    """Rising-edge, debounced, cooled-down "someone is looking at you" cues."""

    _state: dict[int, _Look] = field(default_factory=dict)

    def update(self, ctx: Context) -> None:
        """Update every person's debounced looking state and queue notifications on rising edges."""
        cfg = ctx.config
        for tid in [tid for tid in self._state if tid not in ctx.people]:
            del self._state[tid]
        for p in ctx.people.values():
            st = self._state.setdefault(p.track_id, _Look())
            raw = bool(p.looking_at_wearer and p.in_view)
            if raw == st.stable:
                st.change_since = None
                continue
            if st.change_since is None:
                st.change_since = ctx.t
            if ctx.t - st.change_since + 1e-9 < cfg.gaze_debounce_s:
                continue
            st.stable, st.change_since = raw, None
            if not raw or p.distance_m > cfg.gaze_max_distance_m:
                continue
            if ctx.t - st.last_notified < cfg.gaze_cooldown_s:
                continue
            st.last_notified = ctx.t  # one attempt per rising edge (dropped if stale, never repeated)
            reason = (f"{who(p)} started looking at the wearer ({p.distance_m:.1f} m, "
                      f"{side(camera_azimuth(p, ctx.head))}; looking for {cfg.gaze_debounce_s:g} s)")
            event = make_event(ctx, Sound.GAZE, p, reason)
            ctx.submit(candidate(ctx, event, on_emit=partial(self._done, st=st)))

    @staticmethod
    def _done(event: AudioEvent, st: _Look) -> None:
        st.last_notified = event.t
