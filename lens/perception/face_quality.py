"""Face quality in 0..1: how much one face sighting should count as identity evidence.

Four factors, each a linear ramp clipped to 0..1, multiplied together:

* **size**: inter-ocular distance in pixels (ArcFace needs a face of roughly 40 px or more to be reliable);
* **blur**: :func:`sharpness` of the aligned 112x112 crop the embedder makes (the crop is at a fixed scale, so the
  number compares across face sizes; a small face upsampled to 112 px is blurred too, so this factor also sees the
  face's effective resolution);
* **frontalness**: the nose's sideways offset from the eye midpoint relative to the eye distance (0 for a
  frontal face, about 0.5 and more in profile), optionally combined with a head-pose yaw;
* **detector score**.

The product is strict on purpose: a tiny *or* blurred *or* profile face is weak evidence.

What the pipeline calls (two steps, so that a face too poor to count is never embedded):

1. before embedding, from what detection gives: ``face_qualities(keypoints, scores)`` (size, frontalness, score;
   blur unknown = 1) decides whether a face is worth embedding at all;
2. after ``FaceEmbedder.align`` (the crop it embeds anyway): ``face_quality(keypoints, score, aligned_crop=crop)``
   (or :func:`sharpness` once and ``sharpness=value``) is the quality the identity evidence is weighted with.
   Measuring the sharpness of a 112x112 crop costs ~0.05 ms.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import cv2
import numpy as np
from msgspec import Meta

#: The inner face of the 112x112 ArcFace-aligned crop (rows, columns): eyes to chin, cheek to cheek. Measuring
#: sharpness there keeps the crop's black fill (a face at the image edge) and the background out of it.
INNER_FACE = (slice(28, 104), slice(20, 92))


@dataclass(frozen=True)
class FaceQualityConfig:
    """Ramps (value at which a factor is 0, value at which it is 1) for each quality factor.

    Blur, from ``python -m peoplelens.bench.face_quality_accuracy`` (the probe photos' faces at 32-112 px in a
    640x480 frame, sharp or blurred, det_500m + norm_crop, against the enrolled people): with an inner-face
    sharpness of 40 and more the genuine cosine is intact (mean 0.72-0.81, none below 0.5); at 19-32 it has lost
    ~0.1 (mean 0.61-0.71, 3-18 % below 0.5); at 10-14 it is down to 0.44-0.55 (28-75 % below 0.5) and at 8 or
    less genuine and impostor cosines overlap. Sharp small faces are not penalised twice: 32 px faces measure 43
    (median) and keep a 0.72 mean. The Hamilton performer at nose offset -0.3 (three-quarter) still matches his
    photo at cosine 0.53, so frontalness only falls to 0 near profile (offset 0.7).
    """

    #: inter-ocular distance at which size quality is 0 (~15 px face)
    iod_min_px: Annotated[float, Meta(ge=0.0, le=1000.0)] = 6.0
    iod_good_px: Annotated[float, Meta(gt=0.0, le=1000.0)] = 22.0  # ... and 1 (~55 px face)
    #: inner-face sharpness of the 112x112 aligned crop: 0 below (a match is a guess)
    blur_min: Annotated[float, Meta(ge=0.0, le=10000.0)] = 8.0
    blur_good: Annotated[float, Meta(gt=0.0, le=10000.0)] = 40.0  # ... 1 above (genuine cosines intact)
    #: |nose offset| / eye distance up to which the face counts as frontal (1)
    nose_offset_ok: Annotated[float, Meta(ge=0.0, le=5.0)] = 0.15
    nose_offset_max: Annotated[float, Meta(gt=0.0, le=5.0)] = 0.7  # ... and at which frontalness is 0 (profile)
    #: head yaw at which frontalness is 0 (when a head pose is given)
    yaw_max_deg: Annotated[float, Meta(gt=0.0, le=180.0)] = 70.0
    score_min: Annotated[float, Meta(ge=0.0, le=1.0)] = 0.45  # detector score at which the score factor is 0
    score_good: Annotated[float, Meta(gt=0.0, le=1.0)] = 0.75  # ... and 1


@dataclass(frozen=True)
class FaceQuality:
    """One face's quality and its factors (all 0..1)."""

    quality: float
    size: float
    blur: float
    frontal: float
    score: float


