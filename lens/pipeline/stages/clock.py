"""The pipeline's own clock: frame times that jump are resynchronised here, once, before any stage sees them.

A frame's time comes from its sender (video time, a camera's clock, a device over the network) and can misbehave:
a camera restart or a looping video starts again at 0, a damaged stamp says ``t = 1e9`` after ``t = 3.2``, a
clock is stepped. The tracker, the People Map, the identity schedule, the IMU interpolation and the experiences'
cool-downs all need time that never runs backwards and never leaps. :class:`FrameClock` turns the frame times
into such a time (``FrameState.t``):

* a step forward of up to ``clock_max_gap_s`` is taken as time that really passed (a stalled camera, a network
  outage: people out of view age by it);
* a step backwards of up to ``clock_max_backstep_s`` (jitter) holds the time where it was;
* anything else (a larger step back, a leap forward) starts a new **epoch**: the pipeline's time continues one
  frame period after the last frame, so every timer keeps its place, and the frame is marked ``clock_jumped``,
  which the world stages treat as a cut (every track is retired, live IMU samples of the old clock are dropped).

While frame times behave, the pipeline's time is the frame's own time, unchanged.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass

from peoplelens.lens.pipeline.frame_state import FrameState

_DEFAULT_PERIOD_S = 1.0 / 30.0


@dataclass
class ClockHealth:
    """What the clock has seen (the runtime's ``clock.*`` counters)."""

    epochs: int = 0  # new epochs started (jumps back + leaps forward)
    jumps_back: int = 0
    jumps_forward: int = 0
    held: int = 0  # small steps back (jitter) held at the previous time
    largest_jump_s: float = 0.0

    def as_counters(self) -> dict[str, float]:
        """The counters as a flat dict."""
        return {"epochs": self.epochs, "jumps_back": self.jumps_back, "jumps_forward": self.jumps_forward,
                "held": self.held, "largest_jump_s": round(self.largest_jump_s, 3)}


class FrameClock:
    """Maps frame times to a pipeline time that never goes backwards and never leaps (see the module doc)."""

    def __init__(self, max_gap_s: float = 30.0, max_backstep_s: float = 0.1) -> None:
        self.max_gap_s, self.max_backstep_s = max_gap_s, max_backstep_s
        self.health = ClockHealth()
        self.reset()

    def reset(self) -> None:
        """A new recording: the next frame's time is taken as it is."""
        self.offset = 0.0  # pipeline time = frame time + offset
        self._steps: deque[float] = deque(maxlen=9)  # recent frame periods
        self._last_raw: float | None = None
        self._last_t: float | None = None

    def step(self, raw: float) -> tuple[float, bool]:
        """The pipeline time of a frame stamped ``raw`` (finite) and whether it starts a new epoch."""
        if self._last_raw is None or self._last_t is None:
            self._last_raw, self._last_t = raw, raw + self.offset
            return self._last_t, False
        dt = raw - self._last_raw
        jumped = not (-self.max_backstep_s <= dt <= self.max_gap_s)
        if jumped:
            self.health.epochs += 1
            if dt < 0:
                self.health.jumps_back += 1
            else:
                self.health.jumps_forward += 1
            self.health.largest_jump_s = max(self.health.largest_jump_s, abs(dt))
            t = self._last_t + self.period_s
            self.offset = t - raw
        else:
            t = raw + self.offset
            if t < self._last_t:
                self.health.held += 1
                t = self._last_t
            elif dt > 0:
                self._steps.append(min(max(dt, 1e-3), 0.5))
        self._last_raw, self._last_t = raw, t
        return t, jumped

    @property
    def period_s(self) -> float:
        """The frame period: the median of the recent steps forward (1/30 s before there are any)."""
        return statistics.median(self._steps) if self._steps else _DEFAULT_PERIOD_S


class ClockStage:
    """Gives the frame its pipeline time (``clock_t``, what ``state.t`` returns) and flags a clock jump."""

    name = "clock"
    reads = frozenset({"frame"})
    writes = frozenset({"clock_t", "clock_jumped"})

    def __init__(self, clock: FrameClock) -> None:
        self.clock = clock

    def run(self, state: FrameState) -> None:
        """Resynchronise this frame's time."""
        raw = float(state.frame.timestamp)
        assert math.isfinite(raw)  # Frame refuses a non-finite timestamp
        state.clock_t, state.clock_jumped = self.clock.step(raw)

    def reset(self) -> None:
        """Start a new recording (the counters are kept: they describe the process)."""
        self.clock.reset()
