"""Head-tracked mixing: playing cues keep their *world* direction while the wearer's head turns.

The mixer renders in short blocks (``block_ms``, 10 ms by default). For every block and every playing cue
it takes the latest head yaw/pitch (set from the IMU, which runs faster than the video), computes the
head-relative direction ``azimuth = wrap(world_azimuth - head_yaw)``, ``elevation = world_elevation -
head_pitch``, and renders that block of the cue (with ``preroll_samples`` of history so delays and filters
are settled). When the direction changed since the previous block, the block is also rendered from the
previous direction and the two are crossfaded over ``crossfade_ms``, so direction updates never click.

The same mixer drives the real-time output (:mod:`peoplelens.audio.output`, a PortAudio callback pulls blocks) and the
offline :func:`render_timeline` used by the replay harness to write what the wearer would have heard.
"""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from peoplelens.audio.bank import SoundBank
from peoplelens.audio.config import AudioConfig
from peoplelens.audio.errors import AudioError
from peoplelens.audio.render import Renderer, make_renderer
from peoplelens.core.state import AudioEvent, HeadOrientation, wrap_deg


@dataclass
class Cue:
    """Mono samples to play from a world direction."""

    samples: np.ndarray
    azimuth_deg: float  # world frame
    elevation_deg: float = 0.0
    distance_m: float = 1.0
    gain: float = 1.0
    label: str = ""


@dataclass
class _Voice:
    cue: Cue
    pos: int  # index into cue.samples of the next block's first sample (negative = starts later)
    last_dir: tuple[float, float, float] | None = None


class Mixer:
    """Holds the playing cues and renders them block by block for the current head orientation."""

    def __init__(self, renderer: Renderer | None = None, config: AudioConfig | None = None) -> None:
        self.config = config or AudioConfig()
        self.renderer = renderer or make_renderer(None, self.config)
        if self.renderer.sample_rate != self.config.sample_rate:
            raise AudioError(f"renderer runs at {self.renderer.sample_rate} Hz, mixer at {self.config.sample_rate}")
        self.sample_rate = self.config.sample_rate
        self.block_size = max(16, int(round(self.config.block_ms * self.sample_rate / 1000)))
        self._crossfade = max(1, int(round(self.config.crossfade_ms * self.sample_rate / 1000)))
        self._pre = max(0, int(self.config.preroll_samples))
        self._tail = self.renderer.tail_samples
        self._voices: dict[int, _Voice] = {}
        self._ids = itertools.count(1)
        self._head = (0.0, 0.0)
        self._lock = threading.Lock()
        self.samples_rendered = 0

    def set_head(self, yaw_deg: float, pitch_deg: float = 0.0) -> None:
        """Update the wearer's head orientation (world frame); used from the next block on."""
        if not (math.isfinite(yaw_deg) and math.isfinite(pitch_deg)):
            raise AudioError(f"head orientation must be finite, got yaw={yaw_deg} pitch={pitch_deg}")
        with self._lock:
            self._head = (float(yaw_deg), float(pitch_deg))

    def play(self, cue: Cue, delay_samples: int = 0) -> int:
        """Start ``cue`` ``delay_samples`` after the next block begins; returns a voice id for move/stop."""
        samples = np.ascontiguousarray(cue.samples, dtype=np.float32)
        if samples.ndim != 1 or len(samples) == 0:
            raise AudioError(f"a cue must be non-empty mono samples, got shape {samples.shape}")
        if delay_samples < 0:
            raise AudioError("delay_samples must be >= 0")
        cue = replace(cue, samples=samples)  # our own copy: move() must not touch the caller's cue
        with self._lock:
            vid = next(self._ids)
            self._voices[vid] = _Voice(cue=cue, pos=-int(delay_samples))
        return vid

    def move(
        self, voice_id: int, azimuth_deg: float, elevation_deg: float | None = None, distance_m: float | None = None
    ) -> None:
        """Change the world direction of a playing cue (the person moved); unknown ids are ignored."""
        with self._lock:
            v = self._voices.get(voice_id)
            if v is not None:
                v.cue.azimuth_deg = float(azimuth_deg)
                if elevation_deg is not None:
                    v.cue.elevation_deg = float(elevation_deg)
                if distance_m is not None:
                    v.cue.distance_m = float(distance_m)

    def stop(self, voice_id: int | None = None) -> None:
        """Stop one cue (or all with ``None``)."""
        with self._lock:
            if voice_id is None:
                self._voices.clear()
            else:
                self._voices.pop(voice_id, None)

    @property
    def active(self) -> int:
        """How many cues are playing or scheduled."""
        with self._lock:
            return len(self._voices)

    def _segment(self, x: np.ndarray, start: int, stop: int) -> np.ndarray:
        """``x[start:stop]`` with zeros outside the cue."""
        seg = np.zeros(stop - start, dtype=np.float32)
        a, b = max(start, 0), min(stop, len(x))
        if a < b:
            seg[a - start : b - start] = x[a:b]
        return seg

    def _render_voice(self, v: _Voice, n: int, head: tuple[float, float]) -> np.ndarray:
        cue = v.cue
        az = wrap_deg(cue.azimuth_deg - head[0])
        el = max(-90.0, min(90.0, cue.elevation_deg - head[1]))
        direction = (az, el, max(cue.distance_m, 0.0))
        seg = self._segment(cue.samples, v.pos - self._pre, v.pos + n)
        cur = self.renderer.render(seg, *direction)[self._pre : self._pre + n]
        prev_dir = v.last_dir
        v.last_dir = direction
        if prev_dir is not None and prev_dir != direction:
            prev = self.renderer.render(seg, *prev_dir)[self._pre : self._pre + n]
            m = min(self._crossfade, n)
            w = np.linspace(0.0, 1.0, m, endpoint=False, dtype=np.float32)[:, None]
            cur = cur.copy()
            cur[:m] = prev[:m] * (1.0 - w) + cur[:m] * w
        return cur * cue.gain

    def render_block(self, n: int | None = None) -> np.ndarray:
        """The next ``n`` (default ``block_size``) stereo samples of everything playing, float32 ``(n, 2)``."""
        n = self.block_size if n is None else int(n)
        out = np.zeros((n, 2), dtype=np.float32)
        with self._lock:
            head = self._head
            voices = list(self._voices.items())
        finished = []
        for vid, v in voices:
            if v.pos + n > 0:
                out += self._render_voice(v, n, head)
            v.pos += n
            if v.pos >= len(v.cue.samples) + self._tail:
                finished.append(vid)
        with self._lock:
            for vid in finished:
                self._voices.pop(vid, None)
        self.samples_rendered += n
        out *= self.config.master_gain
        np.clip(out, -1.0, 1.0, out=out)
        return out


