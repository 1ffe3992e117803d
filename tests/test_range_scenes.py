"""Range scenes: a real probe face on a real body in a real 1080p frame lands at the pixel size of its distance,
deterministically, and the benchmark scores a scene from the pipeline's own results."""

from __future__ import annotations

import numpy as np
import pytest

from peoplelens.bench.range_fidelity import composite_fidelity
from peoplelens.bench.range_scenes import (
    CAMERAS,
    SCALES,
    RangeScenes,
    SceneError,
    SceneSpec,
    load_faces,
)
from peoplelens.core.types import box_iou
from peoplelens.models.face_detector import FaceDetectorOptions, create_face_detector
from peoplelens.models.sessions import SessionConfig


@pytest.fixture(scope="module")
def scenes(data_dir):
    return RangeScenes(data_dir, CAMERAS["glasses"])


@pytest.fixture(scope="module")
def face(data_dir):
    faces = load_faces(data_dir / "faces" / "probe" / "bbt_howard")
    assert len(faces) == 1 and faces[0].identity == "bbt_howard"
    return faces[0]


@pytest.fixture(scope="module")
def detector():
    return create_face_detector(FaceDetectorOptions(model="det_500m", max_side=2048),
                                session_config=SessionConfig(intra_op_threads=1))


@pytest.mark.parametrize(("distance", "scale"), [(3.0, "adult"), (6.0, "child")])
def test_face_is_pasted_at_the_size_of_its_distance(scenes, face, detector, distance, scale) -> None:
    frames = list(scenes.render(SceneSpec(distance, scale, face, seed=3, frames=2)))
    assert [f.index for f in frames] == [0, 1] and frames[1].t == pytest.approx(1 / 25)
    frame = frames[-1]
    assert frame.image.shape == (1080, 1920, 3)
    f = scenes.intrinsics.fx
    want_iod = f * SCALES[scale].iod_m / distance  # 29 px (adult at 3 m) / 12 px (child at 6 m)
    assert np.linalg.norm(frame.eyes[0] - frame.eyes[1]) == pytest.approx(want_iod, rel=1e-3)
    found = detector.detect(frame.image)  # the detector at full resolution finds it where and as big as placed
    iou = box_iou(np.array([frame.face_box]), found.boxes)[0]
    best = int(np.argmax(iou))
    assert iou[best] >= 0.5
    width, want = found.widths[best], frame.face_box[2] - frame.face_box[0]
    assert width == pytest.approx(want, rel=0.15)
    iod = np.linalg.norm(found.keypoints[best][0] - found.keypoints[best][1])
    assert iod == pytest.approx(want_iod, rel=0.2)
    # the body stands at the height of its distance (the feet are in view from ~3 m on a 1.2 m high camera)
    body_h = frame.body_box[3] - frame.body_box[1]
    assert body_h == pytest.approx(f * SCALES[scale].height_m / distance, rel=0.15)
    assert frame.distance_m == pytest.approx(distance, rel=0.05)


def test_hololens_like_camera(data_dir, face) -> None:
    """2272x1278 at 64.7 deg: a longer focal length, so the same person at the same distance is bigger."""
    holo = RangeScenes(data_dir, CAMERAS["hololens2"])
    frame = next(holo.render(SceneSpec(4.0, "child", face, seed=2, frames=1)))
    assert frame.image.shape == (1278, 2272, 3)
    assert holo.intrinsics.fx == pytest.approx(1136 / np.tan(np.radians(64.7 / 2)))
    want = holo.intrinsics.fx * SCALES["child"].iod_m / 4.0
    assert np.linalg.norm(frame.eyes[0] - frame.eyes[1]) == pytest.approx(want, rel=1e-3)


def test_scenes_are_deterministic_and_seeded(scenes, face) -> None:
    a = next(scenes.render(SceneSpec(4.0, "adult", face, seed=5, frames=1)))
    b = next(scenes.render(SceneSpec(4.0, "adult", face, seed=5, frames=1)))
    c = next(scenes.render(SceneSpec(4.0, "adult", face, seed=6, frames=1)))
    assert np.array_equal(a.image, b.image) and a.face_box == b.face_box
    assert not np.array_equal(a.image, c.image)


