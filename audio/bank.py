"""The sound bank: turns a cue request (sound, pitch, name) into mono samples, with caching."""

from __future__ import annotations

import numpy as np

from peoplelens.audio.config import AudioConfig
from peoplelens.audio.errors import AudioError
from peoplelens.audio.sounds import SYNTH_SOUNDS, synthesize
from peoplelens.audio.tts import SpeechSynth

ALL_SOUNDS = (*SYNTH_SOUNDS, "name")


class SoundBank:
    """Synthesised cues (cached per sound and pitch) and spoken names (espeak-ng, cached by :class:`SpeechSynth`)."""

    def __init__(self, config: AudioConfig | None = None, speech: SpeechSynth | None = None) -> None:
        self.config = config or AudioConfig()
        self._speech = speech
        self._cache: dict[tuple[str, float], np.ndarray] = {}

    @property
    def speech(self) -> SpeechSynth:
        """The speech synthesiser (created on first use, so cues alone never need espeak-ng)."""
        if self._speech is None:
            cfg = self.config
            self._speech = SpeechSynth(
                voice=cfg.tts_voice,
                speed_wpm=cfg.tts_speed_wpm,
                sample_rate=cfg.sample_rate,
                cache_dir=cfg.tts_cache_dir or None,
                memory_items=cfg.tts_memory_cache,
            )
        return self._speech

    def get(self, sound: str, pitch_semitones: float = 0.0, name: str | None = None) -> np.ndarray:
        """Mono float32 samples for ``sound``; ``name`` is spoken for "name" (and after "orientation")."""
        sound = str(sound)
        if sound == "name":
            if not name:
                raise AudioError("a 'name' cue needs the text to speak")
            return self.speech.speak(name)
        if sound not in SYNTH_SOUNDS:
            raise AudioError(f"unknown sound {sound!r}; known: {', '.join(ALL_SOUNDS)}")
        key = (sound, round(float(pitch_semitones), 3) if sound == "woodblock" else 0.0)
        if key not in self._cache:
            self._cache[key] = synthesize(sound, key[1], self.config.sample_rate)
        x = self._cache[key]
        if sound == "orientation" and name:
            gap = np.zeros(int(0.05 * self.config.sample_rate), dtype=np.float32)
            x = np.concatenate([x, gap, self.speech.speak(name)])
        return x
