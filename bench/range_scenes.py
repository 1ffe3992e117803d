"""Range scenes: real faces on real bodies in real 1080p frames, at the pixel sizes of 1 to 10 m.

Built in memory only (nothing reaches the disk), deterministically from a seed, out of three real sources in the
shared data:

* **background**: consecutive frames of ``videos/royal_opera_pedestrians_1080p25.mp4`` (1920x1080, a covered
  walkway with real pedestrians walking and a handheld camera), resized when the camera is another size (the
  HoloLens-2-like 2272x1278 preset enlarges it 1.18x);
* **body**: the full-body dancer of ``videos/talking_heads/liveportrait_s13.mp4`` (static camera, plain studio
  wall), cut out by a colour difference to a smooth (quadratic) fit of the wall around her, her own motion kept
  frame by frame; scaled to a standing height ``H`` at distance ``d`` (``f * H / d`` pixels) and stood on the
  floor of a camera held 1.2 m high (a child wearer's eyes); when her face would leave the top of the view the
  whole person is moved down (the wearer tilts the head up to look at a near adult);
* **face**: a held-out probe photo of an enrolled person (``faces/probe``, never used for enrolment), its face
  (an ellipse around the detector box, cut by the photo's own edges, feathered) scaled so its *eye spacing* is
  ``f * IPD / d`` pixels (adult 63 mm, child 54 mm: the anthropometric means of
  :mod:`peoplelens.lens.perception.distance`) and pasted over the dancer's face, following her head from frame
  to frame. The detector box then comes out ~2.2x the eye spacing (13.6 / 11.7 cm).

Scales: adult 1.70 m / 63 mm, child 1.25 m / 54 mm (about an 8-year-old; a child's body is the dancer's scaled
down, so its proportions are an adult's). The person stands straight ahead (within +-2 deg: inside the 3 deg bump
cone), as when the wearer looks at them.

What a composite tests: the pixel sizes (face, eyes, body) the camera delivers at each distance, real face
texture for recognition (a photo never enrolled), real background clutter, other (real, not enrolled) people,
real camera noise and motion blur of the background, real body motion. What it does not test: real optics and
focus at distance (a photo scaled down is sharper than a lens at 10 m), lighting that matches the scene (the face
and body keep their own light), children's real faces and body proportions (enrolled faces are adults' photos
shrunk to a child's eye spacing), occlusion by the pedestrians (the person is pasted in front of whatever is
there, also when a pedestrian is nearer), head turns beyond the photo's own pose.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from peoplelens.core.errors import PeopleLensError
from peoplelens.lens.perception.geometry import CameraIntrinsics
from peoplelens.models.face_detector import FaceDetector, FaceDetectorOptions, create_face_detector
from peoplelens.models.images import load_image
from peoplelens.models.sessions import SessionConfig

if TYPE_CHECKING:
    from peoplelens.models.person_detector import PersonDetector

BACKGROUND_VIDEO = "videos/royal_opera_pedestrians_1080p25.mp4"
BODY_VIDEO = "videos/talking_heads/liveportrait_s13.mp4"
CAMERA_HEIGHT_M = 1.2  # a child wearer's eyes
FPS = 25.0  # the background clip's rate
BODY_FRAMES = 60  # the body clip's frames used (each cut out once and kept, cropped, in memory)


class SceneError(PeopleLensError):
    """Scene material that is missing or unusable (a video that does not decode, a photo without a face)."""


@dataclass(frozen=True)
class CameraSpec:
    """The head-worn camera the scenes are rendered for."""

    width: int = 1920
    height: int = 1080
    hfov_deg: float = 70.0

    @property
    def intrinsics(self) -> CameraIntrinsics:
        """Its pinhole model."""
        return CameraIntrinsics.from_fov(self.width, self.height, self.hfov_deg)


CAMERAS = {"glasses": CameraSpec(1920, 1080, 70.0), "hololens2": CameraSpec(2272, 1278, 64.7)}


def told_the_camera(config: dict, camera: CameraSpec) -> dict:
    """``config`` (a parsed TOML dict) with its ``[camera]`` section replaced by ``camera``'s field of view: the
    product reads rendered scenes with the camera they are drawn for, as a wearer's config names their camera (a
    70-deg product reading 64.7-deg frames puts everyone ~10 % nearer, and off in direction)."""
    return {**config, "camera": {"hfov_deg": camera.hfov_deg}}


@dataclass(frozen=True)
class PersonScale:
    """Standing height and eye spacing (metres) of the people rendered."""

    height_m: float
    iod_m: float


SCALES = {"adult": PersonScale(1.70, 0.063), "child": PersonScale(1.25, 0.054)}


@dataclass(frozen=True)
class FacePhoto:
    """An enrolled person's held-out photo and where its face is (detector box, 5 keypoints)."""

    identity: str
    path: Path
    image: np.ndarray = field(repr=False)
    box: np.ndarray
    keypoints: np.ndarray

    @property
    def iod_px(self) -> float:
        """Eye spacing in the photo's pixels."""
        return float(np.linalg.norm(self.keypoints[0] - self.keypoints[1]))


