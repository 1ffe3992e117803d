"""The runtime as real processes on loopback with a real video: restarts, garbage, back-pressure, shutdown."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import msgpack
import pytest
import zmq

from peoplelens.core.event_log import read_event_log
from peoplelens.core.state import AudioEvent, SeenSignal, Sound
from peoplelens.lens.runtime.messages import EventsPayload, decode, encode, encode_frame
from peoplelens.lens.runtime.transport import SEEN_TOPIC, channel_endpoints
from peoplelens.models.assets import asset_path

REPO = Path(__file__).resolve().parents[1]
FACE_PROCESSOR = "peoplelens.lens.runtime.face_processor:build_face_processor"
D0 = "data/videos/talking_heads/liveportrait_d0.mp4"  # frontal centred face, 25 fps
EVENT_LINE = re.compile(r"^\s*-?\d+\.\d\d s  (\w+)\s+([+-]\s*\d+)° (ahead|left|right)\s+(\d+\.\d) m  (.+)$")


class Proc:
    """``python -m peoplelens.cli ...`` (the ``peoplelens`` command), output lines collected by reader threads."""

    def __init__(self, *args: str) -> None:
        self.p = subprocess.Popen([sys.executable, "-m", "peoplelens.cli", *args], cwd=REPO,
                                  env=dict(os.environ),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.out: list[str] = []
        self.err: list[str] = []
        for stream, sink in ((self.p.stdout, self.out), (self.p.stderr, self.err)):
            threading.Thread(target=lambda s=stream, k=sink: [k.append(line) for line in s], daemon=True).start()

    def events(self) -> list[str]:
        """The console's event lines (``lens.runtime.sinks.event_console_line``)."""
        return [line for line in list(self.out) if EVENT_LINE.match(line)]

    def wait_for(self, pred, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pred():
                return
            if self.p.poll() is not None:
                break
            time.sleep(0.05)
        assert pred(), f"timed out waiting for {what}; rc={self.p.poll()} stderr:\n{''.join(self.err)[-3000:]}"

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        if self.p.poll() is None:
            self.p.send_signal(sig)
        rc = self.p.wait(timeout)
        time.sleep(0.1)  # let the reader threads finish
        return rc


def _ipc_base() -> str:
    return "ipc://" + tempfile.mkdtemp(prefix="plrt") + "/lens"


def _tcp_base() -> str:
    for _ in range(100):
        port = random.randint(20000, 60000)
        socks = []
        try:
            for i in range(3):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", port + i))
            return f"tcp://127.0.0.1:{port}"
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port triple")


def _phone(base: str, *extra: str) -> Proc:
    proc = Proc("phone", "--bind", base, "--processor", FACE_PROCESSOR, "--report-every", "0", *extra)
    proc.wait_for(lambda: any("listening" in line for line in proc.err), 30, "the phone to listen")
    return proc


def _stats(path: Path) -> dict:
    assert path.is_file(), f"{path} was not written"
    return json.loads(path.read_text())


def test_phone_restart_midstream_events_resume(tmp_path):
    base = _tcp_base()
    phone1 = _phone(base)
    device = Proc("device", "--connect", base, "--video", str(asset_path(D0)), "--loop", "--duration", "60",
                  "--report-every", "0", "--stats", str(tmp_path / "device.json"))
    try:
        device.wait_for(lambda: len(device.events()) >= 2, 30, "events from the first phone")
        assert phone1.stop(signal.SIGKILL) == -signal.SIGKILL  # perception dies without any clean-up
        time.sleep(0.5)
        n_down = len(device.events())
        time.sleep(1.5)
        assert len(device.events()) == n_down  # nothing is produced while perception is down
        assert device.p.poll() is None  # ... and the device keeps running
        phone2 = _phone(base, "--stats", str(tmp_path / "phone2.json"))
        device.wait_for(lambda: len(device.events()) >= n_down + 2, 30, "events from the restarted phone")
        assert device.stop() == 0
        assert phone2.stop() == 0
    finally:
        for proc in (device, phone1):
            if proc.p.poll() is None:
                proc.p.kill()
    stats = _stats(tmp_path / "device.json")
    sessions = stats["info"]["phone_sessions"]
    assert len(sessions) == 2 and all(n > 0 for n in sessions.values()), sessions
    assert stats["counters"]["capture"]["frames_unsent"] > 0  # frames offered while no phone was connected
    assert stats["latency_ms"]["end_to_end"]["count"] == stats["counters"]["audio"]["events"]
    assert sum(1 for line in device.err if "phone session" in line and "connected" in line) == 2, device.err
    assert any(line.startswith("final [device") for line in device.err)
    assert _stats(tmp_path / "phone2.json")["counters"]["perception"]["frames_processed"] > 0


def test_phone_rejects_garbage_and_keeps_serving(tmp_path):
    base = _ipc_base()
    eps = channel_endpoints(base)
    phone = _phone(base, "--stats", str(tmp_path / "phone.json"))
    ctx = zmq.Context()
    frames, control, events = ctx.socket(zmq.PUSH), ctx.socket(zmq.PUSH), ctx.socket(zmq.SUB)
    try:
        frames.connect(eps["frames"])
        control.connect(eps["control"])
        events.setsockopt(zmq.SUBSCRIBE, b"")
        events.connect(eps["events"])
        time.sleep(0.5)
        header = {"v": 2, "kind": "frame", "seq": 0, "t_capture": 0.0, "t_sent": 0.0, "stage": "x"}
        h = msgpack.packb(header)
        bad_frames = [
            os.urandom(300),
            b"PL" + len(h).to_bytes(4, "big") + h,  # version 2
            encode("frame", 1, time.time(), "test", b"\xff\xd8 not really a jpeg", fmt="jpeg", t_frame=0.0, index=1),
            encode("heartbeat", 2, time.time(), "test"),  # the wrong kind on the frames channel
        ]
        bad_control = [b"x", encode("imu", 0, time.time(), "test", head=[1, 2])]
        for data in bad_frames:
            frames.send(data)
            time.sleep(0.15)  # one at a time: the conflated frames socket keeps only the newest
        for data in bad_control:
            control.send(data)
        img = cv2.VideoCapture(str(asset_path(D0))).read()[1]
        payload, fields = encode_frame(img)
        t_capture = time.time()
        frames.send(encode("frame", 3, t_capture, "test", payload, t_frame=0.0, index=3, **fields))
        assert events.poll(10000), "no events after the garbage"
        msg = decode(events.recv())
        while msg.kind != "events":
            assert events.poll(5000)
            msg = decode(events.recv())
        assert msg.header["frame_seq"] == 3 and msg.header["t_capture"] == pytest.approx(t_capture)
        assert [e.sound for e in EventsPayload.from_bytes(msg.payload).events] == [Sound.BUMP]
        assert phone.stop() == 0
    finally:
        for s in (frames, control, events):
            s.close(0)
        ctx.term()
        if phone.p.poll() is None:
            phone.p.kill()
    counters = _stats(tmp_path / "phone.json")["counters"]
    assert counters["perception"]["rejected"] == len(bad_frames)
    assert counters["control"]["rejected"] == len(bad_control)
    assert counters["perception"]["frames_processed"] == 1
    assert sum("rejected a" in line for line in phone.err) == len(bad_frames) + len(bad_control)  # one line each


def test_device_rejects_garbage_plays_events_and_publishes_seen(tmp_path):
    base = _ipc_base()
    eps = channel_endpoints(base)
    seen_ep = base + ".seen"
    ctx = zmq.Context()
    frames, control, events, seen = (ctx.socket(t) for t in (zmq.PULL, zmq.PULL, zmq.PUB, zmq.SUB))
    for s, ep in ((frames, "frames"), (control, "control"), (events, "events")):
        s.bind(eps[ep])  # the test plays the phone
    device = Proc("device", "--connect", base, "--video", str(asset_path(D0)), "--loop", "--seen-bind", seen_ep,
                  "--report-every", "0", "--stats", str(tmp_path / "device.json"), "--events",
                  str(tmp_path / "events.jsonl"))
    try:
        assert frames.poll(30000), "the device sent no frame"
        frame = decode(frames.recv())
        assert frame.kind == "frame" and frame.header["fmt"] == "jpeg"
        seen.setsockopt(zmq.SUBSCRIBE, SEEN_TOPIC)
        seen.connect(seen_ep)
        time.sleep(0.7)  # subscriptions settle (PUB/SUB joins are asynchronous)
        h = msgpack.packb({"v": 99, "kind": "events", "seq": 0, "t_capture": 0.0, "t_sent": 0.0, "stage": "x"})
        garbage = [os.urandom(64), b"PL" + len(h).to_bytes(4, "big") + h,
                   encode("events", 0, time.time(), "phone", b"\xc1\xc1", session="t"),
                   encode("frame", 0, time.time(), "phone", b"", session="t")]
        for data in garbage:
            events.send(data)
        click = AudioEvent(t=1.0, sound=Sound.CLICK, track_id=7, azimuth_deg=-35.0, elevation_deg=0.0,
                           distance_m=2.0, reason="not enrolled")
        seen_signal = SeenSignal(t=1.0, track_id=7, name=None, reason="click played")
        events.send(encode("events", 1, time.time() - 0.05, "phone", EventsPayload([click], [seen_signal]).to_bytes(),
                           session="t", frame_seq=42))
        device.wait_for(lambda: len(device.events()) == 1, 10, "the click event line")
        assert seen.poll(5000), "no seen signal published"
        topic, data = seen.recv_multipart()
        msg = decode(data)
        assert topic == SEEN_TOPIC and msg.kind == "seen"
        assert msgpack.unpackb(msg.payload)["track_id"] == 7
        assert not seen.poll(500), "one announcement, one seen message"
        assert device.stop() == 0
    finally:
        for s in (frames, control, events, seen):
            s.close(0)
        ctx.term()
        if device.p.poll() is None:
            device.p.kill()
    sound, az, side, dist, who = EVENT_LINE.match(device.events()[0]).groups()
    assert (sound, az.replace(" ", ""), side, dist, who.strip()) == ("click", "-35", "left", "2.0", "person 7")
    (record,) = read_event_log(tmp_path / "events.jsonl")  # the same record replay writes
    assert record["sound"] == "click" and record["track"] == 7 and record["azimuth_deg"] == -35.0
    assert record["reason"] == "not enrolled" and record["frame_index"] == 42 and record["latency_s"] >= 0.05
    stats = _stats(tmp_path / "device.json")
    assert stats["counters"]["audio"]["rejected"] == len(garbage)
    assert stats["counters"]["audio"]["events"] == 1 and stats["counters"]["seen"]["published"] == 1
    assert stats["latency_ms"]["end_to_end"]["p50"] >= 50.0  # the frame was 50 ms old when sent


def test_slow_phone_drops_frames_and_keeps_latency_bounded(tmp_path):
    base = _ipc_base()
    slow_ms, period_ms = 200.0, 40.0  # d0 is 25 fps
    phone = _phone(base, "--slow-ms", str(slow_ms), "--stats", str(tmp_path / "phone.json"))
    device = Proc("device", "--connect", base, "--video", str(asset_path(D0)), "--loop", "--duration", "5",
                  "--report-every", "0", "--stats", str(tmp_path / "device.json"))
    try:
        assert device.p.wait(40) == 0
        assert phone.stop() == 0
    finally:
        for proc in (device, phone):
            if proc.p.poll() is None:
                proc.p.kill()
    p, d = _stats(tmp_path / "phone.json"), _stats(tmp_path / "device.json")
    processed = p["counters"]["perception"]["frames_processed"]
    dropped = p["counters"]["perception"]["frames_dropped"]
    sent = d["counters"]["capture"]["frames_sent"]
    assert processed >= 8 and dropped >= 2 * processed  # ~5 frames arrive per 200 ms of processing
    assert processed + dropped <= sent
    processing = p["latency_ms"]["processing"]
    age = p["latency_ms"]["frame_age_at_processing"]
    # latest frame wins: a frame waits at most about one frame period, never a growing queue
    assert age["p95"] < 2 * period_ms + processing["p50"], age
    e2e = d["latency_ms"]["end_to_end"]
    assert e2e["count"] >= 3 and e2e["max"] < 2 * period_ms + 2 * processing["max"] + 100, e2e


def test_run_in_process_slow_consumer_counts_drops(tmp_path):
    imu = tmp_path / "imu.csv"
    imu.write_text("t,yaw_deg,pitch_deg,roll_deg\n0,80,0,0\n4,100,0,0\n")  # head turning right 5 deg/s
    proc = Proc("run", "--video", str(asset_path(D0)), "--processor", FACE_PROCESSOR, "--slow-ms", "150",
                "--imu", str(imu), "--report-every", "0", "--stats", str(tmp_path / "run.json"),
                "--events", str(tmp_path / "events.jsonl"))
    assert proc.p.wait(40) == 0
    stats = _stats(tmp_path / "run.json")
    c = stats["counters"]
    assert c["capture"]["frames_read"] == 78
    assert c["perception"]["frames_dropped"] > 0
    assert c["perception"]["frames_processed"] + c["perception"]["frames_dropped"] == 78
    assert stats["latency_ms"]["frame_age_at_processing"]["max"] < 2 * 40 + 150 + 50
    assert c["audio"]["events"] >= 2 and len(proc.events()) == c["audio"]["events"]
    azimuths = [r["azimuth_deg"] for r in read_event_log(tmp_path / "events.jsonl")]
    assert len(azimuths) == c["audio"]["events"]
    assert all(75.0 < az < 105.0 for az in azimuths), azimuths  # world azimuth = IMU yaw + camera azimuth


@pytest.mark.parametrize("args, message", [
    (["run", "--video", "/no/such/clip.mp4", "--processor", FACE_PROCESSOR], "video file not found"),
    (["run", "--camera", "7", "--processor", FACE_PROCESSOR], "cannot open camera 7"),
    (["device", "--connect", "udp://x:1", "--video", "/no/such/clip.mp4"], "video file not found"),
    (["phone", "--bind", "udp://x:1"], "must be tcp://HOST:PORT or ipc:///path"),
    (["phone", "--bind", "ipc:///tmp/plrt-none", "--processor", "no_such_pkg:build"], "cannot import"),
])
def test_clear_errors_without_traceback(args, message):
    proc = Proc(*args)
    assert proc.p.wait(30) == 2
    time.sleep(0.1)
    err = "".join(proc.err)
    assert message in err and "Traceback" not in err
