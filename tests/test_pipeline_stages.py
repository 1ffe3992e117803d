"""The pipeline's overlapped stages: the stage thread changes timing, never results; errors on it surface in the
caller; every model session (head pose included) gets the pipeline's thread settings."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from peoplelens.bench.videos import decode_frames, probe
from peoplelens.core.state import IdentityState
from peoplelens.core.types import Frame
from peoplelens.lens.pipeline import build_pipeline
from peoplelens.sim_harness.enrollment import enroll_folder

FRAMES = 130  # shot 1, the cut at ~2.7 s and the performer named in shot 2


@pytest.fixture(scope="module")
def people(data_dir: Path):
    enrolled = enroll_folder(data_dir / "faces" / "enroll")
    yield enrolled
    enrolled.close()


@pytest.fixture(scope="module")
def hamilton(data_dir: Path) -> list[Frame]:
    info = probe(data_dir / "videos" / "hamilton_short_clip.mp4")
    return [Frame(image, index / info.fps, index) for index, image, _ in decode_frames(info, FRAMES)]


def _replay(pipeline, frames: list[Frame]) -> list[dict]:
    out = []
    for frame in frames:
        result = pipeline.process(frame)
        out.append({
            "head": (result.head.yaw_deg, result.head.pitch_deg, result.head.roll_deg),
            "tracks": [(tv.track_id, tv.identity, tv.name, tv.box, tv.face_box, tv.head_yaw_deg,
                        tv.looking_at_wearer, tv.both_ears_visible) for tv in result.tracks],
            "events": [(str(e.sound), e.track_id, e.name, round(e.azimuth_deg, 6)) for e in result.events],
            "stages": set(result.timings),
        })
    return out


def test_stage_thread_gives_the_same_results_as_one_thread(people, hamilton) -> None:
    overlapped = build_pipeline({"pipeline": {"stage_threads": 1}}, store=people.store)
    serial = build_pipeline({"pipeline": {"stage_threads": 0}}, store=people.store)
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
        assert x["stages"] == y["stages"] >= {"detect_faces", "detect_people", "world", "track", "embed",
                                              "identity", "pose_gaze", "people_map", "experiences"}


def test_error_on_the_stage_thread_reaches_the_caller(people, hamilton) -> None:
    pipeline = build_pipeline({"pipeline": {"stage_threads": 1}}, store=people.store)

    class BrokenDetectorError(RuntimeError):
        pass

    def broken(_image):
        raise BrokenDetectorError("body detector failed")

    try:
        pipeline.person_detector.detect = broken  # the body detector runs on the stage thread (frame 0)
        with pytest.raises(BrokenDetectorError, match="body detector failed"):
            pipeline.process(hamilton[0])
        pipeline.person_detector = None  # the pipeline keeps working once the cause is gone
        result = pipeline.process(hamilton[1])
        assert result.frame_index == 1
    finally:
        pipeline.close()
    assert pipeline.process(hamilton[2]).frame_index == 2  # after close(): everything in the caller's thread


def test_every_session_gets_the_pipelines_thread_settings(people) -> None:
    pipeline = build_pipeline({}, store=people.store)
    try:
        one_thread = [pipeline.embedder.session, pipeline.person_detector.session,
                      *pipeline.attributes.head_pose.sessions, pipeline._face_detector_beside_bodies.session]
        face = pipeline.face_detector.session
        assert face.get_session_options().intra_op_num_threads == min(2, os.cpu_count() or 1)
        for session in [face, *one_thread]:
            opts = session.get_session_options()
            if session is not face:
                assert opts.intra_op_num_threads == 1, session._model_path
            assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    finally:
        pipeline.close()


def test_faces_too_poor_to_count_are_not_embedded(people, data_dir: Path) -> None:
    """Royal opera: a crowd of small faces. Every embedding the pipeline computes is of a face that identity or
    re-identification can use; the others are still counted as seen faces."""
    info = probe(data_dir / "videos" / "royal_opera_pedestrians_1080p25.mp4")
    pipeline = build_pipeline({}, store=people.store)
    observed, seen_only = [], []
    observe, saw_face = pipeline.identity.observe, pipeline.identity.saw_face

    def record_observe(track_id, t, embedding, quality):
        observed.append(quality)
        return observe(track_id, t, embedding, quality)

    def record_saw_face(track_id, t):
        seen_only.append(track_id)
        return saw_face(track_id, t)

    pipeline.identity.observe, pipeline.identity.saw_face = record_observe, record_saw_face
    try:
        for index, image, _ in decode_frames(info, 60):
            pipeline.process(Frame(image, index / info.fps, index))
    finally:
        pipeline.close()
    floor = min(pipeline.identity.config.min_quality, pipeline.tracker.config.gallery_min_quality)
    assert observed and min(observed) >= floor
    assert len(seen_only) > len(observed)  # most of this crowd is too small or turned away to identify
