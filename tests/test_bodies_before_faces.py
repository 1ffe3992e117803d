"""The body detector runs on the frame before its face frame, and its bodies join that face frame's tracker update
moved by the head rotation between the two frames (``[pipeline] bodies_before_faces``, ``BodiesStage``): on the
product (``build_system``) and real 1080p frames, and the stage's rules on their own."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from peoplelens.bench.videos import decode_frames, probe
from peoplelens.core.types import Detections, Frame
from peoplelens.lens.perception.geometry import CameraConfig
from peoplelens.lens.pipeline import build_system
from peoplelens.lens.pipeline.frame_state import FrameState
from peoplelens.lens.pipeline.stages.detect import BodiesStage
from peoplelens.lens.pipeline.stages.schedule import DetectionSchedule, ScheduleStage
from peoplelens.models.person_detector import gaze_window

FRAMES = 20


def _schedule(**options) -> list[tuple[bool, bool]]:
    stage = ScheduleStage(DetectionSchedule(adaptive=False, **options), CameraConfig(), has_people_detector=True)
    out = []
    for i in range(FRAMES):
        state = FrameState(frame=Frame(np.zeros((48, 64, 3), np.uint8), i / 30, i))
        stage.run(state)
        out.append((state.run_faces, state.run_people))
    return out


def test_the_body_detector_runs_on_the_frame_before_every_third_face_frame() -> None:
    before = _schedule(faces_every=2, people_every=3, bodies_before_faces=True)
    assert [i for i, (_, people) in enumerate(before) if people] == [0, 5, 11, 17]
    assert [i for i, (faces, _) in enumerate(before) if faces] == list(range(0, FRAMES, 2))
    # the old phase: with the face frames themselves
    together = _schedule(faces_every=2, people_every=3, bodies_before_faces=False)
    assert [i for i, (_, people) in enumerate(together) if people] == [0, 6, 12, 18]
    # faces on every frame: there is no frame between, so nothing moves
    every = _schedule(faces_every=1, people_every=3, bodies_before_faces=True)
    assert [i for i, (_, people) in enumerate(every) if people] == [0, 3, 6, 9, 12, 15, 18]


def _bodies(*boxes: tuple[float, float, float, float]) -> Detections:
    return Detections(np.array(boxes, np.float32), np.full(len(boxes), 0.8, np.float32))


def _state(index: int, run_faces: bool, detected: Detections | None, motion: np.ndarray | None = None,
           jumped: bool = False) -> FrameState:
    state = FrameState(frame=Frame(np.zeros((8, 8, 3), np.uint8), index / 30, index))
    state.run_faces, state.detected_bodies, state.view_jumped = run_faces, detected, jumped
    state.image_motion = np.eye(3) if motion is None else motion
    return state


def test_bodies_wait_for_the_face_frame_and_move_with_the_head() -> None:
    stage = BodiesStage()
    detected = _bodies((100, 50, 200, 400), (700, 80, 760, 300))
    light = _state(5, False, detected)
    stage.run(light)
    assert light.bodies is None  # no tracker update sees them on their own frame
    shift = np.array([[1.0, 0.0, -12.0], [0.0, 1.0, 3.0], [0.0, 0.0, 1.0]])  # the head turned: content moved
    face_frame = _state(6, True, None, shift)
    stage.run(face_frame)
    assert face_frame.bodies is not None
    np.testing.assert_allclose(face_frame.bodies.boxes, [[88, 53, 188, 403], [688, 83, 748, 303]], atol=1e-4)
    np.testing.assert_allclose(face_frame.bodies.scores, detected.scores)
    after = _state(7, False, None)
    stage.run(after)
    assert after.bodies is None  # handed over once
    # bodies found on a face frame join its own update, unmoved
    same = _state(8, True, detected, shift)
    stage.run(same)
    assert same.bodies is detected


def test_a_view_jump_drops_the_waiting_bodies() -> None:
    stage = BodiesStage()
    stage.run(_state(5, False, _bodies((100, 50, 200, 400))))
    jumped = _state(6, True, None, jumped=True)
    stage.run(jumped)
    assert jumped.bodies is None
    stage.run(_state(11, False, _bodies((100, 50, 200, 400))))
    stage.reset()
    later = _state(12, True, None)
    stage.run(later)
    assert later.bodies is None


@pytest.fixture(scope="module")
def royal(data_dir: Path) -> list[Frame]:
    info = probe(data_dir / "videos" / "royal_opera_pedestrians_1080p25.mp4")
    info = replace(info, size=info.native_size)  # the camera's full frame (the bench's default shrinks it)
    assert info.size == (1920, 1080)
    return [Frame(image, index / info.fps, index) for index, image, _ in decode_frames(info, FRAMES)]


def test_the_product_hands_the_bodies_to_the_next_face_frame(royal: list[Frame]) -> None:
    # the foveal windows budgeted by the cost model, not measured CPU time: the same tracks on any machine and load
    system = build_system({"pipeline": {"stage_threads": 0}, "foveation": {"budget_clock": "predicted"}})
    try:
        states = [system.runner.run(FrameState(frame=frame)) for frame in royal]
    finally:
        system.close()
    assert [s.frame.index for s in states if s.detected_bodies is not None] == [0, 5, 11, 17]
    assert [s.frame.index for s in states if s.bodies is not None] == [0, 6, 12, 18]
    for light, face_frame in ((states[5], states[6]), (states[11], states[12])):
        assert light.detected_bodies is not None and face_frame.bodies is not None
        assert len(light.detected_bodies) >= 3  # a street of pedestrians
        moved = face_frame.image_motion
        expected = []
        for x1, y1, x2, y2 in light.detected_bodies.boxes:  # the box around the four corners moved (a rotation too)
            corners = moved @ np.array([[x1, y1, 1.0], [x2, y1, 1.0], [x1, y2, 1.0], [x2, y2, 1.0]]).T
            xs, ys = corners[0] / corners[2], corners[1] / corners[2]
            expected.append([xs.min(), ys.min(), xs.max(), ys.max()])
        np.testing.assert_allclose(face_frame.bodies.boxes, expected, atol=0.05)
        assert np.abs(face_frame.bodies.boxes - light.detected_bodies.boxes).max() > 1.0  # the camera did move
        # the face frame's update pairs them with its faces: tracked people carry a body box
        assert any(tr.observation is not None and tr.observation.body_box is not None for tr in face_frame.tracks)


def _count_calls(detector, calls: list[int], frame: list[int]) -> None:
    """Record the frame index each time ``detector.detect`` runs (the real detector still runs)."""
    detect = detector.detect

    def counted(*args, **kwargs):
        calls.append(frame[0])
        return detect(*args, **kwargs)

    detector.detect = counted


def test_body_windows_run_in_the_one_thread_session_one_window_a_thread(royal: list[Frame]) -> None:
    """The body detector runs the whole frame and the gaze tile. On the first frame, which runs the face pass too, its
    one-thread session runs beside the face detector's (no oversubscribed cores). On the light frames (5, 11, 17)
    the two windows run in that session too, one on each thread, at the same time; they find what the two-thread
    session finds running them one after the other."""
    system = build_system({})
    try:
        frame = [0]
        apart_calls: list[int] = []
        beside_calls: list[int] = []
        _count_calls(system.models["person_detector"], apart_calls, frame)
        beside = system.models["person_detector_beside_faces"]
        _count_calls(beside, beside_calls, frame)
        threads: dict[int, set[str]] = {}
        run_window = beside._run_window

        def on_thread(image, window):
            threads.setdefault(frame[0], set()).add(threading.current_thread().name)
            return run_window(image, window)

        beside._run_window = on_thread
        states = {}
        for f in royal:
            frame[0] = f.index
            states[f.index] = system.runner.run(FrameState(frame=f))
        assert beside_calls == [0, 5, 11, 17] and apart_calls == []
        # the caller's thread and the stage thread (which thread is free first is the OS's choice: 2 of the 3)
        assert sum(len(threads[i]) == 2 for i in (5, 11, 17)) >= 2
        light = royal[5].image
        h, w = light.shape[:2]
        alone = system.models["person_detector"].detect(light, [gaze_window(w, h, system.stage("detect_people")
                                                                             .gaze_tile_px)])
        shared = states[5].detected_bodies
        assert shared is not None and len(shared) == len(alone) >= 3
        np.testing.assert_allclose(shared.boxes, alone.boxes, atol=0.01)
    finally:
        system.close()
