"""YOLOX-nano person detector on real video frames: people found where they are, nothing where none are."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

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
