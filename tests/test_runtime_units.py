"""Runtime building blocks on real data: wire format, slots, IMU sidecar, capture errors, the face processor."""

from __future__ import annotations

import threading

import cv2
import msgpack
import numpy as np
import pytest

from peoplelens.core.state import AudioEvent, HeadOrientation, SeenSignal, Sound
from peoplelens.core.types import Frame
from peoplelens.lens.runtime.capture import FrameSource, ImuTrack
from peoplelens.lens.runtime.errors import CaptureError, ImuError, MessageError, ProcessorLoadError, RuntimeStageError
from peoplelens.lens.runtime.messages import (
    VERSION,
    EventsPayload,
    decode,
    decode_frame,
    encode,
    encode_frame,
    head_from_list,
    head_to_list,
)
from peoplelens.lens.runtime.protocol import build_processor, load_factory
from peoplelens.lens.runtime.slots import BoundedQueue, LatestSlot
from peoplelens.lens.runtime.stats import RuntimeStats
from peoplelens.lens.runtime.transport import SeqTracker, channel_endpoints
from peoplelens.models.assets import asset_path

D0 = "data/videos/talking_heads/liveportrait_d0.mp4"


@pytest.fixture(scope="module")
def d0_frames() -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(asset_path(D0)))
    frames = []
    while len(frames) < 40:
        ok, img = cap.read()
        if not ok:
            break
        frames.append(img)
    cap.release()
    assert len(frames) == 40
    return frames


def test_frame_roundtrip_jpeg_and_raw(d0_frames):
    img = d0_frames[0]
    payload, fields = encode_frame(img, 90)
    msg = decode(encode("frame", 7, 123.5, "capture", payload, index=7, t_frame=0.28, **fields))
    assert msg.kind == "frame" and msg.seq == 7 and msg.header["v"] == VERSION
    back = decode_frame(msg)
    assert back.shape == img.shape
    assert np.abs(back.astype(int) - img.astype(int)).mean() < 4.0  # JPEG q90 stays close
    payload, fields = encode_frame(img, 0)
    raw_msg = decode(encode("frame", 8, 1.0, "capture", payload, index=8, t_frame=0.3, **fields))
    assert np.array_equal(decode_frame(raw_msg), img)


@pytest.mark.parametrize("data, why", [
    (b"", "too short"),
    (b"\x00\x01garbage-bytes-here", "bad magic"),
    (b"PL\x00\x00\x00\x50short", "does not fit"),
    (b"PL\x00\x00\x00\x03\xc1\xc1\xc1", "not msgpack"),
])
def test_garbage_is_rejected_with_a_reason(data, why):
    with pytest.raises(MessageError, match=why):
        decode(data)


def _raw(header) -> bytes:
    h = msgpack.packb(header)
    return b"PL" + len(h).to_bytes(4, "big") + h


def test_wrong_version_missing_fields_and_bad_types_are_rejected():
    good = {"v": 1, "kind": "heartbeat", "seq": 0, "t_capture": 1.0, "t_sent": 1.0, "stage": "x"}
    assert decode(_raw(good)).kind == "heartbeat"
    with pytest.raises(MessageError, match="version 2"):
        decode(_raw({**good, "v": 2}))
    with pytest.raises(MessageError, match="lacks t_capture"):
        decode(_raw({k: v for k, v in good.items() if k != "t_capture"}))
    with pytest.raises(MessageError, match="unknown kind"):
        decode(_raw({**good, "kind": "video"}))
    with pytest.raises(MessageError, match=r"Expected `int`, got `str` - at `\$.seq`"):
        decode(_raw({**good, "seq": "3"}))
    with pytest.raises(MessageError, match="not a map"):
        decode(b"PL\x00\x00\x00\x01\x05")
    bad_jpeg = decode(encode("frame", 0, 0.0, "capture", b"not a jpeg", fmt="jpeg", index=0, t_frame=0.0))
    with pytest.raises(MessageError, match="JPEG"):
        decode_frame(bad_jpeg)
    bad_raw = decode(encode("frame", 0, 0.0, "capture", b"123", fmt="raw", shape=[2, 2, 3], dtype="uint8", index=0,
                            t_frame=0.0))
    with pytest.raises(MessageError, match="shape"):
        decode_frame(bad_raw)


