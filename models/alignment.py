"""5-point face alignment to the ArcFace 112x112 template (what insightface's ``face_align.norm_crop`` and
OpenCV's ``FaceRecognizerSF.alignCrop`` do), so the embedders need no insightface or scikit-image.

The transform is the least-squares similarity (rotation, uniform scale, translation) from the detector's
five keypoints to the template, solved in closed form by Umeyama's method (IEEE PAMI 13(4), 1991) — the
same estimate scikit-image's ``SimilarityTransform.estimate`` makes for insightface; a test checks that the
matrices and crops equal insightface's.
"""

from __future__ import annotations

import cv2
import numpy as np

#: Where the eyes, nose tip and mouth corners land in a 112x112 crop (image-left eye first), shared by
#: insightface's ArcFace models and OpenCV Zoo's SFace.
ARCFACE_TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float32,
)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2x3 similarity matrix that maps points ``src`` (N, 2) onto ``dst`` (N, 2) in the least-squares
    sense (Umeyama, eqs. 38-43); reflections are never produced.

    Arithmetic stays in the points' own precision (float32 keypoints: float32 sums), as scikit-image's does,
    so the crops are bit-identical to insightface's and every threshold calibrated on them still holds."""
    src, dst = np.asarray(src), np.asarray(dst)
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_centred, dst_centred = src - src_mean, dst - dst_mean
    covariance = dst_centred.T @ src_centred / len(src)
    signs = np.ones(2)
    if np.linalg.det(covariance) < 0:
        signs[1] = -1.0
    u, singular, vt = np.linalg.svd(covariance)
    rank = int(np.count_nonzero(singular > singular.max() * 2 * np.finfo(float).eps))
    if rank == 0:  # all points coincide: no rotation or scale can be told; move them onto the target's centre
        matrix = np.zeros((2, 3))
        matrix[:, 2] = dst_mean
        return matrix
    if rank == 1 and np.linalg.det(u) * np.linalg.det(vt) <= 0:
        rotation = u @ np.diag([1.0, -1.0]) @ vt
    elif rank == 1:
        rotation = u @ vt
    else:
        rotation = u @ np.diag(signs) @ vt
    scale = 1.0 / src_centred.var(axis=0).sum() * (singular @ signs)
    matrix = np.empty((2, 3))
    matrix[:, 2] = dst_mean - scale * (rotation @ src_mean)
    matrix[:, :2] = rotation * scale
    return matrix


def alignment_matrix(keypoints: np.ndarray, image_size: int = 112) -> np.ndarray:
    """The 2x3 matrix taking a face's 5 keypoints (5, 2) to the ArcFace template scaled to ``image_size``
    (a multiple of 112)."""
    keypoints = np.asarray(keypoints, dtype=np.float32).reshape(5, 2)
    if image_size % 112:
        raise ValueError(f"aligned crops are 112 px or a multiple of it, got {image_size}")
    return similarity_transform(keypoints, ARCFACE_TEMPLATE * (float(image_size) / 112.0))


def align_face(image: np.ndarray, keypoints: np.ndarray, image_size: int = 112) -> np.ndarray:
    """The ``image_size`` square crop of one face aligned by its 5 keypoints (bilinear, black outside)."""
    matrix = alignment_matrix(keypoints, image_size)
    return cv2.warpAffine(image, matrix, (image_size, image_size), flags=cv2.INTER_LINEAR, borderValue=0.0)
