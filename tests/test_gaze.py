"""Eye gaze on real faces: the eyes turn while the head stays frontal, eyes shut, a head turned one way with the
eyes turned back at the camera, small faces fall back to head pose, and "looking at the wearer" against the
hand annotations through the product's estimator (``peoplelens.sim_harness.gaze_eval``)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from peoplelens.lens.perception.face_attributes import FaceAttributeEstimator, FaceAttributeOptions
from peoplelens.lens.perception.gaze import (
    INNER,
    OUTER,
    EyeReading,
    GazeConfigError,
    GazeOptions,
    Hysteresis,
    OpenEyeReference,
    estimate_gaze,
    read_eyes,
)
from peoplelens.lens.pipeline.config import face_detector_options
from peoplelens.models.face_detector import FaceDetectorOptions, create_face_detector
from peoplelens.models.images import load_image
from peoplelens.sim_harness import gaze_eval

D14 = "videos/talking_heads/liveportrait_d14.mp4"  # eyes move sideways and shut while the head stays frontal
S18 = "videos/talking_heads/liveportrait_s18.mp4"  # head turned ~12 deg to image-right, eyes on the camera


def frames(path: Path, indices: list[int]) -> dict[int, np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    out = {}
    for i in indices:
        cap.set(cv2.CAP_PROP_POS_FRAMES, i)
        ok, frame = cap.read()
        assert ok, f"cannot read frame {i} of {path}"
        out[i] = frame
    cap.release()
    return out


@pytest.fixture(scope="module")
def detector():
    return create_face_detector(face_detector_options({}))  # the product's video face detector


@pytest.fixture(scope="module")
def estimator() -> FaceAttributeEstimator:
    return FaceAttributeEstimator.from_registry()


@pytest.fixture(scope="module")
def head_only(estimator) -> FaceAttributeEstimator:
    # head pose alone, with the threshold it had before the eyes were read
    return FaceAttributeEstimator(estimator.head_pose, estimator.face_mesh,
                                  FaceAttributeOptions(use_eyes=False, gaze_enter_deg=15.0))


def largest(faces):
    return faces[[int(np.argmax(faces.areas))]]


def test_eyes_turn_while_the_head_stays_frontal(detector, estimator, head_only, data_dir: Path) -> None:
    # d14 frame 45: looking at the camera; 90: eyes to image-right; 105: eyes to image-left (hand-checked)
    shots = frames(data_dir / D14, [45, 90, 105])
    got = {}
    for i, image in shots.items():
        faces = largest(detector.detect(image))
        got[i] = estimator.estimate(image, faces)[0]
        head = head_only.estimate(image, faces)[0]
        assert abs(head.yaw) < 10 and head.looking_at_wearer  # head pose alone: "looking" all three times
        assert got[i].gaze_source == "eyes+head" and got[i].iris_used
    assert got[45].looking_at_wearer and abs(got[45].eye_yaw_deg) < 8
    # sign convention: eyes toward image-right = + yaw (the project's head-yaw convention), left = -
    assert got[90].eye_yaw_deg > 20 and not got[90].looking_at_wearer
    assert got[105].eye_yaw_deg < -20 and not got[105].looking_at_wearer


def test_eyes_shut_is_not_looking(detector, estimator, data_dir: Path) -> None:
    shots = frames(data_dir / D14, [45, 150, 165, 180])  # 150-180: eyes closed, head frontal
    open_ap = None
    for i, image in shots.items():
        a = estimator.estimate(image, largest(detector.detect(image)))[0]
        if i == 45:
            open_ap = a.eye.aperture
            assert not a.eyes_closed and open_ap > 0.25
        else:
            assert a.eyes_closed and not a.looking_at_wearer
            assert a.eye.aperture < 0.3 * open_ap


def test_head_turned_eyes_back_on_the_camera(detector, estimator, data_dir: Path) -> None:
    # s18: the head is turned toward image-right but she looks into the camera: the eyes turn back (to image-left)
    for i, image in frames(data_dir / S18, [0, 90, 180, 270]).items():
        a = estimator.estimate(image, largest(detector.detect(image)))[0]
        assert a.yaw > 5 and a.eye_yaw_deg < -1.5, (i, a.yaw, a.eye_yaw_deg)
        assert abs(a.yaw + a.eye_yaw_deg) < abs(a.yaw) - 1.5
        assert a.looking_at_wearer, (i, a.gaze_offset_deg)


def test_vertical_sign_and_eye_contour_order(detector, estimator, data_dir: Path) -> None:
    # d3 frame 345: eyes rolled up, head near frontal (hand-checked): eye pitch + = up
    image = frames(data_dir / "videos/talking_heads/liveportrait_d3.mp4", [345])[345]
    a = estimator.estimate(image, largest(detector.detect(image)))[0]
    assert a.eye_pitch_deg > 5 and not a.looking_at_wearer
    # the iris model's contour: outer corner (temple side) and inner corner (nose side) of each eye
    photo = load_image(data_dir / "faces/enroll/barack_obama/fr_01.jpg")
    kps = create_face_detector(FaceDetectorOptions(pad_retry=True)).detect(photo).keypoints[0]
    eyes = estimator.face_mesh.eyes_from_keypoints(photo, kps[:2])
    assert eyes.contours[0, OUTER, 0] < eyes.contours[0, INNER, 0]  # image-left eye: temple on the image's left
    assert eyes.contours[1, OUTER, 0] > eyes.contours[1, INNER, 0]
    io = np.linalg.norm(kps[1, :2] - kps[0, :2])
    assert np.linalg.norm(eyes.iris_centers - kps[:2], axis=1).max() < 0.1 * io
    reading = read_eyes(eyes.iris_centers, eyes.contours)
    # a smiling frontal portrait looking at the camera: centred irises, narrow but open eyes (aperture ~0.17)
    assert abs(reading.horizontal) < 0.08 and reading.aperture > estimator.options.eyes_open_min_aperture
    a = estimator.estimate(photo, create_face_detector(FaceDetectorOptions(pad_retry=True)).detect(photo)[[0]])[0]
    assert a.looking_at_wearer and not a.eyes_closed


def test_small_faces_fall_back_to_head_pose(detector, estimator, data_dir: Path) -> None:
    image = frames(data_dir / D14, [90])[90]
    faces = largest(detector.detect(image))
    io = float(np.linalg.norm(faces.keypoints[0, 1] - faces.keypoints[0, 0]))
    scale = 0.8 * estimator.options.eye_min_interocular_px / io
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    canvas = np.full((480, 640, 3), 114, np.uint8)
    canvas[: small.shape[0], : small.shape[1]] = small
    found = detector.detect(canvas)
    assert len(found) == 1
    a = estimator.estimate(canvas, found)[0]
    assert a.gaze_source == "head" and not a.iris_used and a.eye is None


def test_tracked_gaze_turns_off_when_the_eyes_turn(detector, estimator, data_dir: Path) -> None:
    est = FaceAttributeEstimator(estimator.head_pose, estimator.face_mesh, estimator.options)
    states = {}
    for i, image in frames(data_dir / D14, list(range(40, 50)) + list(range(84, 96))).items():
        states[i] = est.estimate(image, largest(detector.detect(image)), track_ids=[3])[0].looking_at_wearer
    assert states[49]  # looking after the enter frames
    assert not states[95]  # the eyes went to image-right: off within the exit frames
    seq = [49, *range(84, 96)]  # off once, and it stays off (no flicker)
    flips = [b for a, b in zip(seq, seq[1:], strict=False) if states[a] != states[b]]
    assert len(flips) == 1


def test_eye_model_signs_and_bad_config(estimator) -> None:
    o = GazeOptions()
    frontal = estimate_gaze(0.0, 0.0, None, o)
    assert frontal.source == "head" and frontal.want_on(o)
    with pytest.raises(GazeConfigError, match="eye_roi"):
        FaceAttributeEstimator(estimator.head_pose, estimator.face_mesh, FaceAttributeOptions(eye_roi="pupils"))


def test_looking_at_wearer_against_annotations(detector, estimator, head_only, data_dir: Path) -> None:
    """The product's per-frame decisions on every decided annotation (shared clips + our talking-head CSV)."""
    samples = gaze_eval.load_samples(data_dir / "videos", gaze_eval.OUR_ANNOTATION)
    assert len(samples) >= 210 and 100 <= sum(s.looking for s in samples) <= 140
    attrs, _ = gaze_eval.run_per_frame(samples, detector, {"eyes": estimator, "head": head_only},
                                       gaze_eval.Frames())
    counts = {name: gaze_eval.score(samples, [a.looking_at_wearer if a else None for a in v])["all"]
              for name, v in attrs.items()}
    eyes, head = counts["eyes"], counts["head"]
    print(f"\neyes+head {eyes.line()}\nhead only {head.line()}")
    precision, recall = eyes.tp / (eyes.tp + eyes.fp), eyes.tp / (eyes.tp + eyes.fn)
    assert precision >= 0.8 and recall >= 0.85
    assert eyes.fp < head.fp / 2 and (eyes.tp + eyes.tn) > (head.tp + head.tn) + 20


