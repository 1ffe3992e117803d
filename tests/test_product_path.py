"""The product as a user runs it: enrol people from photos with ``peoplelens enroll`` into the default store (no
store flag anywhere), then ``peoplelens run`` (one process) and ``peoplelens phone`` + ``peoplelens device`` (two
processes over ZeroMQ on loopback) on a recorded clip: the name event reaches the sink, from the performer's
direction. ``replay`` and the identity scorer give the same names on the same clip."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import msgpack
import pytest
import zmq

from peoplelens.core.event_log import read_event_log
from peoplelens.lens.perception.geometry import CameraIntrinsics
from peoplelens.lens.runtime.messages import decode
from peoplelens.lens.runtime.transport import SEEN_TOPIC

PERFORMER = "lin_manuel_miranda"
CLIP = "videos/hamilton_short_clip.mp4"
REPO = Path(__file__).resolve().parents[1]


def _cli(*args: str, env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "peoplelens.cli", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, f"peoplelens {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def user(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> dict[str, str]:
    """A user's environment whose default store holds two people enrolled from the shared photos."""
    home = tmp_path_factory.mktemp("user")
    env = {**os.environ, "PEOPLELENS_STORE": str(home / "data" / "people.db")}
    env.pop("PEOPLELENS_CONFIG", None)
    for person in (PERFORMER, "alex_lacamoire"):
        photos = sorted(str(p) for p in (data_dir / "faces" / "enroll" / person).glob("*.jpg"))
        _cli("enroll", person, *photos, env=env)
    return env


@pytest.fixture(scope="module")
def replayed(user: dict[str, str], data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """``peoplelens replay`` of the clip with the default store (no store flag): its output folder and stderr."""
    out = tmp_path_factory.mktemp("replay") / "out"
    replay = _cli("replay", str(data_dir / CLIP), "--out", str(out), "--no-overlay", "--no-audio", "--no-report",
                  "--quiet", env=user)
    return out, replay.stderr


def _names(records: list[dict]) -> list[tuple[float, str, int]]:
    return [(r["t"], r["name"], r["track"]) for r in records if r["sound"] == "name"]


def _performer_azimuth(replay_out: Path, frame_index: int) -> float:
    """Where the performer's face was in the world frame at a frame, from the replay's own frame records."""
    frames = [json.loads(line) for line in (replay_out / "frames.jsonl").read_text().splitlines()]
    frame = next(f for f in frames if f["index"] == frame_index)
    named = [t for t in frame["tracks"] if t["identity"] == "known"] or frame["tracks"]
    (box,) = [t["face_box"] or t["box"] for t in named[:1]]
    intr = CameraIntrinsics.from_fov(640, 360, 70.0)  # the default camera ([camera] hfov_deg 70)
    az, _ = intr.pixel_to_angles((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
    return float(az) + frame["head_yaw_deg"]


def test_enrol_then_replay_run_and_score_name_the_performer_alike(user, replayed, data_dir: Path,
                                                                   tmp_path: Path) -> None:
    clip = data_dir / CLIP
    replay_out, replay_stderr = replayed
    assert "people: 2 enrolled in" in replay_stderr
    replay_events = read_event_log(replay_out / "events.jsonl")
    seen_ep = "ipc://" + str(tmp_path / "seen")
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, SEEN_TOPIC)
    sub.connect(seen_ep)  # before the publisher binds: ZeroMQ connects as soon as it does
    try:
        run = _cli("run", "--video", str(clip), "--fast", "--events", str(tmp_path / "run.jsonl"), "--report-every",
                   "0", "--seen-bind", seen_ep, env=user)
        seen = []
        while sub.poll(200):
            seen.append(decode(sub.recv_multipart()[1]))
    finally:
        sub.close(0)
        ctx.term()
    assert "people: 2 enrolled in" in run.stderr
    live = read_event_log(tmp_path / "run.jsonl")
    announcements = [r for r in live if r["sound"] in ("name", "click")]
    assert announcements and len(seen) == len(announcements)  # one seen message per announcement, on the topic
    assert sorted(msgpack.unpackb(m.payload)["track_id"] for m in seen) == sorted(r["track"] for r in announcements)
    assert [n for _, n, _ in _names(live)] == [PERFORMER]
    assert _names(live) == _names(replay_events)  # the same frames through the same system: same name, same time
    (name,) = [r for r in live if r["sound"] == "name"]
    assert name["azimuth_deg"] == pytest.approx(_performer_azimuth(replay_out, name["frame_index"]), abs=3.0)
    console = [line.split() for line in run.stdout.splitlines() if len(line.split()) > 3 and line.split()[2] == "name"]
    assert len(console) == 1 and console[0][-1] == PERFORMER  # one short console line per event
    only = tmp_path / "videos"  # the scorer replays every video of a folder: just this clip and its truth
    only.mkdir()
    for file in (clip.name, "hamilton_short_clip.shots.csv"):
        (only / file).symlink_to(clip.parent / file)
    scored = subprocess.run([sys.executable, "-m", "peoplelens.sim_harness.score_identity", "--videos",
                             str(only), "--people", user["PEOPLELENS_STORE"], "--json", str(tmp_path / "s.json")],
                            cwd=REPO, env=user, capture_output=True, text=True, timeout=600)
    assert scored.returncode == 0, scored.stderr
    hamilton = next(v for v in json.loads((tmp_path / "s.json").read_text())["videos"] if v["video"] == clip.name)
    assert [(round(t, 2), n) for t, n in hamilton["names_right"]] == [(round(name["t"], 2), PERFORMER)]
    assert hamilton["names_wrong"] == [] and hamilton["wrong_name_frames"] == 0


def test_phone_and_device_name_the_performer(user, replayed, data_dir: Path, tmp_path: Path) -> None:
    base = "ipc://" + str(tmp_path / "lens")
    phone = subprocess.Popen([sys.executable, "-m", "peoplelens.cli", "phone", "--bind", base, "--report-every", "0"],
                             cwd=REPO, env=user, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        err = ""
        while "listening" not in err and time.monotonic() < deadline and phone.poll() is None:
            err += phone.stderr.readline()
        assert "people: 2 enrolled in" in err and "listening" in err, err
        device = _cli("device", "--connect", base, "--video", str(data_dir / CLIP), "--events",
                      str(tmp_path / "device.jsonl"), "--report-every", "0", env=user, timeout=120)
    finally:
        phone.send_signal(signal.SIGTERM)
        phone.wait(30)
    records = read_event_log(tmp_path / "device.jsonl")
    assert [n for _, n, _ in _names(records)] == [PERFORMER], records
    assert any(line.rstrip().endswith(PERFORMER) for line in device.stdout.splitlines())
    (name,) = [r for r in records if r["sound"] == "name"]
    assert name["frame_index"] > 0 and name["latency_s"] < 1.0, name
    # from the performer's direction: where the replay saw his face at that frame (the live run drops frames, so
    # its head rotation, integrated from the frames it kept, may differ by a few degrees)
    expected = _performer_azimuth(replayed[0], name["frame_index"])
    assert name["azimuth_deg"] == pytest.approx(expected, abs=6.0), (name, expected)
