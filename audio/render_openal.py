"""The ``openal`` backend: OpenAL Soft's HRTF renderer, driven offline through PyOpenAL's low-level API.

A loopback device (``ALC_SOFT_loopback``) is opened with stereo float32 output at the project sample rate
and HRTF requested (``ALC_HRTF_SOFT``); ``alcRenderSamplesSOFT`` then mixes into a numpy buffer instead of a
sound card, so the same path serves offline WAV rendering, tests and (via the mixer) real-time output.
The HRTF data set (e.g. Debian's ``libopenal-data``: ``/usr/share/openal/hrtf/default-48000.mhr``) is
checked with ``ALC_HRTF_STATUS_SOFT``; if HRTF does not come up the backend refuses to run rather than
silently falling back to plain panning.

Coordinates: OpenAL is right-handed with +X right, +Y up and -Z forward, so a head-relative direction
(azimuth positive right, elevation positive up) maps to ``(sin az cos el, sin el, -cos az cos el)``.
Sources are listener-relative (``AL_SOURCE_RELATIVE``), the listener never moves; the mixer handles head
turns by updating directions.
"""

from __future__ import annotations

import contextlib
import ctypes
import threading
from typing import Any

import numpy as np

from peoplelens.audio.config import AudioConfig
from peoplelens.audio.directions import check_request, head_vector
from peoplelens.audio.errors import BackendUnavailableError

# ALC_SOFT_loopback
ALC_FORMAT_CHANNELS_SOFT = 0x1990
ALC_FORMAT_TYPE_SOFT = 0x1991
ALC_STEREO_SOFT = 0x1501
ALC_FLOAT_SOFT = 0x1406
# ALC_SOFT_HRTF
ALC_HRTF_SOFT = 0x1992
ALC_HRTF_STATUS_SOFT = 0x1993
ALC_HRTF_SPECIFIER_SOFT = 0x1995
HRTF_STATUS = {
    0: "disabled",
    1: "enabled",
    2: "denied",
    3: "required",
    4: "headphones detected",
    5: "unsupported format",
}
# AL_EXT_float32 and core AL
AL_FORMAT_MONO_FLOAT32 = 0x10010
AL_INVERSE_DISTANCE_CLAMPED = 0xD002

_RENDER_LOCK = threading.Lock()  # OpenAL's current context is process-wide


def _load_openal() -> tuple[Any, Any]:
    try:
        from openal import al, alc
    except Exception as exc:  # PyOpenAL raises its own ExternalLibraryError when libopenal is missing
        raise BackendUnavailableError(
            f"OpenAL Soft is not available ({exc}); install libopenal1 libopenal-data (scripts/setup.sh) "
            "and PyOpenAL, or use --backend numpy"
        ) from exc
    return al, alc


