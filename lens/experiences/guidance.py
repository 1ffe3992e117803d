"""Woodblock guidance: taps that lead the wearer's gaze to an unidentified face so it can be recognised.

Who is guided: the *attended* unidentified person — in view, seen continuously for ``guidance_min_seen_s``,
identity UNSEEN_FACE or IDENTIFYING, within ``guidance_max_distance_m`` and the closest such person to the gaze
within ``guidance_attend_deg`` (the current target is kept while it stays eligible).

The mapping (documented contract with the audio layer, which plays ``pitch_semitones`` above its base tap):

* **how far**: ``offset`` = angular distance of the face centre from the camera axis,
  ``hypot(face camera azimuth, face camera elevation)`` (the body's when no face is seen);
  ``pitch_semitones = guidance_max_semitones * (1 - min(offset, guidance_range_deg) / guidance_range_deg)``:
  0 at the edge of the range, rising as the face nears the centre (an octave up, by default, when centred).
  It depends only on ``|offset|`` — the same pitch for the same offset left or right, up or down.
* **which way**: each tap is played *from the face's world direction* (azimuth = head yaw + face camera azimuth,
  elevation = head pitch + face camera elevation), so the spatial audio says where to turn; the event's
  ``extra`` also carries ``turn_azimuth_deg``/``turn_elevation_deg`` (+ = turn right / up).
* taps come at most every ``guidance_interval_s``; none while the face is within ``guidance_centred_deg``
  of the axis (centred: hold still) and none once the person is identified (KNOWN or NOT_ENROLLED).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from peoplelens.core.state import AudioEvent, IdentityState, PersonState, Sound, wrap_deg
from peoplelens.lens.experiences.config import ExperienceConfig
from peoplelens.lens.experiences.context import Context, camera_azimuth, camera_elevation, candidate, make_event, who

UNIDENTIFIED = frozenset({IdentityState.UNSEEN_FACE, IdentityState.IDENTIFYING})


def guidance_pitch(offset_deg: float, config: ExperienceConfig) -> float:
    """Semitones above the base tap for a face ``offset_deg`` from the camera axis (higher = closer to centre)."""
    off = min(abs(offset_deg), config.guidance_range_deg)
    return config.guidance_max_semitones * (1.0 - off / config.guidance_range_deg)


@dataclass
class GuidanceExperience:
    """Periodic woodblock taps for the attended unidentified person."""

    target: int | None = None
    last_tap_t: float = -math.inf

    def _eligible(self, ctx: Context, p: PersonState) -> bool:
        cfg = ctx.config
        return (p.in_view and p.identity in UNIDENTIFIED and p.seen_duration_s >= cfg.guidance_min_seen_s
                and p.distance_m <= cfg.guidance_max_distance_m)

    def _offset(self, ctx: Context, p: PersonState) -> tuple[float, float, str]:
        if p.face_camera_azimuth_deg is not None:
            el = p.face_camera_elevation_deg if p.face_camera_elevation_deg is not None else 0.0
            return float(p.face_camera_azimuth_deg), float(el), "face"
        return camera_azimuth(p, ctx.head), camera_elevation(p, ctx.head), "body"

    def update(self, ctx: Context) -> None:
        """Choose the guided person and queue a tap when one is due."""
        cfg = ctx.config
        current = ctx.people.get(self.target) if self.target is not None else None
        if current is None or not self._eligible(ctx, current) or \
                abs(camera_azimuth(current, ctx.head)) > cfg.guidance_attend_deg + cfg.bump_rearm_margin_deg:
            options = [p for p in ctx.people.values()
                       if self._eligible(ctx, p) and abs(camera_azimuth(p, ctx.head)) <= cfg.guidance_attend_deg]
            current = min(options, key=lambda p: abs(camera_azimuth(p, ctx.head)), default=None)
            self.target = current.track_id if current else None
        if current is None or ctx.t - self.last_tap_t < cfg.guidance_interval_s - 1e-9:
            return
        az, el, what = self._offset(ctx, current)
        offset = math.hypot(az, el)
        if offset <= cfg.guidance_centred_deg:
            return
        pitch = guidance_pitch(offset, cfg)
        turn = " ".join(part for part in (
            f"{abs(az):.1f}° {'right' if az > 0 else 'left'}" if abs(az) >= 0.5 else "",
            f"{abs(el):.1f}° {'up' if el > 0 else 'down'}" if abs(el) >= 0.5 else "") if part)
        reason = (f"guiding to the {what} of {who(current)} ({current.identity}, seen "
                  f"{current.seen_duration_s:.1f} s): turn {turn} -> {pitch:+.1f} semitones")
        event = make_event(ctx, Sound.WOODBLOCK, current, reason, pitch_semitones=pitch,
                           azimuth_deg=wrap_deg(ctx.head.yaw_deg + az), elevation_deg=ctx.head.pitch_deg + el,
                           extra={"turn_azimuth_deg": az, "turn_elevation_deg": el, "offset_deg": offset})
        ctx.submit(candidate(ctx, event, max_delay_s=0.0, on_emit=self._tapped))

    def _tapped(self, event: AudioEvent) -> None:
        self.last_tap_t = event.t
