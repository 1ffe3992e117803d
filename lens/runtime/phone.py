"""``peoplelens phone``: the perception + world + experiences stage on the phone / GPU box.

It binds the frames, control and events channels (see :mod:`peoplelens.lens.runtime.transport`), takes the newest frame
(the conflated PULL keeps only one), runs the processor, and publishes each frame's events and seen signals
with the frame's capture time, so the device can measure end-to-end latency. It publishes a heartbeat every
second. Sequence gaps in the frames it receives are counted as ``perception.frames_dropped``; messages that
fail to decode are counted as ``perception.rejected`` (frames channel) or ``control.rejected``.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import Any

import zmq

from peoplelens.core.state import HeadOrientation
from peoplelens.lens.runtime.capture import CapturedFrame
from peoplelens.lens.runtime.errors import MessageError
from peoplelens.lens.runtime.lifecycle import emit_report, running
from peoplelens.lens.runtime.messages import EventsPayload, Message, decode_frame, encode, head_from_list
from peoplelens.lens.runtime.perception import process_captured
from peoplelens.lens.runtime.protocol import DEFAULT_FACTORY, Processor, build_processor, close_processor
from peoplelens.lens.runtime.stats import RuntimeStats
from peoplelens.lens.runtime.transport import (
    SeqTracker,
    channel_endpoints,
    close_all,
    phone_sockets,
    receive,
    send_nowait,
)

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


class PhoneStage:
    """The phone's loop state (sockets are used from the thread that runs :meth:`run` only)."""

    def __init__(self, opts: PhoneOptions, processor: Processor, stats: RuntimeStats) -> None:
        self.opts, self.processor, self.stats = opts, processor, stats
        self.session = f"{os.getpid()}-{int(time.time() * 1000)}"
        self.ctx = zmq.Context()
        self.socks = phone_sockets(self.ctx, opts.bind)
        self.frames_seq = SeqTracker()
        self.events_seq = 0
        self.heartbeat_seq = 0
        self.head: HeadOrientation | None = None
        self.device_sessions: set[str] = set()

    def _on_control(self, msg: Message) -> None:
        if msg.kind == "imu":
            try:
                self.head = head_from_list(msg.header.get("head"))
            except MessageError as exc:
                self.stats.count("control", "rejected")
                log.warning("control: rejected an imu message: %s", exc)
        elif msg.kind == "heartbeat":
            session = str(msg.header.get("session", "?"))
            if session not in self.device_sessions:
                self.device_sessions.add(session)
                emit_report(f"phone: device session {session} connected")

    def _on_frame(self, msg: Message) -> None:
        if msg.kind != "frame":
            self.stats.count("perception", "rejected")
            log.warning("perception: rejected a %r message on the frames channel", msg.kind)
            return
        try:
            image = decode_frame(msg)
            head = head_from_list(msg.header.get("head"))
            t_frame, index = float(msg.header["t_frame"]), int(msg.header["index"])
        except (MessageError, KeyError, TypeError, ValueError) as exc:
            self.stats.count("perception", "rejected")
            log.warning("perception: rejected a frame: %s", exc)
            return
        self.stats.count("perception", "frames_dropped",
                         self.frames_seq.gap(str(msg.header.get("session", msg.header["stage"])), msg.seq))
        t_received = time.time()
        if self.opts.max_frame_age_s > 0 and t_received - msg.header["t_capture"] > self.opts.max_frame_age_s:
            self.stats.count("perception", "frames_stale")
            return
        item = CapturedFrame(image, t_frame, index, float(msg.header["t_capture"]), head or self.head)
        result = process_captured(self.processor, item, self.stats)
        if result is None or not (result.events or result.seen):
            return
        payload = EventsPayload(result.events, result.seen, result.timings).to_bytes()
        data = encode("events", self.events_seq, item.t_capture, "phone", payload, frame_seq=msg.seq,
                      session=self.session, t_received=t_received, t_processed=time.time(),
                      head=msg.header.get("head"))
        self.events_seq += 1
        self.stats.count("perception", "events_sent" if send_nowait(self.socks["events"], data) else "events_unsent",
                         len(result.events))

    def _heartbeat(self) -> None:
        counters = {k: self.stats.get("perception", k) for k in ("frames_processed", "frames_dropped", "rejected")}
        data = encode("heartbeat", self.heartbeat_seq, time.time(), "phone", session=self.session, counters=counters)
        self.heartbeat_seq += 1
        send_nowait(self.socks["events"], data)

    def run(self, stop) -> None:
        """Serve until ``stop`` is set (or ``duration_s`` passes)."""
        poller = zmq.Poller()
        poller.register(self.socks["frames"], zmq.POLLIN)
        poller.register(self.socks["control"], zmq.POLLIN)
        next_beat = time.monotonic()
        deadline = time.monotonic() + self.opts.duration_s if self.opts.duration_s > 0 else None
        while not stop.is_set():
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                break
            if now >= next_beat:
                self._heartbeat()
                next_beat = now + self.opts.heartbeat_s
            ready = dict(poller.poll(timeout=100))
            if self.socks["control"] in ready:
                while (msg := receive(self.socks["control"], self.stats, "control")) is not None:
                    self._on_control(msg)
            if self.socks["frames"] in ready:
                msg = receive(self.socks["frames"], self.stats, "perception")
                if msg is not None:
                    self._on_frame(msg)

    def close(self) -> None:
        """Close the sockets (linger 0) and the context."""
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
