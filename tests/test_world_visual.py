"""Visual rotation edge cases on real frames: people masked out, low texture, shot cuts, resizing."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from peoplelens.lens.perception.geometry import CameraIntrinsics
from peoplelens.lens.world import VirtualHeadTurn, VisualRotationEstimator, image_shift
from peoplelens.models.assets import asset_path


def _first_frame(rel: str, index: int = 0) -> np.ndarray:
    cap = cv2.VideoCapture(str(asset_path(rel)))
    cap.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, frame = cap.read()
    cap.release()
    assert ok
    return frame


@pytest.fixture(scope="module")
def opera() -> np.ndarray:
    return _first_frame("data/videos/royal_opera_pedestrians_1080p25.mp4")


def test_homography_matches_background_shift(opera) -> None:
    pan = VirtualHeadTurn((1920, 1080), (640, 360), "0:0,1:2", wide_hfov_deg=90.0)
    est = VisualRotationEstimator(pan.window)
    est.update(pan.render(opera, 0.0)[0], None, 0.0)
    est.update(pan.render(opera, 1.0)[0], None, 1.0)
    motion = est.last_motion
    assert motion.ok and motion.yaw_delta_deg == pytest.approx(2.0, abs=0.15)
    # turning right moves the background left in the image
    dx, dy = image_shift(motion.homography, 320.0, 180.0)
    assert dx == pytest.approx(-pan.window.fx * np.tan(np.radians(2.0)), abs=1.5)
    assert abs(dy) < 1.0


def test_people_boxes_are_masked_out(opera) -> None:
    """A textured 'person' walking across a softer background drags the estimate unless masked out."""
    intr = CameraIntrinsics.from_fov(640, 360, 60.0)
    bg = cv2.GaussianBlur(cv2.resize(opera[300:840, 0:960], (640, 360)), (0, 0), 5)
    person = cv2.resize(opera[500:800, 1300:1600], (300, 300))  # a real textured patch, half the view
    frames, boxes = [], []
    for dx in (0, 30):  # the background stays, the 'person' walks 30 px to the right
        f = bg.copy()
        f[30:330, 20 + dx:320 + dx] = person
        frames.append(f)
        boxes.append(np.array([(20 + dx, 30, 320 + dx, 330)]))
    results = {}
    for masked in (False, True):
        est = VisualRotationEstimator(intr)
        for f, b, t in zip(frames, boxes, (0.0, 0.04), strict=True):
            est.update(f, b if masked else None, t)
        assert est.last_motion.ok
        results[masked] = est.last_motion.yaw_delta_deg
    assert results[False] < -2.0  # unmasked: the walking person looks like a left turn
    assert abs(results[True]) < 0.2  # masked: the background says the head did not move


def test_low_texture_frames_give_zero_rotation_and_a_flag() -> None:
    intr = CameraIntrinsics.from_fov(640, 480, 70.0)
    est = VisualRotationEstimator(intr, initial_yaw_deg=12.0)
    grey = np.full((480, 640, 3), 128, np.uint8)
    for i in range(3):
        head = est.update(grey, None, i * 0.04)
    assert not est.last_motion.ok and "low texture" in est.last_motion.reason
    assert head.yaw_deg == pytest.approx(12.0) and head.source == "visual"
    assert np.allclose(est.last_motion.homography, np.eye(3))


def test_shot_cut_is_not_integrated(opera) -> None:
    other = _first_frame("data/videos/hamilton_short_clip.mp4", 100)
    intr = CameraIntrinsics.from_fov(640, 360, 70.0)
    est = VisualRotationEstimator(intr)
    est.update(cv2.resize(opera, (640, 360)), None, 0.0)
    head = est.update(cv2.resize(other, (640, 360)), None, 0.04)
    assert not est.last_motion.ok and est.last_motion.cut, est.last_motion.reason
    assert abs(head.yaw_deg) < 1e-9 and est.cuts == 1


def test_frame_size_change_rescales_and_flags(opera) -> None:
    est = VisualRotationEstimator(CameraIntrinsics.from_fov(640, 360, 70.0))
    est.update(cv2.resize(opera, (640, 360)), None, 0.0)
    est.update(cv2.resize(opera, (960, 540)), None, 0.04)  # same view, higher resolution: still no rotation
    assert est.last_motion.ok and abs(est.head().yaw_deg) < 0.1
    assert est.intrinsics.width == 960 and est.intrinsics.hfov_deg == pytest.approx(70.0)
    est.update(cv2.resize(opera, (640, 480)), None, 0.08)  # a different aspect ratio cannot be compared
    assert not est.last_motion.ok and "size" in est.last_motion.reason
