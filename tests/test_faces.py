"""Real face detection and recognition on the sample bundle (../shared/data)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import numpy as np
import pytest

from peoplelens.core.types import box_iou
from peoplelens.models.errors import ImageDecodeError
from peoplelens.models.evaluate_faces import (
    VERIFY_THRESHOLD,
    largest_face_embedding,
    lfw_pair_scores,
    photo_pair_scores,
)
from peoplelens.models.face_detector import FaceDetectorOptions, create_face_detector
from peoplelens.models.face_embedder import FaceEmbedder
from peoplelens.models.images import decode_image, load_image, nchw_blob
from peoplelens.models.registry import get_spec


@pytest.fixture(scope="module")
def detector():
    return create_face_detector(FaceDetectorOptions(model="det_2.5g", pad_retry=True))


@pytest.fixture(scope="module")
def embedder():
    return FaceEmbedder.from_registry()


# People counts come from the bundle's README (who is in each photo).
@pytest.mark.parametrize("photo,people", [
    ("ensemble_cast_t1.jpg", 6), ("ensemble_cast_multiface.jpg", 6), ("two_people.jpg", 2),
    ("kit_with_rose.jpg", 2), ("obama_and_biden.jpg", 3),
])
def test_faces_found_in_group_photos(detector, data_dir: Path, photo: str, people: int) -> None:
    faces = detector.detect(load_image(data_dir / "faces/group" / photo))
    assert len(faces) == people
    assert faces.keypoints.shape == (people, 5, 2)
    # each face's eyes lie inside its box, right eye (image-left) left of the left eye
    for box, kps in zip(faces.boxes, faces.keypoints, strict=True):
        assert box[0] <= kps[0, 0] < kps[1, 0] <= box[2]
        assert box[1] <= kps[:2, 1].mean() <= kps[2, 1] <= kps[3:, 1].mean() <= box[3]


def _dlib_boxes(xml_path: Path, ignored: bool = False) -> dict[str, np.ndarray]:
    """Face boxes per image; ``ignored=True`` gives the faces dlib marks as too hard to require."""
    out = {}
    for image in ET.parse(xml_path).getroot().iter("image"):
        boxes = [[int(b.get("left")), int(b.get("top")), int(b.get("left")) + int(b.get("width")),
                  int(b.get("top")) + int(b.get("height"))] for b in image.iter("box")
                 if (b.get("ignore") == "1") == ignored]
        out[image.get("file")] = np.array(boxes, dtype=np.float32).reshape(-1, 4)
    return out


def test_detector_recall_and_precision_on_dlib_boxes(detector, data_dir: Path) -> None:
    folder = data_dir / "detection/dlib_faces"
    truth = _dlib_boxes(folder / "testing.xml") | _dlib_boxes(folder / "training.xml")
    ignored = _dlib_boxes(folder / "testing.xml", True) | _dlib_boxes(folder / "training.xml", True)
    hits = total = false_pos = 0
    for name, boxes in truth.items():
        faces = detector.detect(load_image(folder / name))
        iou = box_iou(boxes, faces.boxes)
        hits += int((iou.max(axis=1) >= 0.3).sum()) if len(faces) else 0
        total += len(boxes)
        # dlib annotates faces of ~37 px and up (or marks them "ignore"): a smaller detection is a background
        # face it left out (checked by eye: 5-16 px faces in 2008_002079/2008_004176), not a false positive
        any_face = np.concatenate([boxes, ignored.get(name, np.zeros((0, 4), np.float32))])
        unmatched = box_iou(any_face, faces.boxes).max(axis=0, initial=0) < 0.3
        false_pos += int((unmatched & (faces.widths >= 24)).sum())
    assert total == 43
    assert hits / total >= 0.9, f"recall {hits}/{total}"
    assert false_pos == 0
    # Known limitation (kept visible, not hidden): every face detector here fires on dog faces in dogs.jpg
    # (det_2.5g 0.52-0.56, YuNet 0.85). The pipeline pairs faces with person (body) detections for that.
    dogs = detector.detect(load_image(folder / "dogs.jpg"))
    assert len(dogs) <= 2 and (dogs.scores < 0.6).all()


def _frame(video: Path, index: int) -> np.ndarray:
    cap = cv2.VideoCapture(str(video))
    cap.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, frame = cap.read()
    cap.release()
    assert ok, f"cannot read frame {index} of {video}"
    return frame


def test_faces_found_in_video_frames(data_dir: Path) -> None:
    fast = create_face_detector(FaceDetectorOptions(model="det_500m", max_side=640))
    # hamilton shot 3 (frames 82-210): the performer, medium shot
    assert len(fast.detect(_frame(data_dir / "videos/hamilton_short_clip.mp4", 150))) >= 1
    # talking head: exactly one face
    assert len(fast.detect(_frame(data_dir / "videos/talking_heads/liveportrait_d0.mp4", 10))) == 1
    # pedestrians walking toward the camera: several faces at 1080p
    assert len(fast.detect(_frame(data_dir / "videos/royal_opera_pedestrians_1080p25.mp4", 50))) >= 3


def test_genuine_pairs_score_clearly_above_impostors(detector, embedder, data_dir: Path) -> None:
    scores, skipped = photo_pair_scores(data_dir / "pairs/faces_pairs.csv", detector, embedder)
    assert skipped == 0
    assert len(scores.genuine) == 378 and len(scores.impostor) == 378
    assert scores.genuine.mean() - scores.impostor.mean() > 0.6
    far, frr = scores.rates(VERIFY_THRESHOLD)
    assert far <= 0.005 and frr <= 0.02
    lfw = lfw_pair_scores(data_dir / "pairs/small_lfw_pairs.csv", embedder)
    assert lfw.genuine.min() > lfw.impostor.max()


def test_probes_identify_the_right_person(detector, embedder, data_dir: Path) -> None:
    names, gallery = [], []
    for person in sorted((data_dir / "faces/enroll").iterdir()):
        vecs = [largest_face_embedding(p, detector, embedder) for p in sorted(person.glob("*.jpg"))]
        centroid = np.mean([v for v in vecs if v is not None], axis=0)
        names.append(person.name)
        gallery.append(centroid / np.linalg.norm(centroid))
    gallery = np.stack(gallery)
    correct = total = 0
    for person in sorted((data_dir / "faces/probe").iterdir()):
        for probe in sorted(person.glob("*.jpg")):
            vec = largest_face_embedding(probe, detector, embedder)
            total += 1
            correct += vec is not None and names[int(np.argmax(gallery @ vec))] == person.name
    assert total == 30 and correct >= 29


def test_embeddings_are_unit_length_and_batched(detector, embedder, data_dir: Path) -> None:
    image = load_image(data_dir / "faces/group/ensemble_cast_t1.jpg")
    faces = detector.detect(image)
    batch = embedder.embed(image, faces.keypoints)
    single = np.concatenate([embedder.embed(image, k[None]) for k in faces.keypoints])
    assert batch.shape == (6, 128)
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(batch, single, atol=1e-4)
    # six different people: no two faces in one photo look alike
    sims = batch @ batch.T
    assert sims[~np.eye(6, dtype=bool)].max() < VERIFY_THRESHOLD


def test_not_an_image_gives_clear_error(tmp_path: Path, detector) -> None:
    fake = tmp_path / "photo.jpg"
    fake.write_bytes(b"%PDF-1.4 this is not an image")
    with pytest.raises(ImageDecodeError, match="not a decodable image"):
        load_image(fake)
    with pytest.raises(ImageDecodeError, match="empty"):
        decode_image(b"")
    with pytest.raises(ImageDecodeError, match="not found"):
        load_image(tmp_path / "absent.jpg")
    with pytest.raises(ImageDecodeError, match="HxWx3"):
        detector.detect(np.zeros((10, 10, 7), np.uint8))


@pytest.mark.parametrize("model", ["det_500m", "arcface_mobileface128", "yolox_nano", "fsanet_1x1"])
def test_blob_follows_the_registry_preprocessing(model: str) -> None:
    pre = get_spec(model).preprocess
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (2, 40, 56, 3), dtype=np.uint8)
    colour = images[..., ::-1] if pre.color == "RGB" else images
    want = ((colour.astype(np.float32) - pre.mean) / pre.std).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(nchw_blob(images, pre), want, atol=1e-5)
    np.testing.assert_allclose(nchw_blob(images[1], pre), want[1:], atol=1e-5)  # one image: a batch of one
