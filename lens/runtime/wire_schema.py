"""The typed schema of every runtime message (msgspec): each header and payload field with its type and range.

A message from the network is untrusted: a field of the wrong type (``distance_m = "far"``), a missing one, a NaN
or an infinity, or a value far outside anything real (an azimuth of 1e300) is refused here, at the boundary,
before any stage sees it. msgspec checks types strictly (no ``"3"`` for 3, no ``True`` for 1) and a bounded float
refuses NaN and +-inf, so every float below carries bounds. Unknown extra fields are ignored (a newer sender may
add some); a receiver only ever reads the declared ones.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from peoplelens.core.state import Sound

# ---- field types ------------------------------------------------------------------------------------------------
WallSeconds = Annotated[float, msgspec.Meta(ge=0.0, le=1e10)]  # wall-clock times (time.time()), up to year 2286
Stamp = Annotated[float, msgspec.Meta(ge=-1e10, le=1e10)]  # capture / video clock times (finite)
Count = Annotated[int, msgspec.Meta(ge=0, le=2**62)]
Label = Annotated[str, msgspec.Meta(max_length=64)]
Text = Annotated[str, msgspec.Meta(max_length=1000)]
PersonName = Annotated[str, msgspec.Meta(max_length=200)]
YawDeg = Annotated[float, msgspec.Meta(ge=-3600.0, le=3600.0)]  # an integrated yaw may be unwrapped; wrapped on use
AngleDeg = Annotated[float, msgspec.Meta(ge=-180.0, le=180.0)]
AzimuthDeg = Annotated[float, msgspec.Meta(ge=-360.0, le=360.0)]  # wrapped to (-180, 180] on use
DistanceM = Annotated[float, msgspec.Meta(ge=0.0, le=1000.0)]
Semitones = Annotated[float, msgspec.Meta(ge=-48.0, le=48.0)]
Priority = Annotated[int, msgspec.Meta(ge=-1000, le=1000)]
TrackId = Annotated[int, msgspec.Meta(ge=0, le=2**31)]
StageSeconds = Annotated[float, msgspec.Meta(ge=0.0, le=3600.0)]
Side = Annotated[int, msgspec.Meta(ge=1, le=65535)]

ExtraNumber = Annotated[float, msgspec.Meta(ge=-1e12, le=1e12)]
ExtraScalar = None | bool | int | ExtraNumber | Text
ExtraValue = (ExtraScalar | Annotated[list[ExtraScalar], msgspec.Meta(max_length=64)]
              | Annotated[dict[Label, ExtraScalar], msgspec.Meta(max_length=32)])

MAX_EVENTS = 256  # per events message


class HeadWire(msgspec.Struct, array_like=True, frozen=True):
    """A head orientation on the wire: ``[yaw, pitch, roll, t, source]``."""

    yaw: YawDeg
    pitch: AngleDeg
    roll: YawDeg
    t: Stamp
    source: Label


# ---- headers (one per kind, told apart by the "kind" field) -----------------------------------------------------
class Header(msgspec.Struct, tag_field="kind", kw_only=True, frozen=True):
    """Fields every message has."""

    v: Literal[1]
    seq: Count
    t_capture: WallSeconds
    t_sent: WallSeconds
    stage: Label
    session: Label | None = None


class FrameHeader(Header, tag="frame", frozen=True):
    """A camera frame: JPEG bytes, or raw (H, W, 3) uint8 pixels described by ``shape`` and ``dtype``."""

    index: Count
    t_frame: Stamp
    fmt: Literal["jpeg", "raw"]
    shape: tuple[Side, Side, Literal[3]] | None = None
    dtype: Literal["uint8"] | None = None
    head: HeadWire | None = None


class ImuHeader(Header, tag="imu", frozen=True):
    """The device's latest head orientation."""

    head: HeadWire


class EventsHeader(Header, tag="events", frozen=True):
    """The events of one processed frame (payload: :class:`EventsWire`)."""

    frame_seq: Count | None = None
    t_received: WallSeconds | None = None
    t_processed: WallSeconds | None = None
    head: HeadWire | None = None


class HeartbeatHeader(Header, tag="heartbeat", frozen=True):
    """A liveness beat with a few counters."""

    counters: Annotated[dict[Label, Count], msgspec.Meta(max_length=64)] = {}


class SeenHeader(Header, tag="seen", frozen=True):
    """A seen signal for peers (payload: :class:`SeenWire`)."""


AnyHeader = FrameHeader | ImuHeader | EventsHeader | HeartbeatHeader | SeenHeader

#: The largest payload each kind may carry (frames are bounded again by their decoded size).
MAX_PAYLOAD = {"frame": 4096 * 4096 * 3, "imu": 0, "events": 1024 * 1024, "heartbeat": 0, "seen": 64 * 1024}


# ---- payloads ---------------------------------------------------------------------------------------------------
class EventWire(msgspec.Struct, kw_only=True, frozen=True):
    """One :class:`~peoplelens.core.state.AudioEvent` on the wire."""

    t: Stamp
    sound: Sound
    track_id: TrackId | None
    azimuth_deg: AzimuthDeg
    elevation_deg: AngleDeg
    distance_m: DistanceM
    reason: Text
    name: PersonName | None = None
    pitch_semitones: Semitones = 0.0
    priority: Priority = 0
    frame_t: Stamp | None = None
    extra: Annotated[dict[Label, ExtraValue], msgspec.Meta(max_length=32)] = {}


class SeenWire(msgspec.Struct, kw_only=True, frozen=True):
    """One :class:`~peoplelens.core.state.SeenSignal` on the wire."""

    t: Stamp
    track_id: TrackId
    name: PersonName | None
    reason: Text


class EventsWire(msgspec.Struct, kw_only=True, frozen=True):
    """The payload of an ``events`` message."""

    events: Annotated[list[EventWire], msgspec.Meta(max_length=MAX_EVENTS)] = []
    seen: Annotated[list[SeenWire], msgspec.Meta(max_length=MAX_EVENTS)] = []
    timings: Annotated[dict[Label, StageSeconds], msgspec.Meta(max_length=64)] = {}
