"""Face attributes on real data: both ears visible (frontal vs profile), the gaze hysteresis and the landmark
schedule (looking at the wearer against the annotations: ``test_gaze.py``)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from peoplelens.lens.perception.face_attributes import (
    FaceAttributeEstimator,
    FaceAttributeOptions,
    GazeHysteresis,
    ears_ok,
)
from peoplelens.lens.perception.gaze import estimate_gaze
from peoplelens.models.face_detector import FaceDetectorOptions, create_face_detector
from peoplelens.models.images import load_image

OPERA = "videos/royal_opera_pedestrians_1080p25.mp4"
HAMILTON = "videos/hamilton_short_clip.mp4"


def read_frame(path: Path, index: int) -> np.ndarray:
    cap = cv2.VideoCapture(str(path))
    cap.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, frame = cap.read()
    cap.release()
    assert ok, f"cannot read frame {index} of {path}"
    return frame


@pytest.fixture(scope="module")
def detector():
    return create_face_detector(FaceDetectorOptions(model="det_2.5g", max_side=1280, score_threshold=0.4,
                                                    pad_retry=True))


@pytest.fixture(scope="module")
def estimator() -> FaceAttributeEstimator:
    return FaceAttributeEstimator.from_registry()


def largest(faces):
    return faces[[int(np.argmax(faces.areas))]]


def test_ears_visible_on_frontal_faces(detector, estimator, data_dir: Path) -> None:
    frontal = [data_dir / "faces/enroll" / p for p in (
        "barack_obama/fr_01.jpg", "joe_biden/fr_01.jpg", "kit_harington/fr_01.jpg", "rose_leslie/fr_01.jpg",
        "alex_lacamoire/fr_01.jpg")]
    images = [load_image(p) for p in frontal]
    images += [read_frame(data_dir / "videos/talking_heads/liveportrait_d0.mp4", i) for i in (0, 40, 70)]
    for image in images:
        a = estimator.estimate(image, largest(detector.detect(image)))[0]
        assert a.both_ears_visible, a
        assert abs(a.yaw) < 20


@pytest.mark.parametrize("name", ["left_face", "right_face"])
def test_ears_hidden_on_profiles(detector, estimator, data_dir: Path, name: str) -> None:
    image = load_image(data_dir / "headpose/inspireface_pose" / f"{name}.jpg")
    a = estimator.estimate(image, detector.detect(image))[0]
    assert not a.both_ears_visible
    assert (a.yaw < -30) if name == "left_face" else (a.yaw > 30)
    assert not a.looking_at_wearer


def test_ears_hysteresis_on_a_track(detector, data_dir: Path) -> None:
    est = FaceAttributeEstimator.from_registry(FaceAttributeOptions(use_mesh=False))
    image = load_image(data_dir / "faces/enroll/barack_obama/fr_01.jpg")
    faces = largest(detector.detect(image))
    assert est.estimate(image, faces, track_ids=[7])[0].both_ears_visible
    # the same track turned to 35 deg: still "visible" (exit threshold 40), a new track at 35 deg: not yet
    o = est.options
    assert ears_ok(35, 0, 100, None, o.ears_exit_yaw_deg, o) and not ears_ok(35, 0, 100, None, o.ears_enter_yaw_deg, o)
    assert est.ears[7]


def test_gaze_hysteresis() -> None:
    g = GazeHysteresis(enter_deg=15, exit_deg=25, enter_frames=2, exit_frames=3)
    seq = [30, 10, 30, 10, 10, 20, 30, 30, 20, 30, 30, 30, 10]
    got = [g.observe(1, x) for x in seq]
    assert got == [False, False, False, False, True, True, True, True, True, True, True, False, False]
    assert not g.observe(2, 5)  # another track has its own state
    g.forget([1])
    assert not g.state(1)


def test_mesh_schedule_and_budget(detector, data_dir: Path) -> None:
    est = FaceAttributeEstimator.from_registry(FaceAttributeOptions(use_mesh=True, mesh_every_n=3))
    image = load_image(data_dir / "faces/enroll/barack_obama/fr_01.jpg")
    faces = largest(detector.detect(image))
    sources = [est.estimate(image, faces, track_ids=[1])[0].presence is not None for _ in range(6)]
    assert sources == [True, False, False, True, False, False]
    small = FaceAttributeEstimator.from_registry(FaceAttributeOptions(use_mesh=True, mesh_min_face_px=1e6,
                                                                      eye_min_interocular_px=1e6))
    a = small.estimate(image, faces)[0]
    assert a.presence is None and a.source == "fsanet" and not a.iris_used and a.gaze_source == "head"
    with pytest.raises(ValueError):
        est.estimate(image, faces, track_ids=[1, 2])


def test_a_tracks_eyes_are_read_every_second_observation_by_default(detector, data_dir: Path) -> None:
    """The product's cost control: the iris model runs on every 2nd observation of a track; in between, the
    track's last eye reading goes with the new head pose (a face without a track is read every time)."""
    est = FaceAttributeEstimator.from_registry(FaceAttributeOptions())
    image = load_image(data_dir / "faces/enroll/barack_obama/fr_01.jpg")
    faces = largest(detector.detect(image))
    tracked = [est.estimate(image, faces, track_ids=[4])[0] for _ in range(5)]
    assert [a.iris_used for a in tracked] == [True, False, True, False, True]
    assert tracked[1].eye is tracked[0].eye and tracked[3].eye is tracked[2].eye
    assert all(a.gaze_source == tracked[0].gaze_source == "eyes+head" for a in tracked)
    assert all(est.estimate(image, faces)[0].iris_used for _ in range(2))


