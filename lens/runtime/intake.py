"""The phone's frame intake: a thread that keeps the frames socket empty and hands on the newest *valid* frame.

ZeroMQ's ``CONFLATE`` keeps the newest message whatever it is, so a stream of bad messages on the frames channel
would push out the device's good frames and the phone would process nothing. Instead this thread receives every
frame message as it arrives (so nothing queues up in ZeroMQ or the kernel and latency stays at one frame), checks
each one without decoding pixels (header schema, kind, the JPEG header's size and scans, a raw frame's length:
:func:`~peoplelens.lens.runtime.messages.check_frame`), counts and drops the bad ones, and keeps the newest good
one in a one-item slot for the perception loop (latest frame wins, among valid frames only).

The phone serves one wearer: it follows one sender (a device session) at a time. Frames from another sender are
dropped (``perception.frames_other_sender``) while the followed one keeps sending; after ``switch_after_s`` of its
silence (a device restart) the next sender is followed. So frames interleaved by a second sender cannot displace
the device's frames or make the frame clock jump back and forth.
"""

from __future__ import annotations

import logging
import threading
import time

import zmq

from peoplelens.lens.runtime.errors import MessageError
from peoplelens.lens.runtime.messages import Message, check_frame
from peoplelens.lens.runtime.slots import LatestSlot
from peoplelens.lens.runtime.stats import RuntimeStats
from peoplelens.lens.runtime.transport import drain

log = logging.getLogger(__name__)


class FrameIntake:
    """Owns the frames socket from :meth:`start` on (ZeroMQ sockets are not thread-safe); :meth:`get` returns the
    newest valid frame message."""

    def __init__(self, sock: zmq.Socket, stats: RuntimeStats, stage: str = "perception",
                 switch_after_s: float = 1.0) -> None:
        self.sock, self.stats, self.stage, self.switch_after_s = sock, stats, stage, switch_after_s
        self.sender: str | None = None  # the sender followed now
        self._sender_heard = -float("inf")
        self.slot: LatestSlot[Message] = LatestSlot()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="frame-intake", daemon=True)

    def start(self) -> FrameIntake:
        """Start receiving."""
        self._thread.start()
        return self

    def get(self, timeout: float) -> Message | None:
        """The newest valid frame not yet taken, waiting up to ``timeout`` seconds; None when there is none."""
        return self.slot.get(timeout)

    def stop(self) -> None:
        """Stop the thread (within about 0.1 s)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)
        self.slot.close()

    def _run(self) -> None:
        poller = zmq.Poller()
        poller.register(self.sock, zmq.POLLIN)
        while not self._stop.is_set():
            if not poller.poll(timeout=100):
                continue
            for msg in drain(self.sock, self.stats, self.stage):
                self._offer(msg)

    def _offer(self, msg: Message) -> None:
        if msg.kind != "frame":
            self.stats.reject(self.stage, f"rejected a {msg.kind!r} message on the frames channel", log)
            return
        try:
            typed = check_frame(msg)
        except MessageError as exc:
            self.stats.reject(self.stage, f"rejected a frame: {exc}", log)
            return
        sender, now = typed.session or typed.stage, time.monotonic()
        if sender != self.sender:
            if now - self._sender_heard < self.switch_after_s:
                self.stats.count(self.stage, "frames_other_sender")
                self.stats.note(f"{self.stage}.other", f"{self.stage}: dropped a frame from {sender!r} while "
                                f"following {self.sender!r}", log)
                return
            self.stats.count(self.stage, "sender_switches")
            self.stats.note(f"{self.stage}.switch", f"{self.stage}: following the frames of {sender!r}")
            self.sender = sender
        self._sender_heard = now
        self.slot.put(msg)
