"""A virtual head turn on real footage: the visual rotation estimate and the IMU sidecar both keep real
detected faces at a fixed world azimuth while the camera turns by +-30 deg."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from peoplelens.lens.world import (
    VirtualHeadTurn,
    VisualRotationEstimator,
    WorldFrame,
    camera_to_world,
    frame_times,
    load_imu_sidecar,
)
from peoplelens.lens.world.people_map import PeopleMap, PersonObservation
from peoplelens.models.assets import asset_path
from peoplelens.models.face_detector import FaceDetectorOptions, create_face_detector

VIDEO = "data/videos/royal_opera_pedestrians_1080p25.mp4"
GT = "data/videos/royal_opera_pedestrians.faces_gt_mot.txt"
SCRIPT = "0:0,1:30,3:-30,4:0"  # yaw keyframes: right 30 deg, left 30 deg, back


@pytest.fixture(scope="module")
def video_frames() -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(asset_path(VIDEO)))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    assert len(frames) == 105
    return frames


@pytest.fixture(scope="module")
def detector():
    return create_face_detector(FaceDetectorOptions(model="det_500m", max_side=480))


@pytest.fixture(scope="module")
def pan() -> VirtualHeadTurn:
    return VirtualHeadTurn((1920, 1080), (480, 360), SCRIPT, wide_hfov_deg=100.0)


@pytest.fixture(scope="module")
def gt_world_azimuths(pan: VirtualHeadTurn) -> dict[int, float]:
    """World azimuth of every hand-checked face of the first frame (fixed points of the wide frame)."""
    gt = np.loadtxt(asset_path(GT), delimiter=",")
    first = gt[gt[:, 0] == 1]
    return {int(r[1]): pan.wide_point_world_angles(r[2] + r[4] / 2, r[3] + r[5] / 2)[0] for r in first}


def test_pan_window_stays_inside_and_limits(pan: VirtualHeadTurn) -> None:
    lo, hi = pan.yaw_limits()
    assert lo < -30 and hi > 30
    assert lo > -45 and hi < 45  # a 480 px window in a 100-deg 1920 px frame cannot turn much further


def test_visual_yaw_on_still_real_frame(video_frames, pan: VirtualHeadTurn) -> None:
    est = VisualRotationEstimator(pan.window)
    errors = []
    for t in frame_times(101, 25.0):
        img, truth = pan.render(video_frames[0], t)
        head = est.update(img, None, t)
        errors.append(abs(head.yaw_deg - truth.yaw_deg))
        assert est.last_motion.ok or t == 0.0, est.last_motion.reason
    assert max(errors) < 1.0
    assert abs(est.head().pitch_deg) < 1.0


def test_visual_yaw_on_moving_real_video(video_frames, pan: VirtualHeadTurn, detector) -> None:
    """The real clip has walking people and its own slight camera motion: a few degrees are allowed."""
    est = VisualRotationEstimator(pan.window)
    errors = []
    b = np.zeros((0, 4), np.float32)
    for i, t in enumerate(frame_times(len(video_frames), 25.0)):
        img, truth = pan.render(video_frames[i], t)
        if i % 3 == 0:  # people boxes (face box grown to a rough body box) every 3rd frame, as a pipeline might
            b = detector.detect(img).boxes
        w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
        bodies = np.stack([b[:, 0] - w, b[:, 1] - 0.3 * h, b[:, 2] + w, b[:, 3] + 7 * h], 1)
        head = est.update(img, bodies, t)
        errors.append(abs(head.yaw_deg - truth.yaw_deg))
    assert est.failed_frames <= 2
    assert max(errors) < 3.0, f"max visual yaw error {max(errors):.2f} deg"


@pytest.mark.parametrize("source", ["visual", "imu"])
def test_faces_keep_world_azimuth_during_turn(video_frames, pan, detector, gt_world_azimuths, source, tmp_path):
    world = WorldFrame(pan.window, use_visual=True)
    if source == "imu":
        sidecar = pan.write_sidecar(str(tmp_path / "imu.csv"), frame_times(101, 25.0))
        world = WorldFrame(pan.window, imu=load_imu_sidecar(sidecar), use_visual=False)
    people = PeopleMap()
    gt_ids = np.array(list(gt_world_azimuths))
    gt_az = np.array(list(gt_world_azimuths.values()))
    seen_yaws: list[float] = []
    per_person: dict[int, list[float]] = {}
    for t in frame_times(101, 25.0)[::4]:
        img, truth = pan.render(video_frames[0], t)
        faces = detector.detect(img)
        head = world.update(img, t, faces.boxes)
        assert head.source == source
        seen_yaws.append(head.yaw_deg)
        obs = []
        for x, y in faces.centers:
            az, el = pan.window.pixel_to_angles(x, y)
            waz, _ = camera_to_world(float(az), float(el), head)
            tid = int(gt_ids[np.argmin(np.abs(gt_az - waz))])
            if any(o.track_id == tid for o in obs):
                continue
            obs.append(PersonObservation(tid, float(az), float(el)))
        people.update(t, head, obs)
        for o in obs:
            per_person.setdefault(o.track_id, []).append(people.get(o.track_id).azimuth_deg)
    assert max(seen_yaws) > 28 and min(seen_yaws) < -28
    assert len(per_person) >= 4
    for tid, azs in per_person.items():
        assert max(abs(a - gt_world_azimuths[tid]) for a in azs) < 2.0, (tid, azs, gt_world_azimuths[tid])


def test_render_outside_wide_frame_is_a_clear_error(video_frames) -> None:
    from peoplelens.lens.world import VirtualPanError

    wide_pan = VirtualHeadTurn((1920, 1080), (960, 720), "0:0,1:60", wide_hfov_deg=90.0)
    with pytest.raises(VirtualPanError, match="outside the wide frame"):
        wide_pan.render(video_frames[0], 1.0)
