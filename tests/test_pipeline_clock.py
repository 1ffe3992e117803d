"""Frame clocks that jump: the pipeline's clock never runs backwards or leaps (Hypothesis over any frame times), and
the real pipeline on a real clip survives a frame stamped t = 1e9 and a clip looping back to 0 - every frame is
processed, and after each jump the face is tracked again as the same person, not announced again as somebody new
(until stop 28 the new track was shown, and bumped, for a frame or two before re-identification merged it). Also
the real pipeline given a stuck or a NaN IMU reading with every frame (what used to fail every later frame)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peoplelens.core.state import HeadOrientation, Sound
from peoplelens.core.types import Frame
from peoplelens.lens.pipeline import build_system
from peoplelens.lens.pipeline.stages.clock import FrameClock
from peoplelens.models.assets import asset_path

D0 = "data/videos/talking_heads/liveportrait_d0.mp4"  # one frontal face, 25 fps


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.floats(-1e10, 1e10), st.floats(-5.0, 50.0)), min_size=1, max_size=60),
       st.floats(0.5, 60.0), st.floats(0.0, 1.0))
def test_fuzz_the_pipeline_clock_never_goes_back_or_leaps(raws, max_gap_s, max_backstep_s) -> None:
    clock = FrameClock(max_gap_s, max_backstep_s)
    out = [clock.step(r) for r in raws]
    times = [t for t, _ in out]
    assert times[0] == raws[0] and not out[0][1]
    steps = np.diff(times)
    assert np.all(steps >= 0.0) and np.all(steps <= max_gap_s + 1e-6 * max(1.0, abs(times[0])))
    jumps = sum(not (-max_backstep_s <= b - a <= max_gap_s) for a, b in zip(raws, raws[1:], strict=False))
    assert sum(j for _, j in out) == jumps == clock.health.epochs
    assert clock.health.jumps_back + clock.health.jumps_forward == jumps


def test_the_clock_holds_jitter_and_rebases_jumps() -> None:
    clock = FrameClock(max_gap_s=30.0, max_backstep_s=0.1)
    raws = [0.0, 0.04, 0.08, 0.07, 0.12, 1e9, 1e9 + 0.04, 0.2, 0.24, 40.0]
    out = [clock.step(r) for r in raws]
    assert [round(t, 6) for t, _ in out] == [0.0, 0.04, 0.08, 0.08, 0.12, 0.16, 0.2, 0.24, 0.28, 0.32]
    assert [j for _, j in out] == [False] * 5 + [True, False, True, False, True]
    assert clock.health.as_counters() == {"epochs": 3, "jumps_back": 1, "jumps_forward": 2, "held": 1,
                                          "largest_jump_s": pytest.approx(1e9, rel=1e-6)}


@pytest.fixture(scope="module")
def clip() -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(asset_path(D0)))
    frames = []
    while (frame := cap.read()[1]) is not None:
        frames.append(frame)
    assert len(frames) == 78
    return frames


def test_the_real_pipeline_survives_a_damaged_stamp_and_a_loop(clip) -> None:
    raws = [i / 25 for i in range(60)] + [1e9] + [i / 25 for i in range(61, 78)] + [i / 25 for i in range(60)]
    jump_at = {60, 61, 78}  # the damaged stamp, the return from it, the loop back to 0
    system = build_system({})
    try:
        results = [system.process(Frame(clip[i % len(clip)], raw, i)) for i, raw in enumerate(raws)]
        health = system.health()
    finally:
        system.close()
    times = [r.t for r in results]
    assert np.all(np.diff(times) > 0) and max(times) < 6.0  # every frame processed, on one clock
    assert health["clock"]["epochs"] == 3 and health["clock"]["jumps_forward"] == 1
    assert health["world"]["epochs"] == 3
    assert all(not results[i].tracks for i in jump_at)  # each jump is a cut: nobody continues by overlap
    (before,) = results[59].tracks
    for start, end in ((61, 78), (78, len(raws))):  # after each jump the face is tracked again, as the same person:
        assert sum(bool(r.tracks) for r in results[start:end]) >= (end - start) - 12, (start, end)
        # re-identified by the face on the frame the new track is first reported, so never shown as somebody new
        assert {t.track_id for r in results[start:end] for t in r.tracks} == {before.track_id}, (start, end)
        assert [p.track_id for p in results[end - 1].people] == [before.track_id], (start, end)
    # heard once, before the jumps (the bump as the head meets them, the click: not enrolled), and not announced
    # again after them as if new
    assert [(e.sound, e.track_id) for r in results for e in r.events] == [(Sound.BUMP, before.track_id),
                                                                          (Sound.CLICK, before.track_id)]


@pytest.mark.parametrize("head", [HeadOrientation(10.0, 0.0, 0.0, 0.0), HeadOrientation(math.nan, 0.0, 0.0, 0.0)],
                         ids=["stuck", "nan"])
def test_the_real_pipeline_survives_an_imu_reading_given_again_and_again(clip, head) -> None:
    system = build_system({})
    try:
        results = [system.process(Frame(image, i / 25, i), head) for i, image in enumerate(clip[:50])]
        world = system.health()["world"]
    finally:
        system.close()
    assert sum(bool(r.tracks) for r in results) >= 40 and any(r.events for r in results)
    if math.isnan(head.yaw_deg):
        assert world["imu_rejected_non_finite"] == 50 and world["imu_samples"] == 0
        assert all(r.head.source == "visual" for r in results[1:])
    else:  # the one reading is used while it is fresh, then the video's rotation takes over from it
        assert world["imu_samples"] == 1 and world["imu_fallbacks"] == 1
        assert world["imu_repeats"] + world["imu_rejected_skew"] == 49
        assert [r.head.source for r in results[:3]] == ["imu", "imu", "visual"]
        assert all(abs(r.head.yaw_deg - 10.0) < 2.0 for r in results)  # a still camera: the heading stays