@dataclass(frozen=True)
class SceneSpec:
    """One scene: who, how far, how big, which frames (the seed picks the start frames and the exact bearing)."""

    distance_m: float
    scale: str
    face: FacePhoto
    seed: int = 0
    frames: int = 40


@dataclass
class SceneFrame:
    """One rendered frame and where the pasted person is in it (frame pixels, xyxy)."""

    image: np.ndarray
    t: float
    index: int
    body_box: tuple[float, float, float, float]  # the visible part of the body
    face_box: tuple[float, float, float, float]
    eyes: np.ndarray  # (2, 2): the pasted face's eye centres
    distance_m: float  # camera to the face centre, along the ray (what the pipeline estimates)


def load_faces(folder: Path, model: str = "det_500m") -> list[FacePhoto]:
    """Every ``folder/<person>/*.jpg`` whose face the detector finds whole (the largest face, not cut by the photo's
    edge), sorted by path."""
    detector = create_face_detector(FaceDetectorOptions(model=model, max_side=2048, pad_retry=True),
                                    session_config=SessionConfig(intra_op_threads=1))
    photos = []
    for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png")):
        image = load_image(path)
        faces = detector.detect(image)
        if not len(faces):
            continue
        i = int(np.argmax(faces.areas))
        x1, y1, x2, y2 = faces.boxes[i]
        # a face cut by the photo's edge (partial-face probes) is left out: the box must lie inside the photo
        if x1 < 0 or y1 < 0 or x2 > image.shape[1] or y2 > image.shape[0]:
            continue
        photos.append(FacePhoto(path.parent.name, path, image, faces.boxes[i].copy(),
                                faces.required_keypoints[i].copy()))
    if not photos:
        raise SceneError(f"no face found in any photo under {folder}")
    return photos


def read_frames(path: Path, start: int, count: int) -> list[np.ndarray]:
    """``count`` frames of the video at ``path`` from frame ``start`` (:class:`SceneError` when it has fewer)."""
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise SceneError(f"cannot open {path}")
    cap.set(cv2.CAP_PROP_POS_FRAMES, start)
    frames = []
    for _ in range(count):
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    if len(frames) < count:
        raise SceneError(f"{path} has fewer than {start + count} frames")
    return frames


def video_frame_count(path: Path) -> int:
    """The number of frames the video's container reports (:class:`SceneError` when it cannot be read)."""
    cap = cv2.VideoCapture(str(path))
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    if n <= 0:
        raise SceneError(f"cannot read {path}")
    return n


