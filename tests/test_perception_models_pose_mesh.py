"""Head pose (FSA-Net, FaceMesh+PnP) sign conventions, FaceMesh presence and iris, TFLite load errors."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from peoplelens.models.assets import asset_path
from peoplelens.models.errors import ModelLoadError
from peoplelens.models.face_detector import FaceDetectorOptions, create_face_detector
from peoplelens.models.face_mesh import FaceMesh, load_canonical_face, rotated_square_affine
from peoplelens.models.head_pose import HeadPoseEstimator
from peoplelens.models.images import load_image
from peoplelens.models.tflite import load_tflite

POSES = ("left_face", "right_face", "rise_face", "lower_face", "left_wryneck", "right_wryneck")


@pytest.fixture(scope="module")
def detector():
    return create_face_detector(FaceDetectorOptions(model="det_2.5g", pad_retry=True))


@pytest.fixture(scope="module")
def head_pose() -> HeadPoseEstimator:
    return HeadPoseEstimator.from_registry()


@pytest.fixture(scope="module")
def mesh() -> FaceMesh:
    return FaceMesh.from_registry()


@pytest.fixture(scope="module")
def pose_faces(detector, data_dir: Path) -> dict:
    out = {}
    for name in POSES:
        image = load_image(data_dir / "headpose/inspireface_pose" / f"{name}.jpg")
        faces = detector.detect(image)
        assert len(faces) == 1, name
        out[name] = (image, faces)
    return out


def test_fsanet_signs(head_pose: HeadPoseEstimator, pose_faces: dict) -> None:
    """Project convention: yaw + = face turned toward image-right, pitch + = up, roll + = top toward image-right."""
    pose = {n: head_pose.estimate(img, f.boxes)[0] for n, (img, f) in pose_faces.items()}
    # left_face: the nose points to image-left; right_face: to image-right
    assert pose["left_face"][0] < -25 and pose["right_face"][0] > 25
    assert pose["rise_face"][1] > pose["lower_face"][1] + 20
    assert pose["rise_face"][1] > 0 > pose["lower_face"][1]
    # left_wryneck: the top of the head leans to image-left
    assert pose["left_wryneck"][2] < -20 and pose["right_wryneck"][2] > 20
    # roll agrees with the slope of the detector's eye line (image y down: + = clockwise)
    for name in ("left_wryneck", "right_wryneck"):
        kps = pose_faces[name][1].keypoints[0]
        slope = np.degrees(np.arctan2(kps[1, 1] - kps[0, 1], kps[1, 0] - kps[0, 0]))
        assert np.sign(slope) == np.sign(pose[name][2])


def test_facemesh_pnp_agrees_on_signs(mesh: FaceMesh, pose_faces: dict) -> None:
    res = {n: mesh.process(img, f.boxes[0], f.keypoints[0, :2]) for n, (img, f) in pose_faces.items()}
    for r in res.values():
        assert r.presence > 0.9
        assert r.landmarks.shape == (468, 3)
    assert res["left_face"].yaw < -20 and res["right_face"].yaw > 20
    assert res["rise_face"].pitch > res["lower_face"].pitch + 20
    assert res["left_wryneck"].roll < -20 and res["right_wryneck"].roll > 20
    # landmarks lie on the face: the nose tip (1) inside the detector box
    img, f = pose_faces["rise_face"]
    x1, y1, x2, y2 = f.boxes[0]
    nose = res["rise_face"].landmarks[1]
    assert x1 < nose[0] < x2 and y1 < nose[1] < y2


def test_facemesh_presence_and_iris(mesh: FaceMesh, detector, data_dir: Path) -> None:
    image = load_image(data_dir / "faces/enroll/barack_obama/fr_01.jpg")
    face = detector.detect(image)[0]
    r = mesh.process(image, face.boxes[0], face.keypoints[0, :2])
    assert r.presence > 0.9
    # each iris centre is near the detector's eye keypoint (within a fifth of the inter-ocular distance)
    io = np.linalg.norm(face.keypoints[0, 0] - face.keypoints[0, 1])
    assert np.linalg.norm(r.iris_centers - face.keypoints[0, :2], axis=1).max() < 0.2 * io
    assert ((r.iris_position > 0.25) & (r.iris_position < 0.75)).all()  # frontal photo: irises near centre
    # a region without a face (the roof above the pedestrians in the opera clip): presence low
    cap = cv2.VideoCapture(str(asset_path("data/videos/royal_opera_pedestrians_1080p25.mp4")))
    ok, frame = cap.read()
    cap.release()
    assert ok
    box = np.array([800.0, 100.0, 950.0, 250.0])
    miss = mesh.process(frame, box, np.array([[840.0, 150.0], [910.0, 150.0]]))
    assert miss.presence < 0.2


def test_rotated_square_affine_maps_center_and_axis() -> None:
    m = rotated_square_affine(np.array([100.0, 50.0]), np.radians(30), 40.0, 64)
    assert np.allclose(m[:, :2] @ [100, 50] + m[:, 2], [32, 32])
    along = np.array([100 + 20 * np.cos(np.radians(30)), 50 + 20 * np.sin(np.radians(30))])
    assert np.allclose(m[:, :2] @ along + m[:, 2], [64, 32])


def test_canonical_face_model_and_bad_obj(tmp_path: Path) -> None:
    from peoplelens.models.errors import AssetError

    verts = load_canonical_face(str(asset_path("canonical_face_model")))
    assert verts.shape == (468, 3) and verts[33, 0] < 0 < verts[263, 0]  # x = image-right of a frontal face
    bad = tmp_path / "bad.obj"
    bad.write_text("v 1 2 3\n")
    with pytest.raises(AssetError):
        load_canonical_face(str(bad))


def test_corrupt_tflite_gives_model_load_error(tmp_path: Path) -> None:
    rand = tmp_path / "random.tflite"
    rand.write_bytes(os.urandom(4096))
    with pytest.raises(ModelLoadError, match="not a TFLite"):
        load_tflite(rand)
    fake = tmp_path / "fake_header.tflite"
    fake.write_bytes(b"\x1c\x00\x00\x00TFL3" + os.urandom(4096))
    with pytest.raises(ModelLoadError, match="cannot load"):
        load_tflite(fake)
    with pytest.raises(ModelLoadError, match="not found"):
        load_tflite(tmp_path / "missing.tflite")


def test_tflite_names(mesh: FaceMesh) -> None:
    assert mesh.iris.input_names == ["input_1"]
    assert "output_iris" in mesh.iris.output_names
    with pytest.raises(ModelLoadError, match="no input tensor"):
        mesh.iris.run({"nope": np.zeros((1, 64, 64, 3), np.float32)})
