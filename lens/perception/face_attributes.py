"""Per-face attributes for the People Map: head pose, "both ears visible" and "looking at the wearer".

Angles. A face at camera azimuth ``az`` (from the intrinsics; + = image-right) and elevation ``el`` that points
its head straight at the camera is turned by ``-az`` relative to the optical axis. Appearance models (FSA-Net)
see a crop and measure the pose relative to that **line of sight** already; PnP measures it relative to the
optical axis and is converted (``los = axis + az`` for yaw, ``axis + el`` for pitch). ``FaceAttributes.yaw`` /
``pitch`` / ``roll`` are line-of-sight relative, in the project convention of :mod:`peoplelens.models.head_pose`
(yaw + = face turned toward image-right, pitch + = head up, roll + = top of the head toward image-right), so
0/0 means "head pointing at the wearer" wherever the face is in the image.

both_ears_visible. The far ear disappears behind the head at roughly 30-45 degrees of yaw (the ear sits ~8-9 cm
behind the face plane and the head is ~15 cm wide), and strong pitch hides the ears behind the jaw or hair
line. Defaults: visible when |yaw| <= 30 (stays visible up to 40 once seen on a track), |pitch| <= 30,
the face at least 24 px wide (the name cue is only meant for faces up to ~4 m; at that range a face is tens
of pixels wide on a 720p head camera) and, when FaceMesh ran, face presence >= 0.5.

looking_at_wearer. Gaze = head direction (line-of-sight relative) + eye-in-head direction from the iris when
the face is large enough (inter-ocular >= 60 px: the eye is then ~25 px wide and 1 px of iris error is ~6 deg):
the iris position along the eye-corner axis (0.5 = centred)
becomes an eye rotation with an eyeball model (eye opening ~30 mm wide, eyeball radius ~12 mm:
``asin(2.5 * shift)``). The gaze offset is ``hypot(yaw, pitch)`` of that direction; a face looks at the wearer
when it is <= ``gaze_enter_deg`` (instantly without a track id; with a track id after ``enter_frames``
consecutive frames, and it stops after ``exit_frames`` frames beyond ``gaze_exit_deg``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from peoplelens.core.types import Detections
from peoplelens.models.face_mesh import FaceMesh, FaceMeshOptions, FaceMeshResult, camera_matrix
from peoplelens.models.head_pose import HeadPoseEstimator, HeadPoseOptions
from peoplelens.models.sessions import SessionConfig


@dataclass(frozen=True)
class FaceAttributeOptions:
    """Thresholds of the face-attribute decisions (section ``[face_attributes]`` of the config)."""

    focal_px: float = 0.0  # camera focal length in pixels; 0 = max(W, H) (~53 deg horizontal FOV)
    # both ears visible
    ears_enter_yaw_deg: float = 30.0
    ears_exit_yaw_deg: float = 40.0
    ears_max_pitch_deg: float = 30.0
    ears_min_face_px: float = 24.0
    min_presence: float = 0.5
    # looking at the wearer
    gaze_enter_deg: float = 15.0
    gaze_exit_deg: float = 25.0
    gaze_enter_frames: int = 2
    gaze_exit_frames: int = 3
    iris_min_interocular_px: float = 60.0  # below this 1 px of iris error is > ~6 deg of eye rotation
    eye_gain: float = 2.5  # eyeball model: sin(eye angle) = gain x iris shift (fraction of the eye width)
    eye_max_deg: float = 40.0
    # cost control: FaceMesh + iris only for faces at least this wide, and every Nth frame of a track
    mesh_min_face_px: float = 40.0
    mesh_every_n: int = 1
    use_mesh: bool = True
    #: head pose used for the decisions when FaceMesh ran: "fsanet" (appearance, line-of-sight relative),
    #: "facemesh" (PnP on the 468 landmarks) or "mean" of the two
    pose_source: str = "fsanet"
    #: PnP with MediaPipe's canonical face reads ~+10 deg pitch low on frontal faces (MANIFEST §5); added back
    pnp_pitch_offset_deg: float = 10.0


@dataclass
class FaceAttributes:
    """What one face tells the People Map. Angles in degrees, line-of-sight relative (see the module doc)."""

    yaw: float
    pitch: float
    roll: float
    both_ears_visible: bool
    looking_at_wearer: bool
    gaze_score: float  # 0..1, 1 = gaze straight at the camera (exp(-offset^2 / (2 enter^2)))
    iris_used: bool
    source: str  # "fsanet" or "facemesh"
    gaze_offset_deg: float = 0.0  # angle between the estimated gaze and the line of sight to the camera
    eye_yaw_deg: float = 0.0  # eye-in-head yaw from the iris (0 when not used)
    face_azimuth_deg: float = 0.0  # face centre relative to the optical axis (+ = image-right)
    face_elevation_deg: float = 0.0  # + = up
    presence: float | None = None  # FaceMesh presence when it ran
    mesh: FaceMeshResult | None = field(default=None, repr=False)


class Hysteresis:
    """A boolean per key that turns on after ``enter_frames`` consecutive "on" observations and off after
    ``exit_frames`` consecutive "off" observations; observations in the dead band keep the state."""

    def __init__(self, enter_frames: int, exit_frames: int) -> None:
        self.enter_frames, self.exit_frames = max(1, enter_frames), max(1, exit_frames)
        self._state: dict[int, tuple[bool, int]] = {}

    def update(self, key: int, want_on: bool, want_off: bool) -> bool:
        """Feed one observation (``want_on``: inside the enter threshold; ``want_off``: beyond the exit one)."""
        on, count = self._state.get(key, (False, 0))
        if not on:
            count = count + 1 if want_on else 0
            if count >= self.enter_frames:
                on, count = True, 0
        else:
            count = count + 1 if want_off else 0
            if count >= self.exit_frames:
                on, count = False, 0
        self._state[key] = (on, count)
        return on

    def state(self, key: int) -> bool:
        """The current state of a key (False when never seen)."""
        return self._state.get(key, (False, 0))[0]

    def forget(self, keys: list[int] | None = None) -> None:
        """Drop the state of ended tracks (all when ``keys`` is None)."""
        if keys is None:
            self._state.clear()
        for k in keys or ():
            self._state.pop(k, None)


class GazeHysteresis(Hysteresis):
    """``looking_at_wearer`` per track id: enter after k frames with offset <= enter, exit after m frames > exit."""

    def __init__(self, enter_deg: float = 15.0, exit_deg: float = 25.0, enter_frames: int = 2,
                 exit_frames: int = 3) -> None:
        super().__init__(enter_frames, exit_frames)
        self.enter_deg, self.exit_deg = enter_deg, exit_deg

    def observe(self, track_id: int, offset_deg: float) -> bool:
        """Feed one gaze offset (degrees) for a track; returns whether it is looking at the wearer now."""
        return self.update(track_id, offset_deg <= self.enter_deg, offset_deg > self.exit_deg)


def eye_rotation_deg(shift: float, gain: float, max_deg: float) -> float:
    """Eye-in-head rotation for an iris shift (fraction of the eye-corner distance from the centre)."""
    return float(np.clip(math.degrees(math.asin(float(np.clip(gain * shift, -1.0, 1.0)))), -max_deg, max_deg))


def ears_ok(yaw: float, pitch: float, face_px: float, presence: float | None, yaw_limit: float,
            options: FaceAttributeOptions) -> bool:
    """Whether both ears can be visible for this pose/size with the given |yaw| limit."""
    if presence is not None and presence < options.min_presence:
        return False
    return abs(yaw) <= yaw_limit and abs(pitch) <= options.ears_max_pitch_deg and face_px >= options.ears_min_face_px


class FaceAttributeEstimator:
    """Head pose (FSA-Net, optionally FaceMesh + PnP + iris) and the ears / gaze decisions for every face."""

    def __init__(self, head_pose: HeadPoseEstimator, face_mesh: FaceMesh | None,
                 options: FaceAttributeOptions | None = None) -> None:
        self.head_pose, self.face_mesh = head_pose, face_mesh
        self.options = options or FaceAttributeOptions()
        o = self.options
        self.gaze = GazeHysteresis(o.gaze_enter_deg, o.gaze_exit_deg, o.gaze_enter_frames, o.gaze_exit_frames)
        self.ears: dict[int, bool] = {}
        self._mesh_count: dict[int, int] = {}
        self._last_eye: dict[int, float] = {}

    @classmethod
    def from_registry(cls, options: FaceAttributeOptions | None = None,
                      session_config: SessionConfig | None = None) -> FaceAttributeEstimator:
        """Load FSA-Net and (when ``options.use_mesh``) FaceMesh + iris from the asset registry; ``session_config``
        sets FSA-Net's ONNX Runtime threads/providers (the pipeline passes its own, so no stage oversubscribes)."""
        options = options or FaceAttributeOptions()
        mesh = FaceMesh.from_registry(FaceMeshOptions()) if options.use_mesh else None
        return cls(HeadPoseEstimator.from_registry(HeadPoseOptions(), session_config=session_config), mesh, options)

    def _want_mesh(self, width_px: float, track_id: int | None) -> bool:
        o = self.options
        if self.face_mesh is None or width_px < o.mesh_min_face_px:
            return False
        if track_id is None or o.mesh_every_n <= 1:
            return True
        n = self._mesh_count.get(track_id, 0)
        self._mesh_count[track_id] = n + 1
        return n % o.mesh_every_n == 0

    def estimate(self, image: np.ndarray, faces: Detections, track_ids: list[int] | np.ndarray | None = None,
                 intrinsics: np.ndarray | None = None, poses: np.ndarray | None = None) -> list[FaceAttributes]:
        """Attributes for each face (``faces`` needs 5 keypoints). ``track_ids`` (one per face) enables the
        per-track hysteresis and the every-Nth-frame mesh schedule; without them every decision is per frame.
        ``poses``: the faces' FSA-Net (yaw, pitch, roll) when already computed (``head_pose.estimate``, which is
        stateless, so the pipeline can run it on two threads); computed here otherwise."""
        if len(faces) == 0:
            return []
        if faces.keypoints is None:
            raise ValueError("face attributes need the detector's 5 keypoints per face")
        if track_ids is not None and len(track_ids) != len(faces):
            raise ValueError(f"{len(track_ids)} track ids for {len(faces)} faces")
        o = self.options
        h, w = image.shape[:2]
        k = intrinsics if intrinsics is not None else camera_matrix(w, h, o.focal_px or None)
        fsa = self.head_pose.estimate(image, faces.boxes) if poses is None else np.asarray(poses).reshape(-1, 3)
        if len(fsa) != len(faces):
            raise ValueError(f"{len(fsa)} poses for {len(faces)} faces")
        out = []
        for i in range(len(faces)):
            tid = None if track_ids is None else int(track_ids[i])
            box, kps = faces.boxes[i], faces.keypoints[i]
            width = float(box[2] - box[0])
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            az = math.degrees(math.atan2(cx - k[0, 2], k[0, 0]))
            el = -math.degrees(math.atan2(cy - k[1, 2], k[1, 1]))
            yaw, pitch, roll = (float(v) for v in fsa[i])
            source, presence, mesh, eye_yaw, iris_used = "fsanet", None, None, 0.0, False
            if self._want_mesh(width, tid):
                mesh = self.face_mesh.process(image, box, kps[:2], intrinsics=k)
                presence = mesh.presence
                if presence >= o.min_presence and mesh.yaw is not None and o.pose_source != "fsanet":
                    pnp = (mesh.yaw + az, mesh.pitch + o.pnp_pitch_offset_deg + el, mesh.roll)
                    if o.pose_source == "mean":
                        yaw, pitch, roll = ((a + b) / 2 for a, b in zip((yaw, pitch, roll), pnp, strict=True))
                    else:
                        yaw, pitch, roll = pnp
                    source = "facemesh"
                if (presence >= o.min_presence and mesh.iris_position is not None
                        and mesh.inter_ocular_px >= o.iris_min_interocular_px):
                    shift = float(np.mean(mesh.iris_position)) - 0.5
                    eye_yaw, iris_used = eye_rotation_deg(shift, o.eye_gain, o.eye_max_deg), True
            elif tid is not None and tid in self._last_eye and width >= o.iris_min_interocular_px * 2:
                eye_yaw = self._last_eye[tid]  # reuse the track's last eye reading between mesh frames
            if tid is not None and iris_used:
                self._last_eye[tid] = eye_yaw
            offset = math.hypot(yaw + eye_yaw, pitch)
            score = math.exp(-0.5 * (offset / o.gaze_enter_deg) ** 2)
            if tid is None:
                looking = offset <= o.gaze_enter_deg
                ears = ears_ok(yaw, pitch, width, presence, o.ears_enter_yaw_deg, o)
            else:
                looking = self.gaze.observe(tid, offset)
                limit = o.ears_exit_yaw_deg if self.ears.get(tid, False) else o.ears_enter_yaw_deg
                ears = self.ears[tid] = ears_ok(yaw, pitch, width, presence, limit, o)
            out.append(FaceAttributes(
                yaw=yaw, pitch=pitch, roll=roll, both_ears_visible=ears, looking_at_wearer=looking,
                gaze_score=score, iris_used=iris_used, source=source, gaze_offset_deg=offset, eye_yaw_deg=eye_yaw,
                face_azimuth_deg=az, face_elevation_deg=el, presence=presence, mesh=mesh,
            ))
        return out

    def forget(self, track_ids: list[int]) -> None:
        """Drop the per-track state of tracks that ended."""
        self.gaze.forget(track_ids)
        for tid in track_ids:
            self.ears.pop(tid, None)
            self._mesh_count.pop(tid, None)
            self._last_eye.pop(tid, None)


