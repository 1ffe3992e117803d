"""The adaptive schedule on the product (``build_system``) and real frames: an empty, still room idles the
detectors; a person stepping in, a head turn and the wearer's request bring the full rate back; the battery
benchmark's figures are computed from the product's own results."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from peoplelens.bench import battery_scenes as scenes
from peoplelens.bench.battery import measure, step_in_delays
from peoplelens.core.types import Frame
from peoplelens.lens.pipeline import build_system

SIZE = (640, 480)
FPS = 30.0


@pytest.fixture(scope="module")
def system():
    built = build_system({})
    yield built
    built.close()


def _run(system, frames: list[np.ndarray], start: int = 0) -> list:
    return [system.process(Frame(image=f, timestamp=(start + i) / FPS, index=start + i)) for i, f in enumerate(frames)]


def test_an_empty_still_room_idles_the_detectors_after_idle_after_s(system, data_dir: Path) -> None:
    pc = system.config
    room = scenes.empty(data_dir, SIZE, seconds=pc.idle_after_s + 2.0, fps=FPS)
    system.reset()
    results = _run(system, room.frames)
    assert not any(r.people or r.events for r in results), "the empty room has nobody in it"
    busy = [r for r in results if r.t < pc.idle_after_s - 0.1]
    idle = [r for r in results if r.t > pc.idle_after_s + 0.1]
    assert not any(r.idle for r in busy) and all(r.idle for r in idle)
    assert sum(r.detected for r in busy) >= len(busy) // pc.faces_every  # the full rate first
    detected_t = [r.t for r in idle if r.detected]
    assert np.all(np.diff(detected_t) >= pc.idle_every_s - 0.01)  # then one detection per idle_every_s
    assert len(detected_t) >= int((idle[-1].t - idle[0].t) / pc.idle_every_s) - 1


def test_a_person_stepping_into_the_idle_room_is_bumped_within_half_a_second(data_dir: Path) -> None:
    # the room idles sooner than by default so that each of the idle interval's phases costs fewer full-rate
    # frames; the idle schedule a person steps into is the same
    quick = build_system({"pipeline": {"idle_after_s": 0.5}})
    try:
        delays = step_in_delays(quick, data_dir, SIZE, fps=FPS)
    finally:
        quick.close()
    assert delays["bumped"] == f"{delays['phases']}/{delays['phases']}"
    assert set(delays["woken_by"]) == {"person"}  # the schedule was idle, and the person woke it
    assert delays["worst_s"] <= 0.5


def test_a_head_turn_and_the_wearers_request_bring_the_full_rate_back(system, data_dir: Path) -> None:
    pc = system.config
    room = scenes.empty_room_image(data_dir, (800, 480))
    still = [np.ascontiguousarray(room[:, 80:720]) for _ in range(round((pc.idle_after_s + 1.0) * FPS))]
    system.reset()
    results = _run(system, still)
    assert results[-1].idle
    # the head turns: the view slides 4 px a frame (~13 deg/s on a 70-degree, 640-px camera)
    turning = [np.ascontiguousarray(room[:, 80 - 4 * i:720 - 4 * i]) for i in range(1, 16)]
    results = _run(system, turning, start=len(still))
    woke = next(i for i, r in enumerate(results) if not r.idle)
    assert woke * 1 / FPS <= pc.idle_motion_every_s + 2 / FPS
    assert system.activity.wake_reason in {"head", "view"}
    # still again until idle, then the wearer asks for the orientation guide
    results = _run(system, still, start=len(still) + len(turning))
    assert results[-1].idle
    system.request_orientation()
    after = _run(system, still[:10], start=2 * len(still) + len(turning))
    assert not any(r.idle for r in after) and system.activity.wake_reason == "request"
    assert sum(r.detected for r in after) == 5  # faces_every = 2: the full rate at once


def test_the_battery_figures_come_from_the_products_results(system, data_dir: Path) -> None:
    room = scenes.empty(data_dir, SIZE, seconds=system.config.idle_after_s + 2.0, fps=FPS)
    figures = measure(system, room, warmup_frames=round((system.config.idle_after_s + 0.5) * FPS))
    assert figures["idle_frames"] == 1.0
    assert 0.0 < figures["detection_frames"] <= 1.0 / (system.config.idle_every_s * FPS) + 0.05
    assert figures["cpu_s"] > 0 and figures["frames"] == 45
