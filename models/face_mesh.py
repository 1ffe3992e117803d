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
import threading
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
    #: (2, 16, 2) the iris model's eye contour per eye, image px: 0 = the outer corner (temple side), 1-7 the
    #: lower lid from outer to inner, 8 = the inner corner (nose side), 9-15 the upper lid from outer to inner
    #: (both eyes, checked on a drawing: the model sees every eye outer-corner-left)
    eye_contours: np.ndarray | None = None
    iris_radius_px: np.ndarray | None = None  # (2,): mean distance of the 4 iris boundary points from the centre
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
    #: eye-corner distance / distance between the detector's two eye keypoints (median 0.45 over the 203 faces of
    #: the annotated samples, 10-90 % 0.41-0.50), for eye ROIs made from the keypoints without FaceMesh
    eye_width_per_keypoint_distance: float = 0.45
    run_mesh: bool = True
    run_iris: bool = True
    run_pnp: bool = True
    tflite: TFLiteConfig = field(default_factory=TFLiteConfig.from_env)


@dataclass
class EyeLandmarks:
    """The iris model's output for both eyes of one face, image pixels, image-left eye first."""

    iris_centers: np.ndarray  # (2, 2)
    contours: np.ndarray  # (2, 16, 2), see FaceMeshResult.eye_contours
    iris_radius_px: np.ndarray  # (2,)


