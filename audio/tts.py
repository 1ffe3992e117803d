"""Spoken names: local text-to-speech with espeak-ng, rendered once per text and cached.

The cache holds only synthesised speech (never microphone or camera data): an in-memory LRU of decoded
samples and, **only when a cache directory is given**, an on-disk cache of espeak-ng's WAV output keyed by the
sha256 of voice, speed and text. It is off by default: a file keyed by a name's hash reveals who is enrolled
(hash the candidate names), and the runtime records no identifying information; enrolled people's spoken
names live encrypted in the people store. A recorded clip (a WAV file) can stand in for the synthesised name.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections import OrderedDict
from pathlib import Path

import numpy as np

from peoplelens.audio.errors import TTSError
from peoplelens.audio.wavio import read_wav, resample

MAX_TEXT_CHARS = 200


def default_cache_dir() -> Path:
    """``$PEOPLELENS_CACHE/tts``, else the per-user cache dir, e.g. ``~/.cache/peoplelens/tts`` on Linux."""
    import platformdirs

    return Path(os.environ.get("PEOPLELENS_CACHE") or platformdirs.user_cache_dir("peoplelens")) / "tts"


def parse_espeak_wav(data: bytes) -> tuple[np.ndarray, int]:
    """Decode espeak-ng's ``--stdout`` WAV (its header sizes are placeholders when streaming) to float32 mono."""
    if len(data) < 44 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise TTSError("espeak-ng did not return a WAV stream")
    pos, fs, channels, bits = 12, 0, 0, 0
    while pos + 8 <= len(data):
        cid, size = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        body = pos + 8
        if cid == b"fmt ":
            fmt = int.from_bytes(data[body : body + 2], "little")
            channels = int.from_bytes(data[body + 2 : body + 4], "little")
            fs = int.from_bytes(data[body + 4 : body + 8], "little")
            bits = int.from_bytes(data[body + 14 : body + 16], "little")
            if fmt != 1 or bits != 16:
                raise TTSError(f"espeak-ng WAV format {fmt}/{bits}-bit is not 16-bit PCM")
        elif cid == b"data":
            if not fs:
                raise TTSError("espeak-ng WAV has no fmt chunk before data")
            raw = data[body : body + min(size, len(data) - body)]
            raw = raw[: len(raw) - len(raw) % (2 * channels)]
            x = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
            return x.reshape(-1, channels).mean(axis=1), fs
        pos = body + size + (size & 1)
    raise TTSError("espeak-ng WAV has no data chunk")


class SpeechSynth:
    """espeak-ng speech at the project sample rate with a memory LRU and an on-disk cache."""

    def __init__(
        self,
        voice: str = "en-us",
        speed_wpm: int = 165,
        sample_rate: int = 48_000,
        cache_dir: str | Path | None = None,
        memory_items: int = 64,
        executable: str = "espeak-ng",
    ) -> None:
        self.voice = voice
        self.speed_wpm = int(speed_wpm)
        self.sample_rate = int(sample_rate)
        self.cache_dir = Path(cache_dir) if cache_dir else None  # None: memory only (see the module docstring)
        self.memory_items = max(1, int(memory_items))
        self.executable = executable
        self._memory: OrderedDict[str, np.ndarray] = OrderedDict()
        self._clips: dict[str, np.ndarray] = {}
        self.synth_calls = 0  # how many times espeak-ng actually ran (for tests and stats)

    def key(self, text: str) -> str:
        """The cache key: sha256 of voice, speed and text."""
        return hashlib.sha256(f"{self.voice}\x00{self.speed_wpm}\x00{text}".encode()).hexdigest()

    def use_clip(self, text: str, wav_path: str | Path) -> None:
        """Play the recorded WAV clip at ``wav_path`` whenever ``text`` is to be spoken."""
        x, fs = read_wav(wav_path)
        mono = x.mean(axis=1) if x.ndim == 2 else x
        self._clips[text] = resample(mono, fs, self.sample_rate)

    def speak(self, text: str) -> np.ndarray:
        """Mono float32 speech for ``text`` (a recorded clip if one was registered)."""
        text = " ".join(str(text).split())
        if not text:
            raise TTSError("cannot speak an empty name")
        if len(text) > MAX_TEXT_CHARS:
            raise TTSError(f"text to speak is {len(text)} characters; the limit is {MAX_TEXT_CHARS}")
        if text in self._clips:
            return self._clips[text]
        key = self.key(text)
        if key in self._memory:
            self._memory.move_to_end(key)
            return self._memory[key]
        if self.cache_dir is None:
            data = self._run_espeak(text)
        else:
            path = self.cache_dir / f"{key}.wav"
            try:
                data = path.read_bytes()
            except OSError:
                data = self._run_espeak(text)
                self._store(path, data)
        x, fs = parse_espeak_wav(data)
        x = resample(x, fs, self.sample_rate)
        peak = float(np.max(np.abs(x))) if len(x) else 0.0
        if peak <= 0:
            raise TTSError(f"espeak-ng produced silence for {text!r}")
        x = (x * (0.8 / peak)).astype(np.float32)
        self._memory[key] = x
        while len(self._memory) > self.memory_items:
            self._memory.popitem(last=False)
        return x

    def _run_espeak(self, text: str) -> bytes:
        exe = shutil.which(self.executable)
        if exe is None:
            raise TTSError(
                f"{self.executable} is not installed; install it (apt-get install espeak-ng, or scripts/setup.sh) "
                "or give a recorded name clip"
            )
        cmd = [exe, "--stdout", "-v", self.voice, "-s", str(self.speed_wpm), "--", text]
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=20, check=False)
        except subprocess.TimeoutExpired as exc:
            raise TTSError(f"espeak-ng timed out speaking {text!r}") from exc
        if proc.returncode != 0 or not proc.stdout:
            err = proc.stderr.decode(errors="replace").strip()
            raise TTSError(f"espeak-ng failed (voice {self.voice!r}): {err or 'no audio'}")
        self.synth_calls += 1
        return proc.stdout

    def _store(self, path: Path, data: bytes) -> None:
        """Write atomically; a read-only or full cache dir only costs speed, so errors are ignored."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            with open(tmp, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except OSError:
            pass
