"""MediaPipe FaceMesh (468 3-D landmarks + face presence) and iris landmarks, plus head pose by solvePnP.

Preprocessing follows ``shared/models/MANIFEST.md`` §6-7 (which follow mediapipe's ``face_landmark_cpu`` and
``iris_landmark_cpu`` graphs):

* FaceMesh: a square ROI centred on the face box, side 1.5 x max(w, h), rotated so the detector's two eye
  keypoints are level; 192x192 RGB in [0, 1]. Landmarks come back in crop pixels and are mapped to the image
  with the inverse affine (z is scaled the same as x, y).
* Iris: per eye, a square ROI centred between the FaceMesh eye corners (33, 133) or (362, 263), side 2.3 x
  their distance, rotated level; 64x64 RGB in [0, 1]. The (362, 263) eye is flipped horizontally before
  inference and the outputs un-flipped, so both eyes reach the network outer-corner-left.
* Head pose: ``cv2.solvePnP`` of the 468 landmarks against MediaPipe's canonical face (``canonical_face_model
  .obj``, cm), with K from given intrinsics or f = max(W, H), principal point = image centre.

Angles from PnP are relative to the camera's **optical axis** (a face at the image edge that looks at the
camera has a non-zero yaw), in the project convention of :mod:`peoplelens.models.head_pose`: yaw + = face turned toward
image-right, pitch + = head up, roll + = top of the head toward image-right.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from peoplelens.models.assets import AssetManager, default_manager
from peoplelens.models.errors import AssetError
from peoplelens.models.images import ensure_bgr
from peoplelens.models.tflite import TFLiteConfig, TFLiteModel, load_tflite

#: FaceMesh eye-corner landmark pairs: (outer 33, inner 133) on the image-left eye, (inner 362, outer 263).
EYE_CORNERS = ((33, 133), (362, 263))
MESH_INPUT, MESH_LANDMARKS, MESH_PRESENCE = "input_1", "conv2d_21", "conv2d_31"
IRIS_INPUT, IRIS_CONTOURS, IRIS_OUTPUT = "input_1", "output_eyes_contours_and_brows", "output_iris"


@dataclass
class FaceMeshResult:
    """One face's mesh, presence, iris and PnP head pose (all positions in image pixels)."""

    landmarks: np.ndarray  # (468, 3): x, y image px; z in the same pixel scale (smaller = nearer the camera)
    presence: float  # sigmoid of the face-presence logit, 0..1
    iris_centers: np.ndarray | None = None  # (2, 2): image-left eye, image-right eye
    iris_position: np.ndarray | None = None  # (2,): along the corner axis 33->133 / 362->263, 0..1 (image-left..right)
    iris_vertical: np.ndarray | None = None  # (2,): offset across the axis / corner distance, + = down in the image
    yaw: float | None = None  # PnP head pose, degrees, relative to the optical axis (project convention)
    pitch: float | None = None
    roll: float | None = None
    rvec: np.ndarray | None = None
    tvec: np.ndarray | None = None  # face origin in camera coordinates (canonical-model cm)
    extra: dict = field(default_factory=dict)

    @property
    def inter_ocular_px(self) -> float:
        """Distance between the outer eye corners (33, 263) in image pixels."""
        return float(np.linalg.norm(self.landmarks[33, :2] - self.landmarks[263, :2]))


def rotated_square_affine(center: np.ndarray, angle_rad: float, side: float, out_size: int) -> np.ndarray:
    """The 2x3 affine image -> crop for a square of ``side`` px centred on ``center``, whose x axis points along
    ``angle_rad`` (image coordinates, y down), resampled to ``out_size`` px."""
    s = out_size / max(side, 1e-6)
    c, si = math.cos(angle_rad), math.sin(angle_rad)
    rot = np.array([[c, si], [-si, c]]) * s  # R^T scaled: image offsets -> crop offsets
    offset = np.array([out_size / 2, out_size / 2]) - rot @ np.asarray(center, np.float64)
    return np.hstack([rot, offset[:, None]])


