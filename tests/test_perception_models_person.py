"""YOLOX-nano person detector on real video frames: people found where they are, nothing where none are."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from peoplelens.core.types import box_iou
from peoplelens.models.assets import asset_path
from peoplelens.models.person_detector import PersonDetector, PersonDetectorOptions, tile_windows

HAMILTON = "data/videos/hamilton_short_clip.mp4"
OPERA = "data/videos/royal_opera_pedestrians_1080p25.mp4"


def read_frame(relpath: str, index: int) -> np.ndarray:
    cap = cv2.VideoCapture(str(asset_path(relpath)))
    cap.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, frame = cap.read()
    cap.release()
    assert ok, f"cannot read frame {index} of {relpath}"
    return frame


@pytest.fixture(scope="module")
def detector() -> PersonDetector:
    return PersonDetector.from_registry(PersonDetectorOptions(tiles=0))


@pytest.fixture(scope="module")
def tiled() -> PersonDetector:
    return PersonDetector.from_registry(PersonDetectorOptions(tiles="auto"))


@pytest.mark.parametrize("index", [90, 150, 200])
def test_performer_found_in_hamilton_shot3(detector: PersonDetector, index: int) -> None:
    frame = read_frame(HAMILTON, index)
    people = detector.detect(frame)
    assert len(people) >= 1
    assert (people.class_ids == 0).all()
    best = people[int(np.argmax(people.scores))]
    # the performer's medium shot: a tall box (over half the frame height) with a confident score
    assert best.scores[0] > 0.6
    assert best.heights[0] > 0.5 * frame.shape[0]


def test_several_pedestrians_and_an_empty_region(detector: PersonDetector, tiled: PersonDetector) -> None:
    frame = read_frame(OPERA, 0)
    people = detector.detect(frame)
    assert len(people) >= 5  # 4-6 close people walk toward the camera, more in the background
    assert people.boxes[:, 3].max() <= frame.shape[0] and people.boxes[:, 0].min() >= 0
    more = tiled.detect(frame)
    assert len(more) >= len(people)
    # the top of this frame is roof and wall sign: every person's box starts below y = 440
    assert people.boxes[:, 1].min() > 440
    assert len(detector.detect(frame[:420])) == 0
    assert len(tiled.detect(frame[:420])) == 0


def test_tiling_finds_small_people(detector: PersonDetector, tiled: PersonDetector) -> None:
    """People shrunk to ~60 px tall in a 1280x720 frame: tiles find more of them than the whole frame."""
    crop = read_frame(HAMILTON, 150)[:, 60:340]  # the performer, ~280x360
    canvas = np.full((720, 1280, 3), 127, np.uint8)
    small = cv2.resize(crop, (47, 60), interpolation=cv2.INTER_AREA)
    xs = [100, 400, 700, 1000]
    for x in xs:
        canvas[330:390, x:x + 47] = small
    whole, tiles = detector.detect(canvas), tiled.detect(canvas)
    assert len(tiles) > len(whole)
    assert len(tiles) >= 3
    assert all(10 <= h <= 120 for h in tiles.heights)


def test_tile_windows() -> None:
    windows = tile_windows(1280, 720, "auto")
    assert windows[0] == (0, 0, 1280, 720) and len(windows) == 4
    assert windows[1][0] == 0 and windows[-1][2] == 1280 and all(w[2] - w[0] == 720 for w in windows[1:])
    assert tile_windows(640, 640, "auto") == [(0, 0, 640, 640)]
    assert len(tile_windows(720, 1280, 2)) == 3
    with pytest.raises(ValueError):
        tile_windows(100, 100, -1)


def test_a_wide_frame_runs_on_a_wide_canvas_and_finds_the_same_people(detector: PersonDetector) -> None:
    """The registry says YOLOX-Nano is fully convolutional (``size_multiple`` 32): the loaded graph takes any such size,
    and a 16:9 frame is letterboxed into 416x288 (not 416x416, 44 % of it padding; 32 grey rows to spare below the
    picture) at the same scale. The people found are the square canvas's: every confident box again, in place."""
    height, width = detector.session.get_inputs()[0].shape[2:]
    assert isinstance(height, str) and isinstance(width, str)  # freed on load: the file itself says 416x416
    assert detector.canvas_for(1920, 1080) == detector.canvas_for(640, 360) == (416, 288)
    assert detector.canvas_for(720, 720) == (416, 416) and detector.canvas_for(1080, 1920) == (288, 416)
    assert detector.canvas_for(640, 480) == (416, 352)  # 312 rows of picture
    for strip in (np.zeros((10, 5000, 3), np.uint8), np.zeros((3000, 8, 3), np.uint8), np.zeros((1, 1, 3), np.uint8)):
        assert len(detector.detect(strip)) == 0  # any aspect runs (a 64-px-high canvas for the strip)
    frame = read_frame(OPERA, 40)
    blob, scale = detector.input_tensor(frame)
    assert blob.shape == (1, 3, 288, 416) and scale == pytest.approx(416 / 1920)
    square = PersonDetector(detector.session, detector.spec, detector.options)
    square.size_multiple = 0  # the file's own 416x416 canvas
    assert square.input_tensor(frame)[0].shape == (1, 3, 416, 416)
    wide, full = detector.detect(frame), square.detect(frame)
    confident = full[full.scores >= 0.5]
    assert len(confident) >= 4
    iou = box_iou(confident.boxes, wide.boxes)
    assert (iou.max(1) >= 0.9).all()
