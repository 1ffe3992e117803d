"""The frame shrink of the wide pass and of the motion estimator (``models.images.downscale``) on a real 1080p
frame: the pixels of an area resize where the factor is a power of 2, close to it otherwise, and the same faces."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from peoplelens.core.types import box_iou
from peoplelens.lens.pipeline.config import face_detector_options
from peoplelens.lens.pipeline.stages.detect import shrink
from peoplelens.models.assets import asset_path
from peoplelens.models.face_detector import create_face_detector
from peoplelens.models.images import downscale, halve_towards


@pytest.fixture(scope="module")
def frame_1080p() -> np.ndarray:
    cap = cv2.VideoCapture(str(asset_path("data/videos/royal_opera_pedestrians_1080p25.mp4")))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 40)
    ok, frame = cap.read()
    cap.release()
    assert ok and frame.shape == (1080, 1920, 3)
    return frame


def _diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(np.int16) - b.astype(np.int16))


def test_powers_of_two_give_the_area_resize(frame_1080p: np.ndarray) -> None:
    for size in ((960, 540), (480, 270)):
        out = downscale(frame_1080p, size)
        assert out.shape == (size[1], size[0], 3)
        assert _diff(out, cv2.resize(frame_1080p, size, interpolation=cv2.INTER_AREA)).max() <= 1


def test_other_factors_stay_close_to_the_area_resize(frame_1080p: np.ndarray) -> None:
    out = downscale(frame_1080p, (640, 360))
    assert out.shape == (360, 640, 3)
    d = _diff(out, cv2.resize(frame_1080p, (640, 360), interpolation=cv2.INTER_AREA))
    assert d.mean() < 1.0 and np.percentile(d, 99) <= 8


def test_halving_stops_before_the_size_and_small_images_are_left_alone(frame_1080p: np.ndarray) -> None:
    assert halve_towards(frame_1080p, (640, 360)).shape == (540, 960, 3)
    assert halve_towards(frame_1080p, (320, 180)).shape == (270, 480, 3)
    small = frame_1080p[:300, :400]
    assert halve_towards(small, (320, 180)) is small


def test_the_wide_pass_finds_the_same_faces_as_on_an_area_resize(frame_1080p: np.ndarray) -> None:
    detector = create_face_detector(face_detector_options({}))
    image, factors = shrink(frame_1080p, detector.options.max_side)
    assert image.shape[:2] == (360, 640) and factors == (3.0, 3.0)
    ours = detector.detect(image)
    area = detector.detect(cv2.resize(frame_1080p, (640, 360), interpolation=cv2.INTER_AREA))
    assert len(area) >= 3
    confident = area.scores >= 0.6
    iou = box_iou(area.boxes[confident], ours.boxes)
    assert (iou.max(axis=1) >= 0.8).all()
