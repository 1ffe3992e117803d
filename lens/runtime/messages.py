"""The versioned wire format every runtime socket speaks.

One message is one ZeroMQ frame::

    b"PL" | uint32 big-endian header length | msgpack header (a map) | payload bytes

The header always has ``v`` (=1), ``kind``, ``seq`` (per sender and kind, from 0), ``t_capture`` (wall-clock
seconds when the *camera frame* this message descends from was captured; the sender's own time for
heartbeats), ``t_sent`` and ``stage`` (the sender: "capture", "perception", "device", "phone", ...).
Kinds and their extra fields:

* ``frame``: ``index``, ``t_frame`` (video/camera time in s), ``fmt`` ("jpeg" or "raw"), ``shape``/``dtype``
  for raw, optional ``head`` ``[yaw, pitch, roll, t, source]``; payload = JPEG bytes or raw pixels.
* ``imu``: ``head`` ``[yaw, pitch, roll, t, source]``; no payload.
* ``events``: ``frame_seq``, ``session``, ``t_received``, ``t_processed``; payload = msgpack map with
  ``events`` (AudioEvent dicts), ``seen`` (SeenSignal dicts), ``timings`` (s per sub-stage).
* ``heartbeat``: ``session``, ``counters`` (a small map); no payload.
* ``seen``: payload = msgpack SeenSignal dict (published with the ZeroMQ topic ``b"seen"`` first).

Anything else (garbage bytes, a non-map header, a missing field, another version) raises :class:`MessageError`;
receivers log one line, count it per stage as ``rejected`` and carry on.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass, field
from typing import Any

import cv2
import msgpack
import numpy as np

from peoplelens.core.state import AudioEvent, HeadOrientation, SeenSignal, Sound
from peoplelens.lens.runtime.errors import MessageError

VERSION = 1
MAGIC = b"PL"
KINDS = frozenset({"frame", "imu", "events", "heartbeat", "seen"})
REQUIRED = ("v", "kind", "seq", "t_capture", "t_sent", "stage")
_PREFIX = struct.Struct(">2sI")
_MAX_HEADER = 64 * 1024


@dataclass
class Message:
    """A decoded message: the header map and the raw payload bytes."""

    header: dict[str, Any]
    payload: bytes = b""

    @property
    def kind(self) -> str:
        """The message kind ("frame", "events", ...)."""
        return str(self.header["kind"])

    @property
    def seq(self) -> int:
        """The sender's sequence number for this kind."""
        return int(self.header["seq"])


def _default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


def packb(obj: Any) -> bytes:
    """msgpack with numpy scalars/arrays and unknown objects (as strings) allowed."""
    return msgpack.packb(obj, default=_default, use_bin_type=True)


def encode(kind: str, seq: int, t_capture: float, stage: str, payload: bytes = b"", **fields: Any) -> bytes:
    """One wire message; ``t_sent`` is stamped now."""
    if kind not in KINDS:
        raise MessageError(f"unknown message kind {kind!r}")
    header = {"v": VERSION, "kind": kind, "seq": int(seq), "t_capture": float(t_capture), "t_sent": time.time(),
              "stage": stage, **fields}
    raw = packb(header)
    return _PREFIX.pack(MAGIC, len(raw)) + raw + payload


