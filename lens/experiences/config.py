"""Every threshold of the sound scheme, with its documented default.

Override any of them from the ``[experiences]`` section of the TOML configuration::

    [experiences]
    bump_max_distance_m = 10.0
    name_max_distance_m = 4.0
    name_cooldown_s = 30.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Annotated, Any

from msgspec import Meta

from peoplelens.core.config import ConfigData, ConfigError, section

# Ranges checked when the [experiences] section is read (peoplelens.core.config.section)
Metres = Annotated[float, Meta(ge=0.0, le=100.0)]
Degrees = Annotated[float, Meta(ge=0.0, le=180.0)]
Seconds = Annotated[float, Meta(ge=0.0, le=3600.0)]
Semitones = Annotated[float, Meta(ge=0.0, le=48.0)]


@dataclass(frozen=True)
class ExperienceConfig:
    """Thresholds of the experiences (angles in degrees, distances in metres, times in seconds)."""

    # --- bump: the gaze (camera axis) crosses a person ---------------------------------------------------------
    bump_max_distance_m: Metres = 10.0  # people further away are not bumped (nor named/clicked)
    person_half_width_m: Metres = 0.25  # half a person's shoulder width: the crossing cone is atan(w / distance)
    bump_min_cone_deg: Degrees = 3.0  # ... but never narrower than this (far people, tracking jitter)
    bump_max_cone_deg: Degrees = 15.0  # ... nor wider than this (very close people)
    bump_sweep_max_deg: Degrees = 30.0  # a sign change of the camera azimuth counts as a crossing only within this
    bump_rearm_margin_deg: Degrees = 10.0  # re-arm once the gaze is this far outside the cone ...
    bump_rearm_min_s: Seconds = 1.0  # ... and at least this long after the last bump of that person
    bump_requires_in_view: bool = True  # remembered (out-of-view) people are not bumped

    # --- name / click after the bump ---------------------------------------------------------------------------
    name_max_distance_m: Metres = 4.0  # the name is spoken only this close ...
    name_requires_both_ears: bool = True  # ... with both ears visible (the face turned to the wearer)
    name_cooldown_s: Seconds = 30.0  # per person: no second name within this time
    click_cooldown_s: Seconds = 30.0  # per person: no second not-enrolled click within this time
    speech_base_s: Seconds = 0.45  # estimated speech duration = base + per_char * len(name) ...
    speech_per_char_s: Seconds = 0.07  # ... unless the audio layer reports the end (engine.speech_finished)

    # --- woodblock guidance to centre an unidentified face -----------------------------------------------------
    guidance_min_seen_s: Seconds = 1.0  # only for people seen (continuously) at least this long
    guidance_attend_deg: Degrees = 20.0  # the attended person: in view, the closest to the gaze within this
    guidance_max_distance_m: Metres = 10.0
    guidance_centred_deg: Degrees = 4.0  # stop tapping once the face is this close to the camera axis
    guidance_range_deg: Degrees = 30.0  # pitch = max * (1 - min(offset, range) / range) semitones
    guidance_max_semitones: Semitones = 12.0  # an octave above the base tap when (almost) centred
    guidance_interval_s: Seconds = 0.4  # one tap at most every this long

    # --- gaze notification -------------------------------------------------------------------------------------
    gaze_debounce_s: Seconds = 0.3  # looking_at_wearer must hold (or stop) this long to count as a change
    gaze_cooldown_s: Seconds = 10.0  # per person
    gaze_max_distance_m: Metres = 10.0

    # --- follow ------------------------------------------------------------------------------------------------
    follow_interval_s: Seconds = 1.5
    follow_front_max_offset_deg: Degrees = 30.0  # follow_front() picks the person closest to the gaze within this

    # --- orientation guide -------------------------------------------------------------------------------------
    orientation_gap_s: Seconds = 0.15  # silence between two items of the sweep

    # --- scheduling --------------------------------------------------------------------------------------------
    max_delay_s: Seconds = 0.5  # a cue that cannot start within this of being triggered is dropped
    cue_durations_s: tuple[tuple[str, Seconds], ...] = (
        ("bump", 0.08),
        ("woodblock", 0.12),
        ("click", 0.01),
        ("gaze", 0.38),
        ("follow", 0.52),
        ("orientation", 0.15),
    )  # how long each non-speech cue occupies the cue channel (matches ``peoplelens.audio.sounds``)

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or f.name == "cue_durations_s":
                continue
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise ConfigError(f"[experiences] {f.name} must be a non-negative number, got {value!r}")
        if self.bump_min_cone_deg > self.bump_max_cone_deg:
            raise ConfigError("[experiences] bump_min_cone_deg must not exceed bump_max_cone_deg")
        if self.guidance_range_deg <= 0:
            raise ConfigError("[experiences] guidance_range_deg must be positive")
        try:
            durations = {str(k): float(v) for k, v in self.cue_durations_s}
        except (TypeError, ValueError) as exc:
            raise ConfigError("[experiences] cue_durations_s must be a list of [sound, seconds] pairs") from exc
        if any(not math.isfinite(v) or v < 0 for v in durations.values()):
            raise ConfigError("[experiences] cue_durations_s must hold non-negative seconds")

    def cue_duration(self, sound: str) -> float:
        """How long the non-speech cue ``sound`` occupies the cue channel (0.1 s when not listed)."""
        for name, seconds in self.cue_durations_s:
            if name == str(sound):
                return float(seconds)
        return 0.1

    def speech_duration(self, text: str) -> float:
        """The estimated duration of speaking ``text``."""
        return self.speech_base_s + self.speech_per_char_s * len(text)


def experience_config(config: dict[str, Any] | None = None) -> ExperienceConfig:
    """The ``[experiences]`` section of a loaded configuration (defaults for anything not set)."""
    values = dict((config or {}).get("experiences", {}))
    if "cue_durations_s" in values and isinstance(values["cue_durations_s"], dict):
        values["cue_durations_s"] = tuple(values["cue_durations_s"].items())
    elif "cue_durations_s" in values:
        values["cue_durations_s"] = tuple(tuple(p) for p in values["cue_durations_s"])
    return section(ConfigData({"experiences": values}, getattr(config, "source", None)), "experiences",
                   ExperienceConfig)
