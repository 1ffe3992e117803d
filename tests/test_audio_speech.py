"""Spoken names: espeak-ng speech of plausible length, cached in memory and on disk; recorded clips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from peoplelens.audio.bank import SoundBank
from peoplelens.audio.errors import TTSError
from peoplelens.audio.tts import SpeechSynth, parse_espeak_wav
from peoplelens.audio.wavio import write_wav

FS = 48_000


def _voiced_seconds(x: np.ndarray) -> float:
    """Seconds of 10 ms frames within 30 dB of the loudest frame."""
    frames = x[: len(x) // 480 * 480].reshape(-1, 480)
    db = 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)
    return float(np.sum(db > db.max() - 30) * 0.01)


def test_name_is_speech_of_plausible_duration(tmp_path: Path) -> None:
    tts = SpeechSynth(cache_dir=tmp_path)
    short = tts.speak("Alice")
    long = tts.speak("Alexandra Montgomery")
    assert short.dtype == np.float32 and short.ndim == 1
    assert 0.25 < len(short) / FS < 1.5
    assert 0.2 < _voiced_seconds(short) < 1.2
    assert _voiced_seconds(long) > 1.5 * _voiced_seconds(short)
    # speech energy sits in the voice band
    spec = np.abs(np.fft.rfft(short)) ** 2
    freqs = np.fft.rfftfreq(len(short), 1 / FS)
    assert spec[(freqs > 80) & (freqs < 4000)].sum() > 0.8 * spec.sum()


def test_speech_is_cached_in_memory_and_on_disk(tmp_path: Path) -> None:
    tts = SpeechSynth(cache_dir=tmp_path)
    first = tts.speak("Bob")
    assert tts.synth_calls == 1
    assert tts.speak("  Bob ") is first and tts.synth_calls == 1  # memory LRU, whitespace-normalised
    files = list(tmp_path.glob("*.wav"))
    assert [f.stem for f in files] == [tts.key("Bob")]
    again = SpeechSynth(cache_dir=tmp_path)  # a new process would start like this
    np.testing.assert_array_equal(again.speak("Bob"), first)
    assert again.synth_calls == 0
    other_voice = SpeechSynth(cache_dir=tmp_path, voice="en-gb")
    assert other_voice.key("Bob") != tts.key("Bob")


def test_memory_cache_is_bounded(tmp_path: Path) -> None:
    tts = SpeechSynth(cache_dir=tmp_path, memory_items=2)
    ann = tts.speak("Ann")
    tts.speak("Ben")
    assert tts.speak("Ann") is ann  # still in memory (and now most recent)
    tts.speak("Cat")
    tts.speak("Dan")  # evicts Ann
    again = tts.speak("Ann")
    assert again is not ann and tts.synth_calls == 4  # reloaded from disk, espeak-ng not run again
    np.testing.assert_array_equal(again, ann)


def test_recorded_clip_replaces_tts(tmp_path: Path) -> None:
    clip = 0.5 * np.sin(2 * np.pi * 220 * np.arange(22050) / 22050)
    path = write_wav(tmp_path / "dana.wav", clip, 22050)
    bank = SoundBank(speech=SpeechSynth(cache_dir=tmp_path / "cache"))
    bank.speech.use_clip("Dana", path)
    x = bank.get("name", name="Dana")
    assert len(x) == FS  # one second, resampled to 48 kHz
    assert bank.speech.synth_calls == 0


def test_missing_espeak_is_a_clear_error(tmp_path: Path) -> None:
    tts = SpeechSynth(cache_dir=tmp_path, executable="espeak-ng-not-installed")
    with pytest.raises(TTSError, match="not installed"):
        tts.speak("Eve")
    with pytest.raises(TTSError, match="empty"):
        tts.speak("   ")


def test_parse_rejects_non_wav() -> None:
    with pytest.raises(TTSError):
        parse_espeak_wav(b"not a wav file at all" * 4)


def test_orientation_cue_speaks_the_name(tmp_path: Path) -> None:
    bank = SoundBank(speech=SpeechSynth(cache_dir=tmp_path))
    swoosh = bank.get("orientation")
    with_name = bank.get("orientation", name="Alice")
    assert len(with_name) > len(swoosh) + 0.25 * FS
