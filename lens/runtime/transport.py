"""ZeroMQ sockets for the device <-> phone split, their endpoint layout, and safe receiving.

The phone (long-lived, the expensive stage) **binds**; the device **connects**, and ZeroMQ reconnects by
itself, so either side can be restarted without restarting the other. From one base endpoint:

====================  ==========================  ====================================================
channel               tcp://H:P / ipc://PATH        sockets and queueing
====================  ==========================  ====================================================
frames                P       / PATH.frames        device PUSH (``CONFLATE``: the newest frame waits) ->
                                                   phone PULL drained by its own thread, newest *valid*
                                                   frame wins (see :mod:`.intake`)
control (heartbeats,  P+1     / PATH.control       device PUSH -> phone PULL, high-water mark 100
IMU)
events (+heartbeats)  P+2     / PATH.events        phone PUB -> device SUB, high-water mark 1000
====================  ==========================  ====================================================

The device's own ``seen`` PUB (for peers' LED drivers) binds its own endpoint and sends two-part messages
``[b"seen", message]`` so subscribers can filter on the topic. Every socket has ``LINGER`` 0.

Receiving sockets are bounded: ``MAXMSGSIZE`` is the largest valid message of the kinds the channel carries
(ZeroMQ drops a bigger one unread and disconnects its sender, who reconnects), high-water marks bound the queues,
a receiver takes at most :data:`MAX_DRAIN` messages per turn (a flood cannot starve the loop), and every rejected
message is counted (``<stage>.rejected``) with a rate-limited log line.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

import zmq

from peoplelens.lens.runtime.errors import MessageError, RuntimeStageError
from peoplelens.lens.runtime.messages import Message, decode, max_message_bytes
from peoplelens.lens.runtime.peers import DEFAULT_MAX_PEERS, DEFAULT_TTL_S, PeerTable
from peoplelens.lens.runtime.stats import RuntimeStats

log = logging.getLogger(__name__)

CHANNELS = ("frames", "control", "events")
SEEN_TOPIC = b"seen"
MAX_DRAIN = 256  # messages a receiver takes from one socket per turn of its loop
FRAMES_RCVHWM = 4  # frames queued per sender on the phone (its intake thread keeps the queue empty)
_TCP = re.compile(r"^tcp://(?P<host>[^:/]+|\[[^\]]+\]):(?P<port>\d+)$")


def channel_endpoints(base: str) -> dict[str, str]:
    """The three channel endpoints derived from ``base`` (``tcp://host:port`` or ``ipc://path``)."""
    m = _TCP.match(base)
    if m:
        port = int(m["port"])
        if not 0 < port <= 65535 - 2:
            raise RuntimeStageError(f"port {port} out of range in {base!r} (it uses ports P, P+1, P+2)")
        return {name: f"tcp://{m['host']}:{port + i}" for i, name in enumerate(CHANNELS)}
    if base.startswith("ipc://") and len(base) > len("ipc://"):
        return {name: f"{base}.{name}" for name in CHANNELS}
    raise RuntimeStageError(f"endpoint {base!r} must be tcp://HOST:PORT or ipc:///path")


def _socket(ctx: zmq.Context, kind: int, **opts: Any) -> zmq.Socket:
    sock = ctx.socket(kind)
    sock.setsockopt(zmq.LINGER, 0)
    for name, value in opts.items():
        sock.setsockopt(getattr(zmq, name), value)
    return sock


def _bind(sock: zmq.Socket, endpoint: str) -> zmq.Socket:
    try:
        sock.bind(endpoint)
    except zmq.ZMQError as exc:
        sock.close(0)
        raise RuntimeStageError(f"cannot bind {endpoint}: {exc}") from exc
    return sock


def _connect(sock: zmq.Socket, endpoint: str) -> zmq.Socket:
    try:
        sock.connect(endpoint)
    except zmq.ZMQError as exc:
        sock.close(0)
        raise RuntimeStageError(f"cannot connect to {endpoint}: {exc}") from exc
    return sock


def phone_sockets(ctx: zmq.Context, base: str) -> dict[str, zmq.Socket]:
    """The phone's bound sockets: ``frames`` (PULL, conflated), ``control`` (PULL), ``events`` (PUB)."""
    eps = channel_endpoints(base)
    socks: dict[str, zmq.Socket] = {}
    try:
        socks["frames"] = _bind(_socket(ctx, zmq.PULL, RCVHWM=FRAMES_RCVHWM,
                                        MAXMSGSIZE=max_message_bytes("frame")), eps["frames"])
        socks["control"] = _bind(_socket(ctx, zmq.PULL, RCVHWM=100, MAXMSGSIZE=max_message_bytes("imu", "heartbeat")),
                                 eps["control"])
        socks["events"] = _bind(_socket(ctx, zmq.PUB, SNDHWM=1000), eps["events"])
    except RuntimeStageError:
        close_all(socks)
        raise
    return socks


def device_sockets(ctx: zmq.Context, base: str) -> dict[str, zmq.Socket]:
    """The device's connecting sockets: ``frames`` (PUSH, conflated), ``control`` (PUSH), ``events`` (SUB)."""
    eps = channel_endpoints(base)
    socks: dict[str, zmq.Socket] = {}
    try:
        socks["frames"] = _connect(_socket(ctx, zmq.PUSH, SNDHWM=1, CONFLATE=1, IMMEDIATE=1), eps["frames"])
        socks["control"] = _connect(_socket(ctx, zmq.PUSH, SNDHWM=100, IMMEDIATE=1), eps["control"])
        socks["events"] = events_subscriber(ctx, base)
    except RuntimeStageError:
        close_all(socks)
        raise
    return socks


def events_subscriber(ctx: zmq.Context, base: str) -> zmq.Socket:
    """The device's SUB on the phone's events channel. A message over ``MAXMSGSIZE`` makes ZeroMQ drop the
    connection for good on this (connecting) side, so the device makes a new one when the phone's heartbeats stop
    (:meth:`~peoplelens.lens.runtime.device.DeviceStage` does, after ``phone_timeout_s``)."""
    sub = _socket(ctx, zmq.SUB, RCVHWM=1000, MAXMSGSIZE=max_message_bytes("events", "heartbeat"))
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    return _connect(sub, channel_endpoints(base)["events"])


def seen_publisher(ctx: zmq.Context, endpoint: str) -> zmq.Socket:
    """A bound PUB socket for the ``seen`` topic."""
    return _bind(_socket(ctx, zmq.PUB, SNDHWM=100), endpoint)


def close_all(socks: dict[str, zmq.Socket]) -> None:
    """Close every socket immediately (linger 0)."""
    for sock in socks.values():
        sock.close(0)


def send_nowait(sock: zmq.Socket, data: bytes | list[bytes]) -> bool:
    """Send without blocking; False when nobody is connected or the queue is full (the caller counts it)."""
    try:
        if isinstance(data, list):
            sock.send_multipart(data, flags=zmq.NOBLOCK)
        else:
            sock.send(data, flags=zmq.NOBLOCK)
        return True
    except zmq.Again:
        return False


def _parse(parts: list[bytes], stats: RuntimeStats, stage: str, topic: bytes | None) -> Message | None:
    try:
        if topic is not None:
            if len(parts) != 2 or parts[0] != topic:
                raise MessageError(f"expected [{topic!r}, message], got {len(parts)} part(s)")
            data = parts[1]
        else:
            if len(parts) != 1:
                raise MessageError(f"expected one part, got {len(parts)}")
            data = parts[0]
        msg = decode(data)
    except MessageError as exc:
        stats.reject(stage, f"rejected a message: {exc}", log)
        return None
    stats.count(stage, f"received_{msg.kind}")
    return msg


def receive(sock: zmq.Socket, stats: RuntimeStats, stage: str, topic: bytes | None = None) -> Message | None:
    """One message from ``sock`` without blocking, or None (nothing waiting, or rejected and counted).

    With ``topic`` the message is two-part ``[topic, message]``. A rejected message adds one to
    ``stats.counters[stage]["rejected"]`` and logs a line (rate limited).
    """
    try:
        parts = sock.recv_multipart(flags=zmq.NOBLOCK)
    except zmq.Again:
        return None
    return _parse(parts, stats, stage, topic)


def drain(sock: zmq.Socket, stats: RuntimeStats, stage: str, limit: int = MAX_DRAIN,
          topic: bytes | None = None) -> Iterator[Message]:
    """The valid messages waiting on ``sock`` (at most ``limit`` taken, so a flood cannot starve the caller's
    loop); rejected ones are counted and skipped, as :func:`receive` does."""
    for _ in range(limit):
        try:
            parts = sock.recv_multipart(flags=zmq.NOBLOCK)
        except zmq.Again:
            return
        msg = _parse(parts, stats, stage, topic)
        if msg is not None:
            yield msg


class SeqTracker:
    """Counts gaps in each sender's sequence numbers (messages lost or superseded); a restart resets it. The
    senders are a :class:`PeerTable`: bounded in number, forgotten after ``ttl_s`` of silence."""

    def __init__(self, max_senders: int = DEFAULT_MAX_PEERS, ttl_s: float = DEFAULT_TTL_S) -> None:
        self.last: PeerTable[int] = PeerTable(max_senders, ttl_s)

    def gap(self, sender: str, seq: int) -> int:
        """How many messages were skipped before ``seq`` from ``sender`` (0 after a restart or first sight)."""
        prev = self.last.get(sender)
        self.last.put(sender, seq)
        if prev is None or seq <= prev:
            return 0
        return seq - prev - 1