def _ramp(value: float, lo: float, hi: float) -> float:
    return float(np.clip((value - lo) / max(hi - lo, 1e-9), 0.0, 1.0))


def inter_ocular_px(keypoints: np.ndarray) -> float:
    """Distance in pixels between the two eye keypoints of a (5, 2) keypoint array."""
    kps = np.asarray(keypoints, dtype=np.float32).reshape(5, 2)
    return float(np.linalg.norm(kps[1] - kps[0]))


def nose_offset(keypoints: np.ndarray) -> float:
    """Signed sideways offset of the nose from the eye midpoint, in units of the eye distance.

    0 for a frontal face; the sign says to which image side the nose points (+ = towards the second eye,
    image-right). Roll-invariant: the offset is measured along the eye line."""
    kps = np.asarray(keypoints, dtype=np.float32).reshape(5, 2)
    eye_vec = kps[1] - kps[0]
    d = float(np.linalg.norm(eye_vec))
    if d < 1e-6:
        return 1.0
    mid = (kps[0] + kps[1]) / 2
    return float((kps[2] - mid) @ eye_vec / (d * d))


def laplacian_variance(aligned_crop: np.ndarray) -> float:
    """Variance of the Laplacian of a whole BGR (or grey) crop: low = blurred."""
    crop = np.asarray(aligned_crop)
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def sharpness(aligned_crop: np.ndarray) -> float:
    """Variance of the Laplacian over the inner face (:data:`INNER_FACE`) of a 112x112 aligned crop: low =
    blurred (or a small face upsampled). The one sharpness measure of enrolment and identity evidence."""
    crop = np.asarray(aligned_crop)
    if crop.shape[:2] != (112, 112):
        raise ValueError(f"sharpness needs a 112x112 aligned crop, got {crop.shape[:2]}")
    return laplacian_variance(crop[INNER_FACE])


def face_quality(
    keypoints: np.ndarray,
    score: float,
    aligned_crop: np.ndarray | None = None,
    yaw_deg: float | None = None,
    config: FaceQualityConfig | None = None,
    sharpness_value: float | None = None,
) -> FaceQuality:
    """Quality of one face from its 5 keypoints, detector score, optional aligned crop (or its already measured
    ``sharpness_value``) and optional head yaw.

    Without a crop or a sharpness value the blur factor is 1 (unknown blur does not veto)."""
    c = config or FaceQualityConfig()
    size = _ramp(inter_ocular_px(keypoints), c.iod_min_px, c.iod_good_px)
    if sharpness_value is None and aligned_crop is not None:
        sharpness_value = sharpness(aligned_crop)
    blur = 1.0 if sharpness_value is None else _ramp(sharpness_value, c.blur_min, c.blur_good)
    frontal = 1.0 - _ramp(abs(nose_offset(keypoints)), c.nose_offset_ok, c.nose_offset_max)
    if yaw_deg is not None and np.isfinite(yaw_deg):
        frontal = min(frontal, 1.0 - _ramp(abs(float(yaw_deg)), 0.0, c.yaw_max_deg))
    sc = _ramp(float(score), c.score_min, c.score_good)
    return FaceQuality(quality=size * blur * frontal * sc, size=size, blur=blur, frontal=frontal, score=sc)


def face_qualities(
    keypoints: np.ndarray,
    scores: np.ndarray,
    aligned_crops: np.ndarray | None = None,
    yaws_deg: np.ndarray | None = None,
    config: FaceQualityConfig | None = None,
) -> np.ndarray:
    """Quality (N,) of N faces: keypoints (N, 5, 2), scores (N,), optional crops (N, 112, 112, 3), yaws (N,)."""
    kps = np.asarray(keypoints, dtype=np.float32).reshape(-1, 5, 2)
    out = np.zeros(len(kps), dtype=np.float32)
    for i in range(len(kps)):
        crop = None if aligned_crops is None else aligned_crops[i]
        yaw = None if yaws_deg is None else float(yaws_deg[i])
        out[i] = face_quality(kps[i], float(scores[i]), crop, yaw, config).quality
    return out
