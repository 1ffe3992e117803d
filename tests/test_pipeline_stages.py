"""The staged pipeline: the stages fit together (checked when built), a frame passes each once in order, the stage
thread changes timing, never results; errors on it surface in the caller; every model session gets the pipeline's
thread settings."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from peoplelens.bench.videos import decode_frames, probe
from peoplelens.core.state import IdentityState
from peoplelens.core.types import Frame
from peoplelens.lens.pipeline import build_system
from peoplelens.lens.pipeline.frame_state import FrameState
from peoplelens.lens.pipeline.stage import Parallel, PipelineBuildError, StageRunner, Workers
from peoplelens.sim_harness.enrollment import enroll_folder

FRAMES = 130  # shot 1, the cut at ~2.7 s and the performer named in shot 2
STAGES = ["clock", "schedule", "detect_faces", "detect_people", "motion", "world", "bodies", "foveate", "face_quality",
          "track", "face_attributes", "embed", "identify", "place", "people_map", "experiences", "activity"]


@pytest.fixture(scope="module")
def people(data_dir: Path):
    enrolled = enroll_folder(data_dir / "faces" / "enroll")
    yield enrolled
    enrolled.close()


@pytest.fixture(scope="module")
def hamilton(data_dir: Path) -> list[Frame]:
    info = probe(data_dir / "videos" / "hamilton_short_clip.mp4")
    return [Frame(image, index / info.fps, index) for index, image, _ in decode_frames(info, FRAMES)]


def _replay(system, frames: list[Frame]) -> list[dict]:
    out = []
    for frame in frames:
        result = system.process(frame)
        out.append({
            "head": (result.head.yaw_deg, result.head.pitch_deg, result.head.roll_deg),
            "tracks": [(tv.track_id, tv.identity, tv.name, tv.box, tv.face_box, tv.head_yaw_deg,
                        tv.looking_at_wearer, tv.both_ears_visible) for tv in result.tracks],
            "events": [(str(e.sound), e.track_id, e.name, round(e.azimuth_deg, 6)) for e in result.events],
            "stages": list(result.timings),
        })
    return out


class _Stage:
    def __init__(self, name: str, reads: set[str], writes: set[str], log: list[str] | None = None) -> None:
        self.name, self.reads, self.writes, self.log = name, frozenset(reads), frozenset(writes), log

    def run(self, state: FrameState) -> None:
        if self.log is not None:
            self.log.append(self.name)

    def reset(self) -> None:
        pass


def test_the_runner_refuses_stages_that_do_not_fit() -> None:
    with pytest.raises(PipelineBuildError, match="'track' reads \\['faces'\\]"):
        StageRunner([_Stage("track", {"faces"}, {"tracks"}), _Stage("detect", {"frame"}, {"faces"})])
    with pytest.raises(PipelineBuildError, match="both write 'faces'"):
        StageRunner([_Stage("a", {"frame"}, {"faces"}), _Stage("b", {"frame"}, {"faces"})])
    with pytest.raises(PipelineBuildError, match="reads \\['faces'\\]"):  # parallel members are independent
        StageRunner([Parallel(_Stage("a", {"frame"}, {"faces"}), _Stage("b", {"faces"}, {"tracks"}))])


def test_a_parallel_step_runs_every_member_once_and_times_each() -> None:
    log: list[str] = []
    runner = StageRunner([_Stage("first", {"frame"}, {"intrinsics"}, log),
                          Parallel(*(_Stage(n, {"intrinsics"}, {w}, log) for n, w in
                                     (("a", "faces"), ("b", "bodies"), ("c", "corners")))),
                          _Stage("last", {"faces", "bodies", "corners"}, {"events"}, log)], Workers(1))
    state = runner.run(FrameState(frame=Frame(np.zeros((8, 8, 3), np.uint8), 0.0)))
    runner.close()
    assert log[0] == "first" and sorted(log[1:4]) == ["a", "b", "c"] and log[4] == "last"
    assert set(state.timings) == {"first", "a", "b", "c", "last"} and all(v >= 0 for v in state.timings.values())


def test_split_shares_items_between_threads_and_never_waits_on_a_busy_stage_thread() -> None:
    workers = Workers(1)

    def double(part):  # slow enough that a free stage thread takes some of the items
        time.sleep(0.01)
        return [(threading.current_thread().name, 2 * x) for x in part]

    try:
        out = workers.split(list(range(8)), double)
        assert [v for _, v in out] == [2 * x for x in range(8)]
        assert {name.startswith("lens-stage") for name, _ in out} == {True, False}  # both threads took items
        # the stage thread busy with another stage (a parallel step's other member): this thread does every item
        release = threading.Event()
        busy = workers.submit(lambda: release.wait(10))
        out = workers.split(list(range(5)), double)
        assert [v for _, v in out] == [0, 2, 4, 6, 8] and not any(n.startswith("lens-stage") for n, _ in out)
        release.set()
        assert busy is not None and busy.result(timeout=10)
        # called on the stage thread itself: every item there, no deadlock
        inner = workers.submit(lambda: workers.split(list(range(5)), double))
        assert inner is not None
        out = inner.result(timeout=10)
        assert [v for _, v in out] == [0, 2, 4, 6, 8] and all(n.startswith("lens-stage") for n, _ in out)

        def broken(part):
            if part[0] == 3:
                raise ValueError("item 3")
            return list(part)

        with pytest.raises(ValueError, match="item 3"):
            workers.split(list(range(6)), broken)
    finally:
        workers.close()


def test_a_thread_done_with_its_part_takes_the_open_items_of_the_other_threads_member() -> None:
    """A parallel step's member on the stage thread splits its own work; the caller's thread, done with its member,
    takes some of those items instead of waiting idle; an item's error still reaches that member's caller."""
    workers = Workers(1)
    ran: dict[int, str] = {}

    def item(x: int) -> None:
        time.sleep(0.03)
        ran[x] = threading.current_thread().name

    def member(name: str) -> None:
        if name == "splits":  # on the stage thread: the caller's thread takes the first member
            assert threading.current_thread().name.startswith("lens-stage")
            workers.share(list(range(6)), item)

    try:
        workers.share(["quick", "splits"], member)
        assert sorted(ran) == list(range(6))
        assert {name.startswith("lens-stage") for name in ran.values()} == {True, False}  # both threads took items

        def item_4_fails(x: int) -> None:
            if x == 4:
                raise ValueError("item 4")
            item(x)

        def failing(name: str) -> None:
            if name == "splits":
                workers.share(list(range(6)), item_4_fails)

        with pytest.raises(ValueError, match="item 4"):
            workers.share(["quick", "splits"], failing)
    finally:
        workers.close()


def test_the_product_runs_its_stages_in_frame_order(people, hamilton) -> None:
    system = build_system({}, people=people.store)
    try:
        assert [s.name for s in system.stages] == STAGES
        result = system.process(hamilton[0])
    finally:
        system.close()
    assert set(result.timings) == set(STAGES)  # every stage ran (and was timed by the runner) once


def test_stage_thread_gives_the_same_results_as_one_thread(people, hamilton) -> None:
    overlapped = build_system({"pipeline": {"stage_threads": 1}}, people=people.store)
    serial = build_system({"pipeline": {"stage_threads": 0}}, people=people.store)
    try:
        a, b = _replay(overlapped, hamilton), _replay(serial, hamilton)
    finally:
        overlapped.close()
        serial.close()
    named = {people.name_map.get(t[2], t[2]) for frame in a for t in frame["tracks"]
             if t[1] is IdentityState.KNOWN}
    assert named == {"lin_manuel_miranda"}  # the clip really exercises embedding + identity
    assert sum(len(frame["events"]) for frame in a) > 0
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        np.testing.assert_allclose(x["head"], y["head"], atol=1e-9, err_msg=f"frame {i}")
        assert [t[:3] for t in x["tracks"]] == [t[:3] for t in y["tracks"]], f"frame {i}"
        for tx, ty in zip(x["tracks"], y["tracks"], strict=True):
            np.testing.assert_allclose(tx[3], ty[3], atol=1e-3)
            assert (tx[4] is None) == (ty[4] is None)
            assert (tx[5] is None) == (ty[5] is None)
            if tx[5] is not None:
                assert tx[5] == pytest.approx(ty[5], abs=1e-3)
            assert tx[6:] == ty[6:]
        assert x["events"] == y["events"], f"frame {i}"
        assert set(x["stages"]) == set(y["stages"]) == set(STAGES)


def test_a_crowd_splits_head_pose_and_eyes_over_both_threads_with_the_same_results(data_dir: Path) -> None:
    """Up to 9 pedestrians at 1920x1080: the face-attribute stage reads head poses and eyes on both threads
    (each thread with its own iris interpreter); every attribute equals the one-thread pipeline's."""
    info = probe(data_dir / "videos" / "royal_opera_pedestrians_1080p25.mp4")
    info = replace(info, size=info.native_size)  # the camera's frames (the bench's default shrinks them)
    frames = [Frame(image, index / info.fps, index) for index, image, _ in decode_frames(info, 24)]
    assert frames[0].image.shape == (1080, 1920, 3)
    # the foveal windows budgeted by the cost model (not by measured CPU time): the same windows in both systems
    predicted = {"foveation": {"budget_clock": "predicted"}}
    overlapped = build_system({"pipeline": {"stage_threads": 1}, **predicted})
    serial = build_system({"pipeline": {"stage_threads": 0}, **predicted})
    stage = overlapped.stage("face_attributes")
    calls: list[int] = []
    workers = stage.workers  # the shared stage thread; count the face-attribute stage's own splits

    class Counting:
        def split(self, items, fn):
            calls.append(len(items))
            return workers.split(items, fn)

    stage.workers = Counting()
    try:
        for frame in frames:
            a, b = overlapped.process(frame), serial.process(frame)
            assert [(t.track_id, t.looking_at_wearer, t.both_ears_visible) for t in a.tracks] == \
                [(t.track_id, t.looking_at_wearer, t.both_ears_visible) for t in b.tracks]
            for x, y in zip(a.tracks, b.tracks, strict=True):
                assert (x.head_yaw_deg is None) == (y.head_yaw_deg is None)
                if x.head_yaw_deg is not None:
                    assert x.head_yaw_deg == pytest.approx(y.head_yaw_deg, abs=1e-3)
    finally:
        overlapped.close()
        serial.close()
    split_frames = sum(n >= 3 for n in calls)
    assert split_frames >= 3  # the crowd really took the two-thread path