def _warp(image: np.ndarray, m: np.ndarray, size: int) -> np.ndarray:
    return cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def _apply_inverse(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    inv = cv2.invertAffineTransform(m)
    return pts @ inv[:, :2].T + inv[:, 2]


@cache
def load_canonical_face(path: str) -> np.ndarray:
    """The canonical face model's 468 vertices (cm) from a Wavefront OBJ (``v x y z`` lines)."""
    try:
        lines = Path(path).read_text().splitlines()
        verts = np.array([ln.split()[1:4] for ln in lines if ln.startswith("v ")], dtype=np.float64)
    except (OSError, ValueError) as exc:
        raise AssetError(f"cannot read the canonical face model {path}: {exc}") from exc
    if verts.shape != (468, 3):
        raise AssetError(f"{path}: expected 468 vertices, found {verts.shape[0]}")
    return verts


def camera_matrix(width: int, height: int, focal_px: float | None = None) -> np.ndarray:
    """Pin-hole intrinsics: f = ``focal_px`` or max(W, H), principal point at the image centre."""
    f = float(focal_px or max(width, height))
    return np.array([[f, 0, width / 2], [0, f, height / 2], [0, 0, 1]], np.float64)


def rotation_to_angles(rmat: np.ndarray) -> tuple[float, float, float]:
    """Project-convention (yaw, pitch, roll) in degrees, relative to the optical axis, from a model->camera
    rotation (canonical model: x = face's image-right for a frontal face, y up, z out of the face)."""
    fwd = rmat @ np.array([0.0, 0.0, 1.0])  # face direction in camera coords (camera: x right, y down, z ahead)
    up = rmat @ np.array([0.0, 1.0, 0.0])
    yaw = math.degrees(math.atan2(fwd[0], -fwd[2]))
    pitch = math.degrees(math.atan2(-fwd[1], math.hypot(fwd[0], fwd[2])))
    roll = math.degrees(math.atan2(up[0], -up[1]))
    return yaw, pitch, roll


@dataclass(frozen=True)
class FaceMeshOptions:
    """Options for FaceMesh + iris."""

    roi_scale: float = 1.5  # FaceMesh ROI side / max(box w, h)
    iris_roi_scale: float = 2.3  # iris ROI side / eye-corner distance
    run_iris: bool = True
    run_pnp: bool = True
    tflite: TFLiteConfig = field(default_factory=TFLiteConfig.from_env)


class FaceMesh:
    """FaceMesh + iris + PnP: ``process(bgr, box, eye_keypoints) -> FaceMeshResult``."""

    def __init__(self, mesh: TFLiteModel, iris: TFLiteModel | None, canonical: np.ndarray,
                 options: FaceMeshOptions) -> None:
        mesh.require({MESH_INPUT: (1, 192, 192, 3)}, (MESH_LANDMARKS, MESH_PRESENCE), "face_landmark")
        if iris is not None:
            iris.require({IRIS_INPUT: (1, 64, 64, 3)}, (IRIS_OUTPUT, IRIS_CONTOURS), "iris_landmark")
        self.mesh, self.iris, self.canonical, self.options = mesh, iris, canonical, options

    @classmethod
    def from_registry(cls, options: FaceMeshOptions | None = None, manager: AssetManager | None = None) -> FaceMesh:
        """Load ``face_landmark``, ``iris_landmark`` (when ``run_iris``) and ``canonical_face_model``."""
        options = options or FaceMeshOptions()
        manager = manager or default_manager()
        mesh = load_tflite(manager.path("face_landmark"), options.tflite)
        iris = load_tflite(manager.path("iris_landmark"), options.tflite) if options.run_iris else None
        canonical = load_canonical_face(str(manager.path("canonical_face_model")))
        return cls(mesh, iris, canonical, options)

    # --- FaceMesh ---------------------------------------------------------------------------------------------
    def mesh_affine(self, box: np.ndarray, eyes: np.ndarray) -> np.ndarray:
        """Image -> 192 px crop affine for a face box (4,) and its two eye keypoints (2, 2) (image-left first)."""
        x1, y1, x2, y2 = np.asarray(box, np.float64)
        d = np.asarray(eyes, np.float64)[1] - np.asarray(eyes, np.float64)[0]
        angle = math.atan2(d[1], d[0])
        side = self.options.roi_scale * max(x2 - x1, y2 - y1)
        return rotated_square_affine(np.array([(x1 + x2) / 2, (y1 + y2) / 2]), angle, side, 192)

    def landmarks(self, image: np.ndarray, box: np.ndarray, eyes: np.ndarray) -> tuple[np.ndarray, float]:
        """(468, 3) landmarks in image pixels and the face presence (0..1) for one face."""
        m = self.mesh_affine(box, eyes)
        crop = _warp(image, m, 192)
        blob = (crop[..., ::-1].astype(np.float32) / 255.0)[None]
        out = self.mesh.run({MESH_INPUT: blob})
        pts = out[MESH_LANDMARKS].reshape(468, 3).astype(np.float64)
        presence = 1.0 / (1.0 + math.exp(-float(out[MESH_PRESENCE].reshape(-1)[0])))
        scale = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
        xy = _apply_inverse(m, pts[:, :2])
        return np.column_stack([xy, pts[:, 2] / scale]).astype(np.float32), presence

    # --- iris -------------------------------------------------------------------------------------------------
    def iris_centers(self, image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """Iris centres (2, 2) in image pixels for the image-left eye (33/133) and the image-right eye."""
        if self.iris is None:
            raise ValueError("iris model not loaded (FaceMeshOptions.run_iris=False)")
        centers = np.zeros((2, 2), np.float64)
        for k, (a, b) in enumerate(EYE_CORNERS):
            pa, pb = landmarks[a, :2].astype(np.float64), landmarks[b, :2].astype(np.float64)
            d = pb - pa
            side = self.options.iris_roi_scale * float(np.linalg.norm(d))
            m = rotated_square_affine((pa + pb) / 2, math.atan2(d[1], d[0]), side, 64)
            crop = _warp(image, m, 64)
            flip = k == 1
            if flip:
                crop = crop[:, ::-1]
            blob = (crop[..., ::-1].astype(np.float32) / 255.0)[None]
            iris = self.iris.run({IRIS_INPUT: np.ascontiguousarray(blob)})[IRIS_OUTPUT].reshape(5, 3)
            c = iris[0, :2].astype(np.float64)
            if flip:
                c[0] = 64.0 - c[0]
            centers[k] = _apply_inverse(m, c[None])[0]
        return centers.astype(np.float32)

    @staticmethod
    def iris_offsets(landmarks: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each iris centre along its corner axis (0 = corner 33/362, 1 = corner 133/263) and across it
        (signed distance / corner distance, + = below the axis in the image)."""
        along, across = np.zeros(2, np.float32), np.zeros(2, np.float32)
        for k, (a, b) in enumerate(EYE_CORNERS):
            pa, pb = landmarks[a, :2].astype(np.float64), landmarks[b, :2].astype(np.float64)
            d = pb - pa
            n2 = max(float(d @ d), 1e-9)
            v = centers[k] - pa
            along[k] = float(v @ d) / n2
            across[k] = float(d[0] * v[1] - d[1] * v[0]) / n2
        return along, across

    # --- head pose --------------------------------------------------------------------------------------------
    def solve_pose(self, landmarks: np.ndarray, image_size: tuple[int, int],
                   intrinsics: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray] | None:
        """``cv2.solvePnP`` of the landmarks against the canonical face; (rvec, tvec) or None when it fails."""
        k = intrinsics if intrinsics is not None else camera_matrix(*image_size)
        ok, rvec, tvec = cv2.solvePnP(self.canonical, landmarks[:, :2].astype(np.float64), k, None,
                                      flags=cv2.SOLVEPNP_ITERATIVE)
        return (rvec, tvec) if ok else None

    def process(self, image: np.ndarray, box: np.ndarray, eyes: np.ndarray,
                intrinsics: np.ndarray | None = None) -> FaceMeshResult:
        """Landmarks, presence, iris (when enabled) and PnP pose for one face box with its two eye keypoints."""
        image = ensure_bgr(image)
        lms, presence = self.landmarks(image, box, eyes)
        result = FaceMeshResult(landmarks=lms, presence=presence)
        if self.iris is not None:
            result.iris_centers = self.iris_centers(image, lms)
            result.iris_position, result.iris_vertical = self.iris_offsets(lms, result.iris_centers)
        if self.options.run_pnp:
            pose = self.solve_pose(lms, (image.shape[1], image.shape[0]), intrinsics)
            if pose is not None:
                result.rvec, result.tvec = pose
                result.yaw, result.pitch, result.roll = rotation_to_angles(cv2.Rodrigues(pose[0])[0])
        return result
