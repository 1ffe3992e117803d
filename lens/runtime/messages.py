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

Every header and payload field is checked against the typed schema in :mod:`peoplelens.lens.runtime.wire_schema`
(msgspec: type, finiteness, range), and a frame's image header is checked for its size before any pixel is
decoded (:data:`peoplelens.models.images.FRAME_LIMITS`). Anything else (garbage bytes, a non-map header, a missing
or mistyped field, NaN, another version, an image bomb) raises :class:`MessageError`; receivers log one line, count
it per stage as ``rejected`` and carry on.

What a receiver calls: :func:`decode` (bytes -> :class:`Message`, whose ``typed`` is the validated header struct),
then per kind :func:`decode_frame` (the BGR image) and ``msg.typed.head`` / :func:`head_from_wire` (the head),
:meth:`EventsPayload.from_bytes` (validated :class:`AudioEvent` / :class:`SeenSignal` lists) or
:func:`seen_from_bytes`. Each raises only :class:`MessageError`.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass, field
from typing import Any

import cv2
import msgpack
import msgspec
import numpy as np

from peoplelens.core.state import AudioEvent, HeadOrientation, SeenSignal, Sound, wrap_deg
from peoplelens.lens.runtime.errors import MessageError
from peoplelens.lens.runtime.wire_schema import (
    MAX_PAYLOAD,
    AnyHeader,
    EventsWire,
    EventWire,
    FrameHeader,
    HeadWire,
    SeenWire,
)
from peoplelens.models.errors import ImageDecodeError
from peoplelens.models.images import FRAME_LIMITS, ImageLimits, decode_image, read_image_header

VERSION = 1
MAGIC = b"PL"
KINDS = frozenset({"frame", "imu", "events", "heartbeat", "seen"})
REQUIRED = ("v", "kind", "seq", "t_capture", "t_sent", "stage")
_PREFIX = struct.Struct(">2sI")
_MAX_HEADER = 64 * 1024
#: Frames on the wire: JPEG only, bounded like any camera frame.
WIRE_FRAME_LIMITS = ImageLimits(max_bytes=FRAME_LIMITS.max_bytes, max_side=FRAME_LIMITS.max_side,
                                max_pixels=FRAME_LIMITS.max_pixels, formats=("jpeg",))
_events_decoder = msgspec.msgpack.Decoder(EventsWire)


def max_message_bytes(*kinds: str) -> int:
    """The largest valid message of any of ``kinds`` (prefix + the largest header + the kind's largest payload):
    what a receiving socket's ``zmq.MAXMSGSIZE`` is set to, so ZeroMQ drops anything bigger unread."""
    return _PREFIX.size + _MAX_HEADER + max(MAX_PAYLOAD[k] for k in kinds)

_seen_decoder = msgspec.msgpack.Decoder(SeenWire)


@dataclass
class Message:
    """A decoded, validated message: the header map, its typed form and the raw payload bytes."""

    header: dict[str, Any]
    payload: bytes = b""
    typed: AnyHeader | None = None  # always set by decode(); the header's fields, typed and range-checked

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


def _schema_error(what: str, exc: msgspec.MsgspecError) -> MessageError:
    return MessageError(f"{what}: {exc}")


def decode(data: bytes) -> Message:
    """Parse and validate one wire message (every header field, the payload size), raising :class:`MessageError`
    with the reason."""
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
        header = msgspec.msgpack.decode(data[_PREFIX.size : _PREFIX.size + n])
    except msgspec.MsgspecError as exc:
        raise MessageError(f"header is not msgpack: {exc}") from None
    if not isinstance(header, dict):
        raise MessageError(f"header is a {type(header).__name__}, not a map")
    missing = [k for k in REQUIRED if k not in header]
    if missing:
        raise MessageError(f"header lacks {', '.join(missing)}")
    if header["v"] != VERSION or isinstance(header["v"], bool):
        raise MessageError(f"version {header['v']!r} (this build speaks {VERSION})")
    if not isinstance(header["kind"], str) or header["kind"] not in KINDS:
        raise MessageError(f"unknown kind {header['kind']!r}")
    try:
        typed = msgspec.convert(header, AnyHeader)
    except msgspec.ValidationError as exc:
        raise _schema_error(f"{header['kind']} header rejected", exc) from None
    payload = data[_PREFIX.size + n :]
    limit = MAX_PAYLOAD[header["kind"]]
    if len(payload) > limit:
        raise MessageError(f"{header['kind']} payload of {len(payload)} bytes is over the limit of {limit}")
    return Message(header, payload, typed)


# --- frames -----------------------------------------------------------------------------------------------


def head_to_list(head: HeadOrientation | None) -> list[Any] | None:
    """A head orientation as ``[yaw, pitch, roll, t, source]`` (or None)."""
    if head is None:
        return None
    return [head.yaw_deg, head.pitch_deg, head.roll_deg, head.timestamp, head.source]


def head_from_wire(head: HeadWire | None) -> HeadOrientation | None:
    """A validated wire head as a :class:`HeadOrientation` (yaw and roll wrapped to (-180, 180])."""
    if head is None:
        return None
    return HeadOrientation(wrap_deg(head.yaw), head.pitch, wrap_deg(head.roll), head.t, head.source)