def test_error_on_the_stage_thread_reaches_the_caller(people, hamilton) -> None:
    system = build_system({"pipeline": {"stage_threads": 1}}, people=people.store)
    bodies = system.stage("detect_people")

    class BrokenDetectorError(RuntimeError):
        pass

    def broken(_image, *_windows, **_split):
        raise BrokenDetectorError("body detector failed")

    detector = bodies.beside_faces  # frame 0 runs both detectors: the body detector's one-thread session
    try:
        detector.detect = broken  # the body detector runs on the stage thread (frame 0)
        with pytest.raises(BrokenDetectorError, match="body detector failed"):
            system.process(hamilton[0])
        bodies.detector = bodies.beside_faces = None  # the system keeps working once the cause is gone
        result = system.process(hamilton[1])
        assert result.frame_index == 1
    finally:
        system.close()
    assert system.process(hamilton[2]).frame_index == 2  # after close(): everything in the caller's thread


def test_every_session_gets_the_pipelines_thread_settings(people) -> None:
    system = build_system({}, people=people.store)
    try:
        sessions = system.sessions()
        assert set(sessions) == {"face_detector", "face_detector_beside_bodies", "face_detector_windows",
                                 "person_detector", "person_detector_beside_faces", "embedder", "head_pose"}
        # the two detectors get both cores for the frames where each runs alone (the body detector runs
        # on the light frame before a face frame); one-thread sessions run where they meet
        for role in ("face_detector", "person_detector"):
            assert sessions[role].get_session_options().intra_op_num_threads == min(2, os.cpu_count() or 1), role
        for role, session in sessions.items():
            opts = session.get_session_options()
            if role not in ("face_detector", "person_detector"):
                assert opts.intra_op_num_threads == 1, role
            assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"
        for session in system.models["head_pose"].sessions:
            assert session.get_session_options().intra_op_num_threads == 1
    finally:
        system.close()


def test_faces_too_poor_to_count_are_not_embedded(people, data_dir: Path) -> None:
    """Royal opera: a crowd of small faces. Every face the system embeds is one whose quality identity or
    re-identification can use; the others are still counted as seen faces."""
    info = probe(data_dir / "videos" / "royal_opera_pedestrians_1080p25.mp4")
    system = build_system({}, people=people.store)
    evidence = system.policy.evidence
    observed, seen_only = [], []
    update_frame, saw_face = evidence.update_frame, evidence.saw_face
    embed = system.stage("embed")
    select = system.policy.select

    def record_select(tracks, t):
        chosen = select(tracks, t)
        observed.extend(tr.observation.face_quality for tr in chosen)
        return chosen

    def record_saw_face(track_id, t):
        seen_only.append(track_id)
        return saw_face(track_id, t)

    system.policy.select, evidence.saw_face = record_select, record_saw_face
    assert embed.policy is system.policy
    try:
        for index, image, _ in decode_frames(info, 60):
            system.process(Frame(image, index / info.fps, index))
    finally:
        system.close()
    assert update_frame is not None and observed and min(observed) >= system.policy.min_embed_quality
    assert len(seen_only) > len(observed)  # most of this crowd is too small or turned away to identify
