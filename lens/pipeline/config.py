"""The ``[pipeline]`` section (what runs and how often) and the models the ``[models]`` set chooses."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Annotated, Any, Literal

from msgspec import Meta

from peoplelens.core.config import section
from peoplelens.models.face_detector import FaceDetectorOptions
from peoplelens.models.model_sets import ModelSet, configured_model_set


@dataclass(frozen=True)
class PipelineConfig:
    """What runs and how often (the ``[pipeline]`` config section)."""

    #: face detector (registry name); None = the ``[models]`` set's (research: det_500m, ~3x faster than det_2.5g
    #: at equal verification accuracy here; permissive: YuNet)
    face_model: Literal["det_500m", "det_2.5g", "yunet"] | None = None
    #: "fp32" or "int8" (variants made by `peoplelens assets quantize`) per model; None = $PEOPLELENS_PRECISION, else
    #: fp32. Measured (python -m peoplelens.bench.evaluate_int8): only the embedder's int8 stays within tolerance and
    #: it saves ~1 % of a frame here, so fp32 everywhere is the default
    face_precision: Literal["fp32", "int8"] | None = None
    embedder_precision: Literal["fp32", "int8"] | None = None
    people_precision: Literal["fp32", "int8"] | None = None
    #: the float embedder with its PRelu rewritten exactly (x + (1-a) relu(-x) as two depthwise 1x1 Convs): 2x
    #: faster, the same vectors (models.graph_rewrites)
    embedder_fast_prelu: bool = True
    face_max_side: Annotated[int, Meta(ge=160, le=4096)] = 640  # network input longest side; larger reaches farther
    face_score_threshold: Annotated[float, Meta(gt=0.0, lt=1.0)] | None = None  # None = the model set's
    #: run the face detector (and everything that needs a face) every N frames; in between, tracks coast on their
    #: motion model. 2 halves the cost per frame (Hamilton: 20 vs 37 ms) for a name ~0.1 s later; 1 = every frame
    faces_every: Annotated[int, Meta(ge=1, le=10)] = 2
    people_detector: bool = True
    #: adaptive schedule (battery): with nobody in view and the head still for ``idle_after_s`` the detectors run
    #: only every ``idle_every_s``; a detection, a head turn faster than ``idle_still_dps`` (deg/s), a view jump or
    #: a wearer's request (``LensSystem.wake``, full rate for ``wake_s``) brings the full rate back on the next frame.
    #: Worst case before a person stepping into view is bumped: idle_every_s + one frame (README "Battery")
    adaptive: bool = True
    idle_after_s: Annotated[float, Meta(ge=0.0, le=600.0)] = 2.0
    idle_every_s: Annotated[float, Meta(gt=0.0, le=2.0)] = 0.3
    #: idle: the video's head rotation (background corners) is estimated this often (an IMU covers every frame)
    idle_motion_every_s: Annotated[float, Meta(gt=0.0, le=2.0)] = 0.1
    idle_still_dps: Annotated[float, Meta(gt=0.0, le=1000.0)] = 10.0
    wake_s: Annotated[float, Meta(ge=0.0, le=3600.0)] = 10.0
    people_every: Annotated[int, Meta(ge=1, le=30)] = 3  # run the body detector on every Nth face-detection frame
    #: run it on the frame before that face frame (when ``faces_every`` > 1), its bodies joining the face frame's
    #: tracker update moved by the head rotation between (``BodiesStage``), so that the two detectors' costs fall on
    #: different frames (the first full-rate frame and idle frames run both on one frame)
    bodies_before_faces: bool = True
    #: 0 = whole frame only; "auto" tiles wide frames for far people (costs 2-4x)
    people_tiles: Literal["auto"] | Annotated[int, Meta(ge=0, le=9)] = 0
    embed_recheck_s: Annotated[float, Meta(gt=0.0, le=60.0)] = 2.0  # a decided track's face is embedded again so often
    #: cap on faces embedded per frame for identity, least recently embedded first (caps spikes; the tracker's
    #: own embeddings to settle contests, [tracking] contested_faces, come on top)
    max_embed_per_frame: Annotated[int, Meta(ge=1, le=16)] = 2
    pose_gaze: bool = True
    visual_rotation: bool = True  # estimate head rotation from the video when there is no IMU
    #: a confirmed track missed by the detectors this briefly is still reported in view
    coast_s: Annotated[float, Meta(ge=0.0, le=5.0)] = 0.25
    #: include the blur of the aligned crop in face quality. Off: the crops of small faces are upscaled to 112 px,
    #: so their Laplacian variance is low however sharp the face is, and size is already a quality factor (with it
    #: on, none of the first 60 royal-opera frames gave identity evidence, without it 29 faces of 4 tracks did; the
    #: Hamilton performer is named at 3.17 s either way, from 10 instead of 35 embedded faces)
    quality_blur: bool = False
    #: helper threads that run independent stages beside the caller's thread (0 = all in the caller's thread);
    #: on 2 cores 1 cuts the time per frame from ~19 to ~12 ms (``peoplelens bench``) with identical results
    stage_threads: Annotated[int, Meta(ge=0, le=8)] = 1
    #: ONNX Runtime threads of the face detector's session (at most one per core; the body detector's gets the same
    #: when it may run on the light frames, ``bodies_before_faces``; the other sessions keep one): it
    #: is the longest branch of a detection frame and the stage thread's branch beside it is short. On the frames
    #: that run the two detectors side by side, one-thread sessions of the same models run instead
    face_detector_threads: Annotated[int, Meta(ge=1, le=16)] = 2
    #: frame clock: a step forward up to this long is time that really passed (a stalled camera, a network outage);
    #: a longer leap (a damaged stamp such as t = 1e9) starts a new epoch: a cut, the timers keep their place
    clock_max_gap_s: Annotated[float, Meta(gt=0.0, le=3600.0)] = 30.0
    #: a step back up to this long is jitter (the time is held); a longer one (a camera restart, a looping video)
    #: starts a new epoch
    clock_max_backstep_s: Annotated[float, Meta(ge=0.0, le=10.0)] = 0.1


def face_detector_options(config: dict[str, Any], models: ModelSet | None = None) -> FaceDetectorOptions:
    """The video face detector's options: the ``[models]`` set's detector and thresholds, with the ``[pipeline]``
    section's ``face_model`` / ``face_score_threshold`` / ``face_max_side`` where set."""
    pc = section(config, "pipeline", PipelineConfig)
    ms = models or configured_model_set(config)
    options = FaceDetectorOptions(model=ms.face_detector, max_side=pc.face_max_side,
                                  score_threshold=ms.face_score_threshold, nms_iou=ms.face_nms_iou,
                                  precision=pc.face_precision)
    if pc.face_model is not None:
        options = replace(options, model=pc.face_model)
    if pc.face_score_threshold is not None:
        options = replace(options, score_threshold=pc.face_score_threshold)
    return options
