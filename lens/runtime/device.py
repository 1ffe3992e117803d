"""``peoplelens device``: capture, audio output and the seen signal on the head-worn device.

It connects to the phone's channels (see :mod:`peoplelens.lens.runtime.transport`), so the phone can be restarted while
the device keeps running: frames sent while no phone is connected are counted as ``capture.frames_unsent``,
and events resume as soon as the new phone session publishes. The capture thread sends JPEG frames on the
conflated PUSH (latest frame wins); the main thread receives events, plays them, measures end-to-end latency
against its own capture clock, publishes seen signals and sends a heartbeat (and the IMU head) each second.

Everything it receives is untrusted: header fields are read from the validated, typed header, an events message
with one bad event is rejected whole (``audio.rejected``, a rate-limited log line), at most
:data:`~peoplelens.lens.runtime.transport.MAX_DRAIN` messages are taken per turn of the loop, and per-phone state
(sessions, sequence numbers) is bounded and forgotten after ``peer_ttl_s`` of silence.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import zmq

from peoplelens.core.state import HeadOrientation
from peoplelens.lens.runtime.capture import CapturedFrame, FrameSource, ImuTrack, capture_loop
from peoplelens.lens.runtime.errors import MessageError
from peoplelens.lens.runtime.lifecycle import emit_report, running
from peoplelens.lens.runtime.messages import EventsPayload, Message, encode, encode_frame, head_from_wire, head_to_list
from peoplelens.lens.runtime.peers import DEFAULT_MAX_PEERS, DEFAULT_TTL_S, PeerTable
from peoplelens.lens.runtime.sinks import EventSink, OutputStage, SeenPublisher
from peoplelens.lens.runtime.stats import RuntimeStats
from peoplelens.lens.runtime.transport import (
    SeqTracker,
    channel_endpoints,
    close_all,
    device_sockets,
    drain,
    events_subscriber,
    seen_publisher,
    send_nowait,
)
from peoplelens.lens.runtime.wire_schema import EventsHeader, HeartbeatHeader

log = logging.getLogger(__name__)


@dataclass
class DeviceOptions:
    """Options of ``peoplelens device``."""

    connect: str = "tcp://127.0.0.1:5555"
    camera: int | None = None
    video: str | None = None
    imu: str | None = None
    realtime: bool = True
    loop: bool = False
    duration_s: float = 0.0
    seen_bind: str | None = None
    stats_path: str | None = None
    report_every_s: float = 5.0
    jpeg_quality: int = 85  # 0 = raw pixels
    drain_s: float = 1.0  # after the source ends, wait this long for the last events
    heartbeat_s: float = 1.0
    phone_timeout_s: float = 3.0  # no phone heartbeat for this long = phone lost
    events_path: str | None = None  # write every event received as a JSON line (replay's events.jsonl schema)
    resolution: tuple[int, int] | None = None  # asked of a live camera ([camera] width/height)
    max_peers: int = DEFAULT_MAX_PEERS  # phone sessions (and their sequence numbers) remembered at once
    peer_ttl_s: float = DEFAULT_TTL_S  # a phone session silent this long is forgotten


class DeviceStage:
    """The device's state; the frames socket belongs to the capture thread, the others to the main thread."""

    def __init__(self, opts: DeviceOptions, sink: EventSink, stats: RuntimeStats) -> None:
        self.opts, self.stats = opts, stats
        self.session = f"device-{int(time.time() * 1000)}"
        self.source = FrameSource(opts.camera, opts.video, loop=opts.loop, resolution=opts.resolution)
        self.imu = ImuTrack.load(opts.imu) if opts.imu else None
        self.ctx = zmq.Context()
        self.socks = device_sockets(self.ctx, opts.connect)
        self.seen_sock = seen_publisher(self.ctx, opts.seen_bind) if opts.seen_bind else None
        self.poller = zmq.Poller()
        self.output = OutputStage(sink, SeenPublisher(self.seen_sock, stats), stats, opts.events_path)
        self.events_seq = SeqTracker(opts.max_peers, opts.peer_ttl_s)
        self.phone_sessions: PeerTable[int] = PeerTable(opts.max_peers, opts.peer_ttl_s)  # session -> events played
        self.last_phone_beat: float | None = None
        self.latest_head: HeadOrientation | None = None
        self.heartbeat_seq = 0

    def _send_frame(self, frame: CapturedFrame) -> None:
        payload, fields = encode_frame(frame.image, self.opts.jpeg_quality)
        self.latest_head = frame.head
        data = encode("frame", frame.index, frame.t_capture, "capture", payload, index=frame.index,
                      t_frame=frame.t_frame, head=head_to_list(frame.head), session=self.session, **fields)
        sent = send_nowait(self.socks["frames"], data)
        self.stats.count("capture", "frames_sent" if sent else "frames_unsent")

    def _on_message(self, msg: Message) -> None:
        typed = msg.typed
        session = (typed.session if typed is not None else None) or "?"
        if isinstance(typed, HeartbeatHeader):
            self._phone_alive(session)
            return
        if not isinstance(typed, EventsHeader):
            self.stats.reject("audio", f"rejected a {msg.kind!r} message on the events channel", log)
            return
        try:
            payload = EventsPayload.from_bytes(msg.payload)
        except MessageError as exc:
            self.stats.reject("audio", f"rejected an events message: {exc}", log)
            return
        self._phone_alive(session, len(payload.events))
        self.stats.count("audio", "events_lost", self.events_seq.gap(session, typed.seq))
        self.stats.observe_s("transport_events", time.time() - typed.t_sent)
        frame_index = typed.frame_seq if typed.frame_seq is not None else -1
        self.output.deliver(payload.events, payload.seen, typed.t_capture, head_from_wire(typed.head),
                            frame_index=frame_index)

    def _phone_alive(self, session: str, events: int = 0) -> None:
        self.last_phone_beat = time.monotonic()
        played = self.phone_sessions.get(session) or 0
        if self.phone_sessions.put(session, played + events):
            self.stats.count("sessions", "phones_seen")
            self.stats.note("sessions", f"device: phone session {session} connected")

    def _heartbeat(self) -> None:
        counters = {k: int(self.stats.get("capture", k)) for k in ("frames_read", "frames_sent", "frames_unsent")}
        data = encode("heartbeat", self.heartbeat_seq, time.time(), "device", session=self.session, counters=counters)
        self.heartbeat_seq += 1
        send_nowait(self.socks["control"], data)
        if self.latest_head is not None:
            send_nowait(self.socks["control"], encode("imu", self.heartbeat_seq, time.time(), "device",
                                                      head=head_to_list(self.latest_head)))
        if self.last_phone_beat is not None and time.monotonic() - self.last_phone_beat > self.opts.phone_timeout_s:
            emit_report("device: phone lost (no heartbeat); frames wait for it to come back")
            self.stats.count("device", "phone_lost")
            self.last_phone_beat = None
            self._resubscribe()
        self._sessions_report()

    def _resubscribe(self) -> None:
        """A new connection to the phone's events channel (ZeroMQ never reconnects one it dropped for an oversized
        message; after a plain phone restart this costs nothing)."""
        self.poller.unregister(self.socks["events"])
        self.socks["events"].close(0)
        self.socks["events"] = events_subscriber(self.ctx, self.opts.connect)
        self.poller.register(self.socks["events"], zmq.POLLIN)

    def _sessions_report(self) -> None:
        table = self.phone_sessions
        self.stats.set_section("peers", {"phones": len(table), "phones_expired": table.expired,
                                         "phones_evicted": table.evicted, "senders": len(self.events_seq.last)})

    def run(self, stop: threading.Event) -> None:
        """Capture in a thread; receive and play events here until the source ends, a signal or the duration."""
        capture = threading.Thread(target=capture_loop, name="capture", daemon=True,
                                   args=(self.source, self._send_frame, stop, self.stats, self.opts.realtime, self.imu))
        capture.start()
        self.poller.register(self.socks["events"], zmq.POLLIN)
        next_beat = time.monotonic()
        deadline = time.monotonic() + self.opts.duration_s if self.opts.duration_s > 0 else None
        ended_at: float | None = None
        while not stop.is_set():
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                break
            if ended_at is None and not capture.is_alive():
                ended_at = now
            if ended_at is not None and now - ended_at >= self.opts.drain_s:
                break
            if now >= next_beat:
                self._heartbeat()
                next_beat = now + self.opts.heartbeat_s
            if dict(self.poller.poll(timeout=50)):
                for msg in drain(self.socks["events"], self.stats, "audio"):
                    self._on_message(msg)
        stop.set()
        capture.join(timeout=5.0)
        self._sessions_report()
        self.stats.info["phone_sessions"] = dict(self.phone_sessions.items())

    def close(self) -> None:
        """Close the output, the sockets (linger 0) and the context."""
        self.output.close()
        close_all(self.socks)
        if self.seen_sock is not None:
            self.seen_sock.close(0)
        self.ctx.term()


def run_device(opts: DeviceOptions, sink: EventSink) -> RuntimeStats:
    """Run the device stages until the source ends (+ drain), ``duration_s`` or SIGINT/SIGTERM."""
    stats = RuntimeStats("device")
    stage = DeviceStage(opts, sink, stats)
    stats.info.update(source=stage.source.description, fps=stage.source.fps, endpoints=channel_endpoints(opts.connect),
                      seen_bind=opts.seen_bind, session=stage.session, realtime=opts.realtime)
    try:
        with running(stats, opts.report_every_s, opts.stats_path) as stop:
            stage.run(stop)
    finally:
        stage.close()
    return stats


