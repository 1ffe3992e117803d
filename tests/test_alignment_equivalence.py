"""Our 5-point alignment and SCRFD decode equal insightface's (which they replace in the base install).

Needs the ``baseline`` extra (insightface), which the test command installs: ``pytest -m baseline``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from peoplelens.models.alignment import align_face, alignment_matrix
from peoplelens.models.face_detector import (
    FaceDetectorOptions,
    ScrfdDetector,
    create_face_detector,
    distances_to_boxes,
    offsets_to_keypoints,
)
from peoplelens.models.images import letterbox, load_image, nchw_blob

pytestmark = pytest.mark.baseline


def _photos(data_dir: Path) -> list[Path]:
    group = sorted((data_dir / "faces/group").glob("*.jpg"))
    enrol = sorted((data_dir / "faces/enroll").glob("*/*.jpg"))[::6]
    return group + enrol


def test_alignment_equals_insightface_norm_crop(data_dir: Path) -> None:
    from insightface.utils import face_align

    detector = create_face_detector(FaceDetectorOptions(model="det_2.5g", pad_retry=True))
    faces_checked = 0
    worst_matrix, worst_pixel, differing = 0.0, 0, 0
    for path in _photos(data_dir):
        image = load_image(path)
        for keypoints in detector.detect(image).keypoints:
            with warnings.catch_warnings():  # scikit-image deprecates the estimate() insightface calls
                warnings.simplefilter("ignore", FutureWarning)
                theirs_matrix = face_align.estimate_norm(keypoints, 112)
                theirs = face_align.norm_crop(image, keypoints, 112)
            ours = align_face(image, keypoints, 112)
            worst_matrix = max(worst_matrix, float(np.abs(alignment_matrix(keypoints) - theirs_matrix).max()))
            diff = np.abs(ours.astype(int) - theirs.astype(int))
            worst_pixel = max(worst_pixel, int(diff.max()))
            differing += int(np.count_nonzero(diff))
            faces_checked += 1
    assert faces_checked >= 40, faces_checked
    assert worst_matrix == 0.0, worst_matrix
    assert differing == 0, (worst_pixel, differing)


def test_scrfd_decode_equals_insightface(data_dir: Path) -> None:
    from insightface.model_zoo.scrfd import distance2bbox, distance2kps

    detector = ScrfdDetector.from_registry(FaceDetectorOptions(model="det_500m"))
    image = load_image(data_dir / "faces/group/ensemble_cast_t1.jpg")
    h, w = image.shape[:2]
    cw, ch = detector.canvas_size(w, h)
    canvas, _ = letterbox(image, (cw, ch), detector.spec.preprocess.pad_value)
    blob = nchw_blob(canvas, detector.spec.preprocess)
    outs = detector.session.run(detector.output_names, {detector.input_name: blob})
    n = len(detector.STRIDES)
    for i, stride in enumerate(detector.STRIDES):  # every anchor, not only the confident ones
        centers = detector._anchor_centers(ch, cw, stride)
        distances = outs[i + n].reshape(-1, 4) * stride
        offsets = outs[i + 2 * n].reshape(-1, 10) * stride
        np.testing.assert_array_equal(distances_to_boxes(centers, distances), distance2bbox(centers, distances))
        np.testing.assert_array_equal(offsets_to_keypoints(centers, offsets), distance2kps(centers, offsets))
