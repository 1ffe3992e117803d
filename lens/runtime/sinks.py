"""Where audio events end up: a console line per event (default) or the real-time spatial audio player, an
optional ``events.jsonl`` file (``--events``, the same records replay writes), and the ``seen`` publisher for
peers' LED drivers. :class:`OutputStage` is the audio-output stage both run modes use: it hands events to the sink,
writes them, measures end-to-end latency (now - frame capture time) and publishes the processor's seen signals
(one per announcement: the experiences raise them, nothing here adds more).

No sink ever plays an event it cannot place: events from the network are validated at the boundary
(:mod:`peoplelens.lens.runtime.wire_schema`), and :func:`playable_events` checks every event again right before it
is played or sent (finite direction, distance and pitch in range, a known sound): a bad one is dropped and counted
as ``<stage>.invalid_events``, the others play.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from pathlib import Path
from typing import Protocol, TextIO

import zmq

from peoplelens.core.event_log import EventLog
from peoplelens.core.state import AudioEvent, HeadOrientation, SeenSignal, Sound
from peoplelens.lens.runtime.messages import encode, packb
from peoplelens.lens.runtime.stats import RuntimeStats
from peoplelens.lens.runtime.transport import SEEN_TOPIC, send_nowait

log = logging.getLogger(__name__)

MAX_PLAUSIBLE_AGE_S = 60.0  # an event's frame older than this (or from the future) is not a latency sample

#: (field, lowest, highest) an event must meet to be played (the wire schema's ranges)
_RANGES = (("azimuth_deg", -360.0, 360.0), ("elevation_deg", -180.0, 180.0), ("distance_m", 0.0, 1000.0),
           ("pitch_semitones", -48.0, 48.0))


def event_problem(event: object) -> str | None:
    """Why ``event`` cannot be played (not an AudioEvent, an unknown sound, a value not finite or out of range),
    or None when it can."""
    if not isinstance(event, AudioEvent):
        return f"not an AudioEvent but {type(event).__name__}"
    if not isinstance(event.sound, Sound):
        return f"unknown sound {event.sound!r}"
    for name, low, high in _RANGES:
        value = getattr(event, name)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
                or not low <= value <= high:
            return f"{name} = {value!r} (a finite number in [{low:g}, {high:g}] expected)"
    return None


def playable_events(events: list[AudioEvent], stats: RuntimeStats, stage: str) -> list[AudioEvent]:
    """``events`` without those that cannot be played, each of which is counted (``<stage>.invalid_events``) and
    logged (rate limited)."""
    good = []
    for event in events:
        problem = event_problem(event)
        if problem is None:
            good.append(event)
        else:
            stats.count(stage, "invalid_events")
            stats.note(f"{stage}.invalid", f"{stage}: dropped an event that cannot be played: {problem}", log)
    return good


def head_problem(head: HeadOrientation) -> str | None:
    """Why ``head`` cannot steer the audio (a non-finite angle), or None."""
    values = (head.yaw_deg, head.pitch_deg, head.roll_deg)
    if not all(isinstance(v, int | float) and math.isfinite(v) for v in values):
        return f"head orientation {values} is not finite"
    return None


class EventSink(Protocol):
    """Plays (or records) audio events."""

    def handle(self, event: AudioEvent, frame_age_s: float) -> None:
        """Play one event; ``frame_age_s`` is how old its camera frame is now."""
        ...

    def set_head(self, head: HeadOrientation) -> None:
        """The latest head orientation (for head-tracked rendering)."""
        ...

    def close(self) -> None:
        """Release the output."""
        ...


def _direction(azimuth_deg: float) -> str:
    side = "ahead" if abs(azimuth_deg) < 5 else ("right" if azimuth_deg > 0 else "left")
    return f"{azimuth_deg:+4.0f}° {side:<5s}"


def event_console_line(event: AudioEvent, t0: float = 0.0) -> str:
    """One short line per event: time, sound, direction, distance, who (the reason goes to the events file)."""
    who = event.name or ("-" if event.track_id is None else f"person {event.track_id}")
    return (f"{event.t - t0:8.2f} s  {str(event.sound):<11s} {_direction(event.azimuth_deg)} "
            f"{event.distance_m:5.1f} m  {who}")


class LogSink:
    """The console: one line per event (:func:`event_console_line`)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def handle(self, event: AudioEvent, frame_age_s: float) -> None:
        """Write the event's line (flushed, so a pipe sees it at once)."""
        self.stream.write(event_console_line(event) + "\n")
        self.stream.flush()

    def set_head(self, head: HeadOrientation) -> None:
        """Nothing to do for a log."""

    def close(self) -> None:
        """Nothing to release."""