def test_tracks_that_arrive_together_take_turns_for_their_eyes(detector, data_dir: Path) -> None:
    """Four people walking in together: the iris model reads two of them on one face frame and the other two on
    the next (not all four, then none), and every track is still read on every 2nd observation."""
    est = FaceAttributeEstimator.from_registry(FaceAttributeOptions())
    image = read_frame(data_dir / OPERA, 30)
    faces = detector.detect(image)
    ids = list(range(1, len(faces) + 1))
    readable = [i for i, due in enumerate(est.eyes_due(faces, ids)) if due]
    assert len(readable) >= 4
    turns = [[a.iris_used for a in est.estimate(image, faces, track_ids=ids)] for _ in range(6)]
    assert all(turns[0][i] for i in readable)  # new tracks: read at once
    per_frame = [sum(t[i] for i in readable) for t in turns[1:]]
    assert all(abs(n - len(readable) / 2) <= 0.5 for n in per_frame), per_frame
    for i in readable:  # no track waits more than one observation for its next reading
        column = [t[i] for t in turns]
        assert not any(not a and not b for a, b in zip(column, column[1:], strict=False)), column


def test_eyes_read_on_two_threads_match_one_thread(estimator, detector, data_dir: Path) -> None:
    """The pipeline reads eyes on both threads at once: each thread gets its own iris interpreter, so the
    readings equal the one-thread ones exactly (a shared TFLite interpreter would mix up the two faces)."""
    from concurrent.futures import ThreadPoolExecutor

    image = read_frame(data_dir / OPERA, 30)
    faces = detector.detect(image)
    assert faces.keypoints is not None and len(faces) >= 4
    alone = [estimator.read_eyes(image, kps) for kps in faces.keypoints]
    with ThreadPoolExecutor(2) as pool:
        for _ in range(3):
            both = list(pool.map(lambda kps: estimator.read_eyes(image, kps), faces.keypoints))
            assert both == alone


def test_eyes_of_a_head_turned_beyond_their_reach_are_not_read(estimator, detector, data_dir: Path) -> None:
    """Eyes turn at most eye_max_deg: a head turned further than that beyond the gaze threshold is "not looking"
    whatever the eyes say, so they are not read, and the decision is the one the eyes would have given."""
    image = load_image(data_dir / "faces/enroll/barack_obama/fr_01.jpg")
    face = largest(detector.detect(image))
    o = estimator.options
    reach = o.eye_max_deg + max(o.gaze_enter_deg, o.gaze_exit_deg)
    for yaw, read in ((0.0, True), (reach - 1.0, True), (reach + 1.0, False), (-(reach + 5.0), False)):
        a = estimator.estimate(image, face, poses=np.array([[yaw, 0.0, 0.0]]))[0]
        assert a.iris_used is read and estimator.eyes_can_matter(yaw, 0.0) is read, (yaw, a)
        if not read:  # the eyes turned as far as they go toward the camera still miss it
            assert not a.looking_at_wearer
            eye = estimator.read_eyes(image, face.keypoints[0])
            assert eye is not None
            toward = replace(eye, horizontal=-np.sign(yaw) * 1.0)
            assert not estimate_gaze(yaw, 0.0, toward, estimator.gaze_options).want_on(estimator.gaze_options)
    assert estimator.eyes_can_matter(float("nan"), 0.0)  # an unknown pose: the eyes may matter