def decode(data: bytes) -> Message:
    """Parse and validate one wire message, raising :class:`MessageError` with the reason."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise MessageError(f"message is {type(data).__name__}, not bytes")
    data = bytes(data)
    if len(data) < _PREFIX.size:
        raise MessageError(f"message too short ({len(data)} bytes)")
    magic, n = _PREFIX.unpack_from(data)
    if magic != MAGIC:
        raise MessageError(f"bad magic {magic!r}")
    if n > _MAX_HEADER or _PREFIX.size + n > len(data):
        raise MessageError(f"header length {n} does not fit a {len(data)}-byte message")
    try:
        header = msgpack.unpackb(data[_PREFIX.size : _PREFIX.size + n], raw=False, strict_map_key=False)
    except Exception as exc:  # msgpack raises several unrelated types on garbage
        raise MessageError(f"header is not msgpack: {exc}") from exc
    if not isinstance(header, dict):
        raise MessageError(f"header is a {type(header).__name__}, not a map")
    missing = [k for k in REQUIRED if k not in header]
    if missing:
        raise MessageError(f"header lacks {', '.join(missing)}")
    if header["v"] != VERSION:
        raise MessageError(f"version {header['v']!r} (this build speaks {VERSION})")
    if header["kind"] not in KINDS:
        raise MessageError(f"unknown kind {header['kind']!r}")
    for key in ("seq",):
        if not isinstance(header[key], int) or isinstance(header[key], bool):
            raise MessageError(f"{key} must be an integer")
    for key in ("t_capture", "t_sent"):
        if not isinstance(header[key], int | float) or isinstance(header[key], bool):
            raise MessageError(f"{key} must be a number")
    return Message(header, data[_PREFIX.size + n :])


# --- frames -----------------------------------------------------------------------------------------------


def head_to_list(head: HeadOrientation | None) -> list[Any] | None:
    """A head orientation as ``[yaw, pitch, roll, t, source]`` (or None)."""
    if head is None:
        return None
    return [head.yaw_deg, head.pitch_deg, head.roll_deg, head.timestamp, head.source]


def head_from_list(value: Any) -> HeadOrientation | None:
    """The inverse of :func:`head_to_list`; raises :class:`MessageError` on a malformed value."""
    if value is None:
        return None
    try:
        yaw, pitch, roll, t, source = value
        return HeadOrientation(float(yaw), float(pitch), float(roll), float(t), str(source))
    except (TypeError, ValueError) as exc:
        raise MessageError(f"malformed head {value!r}") from exc


def encode_frame(image: np.ndarray, jpeg_quality: int = 85) -> tuple[bytes, dict[str, Any]]:
    """Payload and header fields for a BGR frame: JPEG (quality 1-100) or raw pixels (quality 0)."""
    if jpeg_quality <= 0:
        arr = np.ascontiguousarray(image)
        return arr.tobytes(), {"fmt": "raw", "shape": list(arr.shape), "dtype": str(arr.dtype)}
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
    if not ok:
        raise MessageError("JPEG encoding failed")
    return buf.tobytes(), {"fmt": "jpeg"}


def decode_frame(msg: Message) -> np.ndarray:
    """The BGR image of a ``frame`` message; raises :class:`MessageError` when it cannot be decoded."""
    fmt = msg.header.get("fmt")
    if fmt == "jpeg":
        img = cv2.imdecode(np.frombuffer(msg.payload, np.uint8), cv2.IMREAD_COLOR)
        if img is None:
            raise MessageError("frame payload is not a decodable JPEG")
        return img
    if fmt == "raw":
        try:
            shape = tuple(int(s) for s in msg.header["shape"])
            arr = np.frombuffer(msg.payload, dtype=np.dtype(msg.header["dtype"])).reshape(shape)
        except (KeyError, TypeError, ValueError) as exc:
            raise MessageError(f"raw frame does not match its shape/dtype: {exc}") from exc
        if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
            raise MessageError(f"raw frame must be (H, W, 3) uint8, got {arr.shape} {arr.dtype}")
        return arr
    raise MessageError(f"unknown frame format {fmt!r}")


# --- events ------------------------------------------------------------------------------------------------


def event_from_dict(d: dict[str, Any]) -> AudioEvent:
    """An :class:`AudioEvent` from its JSON dict; raises :class:`MessageError` on a bad one."""
    try:
        d = dict(d)
        d["sound"] = Sound(d["sound"])
        return AudioEvent(**d)
    except (KeyError, TypeError, ValueError) as exc:
        raise MessageError(f"malformed audio event: {exc}") from exc


def seen_from_dict(d: dict[str, Any]) -> SeenSignal:
    """A :class:`SeenSignal` from its dict; raises :class:`MessageError` on a bad one."""
    try:
        return SeenSignal(**d)
    except TypeError as exc:
        raise MessageError(f"malformed seen signal: {exc}") from exc


@dataclass
class EventsPayload:
    """What one processed frame sends back: its events, seen signals and sub-stage timings."""

    events: list[AudioEvent] = field(default_factory=list)
    seen: list[SeenSignal] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        """msgpack bytes."""
        return packb({"events": [e.to_json() for e in self.events], "seen": [vars(s) for s in self.seen],
                      "timings": self.timings})

    @classmethod
    def from_bytes(cls, data: bytes) -> EventsPayload:
        """Parse the payload of an ``events`` message; raises :class:`MessageError`."""
        try:
            d = msgpack.unpackb(data, raw=False, strict_map_key=False)
        except Exception as exc:
            raise MessageError(f"events payload is not msgpack: {exc}") from exc
        if not isinstance(d, dict):
            raise MessageError("events payload is not a map")
        try:
            events = [event_from_dict(e) for e in d.get("events", [])]
            seen = [seen_from_dict(s) for s in d.get("seen", [])]
            timings = {str(k): float(v) for k, v in dict(d.get("timings", {})).items()}
        except (TypeError, ValueError, AttributeError) as exc:
            raise MessageError(f"events payload malformed: {exc}") from exc
        return cls(events, seen, timings)
