"""Real-time output with python-sounddevice (PortAudio): a callback pulls 10 ms blocks from the mixer.

Nothing is ever recorded: only output streams are opened.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from peoplelens.audio.errors import NoOutputDeviceError
from peoplelens.audio.mixer import Mixer
from peoplelens.core.extras import install_hint


def _sounddevice() -> Any:
    try:
        import sounddevice
    except OSError as exc:  # the PortAudio library itself is missing
        raise NoOutputDeviceError(
            f"PortAudio is not available ({exc}); install libportaudio2 (scripts/setup.sh)"
        ) from exc
    except ImportError as exc:
        raise NoOutputDeviceError(f"live sound output needs the 'audio' extra (python-sounddevice is not "
                                  f"installed): run  {install_hint('audio')}") from exc
    return sounddevice


def _device_arg(device: str | int | None) -> str | int | None:
    if device is None or device == "":
        return None
    if isinstance(device, str) and device.strip().isdigit():
        return int(device)
    return device


def list_output_devices() -> list[dict[str, Any]]:
    """Every PortAudio device with output channels: index, name, host API, channels, default rate."""
    sd = _sounddevice()
    try:
        devices = sd.query_devices()
        apis = sd.query_hostapis()
    except sd.PortAudioError as exc:
        raise NoOutputDeviceError(f"PortAudio cannot list devices: {exc}") from exc
    out = []
    for i, d in enumerate(devices):
        if d["max_output_channels"] > 0:
            out.append({
                "index": i,
                "name": d["name"],
                "hostapi": apis[d["hostapi"]]["name"],
                "channels": d["max_output_channels"],
                "default_samplerate": d["default_samplerate"],
            })  # fmt: skip
    return out


def check_output_device(device: str | int | None = None) -> dict[str, Any]:
    """The output device that would be used; raises :class:`NoOutputDeviceError` when there is none."""
    sd = _sounddevice()
    try:
        info = sd.query_devices(_device_arg(device), kind="output")
    except (sd.PortAudioError, ValueError) as exc:
        which = f"output device {device!r}" if device not in (None, "") else "a default output device"
        raise NoOutputDeviceError(
            f"no sound output: PortAudio cannot find {which} ({exc}); connect headphones or a sound card, "
            "check `peoplelens audio devices`, or render to a WAV file with `peoplelens audio render --out`"
        ) from exc
    if info["max_output_channels"] < 2:
        raise NoOutputDeviceError(f"output device {info['name']!r} has fewer than 2 channels (binaural needs 2)")
    return dict(info)


class RealtimeOutput:
    """A PortAudio output stream whose callback renders the mixer block by block (context manager)."""

    def __init__(self, mixer: Mixer, device: str | int | None = None, latency: str | float = "low") -> None:
        self.mixer = mixer
        self.device = _device_arg(device)
        self.latency = latency
        self.underflows = 0
        self._stream: Any = None

    def _callback(self, outdata: np.ndarray, frames: int, _time: Any, status: Any) -> None:
        if status.output_underflow:
            self.underflows += 1
        outdata[:] = self.mixer.render_block(frames)

    def start(self) -> RealtimeOutput:
        """Open and start the stream; raises :class:`NoOutputDeviceError` without a usable device."""
        sd = _sounddevice()
        check_output_device(self.device)
        try:
            self._stream = sd.OutputStream(
                samplerate=self.mixer.sample_rate,
                blocksize=self.mixer.block_size,
                channels=2,
                dtype="float32",
                device=self.device,
                latency=self.latency,
                callback=self._callback,
            )
            self._stream.start()
        except sd.PortAudioError as exc:
            raise NoOutputDeviceError(f"cannot open the sound output: {exc}") from exc
        return self

    def stop(self) -> None:
        """Stop and close the stream."""
        if self._stream is not None:
            self._stream.stop()
            self._stream.close()
            self._stream = None

    def wait_idle(self, timeout_s: float = 30.0) -> None:
        """Block until the mixer has nothing left to play (or ``timeout_s``)."""
        deadline = time.monotonic() + timeout_s
        done = threading.Event()
        while self.mixer.active and time.monotonic() < deadline:
            done.wait(self.mixer.config.block_ms / 1000.0)
        # let the last blocks leave the device buffer
        done.wait(0.1)

    def __enter__(self) -> RealtimeOutput:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