def test_the_goal_is_judged_on_the_exact_figures_not_the_rounded_ones() -> None:
    # stop 37: the product's TP 106, FP 10, FN 12 printed R=0.90 while the recall was 0.898, one sample short
    short, met = gaze_eval.Counts(tp=106, fp=10, fn=12, tn=92), gaze_eval.Counts(tp=107, fp=10, fn=11, tn=92)
    assert "R=0.90" in short.line()
    assert short.goal_line() == "goal, precision and recall >= 0.9: NOT met (P 0.914, R 0.898)"
    assert met.goal_line() == "goal, precision and recall >= 0.9: met (P 0.915, R 0.907)"


def test_tracked_eyes_away_in_the_dead_band_is_not_looking(detector, estimator, data_dir: Path) -> None:
    # d6 75-90: eyes to image-right (frame 90 hand-annotated "no") at a gaze offset of ~20 deg, between the enter
    # threshold and the former 25 deg exit threshold: that dead band kept the track "looking"; the default
    # hysteresis (no dead band, 3 frames on, 1 off; chosen leave-one-clip-out by gaze_eval --hysteresis) does not
    shots = frames(data_dir / "videos/talking_heads/liveportrait_d6.mp4", list(range(0, 16)) + list(range(75, 91)))
    faces = {i: largest(detector.detect(image)) for i, image in shots.items()}
    # the eyes read on every frame (mesh_every_n = 1), so that each decision here sees its own frame's eyes
    old = FaceAttributeOptions(gaze_exit_deg=25.0, gaze_enter_frames=2, gaze_exit_frames=3, mesh_every_n=1)
    states: dict[str, dict[int, bool]] = {}
    for name, options in (("default", FaceAttributeOptions(mesh_every_n=1)), ("old", old)):
        est = FaceAttributeEstimator(estimator.head_pose, estimator.face_mesh, options)
        states[name] = {i: est.estimate(image, faces[i], track_ids=[1])[0].looking_at_wearer
                        for i, image in shots.items()}
    assert states["default"][15] and states["old"][15]  # frame 0 annotated "yes": on within the enter frames
    assert not states["default"][90]
    assert states["old"][90]


