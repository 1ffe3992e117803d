"""IMU sidecars (CSV / JSONL), interpolation through +-180 deg, live samples, clear errors, WorldFrame + IMU."""

from __future__ import annotations

import json

import numpy as np
import pytest

from peoplelens.core.state import HeadOrientation
from peoplelens.lens.perception.geometry import CameraIntrinsics
from peoplelens.lens.world import (
    ImuSidecarError,
    ImuTrack,
    WorldFrame,
    load_imu_sidecar,
    world_to_camera,
    write_imu_sidecar,
)


def test_csv_sidecar_interpolates_yaw_through_wraparound(tmp_path) -> None:
    p = tmp_path / "imu.csv"
    p.write_text("t,yaw_deg,pitch_deg,roll_deg\n0.0,170,0,0\n1.0,-170,10,0\n2.0,-150,10,0\n")
    track = load_imu_sidecar(p)
    assert len(track) == 3 and track.start == 0.0 and track.end == 2.0
    mid = track.at(0.5)
    assert mid.yaw_deg == pytest.approx(180.0)  # the short way (170 -> 190), not through 0
    assert mid.pitch_deg == pytest.approx(5.0)
    assert track.at(0.75).yaw_deg == pytest.approx(-175.0)
    assert track.at(1.5).yaw_deg == pytest.approx(-160.0)
    assert track.at(-3.0).yaw_deg == pytest.approx(170.0)  # held outside the span
    assert track.at(9.0).yaw_deg == pytest.approx(-150.0)
    assert mid.source == "imu" and mid.timestamp == 0.5


def test_jsonl_sidecar_with_optional_columns(tmp_path) -> None:
    p = tmp_path / "imu.jsonl"
    p.write_text("\n".join(json.dumps(r) for r in [{"t": 0, "yaw_deg": -10}, {"t": 0.1, "yaw_deg": 10.0}]) + "\n")
    track = load_imu_sidecar(p)
    assert track.at(0.05).yaw_deg == pytest.approx(0.0)
    assert track.at(0.05).roll_deg == 0.0


def test_write_then_read_round_trip(tmp_path) -> None:
    yaws = [0, 60, 120, 179, -179, -120]
    samples = [HeadOrientation(float(y), 2.0, -1.0, float(t)) for t, y in zip(np.arange(0, 3, 0.5), yaws, strict=True)]
    for name in ("imu.csv", "imu.jsonl"):
        back = load_imu_sidecar(write_imu_sidecar(tmp_path / name, samples)).samples()
        assert [round(s.yaw_deg, 3) for s in back] == [s.yaw_deg for s in samples]
        assert all(s.pitch_deg == 2.0 and s.roll_deg == -1.0 for s in back)


@pytest.mark.parametrize(("text", "suffix", "message"), [
    ("time,yaw\n0,1\n", ".csv", "lacks column"),
    ("t,yaw_deg\n0,1\n0.1,abc\n", ".csv", "not a number"),
    ("t,yaw_deg\n0,1\n0.2,2\n0.1,3\n", ".csv", "does not increase"),
    ("t,yaw_deg\n0,1\n0,2\n", ".csv", "does not increase"),
    ("t,yaw_deg\n0,nan\n", ".csv", "not finite"),
    ("t,yaw_deg\n", ".csv", "no IMU samples"),
    ('{"t": 0, "yaw_deg": 1}\n{"t": 1}\n', ".jsonl", "missing column"),
    ('{"t": 0, "yaw_deg": 1}\n{"t": 1, yaw}\n', ".jsonl", "not valid JSON"),
    ('[1, 2]\n', ".jsonl", "JSON object"),
])
def test_malformed_sidecars_give_clear_errors(tmp_path, text, suffix, message) -> None:
    p = tmp_path / f"bad{suffix}"
    p.write_text(text)
    with pytest.raises(ImuSidecarError, match=message) as info:
        load_imu_sidecar(p)
    assert "bad" in str(info.value)  # the message names the file


def test_missing_sidecar(tmp_path) -> None:
    with pytest.raises(ImuSidecarError, match="not found"):
        load_imu_sidecar(tmp_path / "nope.csv")


def test_live_push_bounded_and_ordered() -> None:
    track = ImuTrack(max_samples=5)
    for i in range(10):
        track.push(HeadOrientation(i * 40.0, 0, 0, i * 0.1))
    assert len(track) == 5 and track.start == pytest.approx(0.5)
    assert track.at(0.85).yaw_deg == pytest.approx(-20.0)  # 320 -> 360 (unwrapped), halfway = 340 = -20
    with pytest.raises(ImuSidecarError, match="increase"):
        track.push(HeadOrientation(0.0, 0, 0, 0.2))


def test_world_frame_uses_imu_and_derives_homography() -> None:
    intr = CameraIntrinsics.from_fov(640, 480, 70.0)
    world = WorldFrame(intr, use_visual=False)
    world.push_imu(HeadOrientation(0.0, 0, 0, 0.0))
    world.push_imu(HeadOrientation(10.0, 0, 0, 1.0))
    world.update(None, 0.0)
    head = world.update(None, 1.0)
    assert head.source == "imu" and head.yaw_deg == pytest.approx(10.0)
    # turning right by 10 deg moves the background left by f * tan(10 deg) at the image centre
    p = world.homography @ np.array([320.0, 240.0, 1.0])
    assert p[0] / p[2] - 320.0 == pytest.approx(-intr.fx * np.tan(np.radians(10.0)), abs=0.01)
    assert world.camera_to_world(5.0, 0.0) == pytest.approx((15.0, 0.0))
    # a world direction behind the wearer
    az, _ = world_to_camera(-170.0, 0.0, HeadOrientation(10.0))
    assert abs(az) == pytest.approx(180.0)
