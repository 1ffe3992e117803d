"""An IMU that misbehaves, on a virtual head turn over real footage (the truth is the scripted yaw): a stalled IMU
falls back to the video's own rotation and hands back without a world-frame jump, bad samples (NaN, out of range,
out of order, a stamp far from the frame's) are refused and counted while good ones keep being used, a jump of the
IMU's own reference is absorbed, and no sequence of samples whatever makes the world frame raise."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peoplelens.core.state import HeadOrientation, wrap_deg
from peoplelens.lens.perception.geometry import CameraIntrinsics
from peoplelens.lens.world import ImuConfig, ImuTrack, Verdict, VirtualHeadTurn, WorldFrame, frame_times
from peoplelens.lens.world.imu_gate import judge_sample
from peoplelens.models.assets import asset_path

VIDEO = "data/videos/royal_opera_pedestrians_1080p25.mp4"
SCRIPT = "0:0,1:30,3:-30,4:0"  # 30 deg/s right, then left, then back
FPS = 25.0


@pytest.fixture(scope="module")
def pan() -> VirtualHeadTurn:
    return VirtualHeadTurn((1920, 1080), (480, 360), SCRIPT, wide_hfov_deg=100.0)


@pytest.fixture(scope="module")
def views(pan: VirtualHeadTurn) -> list[tuple[float, np.ndarray, HeadOrientation]]:
    """(t, window image, true head) of a 4 s turn rendered from the clip's first frame."""
    ok, wide = cv2.VideoCapture(str(asset_path(VIDEO))).read()
    assert ok
    return [(t, *pan.render(wide, t)) for t in frame_times(100, FPS)]


def _yaw_error(a: float, b: float) -> float:
    return abs(wrap_deg(a - b))


def test_a_stalled_imu_falls_back_to_the_video_and_hands_back_without_a_jump(pan, views) -> None:
    world = WorldFrame(pan.window, use_visual=True)
    stall = (1.2, 2.4)  # no samples while the head turns from 24 to -12 deg
    heads = []
    for t, image, truth in views:
        if not stall[0] <= t < stall[1]:
            assert world.push_imu(truth, frame_t=t) is Verdict.ACCEPTED
        heads.append(world.update(image, t))
    health = world.health
    assert health.imu_fallbacks == 1 and health.imu_resumes == 1 and health.imu_rejected == 0
    on_visual = [t for (t, _, _), h in zip(views, heads, strict=True) if h.source == "visual"]
    assert on_visual[0] == pytest.approx(stall[0] + 0.04, abs=0.001)  # the last sample is more than stale_s old
    assert on_visual[-1] == pytest.approx(stall[1] - 1 / FPS, abs=0.001)
    assert health.visual_s == pytest.approx(len(on_visual) / FPS, abs=0.05)
    errors = [_yaw_error(h.yaw_deg, truth.yaw_deg) for (_, _, truth), h in zip(views, heads, strict=True)]
    assert max(errors) < 2.0, f"the video's rotation drifted {max(errors):.2f} deg during the stall"
    # no world-frame jump at either hand-over: each frame's turn is the true turn (within the 1.2 deg a sample held
    # for one frame lags at 30 deg/s)
    for i in range(1, len(views)):
        true_step = wrap_deg(views[i][2].yaw_deg - views[i - 1][2].yaw_deg)
        assert _yaw_error(heads[i].yaw_deg - heads[i - 1].yaw_deg, true_step) < 1.25, (views[i][0], true_step)
    # and once back on the IMU the world returns to the IMU's heading (the drift is undone at 5 deg/s)
    assert all(errors[i] < 1e-6 for i, (t, _, _) in enumerate(views) if t >= stall[1] + 0.5)


def test_one_sample_then_nothing_falls_back_and_keeps_going(pan, views) -> None:
    world = WorldFrame(pan.window, use_visual=True)
    first = views[0][2]
    for t, image, truth in views[:40]:
        world.push_imu(first, frame_t=t)  # a driver that keeps sending its one old reading
        head = world.update(image, t)
        assert head.source == ("imu" if t <= 0.05 else "visual"), t
        assert _yaw_error(head.yaw_deg, truth.yaw_deg) < 2.0
    assert world.health.imu_samples == 1 and world.health.imu_fallbacks == 1
    assert world.health.imu_repeats + world.health.imu_rejected_skew == 39  # repeats, then too old for its frame