def test_events_payload_roundtrip_and_rejection():
    ev = AudioEvent(t=1.5, sound=Sound.NAME, track_id=3, azimuth_deg=-20.0, elevation_deg=2.0, distance_m=2.5,
                    reason="known", name="Ada", frame_t=1.5, extra={"score": np.float32(0.9)})
    sig = SeenSignal(t=1.5, track_id=3, name="Ada", reason="named")
    back = EventsPayload.from_bytes(EventsPayload([ev], [sig], {"detect": 0.01}).to_bytes())
    assert back.events[0].sound is Sound.NAME and back.events[0].name == "Ada"
    assert back.events[0].extra["score"] == pytest.approx(0.9)
    assert back.seen == [sig] and back.timings == {"detect": 0.01}
    with pytest.raises(MessageError):
        EventsPayload.from_bytes(msgpack.packb({"events": [{"sound": "trumpet"}]}))
    with pytest.raises(MessageError):
        EventsPayload.from_bytes(b"\xc1")
    head = HeadOrientation(10.0, -2.0, 1.0, 3.0, "imu")
    assert head_from_list(head_to_list(head)) == head
    with pytest.raises(MessageError):
        head_from_list([1, 2])


def test_endpoints_and_seq_gaps():
    assert channel_endpoints("tcp://127.0.0.1:5555") == {
        "frames": "tcp://127.0.0.1:5555", "control": "tcp://127.0.0.1:5556", "events": "tcp://127.0.0.1:5557"}
    assert channel_endpoints("ipc:///tmp/x")["events"] == "ipc:///tmp/x.events"
    for bad in ("udp://a:1", "tcp://host", "ipc://", "tcp://h:65535"):
        with pytest.raises(RuntimeStageError):
            channel_endpoints(bad)
    seq = SeqTracker()
    assert [seq.gap("a", s) for s in (0, 1, 4, 5, 9)] == [0, 0, 2, 0, 3]
    assert seq.gap("a", 0) == 0  # the sender restarted


def test_latest_slot_drops_and_bounded_queue():
    slot: LatestSlot[int] = LatestSlot()
    assert slot.put(1) is False and slot.put(2) is True
    assert slot.get(0.01) == 2 and slot.get(0.01) is None
    stop = threading.Event()
    slot.put(3)
    taker = threading.Timer(0.05, lambda: slot.get(0.01))
    taker.start()
    assert slot.put_wait(4, stop) is True  # waited for the taker instead of dropping 3
    assert slot.get(0.01) == 4
    q: BoundedQueue[int] = BoundedQueue(3)
    assert [q.put(i) for i in range(5)] == [False, False, False, True, True]
    assert [q.get(0.01) for _ in range(3)] == [2, 3, 4]
    q.close()
    assert q.drained


def test_imu_sidecar(tmp_path):
    csv_path = tmp_path / "imu.csv"
    csv_path.write_text("t,yaw_deg,pitch_deg,roll_deg\n0,170,0,0\n1,-170,10,2\n")
    track = ImuTrack.load(csv_path)
    assert track.at(0.5).yaw_deg == pytest.approx(180.0)  # interpolated across the wrap, not through 0
    assert track.at(0.5).pitch_deg == pytest.approx(5.0)
    jsonl = tmp_path / "imu.jsonl"
    jsonl.write_text('{"t": 0, "yaw_deg": 5, "pitch_deg": 1}\n{"t": 2, "yaw_deg": 15, "pitch_deg": 1}\n')
    assert ImuTrack.load(jsonl).at(1.0).yaw_deg == pytest.approx(10.0)
    (tmp_path / "bad.csv").write_text("t,yaw\n0,abc\n")
    with pytest.raises(ImuError, match="malformed"):
        ImuTrack.load(tmp_path / "bad.csv")
    (tmp_path / "empty.csv").write_text("t,yaw_deg,pitch_deg\n")
    with pytest.raises(ImuError, match="no samples"):
        ImuTrack.load(tmp_path / "empty.csv")
    with pytest.raises(ImuError, match="not found"):
        ImuTrack.load(tmp_path / "missing.csv")


