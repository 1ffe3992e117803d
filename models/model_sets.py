"""Model sets: which face detector, face embedder, person detector and head-pose model run together, the
identity thresholds calibrated for that embedder, and the licence of the whole set. One setting chooses::

    [models]
    set = "permissive"   # or "research" (the default)

``research`` uses InsightFace's SCRFD + ArcFace weights: **non-commercial research only**, so a school or a
charity cannot deploy it. ``permissive`` uses YuNet (MIT / Apache-2.0) and OpenCV Zoo's SFace (Apache-2.0)
with MediaPipe FaceMesh + PnP for head pose (Apache-2.0); YOLOX-Nano (Apache-2.0) finds bodies in both.
Cosine similarities of two embedders are not comparable, so each set carries its own thresholds
(``python -m peoplelens.models.evaluate_faces --set NAME`` measures them; see the README).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

from peoplelens.core.config import ConfigError, section


@dataclass(frozen=True)
class IdentityThresholds:
    """Cosine thresholds for one embedder."""

    verify: float  # one-shot verification of two photos (enrolment feedback, evaluate_faces)
    accept: float  # IdentityConfig.accept_threshold: quality-weighted mean needed to confirm a name
    reject: float  # IdentityConfig.reject_threshold: per-frame best below this = matches nobody enrolled
    margin: float  # IdentityConfig.margin over the second-best name
    reid: float  # TrackerConfig.reid_threshold: face-gallery cosine to give a lost track its id back


@dataclass(frozen=True)
class ModelSet:
    """The models that run together and what they may be used for."""

    name: str
    face_detector: str  # registry name
    face_score_threshold: float
    face_nms_iou: float
    embedder: str  # registry name
    person_detector: str  # registry name
    head_pose: Literal["fsanet", "facemesh"]  # FaceAttributeOptions.pose_source (facemesh needs use_mesh)
    thresholds: IdentityThresholds
    commercial_use: bool
    licence: str

    @property
    def assets(self) -> tuple[str, ...]:
        """Registry names of every model file the set needs."""
        pose = ("fsanet_1x1", "fsanet_var") if self.head_pose == "fsanet" else (
            "face_landmark", "iris_landmark", "canonical_face_model")
        return (self.face_detector, self.embedder, self.person_detector, *pose)


MODEL_SETS: dict[str, ModelSet] = {
    "research": ModelSet(
        name="research",
        face_detector="det_500m", face_score_threshold=0.5, face_nms_iou=0.4,
        embedder="arcface_mobileface128",
        person_detector="yolox_nano",
        head_pose="fsanet",
        # accept: the open-set benchmark (python -m peoplelens.bench.openset): 0.10 above the sample's closest
        # stranger track (0.40) and above the held-out look-alikes (0.46); verify/reject: photo pairs
        # (impostor max 0.291, genuine min 0.415); reid = accept + 0.05: giving a lost track's id back also gives
        # back its name, so it must be at least as sure as naming
        thresholds=IdentityThresholds(verify=0.35, accept=0.50, reject=0.30, margin=0.08, reid=0.55),
        commercial_use=False,
        licence="non-commercial research only: InsightFace SCRFD + ArcFace weights; FSA-Net weights MIT "
                "(its training data has research terms)",
    ),
    "permissive": ModelSet(
        name="permissive",
        face_detector="yunet", face_score_threshold=0.6, face_nms_iou=0.3,
        embedder="sface",
        person_detector="yolox_nano",
        head_pose="facemesh",
        # verify: OpenCV Zoo's published SFace cosine threshold (0.363, measured on LFW by its authors). accept /
        # reject by the research set's rule (`python -m peoplelens.bench.thresholds --model yunet --embedder
        # sface`): impostor max 0.350 (pairs + LFW + best other name) + 0.10, and impostor p99 0.327; reid = accept
        # + 0.05 as there
        thresholds=IdentityThresholds(verify=0.363, accept=0.45, reject=0.33, margin=0.08, reid=0.50),
        commercial_use=True,
        licence="permissive end to end: YuNet MIT / Apache-2.0, SFace Apache-2.0, YOLOX-Nano Apache-2.0, "
                "MediaPipe FaceMesh + iris Apache-2.0",
    ),
}
DEFAULT_MODEL_SET: Final = "research"


@dataclass(frozen=True)
class ModelsConfig:
    """``[models]`` config section: which model set runs."""

    set: Literal["research", "permissive"] = DEFAULT_MODEL_SET


def model_set(name: str = DEFAULT_MODEL_SET) -> ModelSet:
    """The model set called ``name`` ("research" or "permissive")."""
    try:
        return MODEL_SETS[name]
    except KeyError:
        raise ConfigError(f"no model set {name!r}; choose one of {', '.join(MODEL_SETS)}") from None


def configured_model_set(config: dict[str, Any] | None = None) -> ModelSet:
    """The set named by the ``[models]`` section of a loaded configuration (the default when absent)."""
    return model_set(section(config or {}, "models", ModelsConfig).set)