def test_bad_samples_are_refused_and_counted_and_the_good_ones_still_used(pan, views) -> None:
    world = WorldFrame(pan.window, use_visual=True)
    bad = {
        Verdict.NON_FINITE: lambda s: HeadOrientation(math.nan, s.pitch_deg, 0.0, s.timestamp),
        Verdict.OUT_OF_RANGE: lambda s: HeadOrientation(s.yaw_deg, 120.0, 0.0, s.timestamp),
        Verdict.SKEW: lambda s: HeadOrientation(s.yaw_deg, 0.0, 0.0, 1e9),  # a stamp from another clock
        Verdict.OUT_OF_ORDER: lambda s: HeadOrientation(s.yaw_deg, 0.0, 0.0, s.timestamp - 0.02),
    }
    kinds = list(bad)
    for i, (t, image, truth) in enumerate(views):
        assert world.push_imu(truth, frame_t=t) is Verdict.ACCEPTED
        if i % 3 == 1:
            kind = kinds[(i // 3) % len(kinds)]
            assert world.push_imu(bad[kind](truth), frame_t=t) is kind
        head = world.update(image, t)
        assert head.source == "imu" and _yaw_error(head.yaw_deg, truth.yaw_deg) < 1e-6
    health = world.health
    assert health.imu_samples == len(views) and health.imu_fallbacks == 0
    assert health.imu_rejected == 33 == sum(getattr(health, f"imu_rejected_{k.value}") for k in kinds)
    assert all(getattr(health, f"imu_rejected_{k.value}") >= 8 for k in kinds)


def test_a_jump_of_the_imus_reference_is_absorbed(pan, views) -> None:
    world = WorldFrame(pan.window, use_visual=True)
    heads, verdicts = [], []
    for t, image, truth in views:
        reported = HeadOrientation(wrap_deg(truth.yaw_deg + (90.0 if t >= 2.0 else 0.0)), 0.0, 0.0, t)  # re-zeroed
        verdicts.append(world.push_imu(reported, frame_t=t))
        heads.append(world.update(image, t))
    assert verdicts.count(Verdict.JUMP) == 1 and world.health.imu_jumps == 1
    assert all(h.source == "imu" for h in heads)
    # the world keeps its heading across the jump (the IMU's new zero is absorbed into the offset, for good)
    errors = [_yaw_error(h.yaw_deg, truth.yaw_deg) for (_, _, truth), h in zip(views, heads, strict=True)]
    assert max(errors) < 1.5, max(errors)  # at most the one frame of turn the jump hides


samples = st.builds(
    HeadOrientation,
    st.one_of(st.floats(-720, 720), st.sampled_from([math.nan, math.inf, 1e300])),
    st.one_of(st.floats(-100, 100), st.just(math.nan)),
    st.floats(-720, 720),
    st.one_of(st.floats(-2.0, 12.0), st.sampled_from([math.nan, -1e9, 1e9])),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.booleans(), samples), max_size=40))
def test_fuzz_any_samples_never_raise_and_every_one_is_accounted_for(pushes) -> None:
    world = WorldFrame(CameraIntrinsics.from_fov(64, 48, 70.0), use_visual=False)
    for i, (with_frame, sample) in enumerate(pushes):
        t = i * 0.1
        world.push_imu(sample, frame_t=t if with_frame else None)
        head = world.update(None, t)
        assert all(math.isfinite(v) for v in (head.yaw_deg, head.pitch_deg, head.roll_deg))
        assert -180.0 <= head.yaw_deg <= 180.0 and abs(head.pitch_deg) <= 90.0
    h = world.health
    assert h.imu_samples + h.imu_repeats + h.imu_rejected == len(pushes)


def test_judge_sample_reasons() -> None:
    cfg = ImuConfig()
    last = HeadOrientation(10.0, 0.0, 0.0, 1.0)
    assert judge_sample(HeadOrientation(12.0, 0.0, 0.0, 1.04), last, 1.04, cfg) is Verdict.ACCEPTED
    assert judge_sample(last, last, 1.0, cfg) is Verdict.REPEAT
    assert judge_sample(HeadOrientation(12.0, 0.0, 0.0, 1.0), last, 1.0, cfg) is Verdict.OUT_OF_ORDER
    assert judge_sample(HeadOrientation(100.0, 0.0, 0.0, 1.04), last, 1.04, cfg) is Verdict.JUMP  # 90 deg in 40 ms
    assert judge_sample(HeadOrientation(100.0, 0.0, 0.0, 1.2), last, 1.2, cfg) is Verdict.ACCEPTED  # 450 deg/s
    assert judge_sample(HeadOrientation(-170.0, 0.0, 0.0, 1.04), HeadOrientation(175.0, 0, 0, 1.0), None,
                        cfg) is Verdict.ACCEPTED  # 15 deg the short way round
    assert judge_sample(HeadOrientation(0.0, 0.0, 0.0, 5.0), None, 3.0, cfg) is Verdict.SKEW
    assert judge_sample(HeadOrientation(0.0, -91.0, 0.0, 3.0), None, 3.0, cfg) is Verdict.OUT_OF_RANGE


def test_imu_track_coverage_is_bounded_by_the_slack() -> None:
    track = ImuTrack([HeadOrientation(5.0, 0.0, 0.0, 1.0)])
    assert track.covers(1.05, 0.1) and not track.covers(1.2, 0.1) and track.at(1.05).yaw_deg == 5.0
    track.clear()
    assert len(track) == 0 and track.last is None and not track.covers(1.0)