def test_capture_sources(tmp_path):
    src = FrameSource(video=str(asset_path(D0)), loop=True)
    assert src.fps == pytest.approx(25.0) and (src.width, src.height) == (512, 512)
    frames = []
    for item in src.frames():
        frames.append(item)
        if len(frames) == 80:
            break
    src.release()
    assert [f[2] for f in frames] == list(range(80))
    assert frames[79][1] == pytest.approx(79 / 25.0) and frames[79][3] == pytest.approx(1 / 25.0)  # looped
    with pytest.raises(CaptureError, match="not found"):
        FrameSource(video=str(tmp_path / "none.mp4"))
    (tmp_path / "junk.mp4").write_bytes(b"\x00" * 1000)
    with pytest.raises(CaptureError):
        FrameSource(video=str(tmp_path / "junk.mp4"))
    with pytest.raises(CaptureError, match="camera 9"):
        FrameSource(camera=9)


def test_a_photo_given_as_video_is_pointed_to_replay(tmp_path):
    """A photo would be one frame and the end; the error says which command holds it still."""
    photo = tmp_path / "class.mp4"  # the name does not matter: the first bytes do
    ok, jpeg = cv2.imencode(".jpg", np.full((120, 160, 3), 128, np.uint8))
    assert ok
    photo.write_bytes(jpeg.tobytes())
    with pytest.raises(CaptureError, match="is a photo, not a video: `peoplelens replay"):
        FrameSource(video=str(photo))


def test_processor_factory_errors():
    with pytest.raises(ProcessorLoadError, match="cannot import"):
        load_factory("no_such_module_xyz:build")
    with pytest.raises(ProcessorLoadError, match="no callable"):
        load_factory("peoplelens.lens.runtime.face_processor:nothing_here")
    with pytest.raises(ProcessorLoadError, match="form"):
        load_factory("justaname")


def test_face_processor_bumps_for_centred_face_with_cooldown(d0_frames):
    proc = build_processor("peoplelens.lens.runtime.face_processor:build_face_processor",
                           {"face_processor": {"cooldown_s": 0.5, "seen_after_s": 1.0}})
    events, seen = [], []
    for i, img in enumerate(d0_frames):  # 1.6 s of a frontal, centred face at 25 fps
        r = proc.process(Frame(img, i / 25.0, i), HeadOrientation(30.0))
        assert r.frame_index == i and "detect" in r.timings
        events += r.events
        seen += r.seen
    assert [round(e.t, 2) for e in events] == [0.0, 0.52, 1.04, 1.56]  # one bump per 0.5 s cool-down
    for e in events:
        assert e.sound is Sound.BUMP and 20.0 <= e.azimuth_deg <= 40.0  # head yaw 30 + camera azimuth
    assert len(seen) == 1 and seen[0].t == pytest.approx(1.0)
    # the same face shifted to the image edge (>10 deg off-centre) is not "ahead": no bump
    shifted = np.zeros_like(d0_frames[0])
    shifted[:, :362] = d0_frames[0][:, 150:]  # face centre moves ~150 px left: about -19 deg
    proc2 = build_processor("peoplelens.lens.runtime.face_processor:build_face_processor", {})
    r = proc2.process(Frame(d0_frames[0], 0.0, 0), None)
    assert len(r.events) == 1
    faces = proc2.detector.detect(shifted)
    assert len(faces) == 1
    az = proc2.directions(Frame(shifted, 5.0, 1), [float(faces.centers[0, 0])], [float(faces.centers[0, 1])])[0][0]
    assert -25.0 < az < -12.0
    assert proc2.process(Frame(shifted, 5.0, 1), None).events == []


def test_stats_percentiles(tmp_path):
    stats = RuntimeStats("run")
    for v in range(1, 101):
        stats.observe_s("end_to_end", v / 1000.0)
    stats.count("perception", "frames_dropped", 3)
    stats.write(tmp_path / "s.json")
    import json

    snap = json.loads((tmp_path / "s.json").read_text())
    e2e = snap["latency_ms"]["end_to_end"]
    assert e2e["count"] == 100 and e2e["p50"] == pytest.approx(50.5) and e2e["p99"] == pytest.approx(99.01)
    assert snap["counters"]["perception"]["frames_dropped"] == 3
    assert "p95=" in stats.report()
