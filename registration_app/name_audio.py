"""The spoken name stored with each person: rendered once with espeak-ng, or taken from a recorded WAV clip.

Everything stays in memory: espeak-ng writes its WAV to stdout (no cache file, unlike the runtime's speech
cache, because a name rendered to disk would leak who is enrolled), and uploaded clips are parsed from bytes.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import numpy as np
from scipy.io import wavfile

from peoplelens.audio.wavio import pcm_to_float
from peoplelens.registration_app.errors import EnrolmentError

MAX_CLIP_BYTES = 4 * 1024 * 1024


def speak_name(name: str, voice: str = "en", executable: str = "espeak-ng") -> tuple[np.ndarray, int]:
    """Render ``name`` with espeak-ng to (float32 mono samples, sample rate), in memory."""
    from peoplelens.audio.tts import parse_espeak_wav  # the audio team's parser of espeak-ng's streamed WAV

    exe = shutil.which(executable)
    if exe is None:
        raise EnrolmentError(f"{executable} is not installed (apt-get install espeak-ng); give a recorded name clip")
    try:
        proc = subprocess.run([exe, "--stdout", "-v", voice, "--", name], capture_output=True, timeout=20,
                              check=False)
    except subprocess.TimeoutExpired as exc:
        raise EnrolmentError(f"espeak-ng timed out speaking {name!r}") from exc
    if proc.returncode != 0 or not proc.stdout:
        raise EnrolmentError(f"espeak-ng failed: {proc.stderr.decode(errors='replace').strip() or 'no audio'}")
    try:
        samples, rate = parse_espeak_wav(proc.stdout)
    except Exception as exc:  # the audio package raises its own error type
        raise EnrolmentError(f"espeak-ng output unreadable: {exc}") from exc
    return np.asarray(samples, dtype=np.float32), int(rate)


def read_clip(source: bytes | str | Path) -> tuple[np.ndarray, int]:
    """A recorded name clip (WAV bytes or a WAV file path) as (float32 mono samples, sample rate)."""
    if isinstance(source, str | Path):
        try:
            data = Path(source).read_bytes()
        except OSError as exc:
            raise EnrolmentError(f"cannot read name clip {source}: {exc}") from exc
    else:
        data = bytes(source)
    if len(data) > MAX_CLIP_BYTES:
        raise EnrolmentError(f"name clip is {len(data) // 1024} KiB; at most {MAX_CLIP_BYTES // 1024} KiB")
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise EnrolmentError("name clip is not a WAV file")
    try:
        rate, x = wavfile.read(io.BytesIO(data))
    except (ValueError, OSError) as exc:
        raise EnrolmentError(f"name clip is not a readable WAV: {exc}") from exc
    try:
        xf = pcm_to_float(x)
    except ValueError:
        raise EnrolmentError(f"name clip has unsupported sample type {x.dtype}") from None
    if xf.ndim == 2:
        xf = xf.mean(axis=1)
    if xf.size == 0:
        raise EnrolmentError("name clip is empty")
    return xf, int(rate)