def head_from_list(value: Any) -> HeadOrientation | None:
    """The inverse of :func:`head_to_list`, validated (finite, in range); raises :class:`MessageError`."""
    if value is None or isinstance(value, HeadWire):
        return head_from_wire(value)
    try:
        return head_from_wire(msgspec.convert(value, HeadWire))
    except msgspec.ValidationError as exc:
        raise MessageError(f"malformed head {value!r:.200}: {exc}") from None


def encode_frame(image: np.ndarray, jpeg_quality: int = 85) -> tuple[bytes, dict[str, Any]]:
    """Payload and header fields for a BGR frame: JPEG (quality 1-100) or raw pixels (quality 0)."""
    if jpeg_quality <= 0:
        arr = np.ascontiguousarray(image)
        return arr.tobytes(), {"fmt": "raw", "shape": list(arr.shape), "dtype": str(arr.dtype)}
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
    if not ok:
        raise MessageError("JPEG encoding failed")
    return buf.tobytes(), {"fmt": "jpeg"}


def check_frame(msg: Message) -> FrameHeader:
    """The typed header of a ``frame`` message whose image passes every check that needs no pixel decoded (the
    JPEG header's size and scans, a raw frame's shape and length); raises :class:`MessageError`. Cheap enough to
    run on every frame received, before choosing which one to decode."""
    typed = msg.typed if msg.typed is not None else decode(_reencode(msg)).typed
    if not isinstance(typed, FrameHeader):
        raise MessageError(f"a {msg.kind} message has no frame")
    if typed.fmt == "jpeg":
        try:
            read_image_header(msg.payload, WIRE_FRAME_LIMITS, "frame payload")
        except ImageDecodeError as exc:
            raise MessageError(str(exc)) from None
        return typed
    if typed.shape is None or typed.dtype != "uint8":
        raise MessageError("a raw frame needs shape [H, W, 3] and dtype uint8")
    h, w, c = typed.shape
    if max(h, w) > FRAME_LIMITS.max_side or h * w > FRAME_LIMITS.max_pixels:
        raise MessageError(f"raw frame of {w} x {h} pixels is over the limit of {FRAME_LIMITS.max_side} a side")
    if len(msg.payload) != h * w * c:
        raise MessageError(f"raw frame does not match its shape {list(typed.shape)}: {len(msg.payload)} bytes")
    return typed


def decode_frame(msg: Message) -> np.ndarray:
    """The BGR image of a ``frame`` message, its size checked before decoding; raises :class:`MessageError`."""
    typed = check_frame(msg)
    if typed.fmt == "jpeg":
        try:
            return decode_image(msg.payload, what="frame payload", limits=WIRE_FRAME_LIMITS)
        except ImageDecodeError as exc:
            raise MessageError(str(exc)) from None
    assert typed.shape is not None
    return np.frombuffer(msg.payload, dtype=np.uint8).reshape(typed.shape)


def _reencode(msg: Message) -> bytes:
    raw = packb(msg.header)
    return _PREFIX.pack(MAGIC, len(raw)) + raw + msg.payload


# --- events ------------------------------------------------------------------------------------------------


def _event(wire: EventWire) -> AudioEvent:
    return AudioEvent(t=wire.t, sound=Sound(wire.sound), track_id=wire.track_id, azimuth_deg=wrap_deg(wire.azimuth_deg),
                      elevation_deg=wire.elevation_deg, distance_m=wire.distance_m, reason=wire.reason,
                      name=wire.name, pitch_semitones=wire.pitch_semitones, priority=wire.priority,
                      frame_t=wire.frame_t, extra=dict(wire.extra))


def _seen(wire: SeenWire) -> SeenSignal:
    return SeenSignal(t=wire.t, track_id=wire.track_id, name=wire.name, reason=wire.reason)


def event_from_dict(d: dict[str, Any]) -> AudioEvent:
    """An :class:`AudioEvent` from its JSON dict, validated; raises :class:`MessageError` on a bad one."""
    try:
        return _event(msgspec.convert(d, EventWire))
    except msgspec.ValidationError as exc:
        raise MessageError(f"malformed audio event: {exc}") from None


def seen_from_dict(d: dict[str, Any]) -> SeenSignal:
    """A :class:`SeenSignal` from its dict, validated; raises :class:`MessageError` on a bad one."""
    try:
        return _seen(msgspec.convert(d, SeenWire))
    except msgspec.ValidationError as exc:
        raise MessageError(f"malformed seen signal: {exc}") from None


def seen_from_bytes(data: bytes) -> SeenSignal:
    """The :class:`SeenSignal` payload of a ``seen`` message; raises :class:`MessageError`."""
    try:
        return _seen(_seen_decoder.decode(data))
    except msgspec.MsgspecError as exc:
        raise MessageError(f"seen payload rejected: {exc}") from None


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
        """Parse and validate the payload of an ``events`` message (every field of every event: type, finite,
        range); raises :class:`MessageError`, so one bad event drops the whole message."""
        try:
            wire = _events_decoder.decode(data)
        except msgspec.DecodeError as exc:
            if isinstance(exc, msgspec.ValidationError):
                raise MessageError(f"events payload malformed: {exc}") from None
            raise MessageError(f"events payload is not msgpack: {exc}") from None
        return cls([_event(e) for e in wire.events], [_seen(s) for s in wire.seen], dict(wire.timings))
