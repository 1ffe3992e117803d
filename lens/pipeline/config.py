"""The ``[pipeline]`` section: what runs and how often."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PipelineConfig:
    """What runs and how often (the ``[pipeline]`` config section)."""

    face_model: str = "det_500m"  # det_500m is ~3x faster than det_2.5g at equal verification accuracy here
    face_max_side: int = 640  # network input longest side; larger reaches farther faces
    face_score_threshold: float = 0.5
    #: run the face detector (and everything that needs a face) every N frames; in between, tracks coast on their
    #: motion model. 2 halves the cost per frame (Hamilton: 20 vs 37 ms) for a name ~0.1 s later; 1 = every frame
    faces_every: int = 2
    people_detector: bool = True
    people_every: int = 3  # run the body detector on every Nth face-detection frame
    people_tiles: int | str = 0  # 0 = whole frame only; "auto" tiles wide frames for far people (costs 2-4x)
    embed_recheck_s: float = 2.0  # a decided track's face is embedded again this often (re-check)
    max_embed_per_frame: int = 2  # cap on faces embedded per frame, least recently embedded first (caps spikes)
    pose_gaze: bool = True
    visual_rotation: bool = True  # estimate head rotation from the video when there is no IMU
    coast_s: float = 0.25  # a confirmed track missed by the detectors this briefly is still reported in view
    #: include the blur of the aligned crop in face quality. Off: the crops of small faces are upscaled to 112 px,
    #: so their Laplacian variance is low however sharp the face is, and size is already a quality factor (with it
    #: on, none of the first 60 royal-opera frames gave identity evidence, without it 29 faces of 4 tracks did; the
    #: Hamilton performer is named at 3.17 s either way, from 10 instead of 35 embedded faces)
    quality_blur: bool = False
    #: helper threads that run independent stages beside the caller's thread (0 = all in the caller's thread);
    #: on 2 cores 1 cuts the time per frame from ~19 to ~12 ms (``peoplelens bench``) with identical results
    stage_threads: int = 1
    #: ONNX Runtime threads of the face detector's session (at most one per core; the other sessions keep one): it
    #: is the longest branch of a detection frame and the stage thread's branch beside it is short. On the frames
    #: that run the body detector beside it, a one-thread session of the same model runs instead
    face_detector_threads: int = 2