def test_bad_scene_requests_say_what_is_wrong(scenes, face, tmp_path) -> None:
    with pytest.raises(SceneError, match="unknown scale"):
        next(scenes.render(SceneSpec(3.0, "giant", face)))
    with pytest.raises(SceneError, match="at most"):
        next(scenes.render(SceneSpec(3.0, "adult", face, frames=500)))
    with pytest.raises(SceneError, match="shared data folder"):
        RangeScenes(tmp_path)


def test_a_scene_through_the_product_pipeline_is_scored_from_its_results(scenes, data_dir, tmp_path) -> None:
    """A probe photo of an enrolled person at 2 m: the product pipeline (today's settings) tracks, bumps and
    names her, nobody gets a wrong name, and the distance comes from the People Map."""
    import shutil

    from peoplelens.bench.range import ARMS, run_scenes
    from peoplelens.lens.pipeline import build_system
    from peoplelens.sim_harness.enrollment import enroll_folder

    for person in ("rose_leslie", "kit_harington", "bbt_howard"):  # a small gallery keeps the test fast
        shutil.copytree(data_dir / "faces" / "enroll" / person, tmp_path / person)
    rose = load_faces(data_dir / "faces" / "probe" / "rose_leslie")[0]
    with enroll_folder(tmp_path) as people:
        pipeline = build_system({}, people=people.store)
        try:
            rows = run_scenes(pipeline, ARMS["today"], scenes, [SceneSpec(2.0, "adult", rose, seed=1, frames=30)],
                              say=lambda s: None)
        finally:
            pipeline.close()
    row = rows[0]
    assert row["tracked"] and row["bump"] and row["face"] > 0.5
    assert row["known"] and row["named"] and not row["wrong"]
    assert abs(row["distance_err"]) < 0.3
    assert row["ms_per_frame"] > 0 and row["identity"] == "rose_leslie"


def test_composites_keep_their_photos_identity(scenes, data_dir) -> None:
    """A pasted face must still be the photo's person, or the range benchmark measures the compositing instead of
    the range: the cosine between a probe photo and its composite at 1 m. Tightly cropped probes (the BBT stills,
    john_shimkus) kept only 0.61-0.73 when the ellipse was shrunk to fit inside them: the body's own jaw and
    cheeks framed the probe's eyes and mouth."""
    fidelity = composite_fidelity(scenes, load_faces(data_dir / "faces" / "probe"))
    assert len(fidelity) >= 15
    assert min(fidelity.values()) >= 0.70, fidelity
    assert np.mean(list(fidelity.values())) >= 0.85


def test_the_range_product_is_told_the_camera_its_scenes_are_drawn_for(data_dir, tmp_path) -> None:
    """HoloLens-2-like scenes are drawn at 64.7 deg: the product must read them with that field of view (a user's
    ``[camera]`` names the camera), or a person 2 m away is put ~9 % nearer than the same person in 70-deg glasses'
    scenes. Told the camera, the distance does not depend on which camera drew the scene."""
    import shutil

    from peoplelens.bench.range import ARMS, product_config, run_scenes
    from peoplelens.lens.pipeline import build_system
    from peoplelens.sim_harness.enrollment import enroll_folder

    holo, glasses = CAMERAS["hololens2"], CAMERAS["glasses"]
    user = {"camera": {"fx": 900.0, "hfov_deg": 90.0}, "pipeline": {"faces_every": 2}}
    config = product_config(user, ARMS["today"], holo)
    assert config["camera"] == {"hfov_deg": 64.7} and config["pipeline"]["faces_every"] == 2
    shutil.copytree(data_dir / "faces" / "enroll" / "rose_leslie", tmp_path / "rose_leslie")
    rose = load_faces(data_dir / "faces" / "probe" / "rose_leslie")[0]
    errors = {}
    with enroll_folder(tmp_path) as people:
        for camera in (glasses, holo):
            pipeline = build_system(product_config({}, ARMS["today"], camera), people=people.store)
            try:
                row = run_scenes(pipeline, ARMS["today"], RangeScenes(data_dir, camera),
                                 [SceneSpec(2.0, "adult", rose, seed=1, frames=20)], say=lambda s: None)[0]
            finally:
                pipeline.close()
            errors[camera.hfov_deg] = row["distance_err"]
    assert abs(errors[64.7]) < 0.15 and abs(errors[70.0]) < 0.15, errors
    assert errors[64.7] == pytest.approx(errors[70.0], abs=0.04), errors  # read at 70 deg: 0.086 apart
