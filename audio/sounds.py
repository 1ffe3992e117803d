"""Cue synthesis: every non-speech sound the wearer hears is generated here with numpy (no sound packs).

Each cue is mono float32 at the configured sample rate (48 kHz) with a peak of at most 0.9, and each has a
broadband component (a short filtered noise transient) so that interaural time and level differences, and
with them the direction, can be heard.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.signal import butter, sosfilt

from peoplelens.audio.errors import AudioError

SAMPLE_RATE = 48_000
WOODBLOCK_BASE_HZ = 880.0


def _t(duration_s: float, fs: int) -> np.ndarray:
    return np.arange(int(round(duration_s * fs))) / fs


def _noise(n: int, seed: int) -> np.ndarray:
    # fixed seeds: a cue sounds the same every time it is played
    return np.random.default_rng(seed).standard_normal(n)


def _band(x: np.ndarray, lo: float, hi: float, fs: int) -> np.ndarray:
    sos = butter(2, [lo, min(hi, 0.45 * fs)], btype="band", fs=fs, output="sos")
    return sosfilt(sos, x)


def _env(n: int, fs: int, attack_s: float, decay_s: float) -> np.ndarray:
    """Linear attack then exponential decay with time constant ``decay_s``."""
    t = np.arange(n) / fs
    att = np.clip(t / max(attack_s, 1e-6), 0.0, 1.0)
    return att * np.exp(-np.maximum(t - attack_s, 0.0) / decay_s)


def _finish(x: np.ndarray, peak: float, fs: int) -> np.ndarray:
    """Short fade-out (no click at the end) and peak normalisation to ``peak``."""
    fade = min(len(x), int(0.003 * fs))
    if fade:
        x[-fade:] *= np.linspace(1.0, 0.0, fade)
    m = float(np.max(np.abs(x)))
    return (x * (peak / m)).astype(np.float32) if m > 0 else x.astype(np.float32)


def bump(fs: int = SAMPLE_RATE) -> np.ndarray:
    """A short percussive thump (~80 ms): a falling 110->55 Hz body plus a 15 ms broadband knock."""
    t = _t(0.08, fs)
    freq = 55.0 + 55.0 * np.exp(-t / 0.02)
    body = np.sin(2 * np.pi * np.cumsum(freq) / fs) * _env(len(t), fs, 0.002, 0.025)
    knock = _band(_noise(len(t), 1), 150.0, 8000.0, fs) * _env(len(t), fs, 0.0005, 0.012)
    knock /= np.max(np.abs(knock))
    return _finish(body + 0.6 * knock, 0.9, fs)


def woodblock(pitch_semitones: float = 0.0, freq_hz: float | None = None, fs: int = SAMPLE_RATE) -> np.ndarray:
    """A wooden tap (~120 ms) at ``freq_hz`` or ``WOODBLOCK_BASE_HZ`` shifted by ``pitch_semitones``.

    Guidance changes the pitch; the inharmonic partials (1, 2.57, 4.1 x f) make it sound wooden.
    """
    if freq_hz is None:
        freq_hz = WOODBLOCK_BASE_HZ * 2.0 ** (pitch_semitones / 12.0)
    if not (50.0 <= freq_hz <= 0.2 * fs):
        raise AudioError(f"woodblock frequency {freq_hz:.1f} Hz is out of range 50..{0.2 * fs:.0f} Hz")
    t = _t(0.12, fs)
    tone = np.zeros_like(t)
    for ratio, amp, decay in ((1.0, 1.0, 0.030), (2.57, 0.5, 0.015), (4.1, 0.25, 0.008)):
        if ratio * freq_hz < 0.45 * fs:
            tone += amp * np.sin(2 * np.pi * ratio * freq_hz * t) * _env(len(t), fs, 0.0005, decay)
    strike = _band(_noise(len(t), 2), 500.0, 12000.0, fs) * _env(len(t), fs, 0.0002, 0.006)
    strike /= np.max(np.abs(strike))
    return _finish(tone + 0.8 * strike, 0.8, fs)


def click(fs: int = SAMPLE_RATE) -> np.ndarray:
    """A very short tick (~8 ms): a high-passed noise impulse."""
    n = int(0.008 * fs)
    x = _band(_noise(n, 3), 1000.0, 16000.0, fs) * _env(n, fs, 0.0002, 0.0015)
    return _finish(x, 0.7, fs)


def gaze(fs: int = SAMPLE_RATE) -> np.ndarray:
    """A gentle rising two-note chime (E6 then A6, ~380 ms) with a soft breathy transient on each note."""
    note_len = int(0.19 * fs)
    out = np.zeros(2 * note_len)
    for i, f in enumerate((1318.5, 1760.0)):
        t = np.arange(note_len) / fs
        env = _env(note_len, fs, 0.006, 0.07)
        tone = (np.sin(2 * np.pi * f * t) + 0.3 * np.sin(2 * np.pi * 2 * f * t)) * env
        breath = _band(_noise(note_len, 10 + i), 2000.0, 12000.0, fs) * _env(note_len, fs, 0.002, 0.015)
        breath /= np.max(np.abs(breath))
        out[i * note_len : (i + 1) * note_len] += tone + 0.35 * breath
    return _finish(out, 0.6, fs)


def follow(repeats: int = 3, fs: int = SAMPLE_RATE) -> np.ndarray:
    """A soft repeating cue: ``repeats`` muffled 440 Hz pulses with a noise brush, one every 200 ms."""
    if not 1 <= repeats <= 20:
        raise AudioError(f"follow repeats must be 1..20, got {repeats}")
    period = int(0.2 * fs)
    pulse_len = int(0.12 * fs)
    t = np.arange(pulse_len) / fs
    env = _env(pulse_len, fs, 0.01, 0.03)
    pulse = np.sin(2 * np.pi * 440.0 * t) * env
    brush = _band(_noise(pulse_len, 4), 300.0, 6000.0, fs) * env
    pulse = pulse + 0.4 * brush / np.max(np.abs(brush))
    out = np.zeros(period * (repeats - 1) + pulse_len)
    for k in range(repeats):
        out[k * period : k * period + pulse_len] += pulse
    return _finish(out, 0.5, fs)


def orientation(fs: int = SAMPLE_RATE) -> np.ndarray:
    """A short soft noise swoosh (~150 ms) that marks a person in an orientation sweep."""
    n = int(0.15 * fs)
    x = _band(_noise(n, 5), 400.0, 9000.0, fs) * np.hanning(n)
    return _finish(x, 0.5, fs)


#: the synthesiser of every non-speech cue, by sound name (the spoken NAME has none: espeak-ng says it)
SYNTHESIZERS: dict[str, Callable[..., np.ndarray]] = {
    "bump": lambda pitch, fs: bump(fs),
    "woodblock": lambda pitch, fs: woodblock(pitch, fs=fs),
    "click": lambda pitch, fs: click(fs),
    "gaze": lambda pitch, fs: gaze(fs),
    "follow": lambda pitch, fs: follow(fs=fs),
    "orientation": lambda pitch, fs: orientation(fs),
}
SYNTH_SOUNDS = tuple(SYNTHESIZERS)


def synthesize(sound: str, pitch_semitones: float = 0.0, fs: int = SAMPLE_RATE) -> np.ndarray:
    """The mono float32 samples of a named non-speech cue (``pitch_semitones`` applies to woodblock)."""
    make = SYNTHESIZERS.get(str(sound))
    if make is None:
        raise AudioError(f"unknown sound {sound!r}; known: {', '.join(SYNTH_SOUNDS)}, name")
    return make(pitch_semitones, fs)
