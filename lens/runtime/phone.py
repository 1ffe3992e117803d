"""``peoplelens phone``: the perception + world + experiences stage on the phone / GPU box.

It binds the frames, control and events channels (see :mod:`peoplelens.lens.runtime.transport`), takes the newest
valid frame (the intake thread, :mod:`peoplelens.lens.runtime.intake`, keeps only one), runs the processor, and
publishes each frame's events and seen signals with the frame's capture time, so the device can measure end-to-end
latency. It publishes a heartbeat every second. Sequence gaps in the frames it receives are counted as
``perception.frames_dropped``; messages that fail their checks are counted as ``perception.rejected`` (frames
channel) or ``control.rejected`` and dropped, with a rate-limited log line. Every header field is read from the
validated, typed header (:mod:`peoplelens.lens.runtime.wire_schema`). Per-device state (sessions, sequence numbers)
is bounded and forgotten after ``peer_ttl_s`` of silence (:class:`~peoplelens.lens.runtime.peers.PeerTable`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

import zmq

from peoplelens.core.state import HeadOrientation
from peoplelens.lens.runtime.capture import CapturedFrame
from peoplelens.lens.runtime.errors import MessageError
from peoplelens.lens.runtime.intake import FrameIntake
from peoplelens.lens.runtime.lifecycle import emit_report, running
from peoplelens.lens.runtime.messages import EventsPayload, Message, decode_frame, encode, head_from_wire, head_to_list
from peoplelens.lens.runtime.peers import DEFAULT_MAX_PEERS, DEFAULT_TTL_S, PeerTable
from peoplelens.lens.runtime.perception import process_captured
from peoplelens.lens.runtime.protocol import DEFAULT_FACTORY, Processor, build_processor, close_processor
from peoplelens.lens.runtime.sinks import playable_events
from peoplelens.lens.runtime.stats import RuntimeStats
from peoplelens.lens.runtime.transport import (
    SeqTracker,
    channel_endpoints,
    close_all,
    drain,
    phone_sockets,
    send_nowait,
)
from peoplelens.lens.runtime.wire_schema import FrameHeader, HeartbeatHeader, ImuHeader

log = logging.getLogger(__name__)


@dataclass
class PhoneOptions:
    """Options of ``peoplelens phone``."""

    bind: str = "tcp://*:5555"
    processor: str = DEFAULT_FACTORY
    slow_ms: float = 0.0
    max_frame_age_s: float = 0.0  # > 0: skip frames older than this (needs clocks in sync with the device)
    duration_s: float = 0.0
    stats_path: str | None = None
    report_every_s: float = 5.0
    heartbeat_s: float = 1.0
    max_peers: int = DEFAULT_MAX_PEERS  # device sessions (and their sequence numbers) remembered at once
    peer_ttl_s: float = DEFAULT_TTL_S  # a device session silent this long is forgotten


class PhoneStage:
    """The phone's loop state (the frames socket belongs to the intake thread, the others to :meth:`run`'s)."""

    def __init__(self, opts: PhoneOptions, processor: Processor, stats: RuntimeStats) -> None:
        self.opts, self.processor, self.stats = opts, processor, stats
        self.session = f"{os.getpid()}-{int(time.time() * 1000)}"
        self.ctx = zmq.Context()
        self.socks = phone_sockets(self.ctx, opts.bind)
        self.intake = FrameIntake(self.socks["frames"], stats)
        self.frames_seq = SeqTracker(opts.max_peers, opts.peer_ttl_s)
        self.events_seq = 0
        self.heartbeat_seq = 0
        self.control_head: HeadOrientation | None = None  # the latest IMU head from the control channel, unused yet
        self.device_sessions: PeerTable[float] = PeerTable(opts.max_peers, opts.peer_ttl_s)

    def _on_control(self, msg: Message) -> None:
        typed = msg.typed
        if isinstance(typed, ImuHeader):
            self.control_head = head_from_wire(typed.head)
        elif isinstance(typed, HeartbeatHeader):
            session = typed.session or "?"
            if self.device_sessions.put(session, time.time()):
                self.stats.count("sessions", "devices_seen")
                self.stats.note("sessions", f"phone: device session {session} connected")
        else:
            self.stats.reject("control", f"rejected a {msg.kind!r} message on the control channel", log)

    def _take_control_head(self) -> HeadOrientation | None:
        """The control channel's IMU head, once (the world frame takes each sample once; a repeat is ignored)."""
        head, self.control_head = self.control_head, None
        return head

    def _on_frame(self, msg: Message) -> None:
        typed = msg.typed
        assert isinstance(typed, FrameHeader)  # the intake passes frames only
        try:
            image = decode_frame(msg)
        except MessageError as exc:
            self.stats.reject("perception", f"rejected a frame: {exc}", log)
            return
        head = head_from_wire(typed.head) or self._take_control_head()
        sender = typed.session or typed.stage
        self.stats.count("perception", "frames_dropped", self.frames_seq.gap(sender, typed.seq))
        t_received = time.time()
        if self.opts.max_frame_age_s > 0 and t_received - typed.t_capture > self.opts.max_frame_age_s:
            self.stats.count("perception", "frames_stale")
            return
        item = CapturedFrame(image, typed.t_frame, typed.index, typed.t_capture, head)
        result = process_captured(self.processor, item, self.stats)
        if result is None:
            return
        events = playable_events(result.events, self.stats, "perception")
        if not (events or result.seen):
            return
        payload = EventsPayload(events, result.seen, result.timings).to_bytes()
        data = encode("events", self.events_seq, item.t_capture, "phone", payload, frame_seq=typed.seq,
                      session=self.session, t_received=t_received, t_processed=time.time(),
                      head=head_to_list(head_from_wire(typed.head)))
        self.events_seq += 1
        self.stats.count("perception", "events_sent" if send_nowait(self.socks["events"], data) else "events_unsent",
                         len(events))

    def _heartbeat(self) -> None:
        counters = {k: int(self.stats.get("perception", k)) for k in ("frames_processed", "frames_dropped", "rejected")}
        data = encode("heartbeat", self.heartbeat_seq, time.time(), "phone", session=self.session, counters=counters)
        self.heartbeat_seq += 1
        send_nowait(self.socks["events"], data)
        self._sessions_report()

    def _sessions_report(self) -> None:
        table = self.device_sessions
        self.stats.set_section("peers", {"devices": len(table), "devices_expired": table.expired,
                                         "devices_evicted": table.evicted, "senders": len(self.frames_seq.last)})

    def run(self, stop: threading.Event) -> None:
        """Serve until ``stop`` is set (or ``duration_s`` passes)."""
        self.intake.start()
        next_beat = time.monotonic()
        deadline = time.monotonic() + self.opts.duration_s if self.opts.duration_s > 0 else None
        while not stop.is_set():
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                break
            if now >= next_beat:
                self._heartbeat()
                next_beat = now + self.opts.heartbeat_s
            for msg in drain(self.socks["control"], self.stats, "control"):
                self._on_control(msg)
            frame = self.intake.get(timeout=0.05)
            if frame is not None:
                self._on_frame(frame)
        for msg in drain(self.socks["control"], self.stats, "control"):  # what arrived before the stop is counted
            self._on_control(msg)
        self._sessions_report()
        self.stats.info["device_sessions"] = [session for session, _ in self.device_sessions.items()]

    def close(self) -> None:
        """Stop the intake, close the sockets (linger 0) and the context."""
        self.intake.stop()
        close_all(self.socks)
        self.ctx.term()


def run_phone(opts: PhoneOptions, config: dict[str, Any], people: Any = None) -> RuntimeStats:
    """Build the processor (naming against ``people``, the enrolled people store or None), bind the channels and
    serve until SIGINT/SIGTERM; returns the stats."""
    stats = RuntimeStats("phone")
    endpoints = channel_endpoints(opts.bind)  # a bad endpoint fails before the (slow) processor is built
    processor = build_processor(opts.processor, config, opts.slow_ms, people=people)
    stage = PhoneStage(opts, processor, stats)
    stats.info.update(endpoints=endpoints, processor=opts.processor, session=stage.session,
                      slow_ms=opts.slow_ms)
    emit_report(f"phone: session {stage.session} listening on {opts.bind} with {opts.processor}")
    try:
        with running(stats, opts.report_every_s, opts.stats_path) as stop:
            stage.run(stop)
    finally:
        stage.close()
        close_processor(processor)
    return stats
