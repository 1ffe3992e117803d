"""Untrusted bytes at the boundaries: image bombs (built here) are refused before decoding, every field of every
runtime message is validated (Hypothesis fuzzing of the wire format), the real phone and device processes drop
and count bad messages and keep serving, a wrong Frame is a clear error, and an unreadable model file is an
AssetError, not a traceback."""

from __future__ import annotations

import math
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import msgpack
import numpy as np
import pytest
import zmq
from hypothesis import given, settings
from hypothesis import strategies as st

from peoplelens.core.errors import FrameError
from peoplelens.core.state import AudioEvent, Sound
from peoplelens.core.types import Frame
from peoplelens.lens.runtime.errors import MessageError
from peoplelens.lens.runtime.messages import (
    EventsPayload,
    decode,
    decode_frame,
    encode,
    encode_frame,
    head_from_list,
)
from peoplelens.lens.runtime.transport import channel_endpoints
from peoplelens.models.assets import asset_path
from peoplelens.models.errors import ImageDecodeError
from peoplelens.models.images import FRAME_LIMITS, decode_image, read_image_header
from tests.test_registration_security import jpeg_claiming, png_bomb
from tests.test_runtime_processes import D0, Proc, _ipc_base, _phone, _stats


def scan_bomb(n_scans: int = 500) -> bytes:
    """A progressive JPEG whose last scan is repeated ``n_scans`` times (each repeat is decoded again)."""
    ok, buf = cv2.imencode(".jpg", np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8),
                           [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    data = buf.tobytes()
    last_sos = data.rindex(b"\xff\xda")
    return data[:last_sos] + data[last_sos:-2] * n_scans + b"\xff\xd9"


def test_image_bombs_and_empty_images_are_refused_before_decoding():
    bomb = png_bomb(20000, 20000)
    cases = {"png bomb": bomb, "65000 x 65000 jpeg": jpeg_claiming(65000, 65000),
             "wide jpeg": jpeg_claiming(60000, 100), "scan bomb": scan_bomb()}
    for what, data in cases.items():
        t0 = time.process_time()
        with pytest.raises(ImageDecodeError, match="claims|scans"):
            decode_image(data, what=what)
        assert time.process_time() - t0 < 0.5, what
    for data in (b"", b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n" + b"\0" * 30, b"RIFF\0\0\0\0WEBPVP8 ", b"BM" + b"\0" * 10):
        with pytest.raises(ImageDecodeError, match="empty|not a decodable image"):
            decode_image(data)
    ok, progressive = cv2.imencode(".jpg", np.zeros((480, 640, 3), np.uint8), [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    assert decode_image(progressive.tobytes()).shape == (480, 640, 3)  # an ordinary progressive JPEG is fine
    assert read_image_header(bomb, FRAME_LIMITS.__class__(max_side=20000, max_pixels=400_000_000)).width == 20000


def test_decoding_a_bomb_does_not_grow_memory(tmp_path):
    """In a fresh process, the 1.2 GB PNG bomb and the 65000 x 65000 JPEG leave the peak memory where it was."""
    (tmp_path / "bomb.png").write_bytes(png_bomb(20000, 20000))
    (tmp_path / "claim.jpg").write_bytes(jpeg_claiming(65000, 65000))
    code = f"""
import resource, pathlib
from peoplelens.models.images import decode_image
from peoplelens.models.errors import ImageDecodeError
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for name in ("bomb.png", "claim.jpg"):
    try:
        decode_image(pathlib.Path({str(tmp_path)!r}, name).read_bytes())
    except ImageDecodeError:
        pass
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""
    grown_mb = int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                  timeout=120).stdout.split()[-1])
    assert grown_mb < 50, f"peak memory grew by {grown_mb} MB"


def test_frames_on_the_wire_are_bounded_and_checked():
    def frame_msg(payload: bytes, **fields) -> object:
        return decode(encode("frame", 1, time.time(), "capture", payload, **({"fmt": "jpeg", "index": 1,
                                                                                "t_frame": 0.0} | fields)))

    for payload, why in ((b"", "empty"), (jpeg_claiming(65000, 65000), "claims"), (scan_bomb(), "scans"),
                         (png_bomb(64, 64), "JPEG expected"), (b"\xff\xd8\xff garbage", "not a decodable")):
        with pytest.raises(MessageError, match=why):
            decode_frame(frame_msg(payload))
    raw = np.zeros((4, 5, 3), np.uint8)
    assert decode_frame(frame_msg(raw.tobytes(), fmt="raw", shape=[4, 5, 3], dtype="uint8")).shape == (4, 5, 3)
    for fields in ({"shape": [4, 5, 1]}, {"shape": [4, 5, 3], "dtype": "float64"}, {"shape": [0, 5, 3]},
                   {"shape": [5000, 5000, 3]}, {"shape": [4, 5, 3], "dtype": "uint8", "index": -1}):
        with pytest.raises(MessageError):
            decode_frame(frame_msg(raw.tobytes(), **({"fmt": "raw", "dtype": "uint8"} | fields)))
    with pytest.raises(MessageError, match="over the limit"):
        decode(encode("heartbeat", 1, time.time(), "x", b"\0" * 10))  # kinds without payload carry none


_EVENT = AudioEvent(t=1.0, sound=Sound.CLICK, track_id=7, azimuth_deg=-35.0, elevation_deg=0.0, distance_m=2.0,
                    reason="not enrolled", name="Ada", frame_t=1.0, extra={"score": 0.9, "final": True})


def _event_bytes(**change) -> bytes:
    d = _EVENT.to_json() | change
    return msgpack.packb({"events": [d], "seen": [], "timings": {}})


@pytest.mark.parametrize("change", [
    {"distance_m": "far"}, {"azimuth_deg": None}, {"azimuth_deg": math.nan}, {"elevation_deg": math.inf},
    {"distance_m": -1.0}, {"azimuth_deg": 1e300}, {"sound": "trumpet"}, {"track_id": "7"}, {"track_id": True},
    {"t": math.nan}, {"name": 5}, {"extra": {"x": math.nan}}, {"extra": {"x": {"y": {"z": 1}}}}, {"reason": None},
    {"pitch_semitones": 1e9}, {"priority": 2**40}, {"frame_t": "now"},
])
def test_every_event_field_is_validated(change):
    with pytest.raises(MessageError):
        EventsPayload.from_bytes(_event_bytes(**change))
    assert EventsPayload.from_bytes(_event_bytes()).events[0] == _EVENT
    assert EventsPayload.from_bytes(_event_bytes(azimuth_deg=270.0)).events[0].azimuth_deg == -90.0  # wrapped


_ANY = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**64 - 1), st.floats(), st.text(max_size=30),
                 st.binary(max_size=30), st.lists(st.floats(), max_size=6),
                 st.dictionaries(st.text(max_size=5), st.integers(-9, 9), max_size=3))


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_any_bytes_as_a_message(data):
    for raw in (data, b"PL" + len(data).to_bytes(4, "big") + data):
        try:
            msg = decode(raw)
        except MessageError:
            continue
        assert msg.typed is not None and msg.kind == msg.typed.__struct_config__.tag


@settings(max_examples=600, deadline=None)
@given(st.sampled_from(["frame", "imu", "events", "heartbeat", "seen"]),
       st.dictionaries(st.sampled_from(["v", "seq", "t_capture", "t_sent", "stage", "session", "index", "t_frame",
                                        "fmt", "shape", "dtype", "head", "counters", "frame_seq", "t_received"]),
                       _ANY, max_size=8))
def test_fuzz_header_fields(kind, fields):
    header = {"v": 1, "kind": kind, "seq": 0, "t_capture": 1.0, "t_sent": 1.0, "stage": "x"} | fields
    h = msgpack.packb(header)
    try:
        msg = decode(b"PL" + len(h).to_bytes(4, "big") + h)
    except MessageError:
        return
    typed = msg.typed
    assert isinstance(typed.seq, int) and not isinstance(typed.seq, bool) and typed.seq >= 0
    for name in ("t_capture", "t_sent", "t_frame", "t_received"):
        value = getattr(typed, name, None)
        assert value is None or (isinstance(value, float) and math.isfinite(value))
    head = getattr(typed, "head", None)
    if head is not None:
        h = head_from_list(head)
        assert all(math.isfinite(x) for x in (h.yaw_deg, h.pitch_deg, h.roll_deg, h.timestamp))
        assert -180 < h.yaw_deg <= 180


@settings(max_examples=600, deadline=None)
@given(st.sampled_from(list(_EVENT.to_json())), _ANY)
def test_fuzz_one_event_field(field, value):
    try:
        payload = EventsPayload.from_bytes(_event_bytes(**{field: value}))
    except MessageError:
        return
    ev = payload.events[0]
    assert isinstance(ev.sound, Sound) and isinstance(ev.reason, str)
    for x in (ev.t, ev.azimuth_deg, ev.elevation_deg, ev.distance_m, ev.pitch_semitones):
        assert isinstance(x, float) and math.isfinite(x)
    assert -180 < ev.azimuth_deg <= 180 and 0 <= ev.distance_m <= 1000
    assert ev.track_id is None or (isinstance(ev.track_id, int) and not isinstance(ev.track_id, bool))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_fuzz_frame_payloads(payload):
    msg = decode(encode("frame", 1, 1.0, "capture", payload, index=1, t_frame=0.0, fmt="jpeg"))
    try:
        image = decode_frame(msg)
    except MessageError:
        return
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3


def test_the_phone_process_drops_bombs_and_keeps_serving(tmp_path):
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
        bad = [b"", jpeg_claiming(65000, 65000), scan_bomb()]
        for i, payload in enumerate(bad):
            frames.send(encode("frame", i, time.time(), "test", payload, fmt="jpeg", t_frame=0.0, index=i))
            time.sleep(0.3)
        frames.send(encode("frame", 9, time.time(), "test", b"", fmt="jpeg", t_frame=math.nan, index=9))
        time.sleep(0.3)
        for head in ([math.nan, 0, 0, 1.0, "imu"], [1e300, 0, 0, 1.0, "imu"], ["left", 0, 0, 1.0, "imu"]):
            control.send(encode("imu", 0, time.time(), "test", head=head))
        img = cv2.VideoCapture(str(asset_path(D0))).read()[1]
        payload, fields = encode_frame(img)
        frames.send(encode("frame", 10, time.time(), "test", payload, t_frame=0.0, index=10, **fields))
        # the events socket also carries heartbeats: wait for the valid frame's events, not just any message
        deadline = time.time() + 15.0
        kind = None
        while kind != "events":
            assert events.poll(max(1, int(1000 * (deadline - time.time())))), "no events after the bombs"
            kind = decode(events.recv()).kind
        assert phone.p.poll() is None
        assert phone.stop() == 0
    finally:
        for s in (frames, control, events):
            s.close(0)
        ctx.term()
        if phone.p.poll() is None:
            phone.p.kill()
    counters = _stats(tmp_path / "phone.json")["counters"]
    assert counters["perception"]["rejected"] == 4 and counters["control"]["rejected"] == 3
    assert counters["perception"]["frames_processed"] == 1


def test_the_device_process_drops_bad_events_and_plays_good_ones(tmp_path):
    base = _ipc_base()
    eps = channel_endpoints(base)
    ctx = zmq.Context()
    frames, control, events = (ctx.socket(t) for t in (zmq.PULL, zmq.PULL, zmq.PUB))
    for s, ep in ((frames, "frames"), (control, "control"), (events, "events")):
        s.bind(eps[ep])
    device = Proc("device", "--connect", base, "--video", str(asset_path(D0)), "--loop", "--report-every", "0",
                  "--stats", str(tmp_path / "device.json"))
    try:
        assert frames.poll(30000), "the device sent no frame"
        time.sleep(0.7)
        bad = [_event_bytes(distance_m="far"), _event_bytes(azimuth_deg=None), _event_bytes(azimuth_deg=math.nan),
               _event_bytes(sound="trumpet")]
        for i, payload in enumerate(bad):
            events.send(encode("events", i, time.time(), "phone", payload, session="t"))
        events.send(encode("events", 9, time.time(), "phone", _event_bytes(), session="t"))
        device.wait_for(lambda: len(device.events()) == 1, 10, "the good event")
        assert device.p.poll() is None
        assert device.stop() == 0
    finally:
        for s in (frames, control, events):
            s.close(0)
        ctx.term()
        if device.p.poll() is None:
            device.p.kill()
    assert _stats(tmp_path / "device.json")["counters"]["audio"]["rejected"] == len(bad)
    line = device.events()[0].split()  # the console line: time, sound, direction, distance, who
    assert line[2:5] == ["click", "-35°", "left"] and line[5:7] == ["2.0", "m"]


def test_a_wrong_frame_is_a_clear_error():
    good = np.zeros((4, 4, 3), np.uint8)
    for image, why in ((np.zeros((4, 4, 1), np.uint8), "grey"), (np.zeros((4, 4), np.uint8), "grey"),
                       (np.zeros((0, 0, 3), np.uint8), "at least one pixel"), (good.astype(np.float32), "uint8"),
                       (np.zeros((4, 4, 4), np.uint8), "4 channels"), ([[0, 0, 0]], "numpy array")):
        with pytest.raises(FrameError, match=why):
            Frame(image, 0.0)  # type: ignore[arg-type]
    for t in (math.nan, math.inf, "0"):
        with pytest.raises(FrameError, match="timestamp"):
            Frame(good, t)  # type: ignore[arg-type]
    with pytest.raises(FrameError, match="index"):
        Frame(good, 0.0, -1)
    assert isinstance(FrameError("x"), ValueError)


def test_an_unreadable_model_file_is_an_asset_error_not_a_traceback():
    """``assets verify`` and ``doctor`` on a model file nobody may read: a clear message, exit 2, no traceback."""
    spec_rel, name = "models/face_detection_yunet_2023mar.onnx", "yunet"
    root = Path(tempfile.mkdtemp(prefix="plassets"))
    try:
        os.chmod(root, 0o755)
        target = root / spec_rel
        target.parent.mkdir(parents=True)
        shutil.copy(asset_path(spec_rel), target)
        os.chmod(target, 0)
        for folder in list(target.parents)[: len(Path(spec_rel).parts) - 1]:
            os.chmod(folder, 0o755)
        env = dict(os.environ, PEOPLELENS_ASSETS=str(root), PEOPLELENS_CACHE=str(root / "cache"))
        prefix: list[str] = []
        if os.geteuid() == 0:  # root reads anything: drop the capabilities that let it (util-linux setpriv)
            caps = "-dac_override,-dac_read_search"
            prefix = ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}"]
        for args in (["assets", "verify", name], ["doctor"]):
            r = subprocess.run([*prefix, sys.executable, "-m", "peoplelens.cli", *args], env=env,
                               capture_output=True, text=True, timeout=300)
            out = r.stdout + r.stderr
            assert "Traceback" not in out and "PermissionError" not in out, out[-2000:]
            assert "permission denied" in " ".join(out.split()), out[-2000:]
            if args[0] == "assets":
                assert r.returncode == 2, out[-2000:]
    finally:
        os.chmod(root / spec_rel, stat.S_IRUSR | stat.S_IWUSR)
        shutil.rmtree(root, ignore_errors=True)