def _benchmark(runs: int = 30) -> None:
    """Median CPU time per face of each model on a real photo (``python -m`` this module)."""
    import time

    from peoplelens.models.assets import asset_path
    from peoplelens.models.face_detector import FaceDetectorOptions, create_face_detector
    from peoplelens.models.images import load_image
    from peoplelens.models.person_detector import PersonDetector, PersonDetectorOptions

    image = load_image(asset_path("data/faces/enroll/barack_obama/fr_01.jpg"))
    faces = create_face_detector(FaceDetectorOptions(pad_retry=True)).detect(image)[[0]]
    est = FaceAttributeEstimator.from_registry()
    mesh = est.face_mesh
    box, eyes = faces.boxes[0], faces.keypoints[0, :2]
    lms, _ = mesh.landmarks(image, box, eyes)

    def median_ms(fn) -> float:
        fn()
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return 1000 * float(np.median(times))

    cap = cv2.VideoCapture(str(asset_path("data/videos/royal_opera_pedestrians_1080p25.mp4")))
    frame = cap.read()[1]
    rows = {
        "fsanet x2 (head pose)": lambda: est.head_pose.estimate(image, faces.boxes),
        "face_landmark (mesh)": lambda: mesh.landmarks(image, box, eyes),
        "iris_landmark x2 eyes": lambda: mesh.iris_centers(image, lms),
        "solvePnP": lambda: mesh.solve_pose(lms, (image.shape[1], image.shape[0])),
        "attributes, full (mesh+iris+PnP)": lambda: est.estimate(image, faces),
    }
    fsa_only = FaceAttributeEstimator(est.head_pose, None, FaceAttributeOptions(use_mesh=False))
    rows["attributes, fsanet only"] = lambda: fsa_only.estimate(image, faces)
    for tiles in (0, "auto"):
        det = PersonDetector.from_registry(PersonDetectorOptions(tiles=tiles))
        rows[f"yolox_nano 1920x1080 tiles={tiles} ({len(det.windows(1920, 1080))} runs)"] = (
            lambda det=det: det.detect(frame))
    for name, fn in rows.items():
        print(f"{name:48s} {median_ms(fn):7.2f} ms")


if __name__ == "__main__":
    import cv2

    _benchmark()