class OpenALRenderer:
    """HRTF binaural rendering with OpenAL Soft on a loopback device (one device per renderer)."""

    name = "openal"

    def __init__(self, config: AudioConfig | None = None) -> None:
        self.config = config or AudioConfig()
        self.sample_rate = self.config.sample_rate
        self.tail_samples = self.config.tail_samples
        self._al, self._alc = _load_openal()
        al, alc = self._al, self._alc
        self._device = None
        self._context = None
        if not alc.alcIsExtensionPresent(None, b"ALC_SOFT_loopback"):
            raise BackendUnavailableError("this OpenAL has no ALC_SOFT_loopback extension (OpenAL Soft needed)")
        proc = alc.alcGetProcAddress
        self._open = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_char_p)(proc(None, b"alcLoopbackOpenDeviceSOFT"))
        is_fmt = ctypes.CFUNCTYPE(ctypes.c_uint8, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int)(
            proc(None, b"alcIsRenderFormatSupportedSOFT")
        )
        self._render = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int)(
            proc(None, b"alcRenderSamplesSOFT")
        )
        device = self._open(None)
        if not device:
            raise BackendUnavailableError("alcLoopbackOpenDeviceSOFT failed to open a loopback device")
        self._device = device
        try:
            if not alc.alcIsExtensionPresent(device, b"ALC_SOFT_HRTF"):
                raise BackendUnavailableError("OpenAL Soft has no ALC_SOFT_HRTF extension")
            if not is_fmt(device, self.sample_rate, ALC_STEREO_SOFT, ALC_FLOAT_SOFT):
                raise BackendUnavailableError(f"loopback stereo float32 at {self.sample_rate} Hz is not supported")
            attrs = (ctypes.c_int * 9)(
                alc.ALC_FREQUENCY, self.sample_rate,
                ALC_FORMAT_CHANNELS_SOFT, ALC_STEREO_SOFT,
                ALC_FORMAT_TYPE_SOFT, ALC_FLOAT_SOFT,
                ALC_HRTF_SOFT, 1,
                0,
            )  # fmt: skip
            self._context = alc.alcCreateContext(device, attrs)
            if not self._context:
                raise BackendUnavailableError("alcCreateContext failed on the loopback device")
            status = ctypes.c_int(-1)
            alc.alcGetIntegerv(device, ALC_HRTF_STATUS_SOFT, 1, ctypes.byref(status))
            self.hrtf_status = HRTF_STATUS.get(status.value, f"unknown ({status.value})")
            if status.value not in (1, 3, 4):
                raise BackendUnavailableError(
                    f"OpenAL Soft HRTF is not active (status: {self.hrtf_status}); install libopenal-data "
                    "(the HRTF data set) or use --backend numpy"
                )
            spec = alc.alcGetString(device, ALC_HRTF_SPECIFIER_SOFT)
            self.hrtf_name = spec.decode(errors="replace") if spec else "unknown"
            self.version = ""
            with _RENDER_LOCK:
                alc.alcMakeContextCurrent(self._context)
                self.version = al.alGetString(al.AL_VERSION).decode(errors="replace")
                al.alDistanceModel(AL_INVERSE_DISTANCE_CLAMPED)
        except Exception:
            self.close()
            raise

    def describe(self) -> str:
        """Backend, OpenAL version, HRTF data set and HRTF status (as reported by ALC_HRTF_STATUS_SOFT)."""
        return f"openal ({self.version}) HRTF {self.hrtf_status}: {self.hrtf_name}"

    def render(
        self, mono: np.ndarray, azimuth_deg: float, elevation_deg: float = 0.0, distance_m: float = 1.0
    ) -> np.ndarray:
        """``(len(mono) + tail_samples, 2)`` float32: column 0 left ear, column 1 right ear."""
        x = check_request(mono, azimuth_deg, elevation_deg, distance_m)
        if self._context is None:
            raise BackendUnavailableError("this OpenAL renderer has been closed")
        al = self._al
        cfg = self.config
        n_out = len(x) + self.tail_samples
        out = np.zeros((n_out, 2), dtype=np.float32)
        if len(x) == 0:
            return out
        vx, vy, vz = head_vector(azimuth_deg, elevation_deg)
        d = max(float(distance_m), 0.05)  # a position at the origin would have no direction
        with _RENDER_LOCK:
            self._alc.alcMakeContextCurrent(self._context)
            buf, src = ctypes.c_uint(0), ctypes.c_uint(0)
            al.alGenBuffers(1, ctypes.byref(buf))
            try:
                al.alGenSources(1, ctypes.byref(src))
                try:
                    al.alBufferData(buf, AL_FORMAT_MONO_FLOAT32, x.ctypes.data, x.nbytes, self.sample_rate)
                    al.alSourcei(src.value, al.AL_BUFFER, buf.value)
                    al.alSourcei(src.value, al.AL_SOURCE_RELATIVE, 1)
                    al.alSourcef(src.value, al.AL_REFERENCE_DISTANCE, cfg.reference_distance_m)
                    al.alSourcef(src.value, al.AL_MAX_DISTANCE, cfg.max_distance_m)
                    al.alSourcef(src.value, al.AL_ROLLOFF_FACTOR, 1.0)
                    # ours: x right, y up, z forward -> OpenAL: +X right, +Y up, -Z forward
                    al.alSource3f(src.value, al.AL_POSITION, vx * d, vy * d, -vz * d)
                    al.alSourcePlay(src.value)
                    self._render(self._device, out.ctypes.data, n_out)
                    al.alSourceStop(src.value)
                    al.alSourcei(src.value, al.AL_BUFFER, 0)
                finally:
                    al.alDeleteSources(1, ctypes.byref(src))
            finally:
                al.alDeleteBuffers(1, ctypes.byref(buf))
        return out

    def close(self) -> None:
        """Destroy the context and close the loopback device (also done at garbage collection)."""
        alc = self._alc
        with _RENDER_LOCK:
            if self._context:
                if alc.alcGetCurrentContext() == self._context:
                    alc.alcMakeContextCurrent(None)
                alc.alcDestroyContext(self._context)
                self._context = None
            if self._device:
                alc.alcCloseDevice(self._device)
                self._device = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter shutdown: nothing useful to do
            self.close()