class FaceMesh:
    """FaceMesh + iris + PnP: ``process(bgr, box, eye_keypoints) -> FaceMeshResult``; the iris model alone on eye
    regions from the detector's keypoints: ``eyes_from_keypoints(bgr, eye_keypoints) -> EyeLandmarks``."""

    def __init__(self, mesh: TFLiteModel | None, iris: TFLiteModel | None, canonical: np.ndarray | None,
                 options: FaceMeshOptions) -> None:
        if mesh is not None:
            mesh.require({MESH_INPUT: (1, 192, 192, 3)}, (MESH_LANDMARKS, MESH_PRESENCE), "face_landmark")
        if iris is not None:
            iris.require({IRIS_INPUT: (1, 64, 64, 3)}, (IRIS_OUTPUT, IRIS_CONTOURS), "iris_landmark")
        self.mesh, self.iris, self.canonical, self.options = mesh, iris, canonical, options
        self._owner = threading.get_ident()  # this thread uses mesh / iris; any other thread its own clones
        self._local = threading.local()

    def _thread_model(self, model: TFLiteModel) -> TFLiteModel:
        """``model`` in the thread that built this object; a clone of it kept per thread elsewhere (a TFLite
        interpreter runs in one thread at a time, so the stages may read eyes on both threads at once)."""
        if threading.get_ident() == self._owner:
            return model
        clones: dict[int, TFLiteModel] = self._local.__dict__.setdefault("clones", {})
        if id(model) not in clones:
            clones[id(model)] = model.clone()
        return clones[id(model)]

    @classmethod
    def from_registry(cls, options: FaceMeshOptions | None = None, manager: AssetManager | None = None) -> FaceMesh:
        """Load ``face_landmark`` + ``canonical_face_model`` (when ``run_mesh``) and ``iris_landmark`` (when
        ``run_iris``)."""
        options = options or FaceMeshOptions()
        manager = manager or default_manager()
        mesh = load_tflite(manager.path("face_landmark"), options.tflite) if options.run_mesh else None
        iris = load_tflite(manager.path("iris_landmark"), options.tflite) if options.run_iris else None
        canonical = load_canonical_face(str(manager.path("canonical_face_model"))) if options.run_mesh else None
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
        if self.mesh is None:
            raise ValueError("FaceMesh model not loaded (FaceMeshOptions.run_mesh=False)")
        m = self.mesh_affine(box, eyes)
        crop = _warp(image, m, 192)
        blob = (crop[..., ::-1].astype(np.float32) / 255.0)[None]
        out = self._thread_model(self.mesh).run({MESH_INPUT: blob})
        pts = out[MESH_LANDMARKS].reshape(468, 3).astype(np.float64)
        presence = 1.0 / (1.0 + math.exp(-float(out[MESH_PRESENCE].reshape(-1)[0])))
        scale = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
        xy = _apply_inverse(m, pts[:, :2])
        return np.column_stack([xy, pts[:, 2] / scale]).astype(np.float32), presence

    # --- iris -------------------------------------------------------------------------------------------------
    def iris_centers(self, image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """Iris centres (2, 2) in image pixels for the image-left eye (33/133) and the image-right eye."""
        return self.eyes(image, landmarks)[0]

    def eyes(self, image: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The iris model on both eyes, ROIs from the FaceMesh eye corners (mediapipe's way): iris centres (2, 2),
        eye contours (2, 16, 2) (see :attr:`FaceMeshResult.eye_contours`) and iris radii (2,), image pixels."""
        rois = []
        for a, b in EYE_CORNERS:
            pa, pb = landmarks[a, :2].astype(np.float64), landmarks[b, :2].astype(np.float64)
            d = pb - pa
            rois.append(((pa + pb) / 2, math.atan2(d[1], d[0]), self.options.iris_roi_scale * float(np.linalg.norm(d))))
        out = self.run_iris(image, rois)
        return out.iris_centers, out.contours, out.iris_radius_px

    def eyes_from_keypoints(self, image: np.ndarray, eye_keypoints: np.ndarray) -> EyeLandmarks:
        """The iris model on both eyes without FaceMesh: each eye ROI is centred on the detector's eye keypoint,
        rotated to the keypoint line, side = ``iris_roi_scale`` x the expected eye-corner distance
        (``eye_width_per_keypoint_distance`` x the keypoint distance). Half the cost of FaceMesh + iris."""
        kps = np.asarray(eye_keypoints, np.float64).reshape(2, 2)
        d = kps[1] - kps[0]
        angle = math.atan2(d[1], d[0])
        side = self.options.iris_roi_scale * self.options.eye_width_per_keypoint_distance * float(np.linalg.norm(d))
        return self.run_iris(ensure_bgr(image), [(kps[0], angle, side), (kps[1], angle, side)])

    def run_iris(self, image: np.ndarray, rois: list[tuple[np.ndarray, float, float]]) -> EyeLandmarks:
        """The iris model on two eye ROIs ``(centre, angle of the image-left -> image-right axis, side)``, the
        image-left eye first; the image-right eye is flipped so both reach the network outer-corner-left."""
        if self.iris is None:
            raise ValueError("iris model not loaded (FaceMeshOptions.run_iris=False)")
        iris_model = self._thread_model(self.iris)
        centers, contours, radii = np.zeros((2, 2)), np.zeros((2, 16, 2)), np.zeros(2)
        for k, (center, angle, side) in enumerate(rois):
            m = rotated_square_affine(np.asarray(center, np.float64), angle, max(side, 1.0), 64)
            crop = _warp(image, m, 64)
            flip = k == 1
            if flip:
                crop = crop[:, ::-1]
            blob = (crop[..., ::-1].astype(np.float32) / 255.0)[None]
            out = iris_model.run({IRIS_INPUT: np.ascontiguousarray(blob)})
            iris = out[IRIS_OUTPUT].reshape(5, 3)[:, :2].astype(np.float64)
            contour = out[IRIS_CONTOURS].reshape(71, 3)[:16, :2].astype(np.float64)
            if flip:
                iris[:, 0] = 64.0 - iris[:, 0]
                contour[:, 0] = 64.0 - contour[:, 0]
            iris_img = _apply_inverse(m, iris)
            centers[k] = iris_img[0]
            radii[k] = float(np.linalg.norm(iris_img[1:] - iris_img[0], axis=1).mean())
            contours[k] = _apply_inverse(m, contour)
        return EyeLandmarks(centers.astype(np.float32), contours.astype(np.float32), radii.astype(np.float32))

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
        if self.canonical is None:
            raise ValueError("canonical face not loaded (FaceMeshOptions.run_mesh=False)")
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
            result.iris_centers, result.eye_contours, result.iris_radius_px = self.eyes(image, lms)
            result.iris_position, result.iris_vertical = self.iris_offsets(lms, result.iris_centers)
        if self.options.run_pnp:
            pose = self.solve_pose(lms, (image.shape[1], image.shape[0]), intrinsics)
            if pose is not None:
                result.rvec, result.tvec = pose
                result.yaw, result.pitch, result.roll = rotation_to_angles(cv2.Rodrigues(pose[0])[0])
        return result
