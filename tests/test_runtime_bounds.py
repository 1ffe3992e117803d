"""Bounds inside the runtime: per-peer tables that expire and cannot be flooded, sequence trackers on them, log
lines that a flood cannot multiply, the output stage that never plays an event it cannot place (Hypothesis over
every number), frames checked without decoding, and receiving sockets that drop oversized messages."""

from __future__ import annotations

import io
import math
import tempfile

import cv2
import numpy as np
import pytest
import zmq
from hypothesis import given, settings
from hypothesis import strategies as st

from peoplelens.core.event_log import read_event_log
from peoplelens.core.state import AudioEvent, HeadOrientation, Sound
from peoplelens.lens.runtime.errors import MessageError
from peoplelens.lens.runtime.messages import check_frame, decode, encode, encode_frame, max_message_bytes
from peoplelens.lens.runtime.peers import PeerTable
from peoplelens.lens.runtime.sinks import LogSink, OutputStage, SeenPublisher, event_problem
from peoplelens.lens.runtime.stats import LogLimiter, RuntimeStats
from peoplelens.lens.runtime.transport import SeqTracker, drain, phone_sockets
from tests.test_registration_security import jpeg_claiming


class SteppedClock:
    """A clock the test moves by hand (the table's time source is a parameter)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_peer_table_forgets_the_silent_and_stays_bounded() -> None:
    clock = SteppedClock()
    table: PeerTable[int] = PeerTable(max_peers=3, ttl_s=10.0, clock=clock)
    assert table.put("a", 1) and not table.put("a", 2) and table.get("a") == 2
    clock.now = 5.0
    table.put("b", 1)
    clock.now = 12.0  # a silent for 12 s, b for 7 s
    assert table.get("a") is None and "b" in table and table.expired == 1
    assert table.put("a", 9)  # a peer that comes back is new again
    for i in range(1000):  # a flood of invented ids
        table.put(f"fake-{i}", i)
    assert len(table) == 3 and table.evicted == 999  # 1002 peers seen, 3 kept
    clock.now = 30.0
    assert list(table.items()) == [] and table.expired == 4


def test_a_flood_of_invented_ids_does_not_push_out_a_peer_that_keeps_talking() -> None:
    table: PeerTable[int] = PeerTable(max_peers=8, ttl_s=60.0, clock=SteppedClock())
    table.put("phone", 0)
    for i in range(4000):
        table.put(f"fake-{i}", i)
        if i % 100 == 0:
            table.put("phone", table.get("phone") + 1)
    assert table.get("phone") == 40 and len(table) == 8


def test_sequence_trackers_are_bounded() -> None:
    seq = SeqTracker(max_senders=4)
    assert seq.gap("dev", 0) == 0 and seq.gap("dev", 3) == 2
    for i in range(100):
        seq.gap(f"s{i}", 5)
    assert len(seq.last) == 4 and seq.gap("dev", 7) == 3  # "dev" was talking, so it is still known


def test_a_flood_of_log_lines_is_limited() -> None:
    limiter = LogLimiter(burst=3, every_s=3600.0)
    verdicts = [limiter.allow("x") for _ in range(1000)]
    assert [ok for ok, _ in verdicts].count(True) == 3 and verdicts[-1] == (False, 997)
    assert limiter.allow("y") == (True, 0)  # each key has its own budget


finite = st.floats(-1e6, 1e6)
number = st.one_of(finite, st.sampled_from([math.nan, math.inf, -math.inf, 1e300]))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(number, number, number, number), min_size=1, max_size=12))
def test_fuzz_the_output_stage_never_plays_an_event_it_cannot_place(values) -> None:
    stats = RuntimeStats("test")
    events = [AudioEvent(t=1.0, sound=Sound.BUMP, track_id=1, azimuth_deg=az, elevation_deg=el, distance_m=d,
                         reason="r", pitch_semitones=p) for az, el, d, p in values]
    console = io.StringIO()
    with tempfile.TemporaryDirectory() as tmp:
        output = OutputStage(LogSink(console), SeenPublisher(None, stats), stats, f"{tmp}/events.jsonl")
        output.deliver(events, [], 0.0, HeadOrientation(math.nan, 0.0))
        output.close()
        played = read_event_log(f"{tmp}/events.jsonl")
    playable = [e for e in events if event_problem(e) is None]
    assert len(played) == len(playable) == len(console.getvalue().splitlines())
    assert stats.get("audio", "invalid_events") == len(events) - len(playable)
    assert stats.get("audio", "invalid_heads") == 1
    for record in played:
        assert all(math.isfinite(record[k]) for k in ("azimuth_deg", "elevation_deg", "distance_m"))
        assert -360 <= record["azimuth_deg"] <= 360 and 0 <= record["distance_m"] <= 1000


def test_event_problems_say_what_is_wrong() -> None:
    good = AudioEvent(t=1.0, sound=Sound.CLICK, track_id=3, azimuth_deg=10.0, elevation_deg=0.0, distance_m=2.0,
                      reason="r")
    assert event_problem(good) is None
    assert "distance_m = 'far'" in event_problem(AudioEvent(**{**vars(good), "distance_m": "far"}))
    assert "azimuth_deg = None" in event_problem(AudioEvent(**{**vars(good), "azimuth_deg": None}))
    assert "unknown sound" in event_problem(AudioEvent(**{**vars(good), "sound": "trumpet"}))
    assert "not an AudioEvent" in event_problem({"azimuth_deg": 1.0})


def test_frames_are_checked_without_decoding_a_pixel() -> None:
    img = np.full((48, 64, 3), 128, np.uint8)
    payload, fields = encode_frame(img)
    assert check_frame(decode(encode("frame", 0, 1.0, "x", payload, t_frame=0.0, index=0, **fields))).index == 0
    for bad in (b"", jpeg_claiming(65000, 65000), payload[:20]):
        with pytest.raises(MessageError):
            check_frame(decode(encode("frame", 0, 1.0, "x", bad, fmt="jpeg", t_frame=0.0, index=0)))
    raw, raw_fields = encode_frame(img, 0)
    with pytest.raises(MessageError, match="does not match its shape"):
        check_frame(decode(encode("frame", 0, 1.0, "x", raw[:-1], t_frame=0.0, index=0, **raw_fields)))
    ok, buf = cv2.imencode(".png", img)
    with pytest.raises(MessageError, match="JPEG expected"):
        check_frame(decode(encode("frame", 0, 1.0, "x", buf.tobytes(), fmt="jpeg", t_frame=0.0, index=0)))


def test_the_phone_sockets_drop_oversized_messages_unread() -> None:
    base = "ipc://" + tempfile.mkdtemp(prefix="plrt") + "/lens"
    ctx = zmq.Context()
    socks = phone_sockets(ctx, base)
    control = ctx.socket(zmq.PUSH)
    control.setsockopt(zmq.LINGER, 0)
    try:
        assert socks["control"].getsockopt(zmq.MAXMSGSIZE) == max_message_bytes("imu", "heartbeat") < 70_000
        assert socks["frames"].getsockopt(zmq.MAXMSGSIZE) == max_message_bytes("frame")
        control.connect(base + ".control")
        control.send(b"PL" + bytes(max_message_bytes("heartbeat")))  # one byte too many
        for i in range(50):  # the sender is dropped, reconnects, and is heard again
            control.send(encode("heartbeat", i, 1.0, "device", session="d"))
        stats = RuntimeStats("test")
        got = []
        for _ in range(40):
            if socks["control"].poll(50):
                got += [m.seq for m in drain(socks["control"], stats, "control")]
        assert got and got[-1] == 49 and stats.get("control", "rejected") == 0
    finally:
        control.close(0)
        for s in socks.values():
            s.close(0)
        ctx.term()