def test_product_pipeline_looking_on_real_clips(data_dir: Path) -> None:
    """The product itself (build_system, per-track looking_at_wearer) on annotated frames: s18 looks at the camera
    with the head turned, d14 turns the eyes away with the head frontal."""
    from peoplelens.sim_harness.gaze_product import product_decisions

    wanted = {("s18", 45), ("s18", 90), ("d14", 45), ("d14", 60), ("d14", 90), ("d14", 105)}
    samples = [s for s in gaze_eval.load_samples(data_dir / "videos", gaze_eval.OUR_ANNOTATION)
               if (s.clip, s.frame) in wanted]
    assert len(samples) == len(wanted)
    got = dict(zip(((s.clip, s.frame) for s in samples), product_decisions(samples, gaze_eval.pick_face),
                   strict=True))
    assert got[("s18", 45)] and got[("s18", 90)] and got[("d14", 45)]
    assert got[("d14", 60)] is False and got[("d14", 90)] is False and got[("d14", 105)] is False


def test_lids_lowered_against_the_persons_own_open_eyes_are_not_looking(detector, estimator, data_dir: Path) -> None:
    # d14: eyes on the camera at 0-45 (hand-annotated "yes"), nearly closed at 120 ("no"). There the lids open
    # ~0.24 of the eye width: above the absolute 0.16, which must let narrow and smiling eyes count as open, but
    # about two thirds of this woman's own open eyes, which the track has seen for four seconds
    cap = cv2.VideoCapture(str(data_dir / D14))
    images = [cap.read()[1] for _ in range(121)]
    cap.release()
    faces = [largest(detector.detect(image)) for image in images]
    runs = {}
    for name, relative in (("default", FaceAttributeOptions().eyes_open_min_relative), ("absolute only", 0.0)):
        est = FaceAttributeEstimator(estimator.head_pose, estimator.face_mesh,
                                     FaceAttributeOptions(eyes_open_min_relative=relative))
        runs[name] = [est.estimate(image, f, track_ids=[7])[0] for image, f in zip(images, faces, strict=True)]
        if name == "default":
            reference = est.open_eyes.reference(7)
            est.forget([7])
            assert est.open_eyes.reference(7) is None
    default, absolute = runs["default"], runs["absolute only"]
    assert 0.30 < (reference or 0.0) < 0.45 and 0.16 < default[120].eye.aperture < 0.65 * reference
    assert default[45].looking_at_wearer and absolute[45].looking_at_wearer
    assert absolute[120].looking_at_wearer and not absolute[120].eyes_closed
    assert not default[120].looking_at_wearer and default[120].eyes_closed
    # looking frames agree: the relative test only ever turns "looking" off
    assert all(a.looking_at_wearer for a, b in zip(default, absolute, strict=True) if a.looking_at_wearer)


