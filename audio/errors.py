"""Errors raised by the audio package (all are :class:`peoplelens.models.errors.PeopleLensError`, so the CLI prints them
without a traceback)."""

from __future__ import annotations

from peoplelens.core.errors import PeopleLensError


class AudioError(PeopleLensError):
    """Base class of audio errors: bad input to the renderer, mixer or WAV I/O."""


class BackendUnavailableError(AudioError):
    """A binaural backend cannot run here (OpenAL Soft missing, no loopback or HRTF extension)."""


class NoOutputDeviceError(AudioError):
    """Real-time playback was asked for but PortAudio finds no usable output device (no sound card)."""


class TTSError(AudioError):
    """Speech synthesis failed: espeak-ng is missing or returned no audio, or a recorded clip is unreadable."""
