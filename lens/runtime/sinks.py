"""Where audio events end up: a log line per event (default) or the real-time spatial audio player, plus the
``seen`` publisher for peers' LED drivers. :class:`OutputStage` is the audio-output stage both run modes use:
it hands events to the sink, measures end-to-end latency (now - frame capture time) and raises seen signals.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime
from typing import Any, Protocol, TextIO

import zmq

from peoplelens.core.state import AudioEvent, HeadOrientation, SeenSignal, Sound
from peoplelens.lens.runtime.messages import encode, packb
from peoplelens.lens.runtime.stats import RuntimeStats
from peoplelens.lens.runtime.transport import SEEN_TOPIC, send_nowait

#: Events whose sound means "the wearer has now seen this person" (peers' LED lights up).
SEEN_SOUNDS = frozenset({Sound.NAME, Sound.CLICK})


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


class LogSink:
    """One line per event: wall time, sound, track, azimuth, distance, reason, frame age."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def handle(self, event: AudioEvent, frame_age_s: float) -> None:
        """Write the event's line (flushed, so a pipe sees it at once)."""
        now = datetime.now().strftime("%H:%M:%S.%f")[:-3]
        track = "-" if event.track_id is None else str(event.track_id)
        name = f" name={event.name}" if event.name else ""
        self.stream.write(f"{now} EVENT {event.sound} track={track} az={event.azimuth_deg:+.1f} "
                          f"el={event.elevation_deg:+.1f} dist={event.distance_m:.2f}m{name} "
                          f"age={frame_age_s * 1000:.1f}ms reason={event.reason}\n")
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
    """The audio-output stage: events -> sink, latency bookkeeping, seen signals."""

    def __init__(self, sink: EventSink, seen: SeenPublisher, stats: RuntimeStats) -> None:
        self.sink, self.seen, self.stats = sink, seen, stats

    def deliver(self, events: list[AudioEvent], seen: list[SeenSignal], t_capture: float,
                head: HeadOrientation | None = None, extra: dict[str, Any] | None = None) -> None:
        """Play ``events`` of a frame captured at ``t_capture`` (wall clock) and raise its seen signals."""
        if head is not None:
            self.sink.set_head(head)
        for event in events:
            age = time.time() - t_capture
            self.sink.handle(event, age)
            self.stats.count("audio", "events")
            self.stats.observe_s("end_to_end", age)
            if event.sound in SEEN_SOUNDS:
                self.seen.publish(SeenSignal(t=event.t, track_id=event.track_id if event.track_id is not None else -1,
                                             name=event.name, reason=f"{event.sound} event"), t_capture)
        for signal in seen:
            self.seen.publish(signal, t_capture)

    def close(self) -> None:
        """Close the sink."""
        self.sink.close()