class AudioPlayerSink:
    """The audio package's head-tracked mixer on a real-time PortAudio output (``--audio``)."""

    def __init__(self, device: str | None = None) -> None:
        from peoplelens.audio.bank import SoundBank
        from peoplelens.audio.mixer import Mixer, event_cue
        from peoplelens.audio.output import RealtimeOutput

        self._event_cue = event_cue
        self.mixer = Mixer()
        self.bank = SoundBank(self.mixer.config)
        self.output = RealtimeOutput(self.mixer, device=device).start()

    def handle(self, event: AudioEvent, frame_age_s: float) -> None:
        """Start the event's cue from its world direction."""
        self.mixer.play(self._event_cue(event, self.bank))

    def set_head(self, head: HeadOrientation) -> None:
        """Keep cues in their world direction while the head turns."""
        self.mixer.set_head(head.yaw_deg, head.pitch_deg)

    def close(self) -> None:
        """Stop the output stream."""
        self.output.stop()


class SeenPublisher:
    """Publishes :class:`SeenSignal` s as ``[b"seen", message]`` on a bound PUB socket (or only counts them)."""

    def __init__(self, sock: zmq.Socket | None, stats: RuntimeStats, stage: str = "seen") -> None:
        self.sock, self.stats, self.stage, self.seq = sock, stats, stage, 0

    def publish(self, signal: SeenSignal, t_capture: float) -> None:
        """Send one seen signal (never blocks)."""
        self.stats.count(self.stage, "signals")
        if self.sock is None:
            return
        data = encode("seen", self.seq, t_capture, "device", packb(vars(signal)))
        self.seq += 1
        self.stats.count(self.stage, "published" if send_nowait(self.sock, [SEEN_TOPIC, data]) else "unsent")


class OutputStage:
    """The audio-output stage: events -> sink (and the events file), latency bookkeeping, seen signals."""

    def __init__(self, sink: EventSink, seen: SeenPublisher, stats: RuntimeStats,
                 events_path: str | Path | None = None) -> None:
        self.sink, self.seen, self.stats = sink, seen, stats
        self.events_log = EventLog(events_path) if events_path else None

    def deliver(self, events: list[AudioEvent], seen: list[SeenSignal], t_capture: float,
                head: HeadOrientation | None = None, frame_index: int = -1) -> None:
        """Play ``events`` of frame ``frame_index`` captured at ``t_capture`` (wall clock); publish its seen signals.
        An event that cannot be played (see :func:`event_problem`) is dropped and counted, never played."""
        if head is not None:
            if head_problem(head) is None:
                self.sink.set_head(head)
            else:
                self.stats.count("audio", "invalid_heads")
        for event in playable_events(events, self.stats, "audio"):
            age = time.time() - t_capture
            self.sink.handle(event, age)
            if self.events_log is not None:
                self.events_log.log(event, frame_index=frame_index, latency_s=age)
            self.stats.count("audio", "events")
            if 0.0 <= age <= MAX_PLAUSIBLE_AGE_S:
                self.stats.observe_s("end_to_end", age)
            else:  # a capture time from another clock (or a forged one) must not spoil the percentiles
                self.stats.count("audio", "latency_outliers")
        for signal in seen:
            self.seen.publish(signal, t_capture)

    def close(self) -> None:
        """Close the sink and the events file."""
        self.sink.close()
        if self.events_log is not None:
            self.events_log.close()
