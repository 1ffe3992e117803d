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

looking_at_wearer. Head direction (line-of-sight relative) plus the eye-in-head direction read from the iris
model (:mod:`.gaze`), with hysteresis per track. The iris model runs on eye regions placed from
the detector's eye keypoints (``eye_roi = "keypoints"``, 2 small runs per face) or from FaceMesh's eye corners
(``"mesh"``), only on faces whose keypoint inter-ocular distance is >= ``eye_min_interocular_px``; smaller faces
are decided from head pose alone (``FaceAttributes.gaze_source``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Literal

import numpy as np
from msgspec import Meta

from peoplelens.core.types import Detections
from peoplelens.lens.perception.gaze import (
    EyeReading,
    GazeConfigError,
    GazeHysteresis,
    GazeOptions,
    Hysteresis,
    OpenEyeReference,
    estimate_gaze,
    eye_rotation_deg,
    read_eyes,
)
from peoplelens.models.face_mesh import FaceMesh, FaceMeshOptions, FaceMeshResult, camera_matrix
from peoplelens.models.head_pose import HeadPoseEstimator, HeadPoseOptions
from peoplelens.models.sessions import SessionConfig


@dataclass(frozen=True)
class FaceAttributeOptions:
    """Thresholds of the face-attribute decisions (section ``[face_attributes]`` of the config)."""

    #: camera focal length in pixels; 0 = max(W, H) (~53 deg horizontal FOV)
    focal_px: Annotated[float, Meta(ge=0.0, le=20000.0)] = 0.0
    # both ears visible
    ears_enter_yaw_deg: Annotated[float, Meta(ge=0.0, le=90.0)] = 30.0
    ears_exit_yaw_deg: Annotated[float, Meta(ge=0.0, le=90.0)] = 40.0
    ears_max_pitch_deg: Annotated[float, Meta(ge=0.0, le=90.0)] = 30.0
    ears_min_face_px: Annotated[float, Meta(ge=0.0, le=2000.0)] = 24.0
    min_presence: Annotated[float, Meta(ge=0.0, le=1.0)] = 0.5
    # looking at the wearer
    #: chosen by the leave-one-clip-out search of gaze_eval (was 15: head pose only)
    gaze_enter_deg: Annotated[float, Meta(ge=0.0, le=90.0)] = 17.5
    #: per track: "looking" after gaze_enter_frames observations in a row within gaze_enter_deg, and no longer
    #: after gaze_exit_frames beyond gaze_exit_deg. No dead band, slow on / fast off: chosen by the leave-one-clip-out
    #: search over every frame of the annotated clips (``gaze_eval --hysteresis``; held out P 0.83 R 0.88 vs
    #: P 0.77 R 0.91 for the former exit 25 deg / 2 on / 3 off, whose dead band kept eyes-away frames "looking")
    gaze_exit_deg: Annotated[float, Meta(ge=0.0, le=90.0)] = 17.5
    gaze_enter_frames: Annotated[int, Meta(ge=1, le=100)] = 3
    gaze_exit_frames: Annotated[int, Meta(ge=1, le=100)] = 1
    #: within this many observations after "looking" stopped, one looking observation resumes it (a blink or a
    #: one-frame misreading of the iris is not a new look); chosen leave-one-clip-out at the pipeline's cadence
    #: (``gaze_eval --resume --every 2``: 10 of 10 folds on the 220 samples of 11 clips; 4 on the first 7)
    gaze_resume_frames: Annotated[int, Meta(ge=0, le=100)] = 6
    #: eye gaze from the iris model (see peoplelens.lens.perception.gaze): on, and where its eye regions come from
    use_eyes: bool = True
    #: "keypoints" (detector eye keypoints, no FaceMesh) or "mesh" (FaceMesh corners)
    eye_roi: Literal["keypoints", "mesh"] = "keypoints"
    #: below this distance between the detector's eye keypoints the eyes are not read (head pose alone)
    eye_min_interocular_px: Annotated[float, Meta(ge=0.0, le=2000.0)] = 20.0
    #: eyeball model: sin(eye angle) = gain x iris shift (fraction of the eye width)
    eye_gain: Annotated[float, Meta(gt=0.0, le=10.0)] = 2.5
    eye_max_deg: Annotated[float, Meta(ge=0.0, le=90.0)] = 40.0
    #: iris centre above the corner line (x eye width) when looking ahead
    eye_neutral_vertical: Annotated[float, Meta(ge=-0.5, le=0.5)] = 0.05
    #: lid opening / eye width below which eyes count as shut or lowered. Not the 0.20 the threshold search of
    #: gaze_eval prefers on the samples (precision 0.88 vs 0.82): a smiling frontal portrait looking at the
    #: camera (faces/enroll/barack_obama/fr_01.jpg) measures 0.167, and narrow eyes must not read as "shut"
    eyes_open_min_aperture: Annotated[float, Meta(ge=0.0, le=1.0)] = 0.16
    #: per track: lids below this fraction of the person's own open-eye aperture (the 90th percentile of the
    #: track's last eyes_open_reference_readings eye readings) count as shut or lowered: a glance down, a squint,
    #: eyes closing, on any eye shape. Chosen leave-one-clip-out on every frame of the annotated clips (``gaze_eval
    #: --lids``); 0 turns it off
    eyes_open_min_relative: Annotated[float, Meta(ge=0.0, le=1.0)] = 0.65
    #: ~10 s of readings at the pipeline's 7.5 eye readings a second (every 2nd face frame, ``mesh_every_n``)
    eyes_open_reference_readings: Annotated[int, Meta(ge=1, le=10000)] = 75
    # cost control: FaceMesh only for faces at least this wide
    mesh_min_face_px: Annotated[float, Meta(ge=0.0, le=2000.0)] = 40.0
    #: FaceMesh / iris every Nth observation of a track; in between, the track's last eye reading goes with the
    #: new head pose. 2: the iris model (2 runs a face, the largest part of this stage) at half the rate;
    #: ``gaze_eval --product-only`` gave the same precision and recall as 1 (0.89 / 0.90 on the 164 samples of stop
    #: 30) and the 1080p pedestrian clip runs 6-11 % faster (README, "Head pose, ears and gaze"). Tracks take turns:
    #: those that arrive together are spread over the frames (about one in N faces read on each frame), none
    #: waiting longer than N observations
    mesh_every_n: Annotated[int, Meta(ge=1, le=100)] = 2
    use_mesh: bool = False  # FaceMesh + PnP (pose_source, presence for the ears); the pipeline default is off
    #: head pose used for the decisions when FaceMesh ran: "fsanet" (appearance, line-of-sight relative),
    #: "facemesh" (PnP on the 468 landmarks) or "mean" of the two
    pose_source: Literal["fsanet", "facemesh", "mean"] = "fsanet"
    #: PnP with MediaPipe's canonical face reads ~+10 deg pitch low on frontal faces (MANIFEST §5); added back
    pnp_pitch_offset_deg: Annotated[float, Meta(ge=-45.0, le=45.0)] = 10.0


@dataclass
class FaceAttributes:
    """What one face tells the People Map. Angles in degrees, line-of-sight relative (see the module doc)."""

    yaw: float
    pitch: float
    roll: float
    both_ears_visible: bool
    looking_at_wearer: bool
    gaze_score: float  # 0..1, 1 = gaze straight at the camera (exp(-offset^2 / (2 enter^2)))
    iris_used: bool  # the eyes were read on this frame
    source: str  # head pose from "fsanet" or "facemesh"
    gaze_offset_deg: float = 0.0  # angle between the estimated gaze and the line of sight to the camera
    eye_yaw_deg: float = 0.0  # eye-in-head yaw from the iris (0 when not used), + = toward image-right
    eye_pitch_deg: float = 0.0  # + = up
    eyes_closed: bool = False  # lids shut or lowered (below eyes_open_min_aperture, or on a track below
    #: eyes_open_min_relative of its open-eye aperture)
    gaze_source: str = "head"  # "eyes+head" or "head" (eyes not read: face too small, or use_eyes off)
    eye: EyeReading | None = None
    face_azimuth_deg: float = 0.0  # face centre relative to the optical axis (+ = image-right)
    face_elevation_deg: float = 0.0  # + = up
    presence: float | None = None  # FaceMesh presence when it ran
    mesh: FaceMeshResult | None = field(default=None, repr=False)


def ears_ok(yaw: float, pitch: float, face_px: float, presence: float | None, yaw_limit: float,
            options: FaceAttributeOptions) -> bool:
    """Whether both ears can be visible for this pose/size with the given |yaw| limit."""
    if presence is not None and presence < options.min_presence:
        return False
    return abs(yaw) <= yaw_limit and abs(pitch) <= options.ears_max_pitch_deg and face_px >= options.ears_min_face_px


class FaceAttributeEstimator:
    """Head pose (FSA-Net, optionally FaceMesh + PnP), eye gaze (iris model) and the ears / gaze decisions."""

    def __init__(self, head_pose: HeadPoseEstimator | None, face_mesh: FaceMesh | None,
                 options: FaceAttributeOptions | None = None) -> None:
        self.head_pose, self.face_mesh = head_pose, face_mesh
        self.options = o = options or FaceAttributeOptions()
        if o.eye_roi not in ("keypoints", "mesh"):
            raise GazeConfigError(f"[face_attributes] eye_roi must be 'keypoints' or 'mesh', not {o.eye_roi!r}")
        self.gaze_options = GazeOptions(o.gaze_enter_deg, o.gaze_exit_deg, o.eye_gain, o.eye_max_deg,
                                        o.eye_neutral_vertical, o.eyes_open_min_aperture, o.eyes_open_min_relative)
        self.open_eyes = OpenEyeReference(o.eyes_open_reference_readings)
        self.gaze = GazeHysteresis(o.gaze_enter_deg, o.gaze_exit_deg, o.gaze_enter_frames, o.gaze_exit_frames,
                                   o.gaze_resume_frames)
        self.ears: dict[int, bool] = {}
        self._since_landmarks: dict[int, int] = {}  # per track: wanted observations since its last turn
        self._last_eye: dict[int, EyeReading] = {}

    @classmethod
    def from_registry(cls, options: FaceAttributeOptions | None = None,
                      session_config: SessionConfig | None = None) -> FaceAttributeEstimator:
        """Load FSA-Net, FaceMesh (``options.use_mesh``, or ``eye_roi = "mesh"``) and the iris model
        (``options.use_eyes``) from the asset registry; ``session_config`` sets FSA-Net's ONNX Runtime
        threads/providers (the pipeline passes its own, so no stage oversubscribes)."""
        o = options or FaceAttributeOptions()
        run_mesh = o.use_mesh or (o.use_eyes and o.eye_roi == "mesh")
        mesh = (FaceMesh.from_registry(FaceMeshOptions(run_mesh=run_mesh, run_iris=o.use_eyes))
                if run_mesh or o.use_eyes else None)
        # pose from FaceMesh + PnP alone (the permissive set: FSA-Net's weights are research-only): no FSA-Net
        head_pose = (None if o.pose_source == "facemesh" and run_mesh
                     else HeadPoseEstimator.from_registry(HeadPoseOptions(), session_config=session_config))
        return cls(head_pose, mesh, o)

    def _landmark_plan(self, faces: Detections, track_ids: list[int] | np.ndarray | None) -> list[bool]:
        """Which faces get this frame's turn of the landmark models (the iris model, FaceMesh): a face without a
        track id always; a track whose turn it is (never read, or ``mesh_every_n - 1`` observations passed since
        its last turn) always; then, up to one in ``mesh_every_n`` of the faces that could be read, the tracks
        waiting longest. The extra turns spread tracks that arrived together over the frames, so no face frame
        reads every face while the next reads none; no track waits longer than ``mesh_every_n`` observations.
        Changes nothing (:meth:`estimate` counts the observations)."""
        every = self.options.mesh_every_n
        if track_ids is None or every <= 1 or faces.keypoints is None:
            return [True] * len(faces)
        plan = [False] * len(faces)
        waiting: list[tuple[int, int, int]] = []  # (-observations since the last turn, track id, face)
        candidates = turns = 0
        for i in range(len(faces)):
            if not self._landmarks_wanted(faces.boxes[i], faces.keypoints[i]):
                plan[i] = True  # no landmark model runs for it whatever the plan says (its turn is not counted)
                continue
            candidates += 1
            since = self._since_landmarks.get(int(track_ids[i]))
            if since is None or since + 1 >= every:
                plan[i] = True
                turns += 1
            else:
                waiting.append((-since, int(track_ids[i]), i))
        for _, _, i in sorted(waiting)[:max(0, candidates // every - turns)]:
            plan[i] = True
        return plan

    def _landmarks_wanted(self, box: np.ndarray, keypoints: np.ndarray) -> bool:
        """Whether a landmark model may run for this face (before its head pose is known)."""
        o = self.options
        return (self._eyes_readable(keypoints)
                or (o.use_mesh and self.face_mesh is not None and self.face_mesh.mesh is not None
                    and float(box[2] - box[0]) >= o.mesh_min_face_px))

    def _count_turn(self, track_id: int | None, scheduled: bool) -> None:
        """One observation of a track on which a landmark model was wanted: its turn (``scheduled``) or not."""
        if track_id is not None and self.options.mesh_every_n > 1:
            self._since_landmarks[track_id] = 0 if scheduled else self._since_landmarks.get(track_id, 0) + 1

    def _eyes_readable(self, keypoints: np.ndarray) -> bool:
        """Whether the iris model is on and loaded, and the eyes (detector keypoints) are far enough apart."""
        o = self.options
        return (o.use_eyes and self.face_mesh is not None
                and float(np.linalg.norm(keypoints[1, :2] - keypoints[0, :2])) >= o.eye_min_interocular_px)

    def eyes_due(self, faces: Detections, track_ids: list[int] | np.ndarray | None = None) -> list[bool]:
        """Which faces :meth:`estimate` will read the eyes of from the keypoints alone (no FaceMesh) on this frame,
        if :meth:`eyes_can_matter` for their head pose: the ones :meth:`read_eyes` may read beforehand, on any
        thread, and pass in as ``eyes``. Changes nothing."""
        o = self.options
        if (faces.keypoints is None or o.eye_roi != "keypoints"
                or o.use_mesh and self.face_mesh is not None and self.face_mesh.mesh is not None):
            return [False] * len(faces)
        plan = self._landmark_plan(faces, track_ids)
        return [self._eyes_readable(faces.keypoints[i]) and plan[i] for i in range(len(faces))]

    def eyes_can_matter(self, yaw: float, pitch: float) -> bool:
        """Whether the eyes can change the "looking" decision of a face with this head pose (line-of-sight
        relative). The eyes turn at most ``eye_max_deg``: a head turned further than that beyond the gaze
        thresholds is "not looking" whatever the eyes do, so its eyes are not read (the decision is the same)."""
        o = self.options
        reach = math.hypot(max(0.0, abs(yaw) - o.eye_max_deg), max(0.0, abs(pitch) - o.eye_max_deg))
        return not reach > max(o.gaze_enter_deg, o.gaze_exit_deg)  # (a NaN pose: unknown, the eyes may matter)

    def read_eyes(self, image: np.ndarray, keypoints: np.ndarray) -> EyeReading | None:
        """The iris model on one face's eye regions from its detector keypoints (5, 2+). Stateless and safe to call
        from several threads at once."""
        return self._read_eyes(image, keypoints, None)

    def _read_eyes(self, image: np.ndarray, kps: np.ndarray, mesh: FaceMeshResult | None) -> EyeReading | None:
        o = self.options
        if mesh is not None:
            # the iris model sets iris_centers and eye_contours together
            if mesh.presence < o.min_presence or mesh.iris_centers is None or mesh.eye_contours is None:
                return None
            return read_eyes(mesh.iris_centers, mesh.eye_contours)
        assert self.face_mesh is not None, "eyes are read only when the FaceMesh models are loaded"
        eyes = self.face_mesh.eyes_from_keypoints(image, kps[:2])
        return read_eyes(eyes.iris_centers, eyes.contours)

    def estimate(self, image: np.ndarray, faces: Detections, track_ids: list[int] | np.ndarray | None = None,
                 intrinsics: np.ndarray | None = None, poses: np.ndarray | None = None,
                 eyes: Sequence[EyeReading | None | Literal["unread"]] | None = None) -> list[FaceAttributes]:
        """Attributes for each face (``faces`` needs 5 keypoints). ``track_ids`` (one per face) enables the
        per-track hysteresis and the every-Nth-frame landmark schedule; without them every decision is per frame.
        ``poses``: the faces' FSA-Net (yaw, pitch, roll) when already computed (``head_pose.estimate``, which is
        stateless, so the pipeline can run it on two threads); computed here otherwise. ``eyes``: per face, its
        :meth:`read_eyes` result when already read (for the faces :meth:`eyes_due` names), ``"unread"`` to read
        here."""
        if len(faces) == 0:
            return []
        if faces.keypoints is None:
            raise ValueError("face attributes need the detector's 5 keypoints per face")
        if track_ids is not None and len(track_ids) != len(faces):
            raise ValueError(f"{len(track_ids)} track ids for {len(faces)} faces")
        o = self.options
        h, w = image.shape[:2]
        k = intrinsics if intrinsics is not None else camera_matrix(w, h, o.focal_px or None)
        if poses is not None:
            fsa = np.asarray(poses).reshape(-1, 3)
        elif self.head_pose is not None:
            fsa = self.head_pose.estimate(image, faces.boxes)
        else:  # FaceMesh + PnP only: a face without a usable mesh has an unknown pose (not looking, ears unknown)
            fsa = np.full((len(faces), 3), np.nan, np.float32)
        if len(fsa) != len(faces):
            raise ValueError(f"{len(fsa)} poses for {len(faces)} faces")
        if eyes is not None and len(eyes) != len(faces):
            raise ValueError(f"{len(eyes)} eye readings for {len(faces)} faces")
        plan = self._landmark_plan(faces, track_ids)
        out = []
        for i in range(len(faces)):
            tid = None if track_ids is None else int(track_ids[i])
            box, kps = faces.boxes[i], faces.keypoints[i]
            width = float(box[2] - box[0])
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            az = math.degrees(math.atan2(cx - k[0, 2], k[0, 0]))
            el = -math.degrees(math.atan2(cy - k[1, 2], k[1, 1]))
            yaw, pitch, roll = (float(v) for v in fsa[i])
            source, presence, mesh, eye = "fsanet", None, None, None
            open_aperture: float | None = None
            want_eyes = self._eyes_readable(kps) and self.eyes_can_matter(yaw, pitch)
            want_mesh = (self.face_mesh is not None and self.face_mesh.mesh is not None
                         and (o.use_mesh and width >= o.mesh_min_face_px or want_eyes and o.eye_roi == "mesh"))
            scheduled = (want_eyes or want_mesh) and plan[i]
            if want_eyes or want_mesh:
                self._count_turn(tid, scheduled)
            if scheduled and want_mesh and self.face_mesh is not None:  # (want_mesh: the mesh models are loaded)
                mesh = self.face_mesh.process(image, box, kps[:2], intrinsics=k)
                presence = mesh.presence
                # PnP sets yaw, pitch and roll together
                if (presence >= o.min_presence and mesh.yaw is not None and mesh.pitch is not None
                        and mesh.roll is not None and o.pose_source != "fsanet"):
                    pnp = (mesh.yaw + az, mesh.pitch + o.pnp_pitch_offset_deg + el, mesh.roll)
                    if o.pose_source == "mean":
                        yaw, pitch, roll = ((a + b) / 2 for a, b in zip((yaw, pitch, roll), pnp, strict=True))
                    else:
                        yaw, pitch, roll = pnp
                    source = "facemesh"
            if want_eyes and scheduled:
                given = "unread" if eyes is None else eyes[i]
                eye = (self._read_eyes(image, kps, mesh if o.eye_roi == "mesh" else None) if isinstance(given, str)
                       else given)
                if tid is not None and eye is not None:
                    self._last_eye[tid] = eye
                    open_aperture = self.open_eyes.add(tid, eye.aperture)
            elif want_eyes and tid is not None:
                eye = self._last_eye.get(tid)  # between scheduled frames: the track's last eye reading
                open_aperture = self.open_eyes.reference(tid)
            gaze = estimate_gaze(yaw, pitch, eye, self.gaze_options, open_aperture)
            score = math.exp(-0.5 * (gaze.offset_deg / o.gaze_enter_deg) ** 2)
            if tid is None:
                looking = gaze.want_on(self.gaze_options)
                ears = ears_ok(yaw, pitch, width, presence, o.ears_enter_yaw_deg, o)
            else:
                looking = self.gaze.observe(tid, gaze.offset_deg, gaze.eyes_closed)
                limit = o.ears_exit_yaw_deg if self.ears.get(tid, False) else o.ears_enter_yaw_deg
                ears = self.ears[tid] = ears_ok(yaw, pitch, width, presence, limit, o)
            out.append(FaceAttributes(
                yaw=yaw, pitch=pitch, roll=roll, both_ears_visible=ears, looking_at_wearer=looking,
                gaze_score=score, iris_used=eye is not None and want_eyes and scheduled, source=source,
                gaze_offset_deg=gaze.offset_deg, eye_yaw_deg=gaze.yaw - yaw, eye_pitch_deg=gaze.pitch - pitch,
                eyes_closed=gaze.eyes_closed, gaze_source=gaze.source, eye=eye,
                face_azimuth_deg=az, face_elevation_deg=el, presence=presence, mesh=mesh,
            ))
        return out

    def forget(self, track_ids: list[int]) -> None:
        """Drop the per-track state of tracks that ended."""
        self.gaze.forget(track_ids)
        self.open_eyes.forget(track_ids)
        for tid in track_ids:
            self.ears.pop(tid, None)
            self._since_landmarks.pop(tid, None)
            self._last_eye.pop(tid, None)


__all__ = ["FaceAttributeEstimator", "FaceAttributeOptions", "FaceAttributes", "GazeHysteresis", "Hysteresis",
           "ears_ok", "eye_rotation_deg"]