HeadFn = Callable[[float], Any]


def _head_at(head_fn: HeadFn | None, t: float) -> tuple[float, float]:
    if head_fn is None:
        return 0.0, 0.0
    h = head_fn(t)
    if isinstance(h, HeadOrientation):
        return h.yaw_deg, h.pitch_deg
    if isinstance(h, tuple | list):
        return float(h[0]), (float(h[1]) if len(h) > 1 else 0.0)
    return float(h), 0.0


def event_cue(event: AudioEvent, bank: SoundBank) -> Cue:
    """The :class:`Cue` an experience's :class:`peoplelens.core.state.AudioEvent` asks for."""
    samples = bank.get(str(event.sound), event.pitch_semitones, event.name)
    return Cue(samples, event.azimuth_deg, event.elevation_deg, event.distance_m, label=str(event.sound))


def render_timeline(
    events: Iterable[AudioEvent | tuple[float, Cue]],
    head_yaw_fn: HeadFn | None,
    duration: float,
    renderer: Renderer | None = None,
    bank: SoundBank | None = None,
    config: AudioConfig | None = None,
) -> np.ndarray:
    """Offline: everything the wearer hears over ``duration`` seconds as ``(n, 2)`` float32.

    ``events`` are :class:`AudioEvent` (started at ``event.t``) or ``(t, Cue)`` pairs; ``head_yaw_fn(t)``
    gives the head orientation at time ``t`` (a yaw in degrees, a ``(yaw, pitch)`` tuple or a
    :class:`HeadOrientation`) and is sampled once per mixer block, as the IMU would update the mixer.
    """
    if not (math.isfinite(duration) and duration > 0):
        raise AudioError(f"duration must be a positive number of seconds, got {duration}")
    config = config or AudioConfig()
    mixer = Mixer(renderer, config)
    bank = bank or SoundBank(config)
    fs = mixer.sample_rate
    timed: list[tuple[int, Cue]] = []
    for ev in events:
        if isinstance(ev, AudioEvent):
            timed.append((int(round(ev.t * fs)), event_cue(ev, bank)))
        else:
            t, cue = ev
            timed.append((int(round(t * fs)), cue))
    timed.sort(key=lambda item: item[0])
    total = int(round(duration * fs))
    out = np.zeros((total, 2), dtype=np.float32)
    i = 0
    for start in range(0, total, mixer.block_size):
        n = min(mixer.block_size, total - start)
        while i < len(timed) and timed[i][0] < start + n:
            mixer.play(timed[i][1], delay_samples=max(0, timed[i][0] - start))
            i += 1
        mixer.set_head(*_head_at(head_yaw_fn, start / fs))
        out[start : start + n] = mixer.render_block(n)
    return out
