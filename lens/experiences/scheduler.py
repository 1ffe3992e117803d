"""Which cue plays now: two channels, priorities, and no cue played late.

* The **speech** channel (NAME) holds one utterance at a time, for its estimated duration or until the audio
  layer reports the end (:meth:`CueScheduler.speech_finished`): names never overlap.
* The **cue** channel holds one short non-speech cue at a time, for that cue's duration.
* Each step starts at most one candidate per channel, the highest priority first (then the oldest).
* While speech plays, the background cues (woodblock, follow) are dropped: a name beats a woodblock.
* A candidate that cannot start within ``max_delay`` of its trigger is dropped, never played late; the experience
  that asked for it hears about it (``on_drop``) and may ask again.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from peoplelens.core.sounds import SOUNDS, Sound
from peoplelens.core.state import AudioEvent, PersonState

# Higher wins when cues compete (the table of every sound is peoplelens.core.sounds.SOUNDS).
PRIORITY: dict[Sound, int] = {sound: spec.priority for sound, spec in SOUNDS.items()}
SPEECH_SOUNDS = frozenset(sound for sound, spec in SOUNDS.items() if spec.speech)
BACKGROUND_SOUNDS = frozenset(sound for sound, spec in SOUNDS.items() if spec.background)  # silenced while speech


@dataclass
class Candidate:
    """A cue an experience wants played: the event (its ``t`` is the trigger time) and the scheduling terms."""

    event: AudioEvent
    duration_s: float
    not_before: float  # earliest start (e.g. a name waits for the end of its bump)
    deadline: float  # dropped when it cannot start by then
    on_emit: Callable[[AudioEvent], None] | None = None
    on_drop: Callable[[str], None] | None = None
    needs_person: bool = True  # dropped when its track leaves the People Map (a follow's final cue does not)
    seq: int = field(default=0, compare=False)

    @property
    def channel(self) -> str:
        """``"speech"`` or ``"cue"``."""
        return "speech" if self.event.sound in SPEECH_SOUNDS else "cue"


class CueScheduler:
    """Holds the pending candidates and the two channels' busy-until times."""

    def __init__(self) -> None:
        self._pending: list[Candidate] = []
        self._seq = 0
        self.speech_busy_until = -math.inf
        self.cue_busy_until = -math.inf

    def submit(self, candidate: Candidate) -> None:
        """Queue a candidate (its ``event.priority`` decides ties between channels' contenders)."""
        self._seq += 1
        candidate.seq = self._seq
        self._pending.append(candidate)

    def pending(self, track_id: int | None = None, sound: Sound | None = None) -> list[Candidate]:
        """The candidates still waiting (optionally only those of one track and/or sound)."""
        return [c for c in self._pending if (track_id is None or c.event.track_id == track_id)
                and (sound is None or c.event.sound == sound)]

    def speech_finished(self, t: float) -> None:
        """The audio layer says the current utterance ended at ``t``: speech may start again from then."""
        self.speech_busy_until = t

    def speech_busy(self, t: float) -> bool:
        """Whether an utterance is (estimated to be) playing at ``t``."""
        return t < self.speech_busy_until

    def clear(self) -> None:
        """Forget every pending candidate and free both channels."""
        self._pending.clear()
        self.speech_busy_until = -math.inf
        self.cue_busy_until = -math.inf

    def step(self, t: float, people: Mapping[int, PersonState] | None = None) -> list[Candidate]:
        """Start what may start at ``t``; returns the started candidates (their events re-timed to ``t``).

        With ``people`` (the current People Map by track id), a waiting cue whose person left the map is dropped,
        and a delayed cue is re-aimed at its person's current direction and distance.
        """
        started: list[Candidate] = []
        keep: list[Candidate] = []
        due: list[Candidate] = []
        for c in self._pending:
            tid = c.event.track_id
            if people is not None and c.needs_person and tid is not None and tid not in people:
                if c.on_drop:
                    c.on_drop(f"track {tid} left the People Map")
            elif t > c.deadline + 1e-9:
                if c.on_drop:
                    c.on_drop(f"stale: could not start within {c.deadline - c.event.t:.2f} s")
            elif c.not_before <= t + 1e-9:
                due.append(c)
            else:
                keep.append(c)
        due.sort(key=lambda c: (-c.event.priority, c.seq))
        for c in due:
            if c.channel == "speech":
                if t >= self.speech_busy_until:
                    self.speech_busy_until = t + c.duration_s
                    started.append(c)
                    continue
            elif c.event.sound in BACKGROUND_SOUNDS and self.speech_busy(t):
                if c.on_drop:
                    c.on_drop("speech is playing")
                continue
            elif t >= self.cue_busy_until:
                self.cue_busy_until = t + c.duration_s
                started.append(c)
                continue
            if t + 1e-9 >= c.deadline:
                if c.on_drop:
                    c.on_drop("channel busy")
            else:
                keep.append(c)
        self._pending = keep
        for c in started:
            if abs(c.event.t - t) > 1e-9:
                c.event.extra.setdefault("trigger_t", c.event.t)
                now = people.get(c.event.track_id) if people is not None and c.event.track_id is not None else None
                if now is not None and c.event.sound != Sound.WOODBLOCK:  # a tap aims at the face, not the body
                    c.event.azimuth_deg, c.event.elevation_deg = now.azimuth_deg, now.elevation_deg
                    c.event.distance_m = now.distance_m
            c.event.t = t
            c.event.frame_t = t
            if c.on_emit:
                c.on_emit(c.event)
        return started