def test_a_blink_interrupts_a_look_it_does_not_end_it(detector, estimator, data_dir: Path) -> None:
    # d6: the woman looks at the camera, blinks at frames 207-209 (lids at ~0.03 of the eye width) and is looking
    # again at 210 (hand-annotated "yes"). The blink turns "looking" off at once; without the resume window the
    # track had to earn it again over three frames and missed 210
    first = 180
    cap = cv2.VideoCapture(str(data_dir / "videos/talking_heads/liveportrait_d6.mp4"))
    cap.set(cv2.CAP_PROP_POS_FRAMES, first)
    images = [cap.read()[1] for _ in range(first, 212)]
    cap.release()
    faces = [largest(detector.detect(image)) for image in images]
    runs = {}
    for resume in (FaceAttributeOptions().gaze_resume_frames, 0):
        est = FaceAttributeEstimator(estimator.head_pose, estimator.face_mesh,
                                     FaceAttributeOptions(gaze_resume_frames=resume))
        runs[resume] = {first + k: est.estimate(image, f, track_ids=[2])[0]
                        for k, (image, f) in enumerate(zip(images, faces, strict=True))}
    default, without = runs[FaceAttributeOptions().gaze_resume_frames], runs[0]
    assert default[206].looking_at_wearer and without[206].looking_at_wearer
    assert default[208].eyes_closed and not default[208].looking_at_wearer and not without[208].looking_at_wearer
    assert default[210].looking_at_wearer and not without[210].looking_at_wearer


def test_hysteresis_resume_window() -> None:
    h = Hysteresis(enter_frames=3, exit_frames=1, resume_frames=2)
    assert [h.update(1, True, False) for _ in range(3)] == [False, False, True]
    assert not h.update(1, False, True)  # off at once
    assert h.update(1, True, False)  # the first observation after: resumed
    assert not h.update(1, False, True)
    assert not h.update(1, False, False) and not h.update(1, False, False)  # the window (2) has passed
    assert [h.update(1, True, False) for _ in range(3)] == [False, False, True]  # earned again
    h.update(1, False, True)
    h.forget([1])
    assert not h.update(1, True, False)  # a forgotten track starts over
    never = Hysteresis(enter_frames=3, exit_frames=1)
    assert [never.update(2, w, not w) for w in (True, True, True, False, True)] == [False, False, True, False, False]


def test_open_eye_reference_is_a_high_percentile_of_the_tracks_recent_readings() -> None:
    ref = OpenEyeReference(readings=4, percentile=100.0)
    assert ref.reference(1) is None
    assert ref.add(1, 0.30) == pytest.approx(0.30)  # one reading: its own reference, the relative test passes
    for aperture in (0.35, 0.10, 0.12):
        ref.add(1, aperture)
    assert ref.reference(1) == pytest.approx(0.35)
    ref.add(1, 0.11)
    assert ref.add(1, 0.09) == pytest.approx(0.12)  # the window keeps the last 4: 0.30 and 0.35 are gone
    ref.add(2, 0.2)
    ref.forget([1])
    assert ref.reference(1) is None and ref.reference(2) == pytest.approx(0.2)
    with pytest.raises(GazeConfigError):
        OpenEyeReference(readings=0)
    closed = estimate_gaze(0.0, 0.0, _eye(0.2), GazeOptions(eyes_open_min_relative=0.65), open_aperture=0.35)
    assert closed.eyes_closed and not closed.want_on(GazeOptions())
    assert not estimate_gaze(0.0, 0.0, _eye(0.2), GazeOptions(eyes_open_min_relative=0.65)).eyes_closed


def _eye(aperture: float) -> EyeReading:
    return EyeReading(horizontal=0.0, vertical=GazeOptions().eye_neutral_vertical, aperture=aperture,
                      eye_width_px=20.0)


def test_the_hysteresis_search_observes_at_the_pipelines_cadence() -> None:
    from peoplelens.sim_harness.gaze_hysteresis_cv import decide

    frontal = (0.0, 0.0, None)  # head pose straight at the camera, eyes not read
    seq = [(k, frontal) for k in range(6)]
    wanted = {4: True, 5: True}
    every_frame = decide(seq, wanted, GazeOptions(), enter_frames=3, exit_frames=1)
    assert (every_frame.tp, every_frame.fn) == (2, 0)  # on from the third frame
    # faces every 2nd frame: phase 0 observes 0, 2, 4 (on at 4, held at 5); phase 1 observes 1, 3, 5 (on at 5)
    every_second = decide(seq, wanted, GazeOptions(), enter_frames=3, exit_frames=1, every=2)
    assert (every_second.tp, every_second.fn) == (3, 1)
    gone = decide([*seq[:5], (5, None)], wanted, GazeOptions(), enter_frames=3, exit_frames=1, every=2)
    # phase 0 does not observe frame 5 and holds "looking"; phase 1 observes the face gone there: not looking
    assert (gone.tp, gone.fn) == (2, 2)