def cut_out(frame: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The person inside ``box`` against a plain studio wall: alpha 0..1 (float32, frame size). The wall outside
    the box is fitted by a quadratic surface per Lab channel (at 1/4 resolution); pixels more than 10 Lab units
    from it are the person, the largest connected part kept."""
    small = cv2.resize(frame, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    lab = cv2.cvtColor(small, cv2.COLOR_BGR2Lab)
    h, w = lab.shape[:2]
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    u, v = xx / w, yy / h
    design = np.stack([np.ones_like(u), u, v, u * u, v * v, u * v], -1).reshape(-1, 6)
    b = np.asarray(box, np.float32) / 4
    outside = ~((xx >= b[0] - 3) & (xx <= b[2] + 3) & (yy >= b[1] - 3) & (yy <= b[3] + 3)).reshape(-1)
    wall = np.empty_like(lab)
    for c in range(3):
        coef, *_ = np.linalg.lstsq(design[outside], lab.reshape(-1, 3)[outside, c], rcond=None)
        wall[..., c] = (design @ coef).reshape(h, w)
    mask = (np.linalg.norm(lab - wall, axis=-1) > 10).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask)
    if n < 2:
        raise SceneError("no person found against the studio wall")
    mask = (labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))).astype(np.float32)
    return cv2.GaussianBlur(cv2.resize(mask, frame.shape[1::-1], interpolation=cv2.INTER_LINEAR), (5, 5), 0)


@dataclass
class CutOutBody:
    """One frame of the studio clip's person, cut out of its wall (:func:`cut_out`)."""

    image: np.ndarray  # the person's bounding box only (``box`` in the body clip's frame)
    alpha: np.ndarray  # float32 0..1, same size
    box: np.ndarray  # the person's bounding box in the body clip's frame (x1, y1, x2, y2)
    eyes: np.ndarray  # (2, 2) her own eye centres in the body clip's frame


def _box4(points: np.ndarray) -> tuple[float, float, float, float]:
    """``x1, y1, x2, y2`` as floats from the (2, 2) corners of a box."""
    x1, y1, x2, y2 = (float(v) for v in points.reshape(4))
    return x1, y1, x2, y2


def paste(dst: np.ndarray, src: np.ndarray, alpha: np.ndarray, scale: float, offset: tuple[float, float],
           src_box: np.ndarray) -> None:
    """Blend ``src[src_box]`` scaled by ``scale`` into ``dst`` where frame = src * scale + offset (in place); only
    the part that lands in the frame is resized (area for shrinking, linear for enlarging)."""
    fh, fw = dst.shape[:2]
    x0, y0, x1, y1 = (float(v) for v in src_box)
    fx0, fy0 = max(0.0, x0 * scale + offset[0]), max(0.0, y0 * scale + offset[1])
    fx1, fy1 = min(float(fw), x1 * scale + offset[0]), min(float(fh), y1 * scale + offset[1])
    if fx1 - fx0 < 1 or fy1 - fy0 < 1:
        return
    dx0, dy0, dx1, dy1 = int(fx0), int(fy0), int(np.ceil(fx1)), int(np.ceil(fy1))
    sx0, sy0 = (dx0 - offset[0]) / scale, (dy0 - offset[1]) / scale
    sx1, sy1 = (dx1 - offset[0]) / scale, (dy1 - offset[1]) / scale
    ix0, iy0 = max(0, int(np.floor(sx0))), max(0, int(np.floor(sy0)))
    ix1, iy1 = min(src.shape[1], int(np.ceil(sx1)) + 1), min(src.shape[0], int(np.ceil(sy1)) + 1)
    piece, weight = src[iy0:iy1, ix0:ix1], alpha[iy0:iy1, ix0:ix1]
    sx = sy = 1.0
    if scale < 0.7:  # shrink with area averaging first (no aliasing), then place with sub-pixel accuracy
        piece = cv2.resize(piece, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        weight = cv2.resize(weight, piece.shape[1::-1], interpolation=cv2.INTER_AREA)
        sx, sy = piece.shape[1] / (ix1 - ix0), piece.shape[0] / (iy1 - iy0)
    # piece pixel p -> source ix0 + p / s -> frame (ix0 + p / s) * scale + offset -> destination piece - (dx0, dy0)
    matrix = np.array([[scale / sx, 0.0, ix0 * scale + offset[0] - dx0],
                       [0.0, scale / sy, iy0 * scale + offset[1] - dy0]])
    size = (dx1 - dx0, dy1 - dy0)
    warped = cv2.warpAffine(piece, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    a = cv2.warpAffine(weight, matrix, size, flags=cv2.INTER_LINEAR, borderValue=0.0)[..., None]
    roi = dst[dy0:dy1, dx0:dx1]
    roi[:] = (warped.astype(np.float32) * a + roi.astype(np.float32) * (1.0 - a) + 0.5).astype(np.uint8)


def paste_person(frame: np.ndarray, body: CutOutBody, scale: float, offset: tuple[float, float], photo: FacePhoto,
                 photo_alpha: np.ndarray, face_scale: float) -> np.ndarray:
    """Paste ``body`` into ``frame`` (frame = body clip * ``scale`` + ``offset``) and ``photo``'s face (scaled by
    ``face_scale``, blended by ``photo_alpha``: :func:`face_alpha`) over hers, eyes on her eyes; the face's offset
    (frame = photo * ``face_scale`` + offset)."""
    paste(frame, body.image, body.alpha, scale, (offset[0] + body.box[0] * scale, offset[1] + body.box[1] * scale),
          np.array([0, 0, body.image.shape[1], body.image.shape[0]], np.float32))
    face_offset = body.eyes.mean(0) * scale + np.array(offset) - photo.keypoints[:2].mean(0) * face_scale
    paste(frame, photo.image, photo_alpha, face_scale, (float(face_offset[0]), float(face_offset[1])),
          np.array([0, 0, photo.image.shape[1], photo.image.shape[0]], np.float32))
    return face_offset


def stand(intr: CameraIntrinsics, size: PersonScale, distance_m: float, azimuth_deg: float, height_px: float,
          eye_x: float, feet_y: float) -> tuple[float, list[float]]:
    """The similarity that stands the body clip's person (``height_px`` tall there, eyes at x ``eye_x``, feet at y
    ``feet_y``) ``distance_m`` away at ``azimuth_deg``, on the floor ``CAMERA_HEIGHT_M`` below the camera:
    ``(scale, [x, y] offset)`` with frame = clip * scale + offset."""
    scale = intr.fx * size.height_m / distance_m / height_px
    x_target = intr.cx + intr.fx * np.tan(np.radians(azimuth_deg))
    y_feet = intr.cy + intr.fy * CAMERA_HEIGHT_M / distance_m
    return scale, [x_target - eye_x * scale, y_feet - feet_y * scale]


def face_alpha(photo: FacePhoto) -> np.ndarray:
    """A feathered ellipse over the photo's face (cheek to cheek, brows to chin, some forehead), cut by the photo's
    own edges, feathered inside them. A tightly cropped probe keeps its whole face (cheeks, jaw and forehead out to
    the photo's edge): shrinking the ellipse to fit inside such a photo put the body's own jaw and cheeks around the
    probe's eyes and mouth, and the composite lost the probe's identity (see ``bench.range_fidelity``)."""
    x1, y1, x2, y2 = photo.box
    w, h = x2 - x1, y2 - y1
    ph, pw = photo.image.shape[:2]
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2 - 0.05 * h
    k = max(3, int(0.12 * w) | 1)
    ellipse = np.zeros((ph, pw), np.float32)
    cv2.ellipse(ellipse, (int(round(cx)), int(round(cy))), (max(1, int(0.55 * w)), max(1, int(0.62 * h))), 0, 0, 360,
                1.0, -1)
    inside = np.zeros((ph, pw), np.float32)
    margin = k // 2 + 1  # the feather must fade out inside the photo
    inside[margin:ph - margin, margin:pw - margin] = 1.0
    return cv2.GaussianBlur(ellipse, (k, k), 0) * cv2.GaussianBlur(inside, (k, k), 0)


class RangeScenes:
    """Renders :class:`SceneSpec` scenes for one camera from the shared data folder (``data/``)."""

    def __init__(self, data: Path, camera: CameraSpec = CAMERAS["glasses"]) -> None:
        self.data = Path(data)
        self.camera = camera
        self.intrinsics = camera.intrinsics
        self._bodies: dict[int, CutOutBody] = {}
        self._background = self.data / BACKGROUND_VIDEO
        self._body_video = self.data / BODY_VIDEO
        for path in (self._background, self._body_video):
            if not path.is_file():
                raise SceneError(f"range scenes need {path} (the shared data folder, $PEOPLELENS_ASSETS/data)")
        self._detector: tuple[PersonDetector, FaceDetector] | None = None

    def backgrounds(self, start: int, count: int) -> list[np.ndarray]:
        """``count`` frames of the background clip from frame ``start``, at the camera's size."""
        size = (self.camera.width, self.camera.height)
        return [bg if bg.shape[1::-1] == size else cv2.resize(bg, size, interpolation=cv2.INTER_LINEAR)
                for bg in read_frames(self._background, start, count)]

    def body(self, index: int) -> CutOutBody:
        """Frame ``index`` of the studio clip's person, cut out once and kept in memory."""
        if index not in self._bodies:
            from peoplelens.models.person_detector import PersonDetector, PersonDetectorOptions

            if self._detector is None:
                session = SessionConfig(intra_op_threads=1)
                self._detector = (PersonDetector.from_registry(PersonDetectorOptions(tiles=0), session_config=session),
                                  create_face_detector(FaceDetectorOptions(model="det_500m", max_side=1088),
                                                       session_config=session))
            people, faces = self._detector
            frame = read_frames(self._body_video, index, 1)[0]
            bodies, found = people.detect(frame), faces.detect(frame)
            if not len(bodies) or not len(found):
                raise SceneError(f"{self._body_video} frame {index}: no person or no face found")
            alpha = cut_out(frame, bodies.boxes[int(np.argmax(bodies.areas))])
            ys, xs = np.nonzero(alpha > 0.5)
            x0, y0, x1, y1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
            self._bodies[index] = CutOutBody(frame[y0:y1, x0:x1].copy(), alpha[y0:y1, x0:x1].copy(),
                                        np.array([x0, y0, x1, y1], np.float32),
                                        found.required_keypoints[int(np.argmax(found.areas))][:2].copy())
        return self._bodies[index]

    def render(self, spec: SceneSpec):
        """Yield the scene's :class:`SceneFrame` s one by one (in memory)."""
        if spec.scale not in SCALES:
            raise SceneError(f"unknown scale {spec.scale!r}; use one of {sorted(SCALES)}")
        if spec.distance_m <= 0:
            raise SceneError(f"distance must be positive, got {spec.distance_m}")
        rng = np.random.default_rng(spec.seed)
        n_bg, n_body = video_frame_count(self._background), min(video_frame_count(self._body_video), BODY_FRAMES)
        if spec.frames > min(n_bg, n_body):
            raise SceneError(f"at most {min(n_bg, n_body)} frames per scene, asked for {spec.frames}")
        bg_start = int(rng.integers(0, n_bg - spec.frames + 1))
        body_start = int(rng.integers(0, n_body - spec.frames + 1))
        azimuth = float(rng.uniform(-2.0, 2.0))
        size, intr = SCALES[spec.scale], self.intrinsics
        bodies = [self.body(body_start + i) for i in range(spec.frames)]
        # one similarity for the whole scene: her median height -> f*H/d, her median eye x -> the bearing, her
        # median feet -> the floor 1.2 m below the camera
        scale, offset = stand(intr, size, spec.distance_m, azimuth,
                              float(np.median([b.box[3] - b.box[1] for b in bodies])),
                              float(np.median([b.eyes[:, 0].mean() for b in bodies])),
                              float(np.median([b.box[3] for b in bodies])))
        top_eye = min(b.eyes[:, 1].mean() for b in bodies) * scale + offset[1]
        face_px = 2.6 * intr.fx * size.iod_m / spec.distance_m  # about the face's height
        if top_eye - face_px < 0.05 * self.camera.height:  # tilt the head up: move the person down
            offset[1] += 0.05 * self.camera.height + face_px - top_eye
        lateral = spec.distance_m * np.tan(np.radians(azimuth))
        face_ray_m = float(np.sqrt(spec.distance_m**2 + lateral**2 + (size.height_m - 0.12 - CAMERA_HEIGHT_M) ** 2))
        photo = spec.face
        face_scale = intr.fx * size.iod_m / spec.distance_m / photo.iod_px
        photo_alpha = face_alpha(photo)
        for i, (frame, body) in enumerate(zip(self.backgrounds(bg_start, spec.frames), bodies, strict=True)):
            face_offset = paste_person(frame, body, scale, (offset[0], offset[1]), photo, photo_alpha, face_scale)
            fb = photo.box.reshape(2, 2) * face_scale + face_offset
            bb = body.box.reshape(2, 2) * scale + np.array(offset)
            bb = np.clip(bb, 0, [self.camera.width, self.camera.height])
            yield SceneFrame(frame, i / FPS, i, _box4(bb), _box4(fb),
                             photo.keypoints[:2] * face_scale + np.array(face_offset), face_ray_m)

