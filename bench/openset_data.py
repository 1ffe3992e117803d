"""The open-set benchmark's material: the sample faces and videos turned into enrolment vectors and pseudo-tracks.

Everything comes from the sample bundle (``$PEOPLELENS_ASSETS/data``) through the product's own models and code:
enrolment vectors from :func:`peoplelens.registration_app.enroll.assess_photo` (the enrolment gate included), probe
faces from the pipeline's detector (det_500m, 640 px network side) + ``FaceEmbedder.align``/``embed_aligned`` + the
inner-face :func:`~peoplelens.lens.perception.face_quality.sharpness`. What is built:

* **enrolment**: every ``faces/enroll/<person>/*.jpg`` photo, and the six people of ``group/ensemble_cast_t1.jpg``
  (``ensemble_1..6``), each enrolled from a crop of that photo around their face, as a user would crop it;
* **stills**: every enrolment and probe photo's face scaled to 24, 32, 48, 64 and 112 px wide in a 640x480 frame,
  four times with a small random change (scale +-6 %, shift, rotation +-4 deg, brightness, JPEG quality 60-95):
  a still person seen for a while, the hardest case for evidence over time (no new view of the face);
* **groups**: every group photo as recorded and fitted to 640x480, four jittered frames each, every face a track;
  faces are labelled with a name only where the source names them: the two ``two_people``/``kit_with_rose``
  people, the ``bbt*`` cast and the ensemble, matched to the named enrolment photos (best cosine >= 0.45 and 0.15
  above the next name, the way the source's own demo labels them); other faces stay unlabelled (never scored);
* **videos**: the talking heads (a stranger each; s18 and s29 may be one woman and count as one) cut into 2 s
  tracks, every 2nd frame (as the pipeline detects); the royal opera pedestrians (strangers, tracked by the
  product's tracker); the Hamilton performer (``lin_manuel_miranda``, shots as in ``hamilton_short_clip.shots.csv``;
  the pianist and audience are not named by the source and stay unlabelled).

Privacy: vectors stay in memory unless an explicit ``cache`` file is given (a debug/development option); no frame
or crop is ever written.
"""

from __future__ import annotations

import csv
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

from peoplelens.bench.errors import BenchError
from peoplelens.bench.videos import fit_size
from peoplelens.core.types import box_iou
from peoplelens.lens.perception.face_quality import face_qualities, sharpness
from peoplelens.models.face_detector import FaceDetector, FaceDetectorOptions, create_face_detector
from peoplelens.models.face_embedder import FaceEmbedder
from peoplelens.models.images import load_image
from peoplelens.models.sessions import SessionConfig

SIZES = (24, 32, 48, 64, 112)
JITTERS = 4
FRAME = (640, 480)
VIDEO_TRACK_FRAMES = 24  # sampled frames per talking-head track (every 2nd frame: ~1.6-2 s)
CACHE_VERSION = 4


@dataclass
class FaceObs:
    """One face in one frame, as the pipeline would have it: raw unit embedding, keypoints, score, sharpness."""

    embedding: np.ndarray
    keypoints: np.ndarray
    score: float
    sharpness: float
    width_px: float


@dataclass
class TrackSeq:
    """A pseudo-track: one face per time step (None where the detector missed it)."""

    person: str | None  # truth; None = unlabelled (never scored, but present in its frames)
    frames: list[FaceObs | None]


@dataclass
class Scene:
    """Tracks seen together over the same time steps (one track for a still, several for a crowd)."""

    key: str
    kind: str  # "still" | "group" | "video"
    size_px: int  # nominal face width; 0 = as recorded
    tracks: list[TrackSeq]
    sources: set[str] = field(default_factory=set)  # people whose enrolment photo this scene shows
    family: str = ""  # look-alike family of a still's person ("bbt", "john", ...)


@dataclass
class EnrolPhoto:
    """One enrolment photo through the product's enrolment check."""

    person: str
    photo: str
    ok: bool
    face_px: float
    sharpness: float
    embedding: np.ndarray | None
    messages: list[str]


@dataclass
class Corpus:
    """All the benchmark's material."""

    enrol: list[EnrolPhoto]
    scenes: list[Scene]

    def identities(self) -> list[str]:
        """People with at least one accepted enrolment photo."""
        return sorted({p.person for p in self.enrol if p.ok})


def family_of(person: str) -> str:
    """Look-alike family: the ``bbt_`` cast, the ``john_`` group, the ``ensemble_`` cast, or the person."""
    for prefix in ("bbt", "john", "ensemble"):
        if person.startswith(prefix + "_"):
            return prefix
    return person


class FaceSource:
    """The pipeline's detector + embedder on frames."""

    def __init__(self) -> None:
        one = SessionConfig(intra_op_threads=1)
        self.detector: FaceDetector = create_face_detector(FaceDetectorOptions(model="det_500m"), session_config=one)
        self.embedder = FaceEmbedder.from_registry(session_config=one)

    def faces(self, frame: np.ndarray) -> tuple[np.ndarray, list[FaceObs]]:
        """Boxes (N, 4) and observations of every face in a frame."""
        det = self.detector.detect(frame)
        if len(det) == 0:
            return np.zeros((0, 4), np.float32), []
        kps = det.required_keypoints
        crops = self.embedder.align(frame, kps)
        vectors = self.embedder.embed_aligned(crops)
        obs = [FaceObs(vectors[i], kps[i].copy(), float(det.scores[i]), sharpness(crops[i]),
                       float(det.widths[i])) for i in range(len(det))]
        return det.boxes, obs

    def face_at(self, frame: np.ndarray, box: np.ndarray) -> FaceObs | None:
        """The face detected over ``box`` (IoU >= 0.3), or None."""
        boxes, obs = self.faces(frame)
        if not obs:
            return None
        iou = box_iou(box[None], boxes)[0]
        return obs[int(np.argmax(iou))] if iou.max() >= 0.3 else None


def jitter(image: np.ndarray, scale: float, rng: np.random.Generator | None, out_size: tuple[int, int] | None,
           centre: np.ndarray | tuple[float, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``image`` scaled by ``scale`` (area filter), then (with an ``rng``) rotated, shifted and re-exposed, on an
    ``out_size`` canvas (default: the scaled size) with ``centre`` (in source pixels) at the canvas centre.
    Returns the frame and the 2x3 source -> frame affine."""
    s = scale * (rng.uniform(0.94, 1.06) if rng is not None else 1.0)
    small = cv2.resize(image, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    h, w = small.shape[:2]
    out_w, out_h = out_size or (w, h)
    c = np.array([w / 2, h / 2]) if centre is None else np.asarray(centre, np.float64) * s
    angle = rng.uniform(-4, 4) if rng is not None else 0.0
    shift = rng.uniform(-8, 8, 2) if rng is not None else np.zeros(2)
    m = cv2.getRotationMatrix2D((float(c[0]), float(c[1])), angle, 1.0)
    m[:, 2] += np.array([out_w / 2, out_h / 2]) - c + shift
    frame = cv2.warpAffine(small, m, (out_w, out_h), flags=cv2.INTER_LINEAR, borderValue=(127, 127, 127))
    if rng is not None:
        frame = cv2.convertScaleAbs(frame, alpha=rng.uniform(0.85, 1.15), beta=rng.uniform(-15, 15))
        ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(60, 96))])
        decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else None
        frame = decoded if decoded is not None else frame
    affine = m @ np.array([[s, 0, 0], [0, s, 0], [0, 0, 1]])
    return frame, affine


def _map_box(box: np.ndarray, affine: np.ndarray) -> np.ndarray:
    pts = np.array([[box[0], box[1], 1], [box[2], box[1], 1], [box[0], box[3], 1], [box[2], box[3], 1]])
    q = pts @ affine.T
    return np.array([q[:, 0].min(), q[:, 1].min(), q[:, 0].max(), q[:, 1].max()], np.float32)


def _reference_faces(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Boxes and raw embeddings of a photo's faces at full resolution (det_2.5g, as enrolment finds them)."""
    det = create_face_detector(FaceDetectorOptions(model="det_2.5g", max_side=1280, pad_retry=True),
                               session_config=SessionConfig(intra_op_threads=1))
    faces = det.detect(image)
    emb = FaceEmbedder.from_registry(session_config=SessionConfig(intra_op_threads=1))
    return faces.boxes, emb.embed(image, faces.required_keypoints) if len(faces) else np.zeros((0, 128), np.float32)


def _enrol_photos(data: Path, faces: Path, people: set[str] | None = None) -> list[EnrolPhoto]:
    from peoplelens.registration_app.enroll import FaceAnalyzer, assess_photo, load_options

    options = load_options()
    analyzer = FaceAnalyzer.create(options)
    out = []
    for path in sorted((faces / "enroll").glob("*/*.jpg")):
        if people is not None and path.parent.name not in people:
            continue
        fb = assess_photo(path, analyzer, options)
        out.append(EnrolPhoto(path.parent.name, f"enroll/{path.parent.name}/{path.name}", fb.ok, fb.face_px,
                              fb.sharpness, fb.embedding, fb.messages))
    if people is not None and not any(p.startswith("ensemble_") for p in people):
        return out
    # the ensemble: one photo enrols each of its six people (a crop around the face, as a user would make)
    t1 = load_image(faces / "group/ensemble_cast_t1.jpg")
    boxes, _ = _reference_faces(t1)
    for k, box in enumerate(sorted(boxes, key=lambda b: b[0])):
        w = box[2] - box[0]
        x0, y0 = int(max(0, box[0] - w)), int(max(0, box[1] - w))
        crop = t1[y0:int(box[3] + w), x0:int(box[2] + w)].copy()
        fb = assess_photo(crop, analyzer, options)
        out.append(EnrolPhoto(f"ensemble_{k + 1}", f"group/ensemble_cast_t1.jpg#{k + 1}", fb.ok, fb.face_px,
                              fb.sharpness, fb.embedding, fb.messages))
    return out


def _label_faces(vectors: np.ndarray, enrol: list[EnrolPhoto]) -> list[str | None]:
    """A name for each face where the named enrolment photos agree clearly (see the module docstring)."""
    named = [p for p in enrol if p.embedding is not None]
    people = sorted({p.person for p in named})
    if not len(vectors):
        return []
    scores = np.full((len(vectors), len(people)), -1.0)
    for p in named:
        j = people.index(p.person)
        scores[:, j] = np.maximum(scores[:, j], vectors @ p.embedding)
    out: list[str | None] = []
    for row in scores:
        order = np.argsort(-row)
        ok = row[order[0]] >= 0.45 and row[order[0]] - row[order[1]] >= 0.15
        out.append(people[order[0]] if ok else None)
    return out


def _still_scenes(src: FaceSource, faces: Path, frames: int, rng: np.random.Generator,
                  sizes: tuple[int, ...] = SIZES, people: set[str] | None = None) -> list[Scene]:
    ref = create_face_detector(FaceDetectorOptions(model="det_500m", max_side=1280, pad_retry=True),
                               session_config=SessionConfig(intra_op_threads=1))
    scenes = []
    for kind in ("enroll", "probe"):
        for path in sorted((faces / kind).glob("*/*.jpg")):
            if people is not None and path.parent.name not in people:
                continue
            image = load_image(path)
            det = ref.detect(image)
            if len(det) == 0:
                continue
            box = det.boxes[int(np.argmax(det.areas))]
            person = path.parent.name
            for size in sizes:
                scale = size / float(box[2] - box[0])
                if scale > 1.0:  # never upscaled: a photo cannot show a face larger than it has
                    continue
                variants = []
                for j in range(JITTERS):
                    frame, affine = jitter(image, scale, rng if j else None, FRAME,
                                           centre=((box[0] + box[2]) / 2, (box[1] + box[3]) / 2))
                    variants.append(src.face_at(frame, _map_box(box, affine)))
                seq = [variants[i % JITTERS] for i in range(frames)]
                scenes.append(Scene(f"{kind}/{person}/{path.name}@{size}px", "still", size,
                                    [TrackSeq(person, seq)], {person} if kind == "enroll" else set(),
                                    family_of(person)))
    return scenes


def _group_scenes(src: FaceSource, faces: Path, enrol: list[EnrolPhoto], frames: int,
                  rng: np.random.Generator, pattern: str = "*.jpg") -> list[Scene]:
    scenes = []
    for path in sorted((faces / "group").glob(pattern)):
        image = load_image(path)
        boxes, vectors = _reference_faces(image)
        if path.name == "ensemble_cast_t1.jpg":  # the enrolment photo of the ensemble, in their order
            labels: list[str | None] = [f"ensemble_{k + 1}" for k in np.argsort(np.argsort(boxes[:, 0]))]
        else:
            labels = _label_faces(vectors, enrol)
        h, w = image.shape[:2]
        fit = fit_size(w, h, FRAME)[0] / w
        for size_px, scale in ((0, 1.0), (-1, fit)):
            per_track: list[list[FaceObs | None]] = [[] for _ in boxes]
            for j in range(JITTERS):
                frame, affine = jitter(image, scale, rng if j else None, None)
                det_boxes, obs = src.faces(frame)
                mapped = np.stack([_map_box(b, affine) for b in boxes]) if len(boxes) else np.zeros((0, 4))
                iou = box_iou(mapped, det_boxes) if len(det_boxes) else np.zeros((len(boxes), 0))
                rows, cols = linear_sum_assignment(-iou) if iou.size else ([], [])
                got = {int(r): obs[int(c)] for r, c in zip(rows, cols, strict=True) if iou[r, c] >= 0.3}
                for k in range(len(boxes)):
                    per_track[k].append(got.get(k))
            tracks = [TrackSeq(labels[k], [seq[i % JITTERS] for i in range(frames)]) for k, seq in enumerate(per_track)]
            sources = {f"ensemble_{k + 1}" for k in range(6)} if path.name == "ensemble_cast_t1.jpg" else set()
            scenes.append(Scene(f"group/{path.name}@{'native' if size_px == 0 else '640x480'}", "group",
                                0 if size_px == 0 else -1, tracks, sources))
    return scenes


def _read_video(path: Path, stride: int = 2):
    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    i = 0
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            if i % stride == 0:
                h, w = frame.shape[:2]
                size = fit_size(w, h, FRAME)
                yield i, i / fps, cv2.resize(frame, size, interpolation=cv2.INTER_AREA) if size != (w, h) else frame
            i += 1
    finally:
        cap.release()


def _talking_head_scenes(src: FaceSource, videos: Path) -> list[Scene]:
    scenes = []
    for path in sorted((videos / "talking_heads").glob("*.mp4")):
        person = "video_s18_s29" if path.stem[-3:] in ("s18", "s29") else f"video_{path.stem.split('_')[-1]}"
        seq: list[FaceObs | None] = []
        for _, _, frame in _read_video(path):
            boxes, obs = src.faces(frame)
            seq.append(obs[int(np.argmax([o.width_px for o in obs]))] if obs else None)
        for k in range(0, len(seq) - VIDEO_TRACK_FRAMES // 2, VIDEO_TRACK_FRAMES):
            part = seq[k:k + VIDEO_TRACK_FRAMES]
            scenes.append(Scene(f"video/{path.name}#{k}", "video", 0, [TrackSeq(person, part)]))
    return scenes


def _tracked_scene(src: FaceSource, path: Path, label) -> Scene:
    """A video's faces grouped into tracks by the product's tracker; ``label(frame_index, face) -> str | None``."""
    from peoplelens.core.types import Detections
    from peoplelens.lens.perception.tracking import PersonTracker, build_observations

    tracker = PersonTracker()
    steps: list[dict[int, FaceObs]] = []
    votes: dict[int, list] = {}
    for index, t, frame in _read_video(path):
        boxes, obs = src.faces(frame)
        det = Detections(boxes, np.array([o.score for o in obs], np.float32),
                         keypoints=np.stack([o.keypoints for o in obs]) if obs else np.zeros((0, 5, 2)))
        quality = face_qualities(det.required_keypoints, det.scores) if obs else np.zeros(0)
        step = {}
        for tr in tracker.update(t, build_observations(None, det, quality)):
            if tr.observation is not None and tr.observation.face_index is not None:
                ob = obs[tr.observation.face_index]
                step[tr.track_id] = ob
                votes.setdefault(tr.track_id, []).append(label(index, ob))
        steps.append(step)
    tracks = []
    for tid, v in votes.items():
        truth = max(set(v), key=v.count)
        tracks.append(TrackSeq(truth, [s.get(tid) for s in steps]))
    return Scene(f"video/{path.name}", "video", 0, tracks)


def _hamilton_label(videos: Path):
    shots = {}
    with open(videos / "hamilton_short_clip.shots.csv") as fh:
        for row in csv.DictReader(fh):
            shots[row["shot"]] = (int(row["start_frame"]), int(row["end_frame"]))

    def label(index: int, ob: FaceObs) -> str | None:
        x = float(ob.keypoints[:, 0].mean())
        s3, s1 = shots["3"], shots["1"]
        if s3[0] <= index <= s3[1] or (s1[0] <= index <= s1[1] and x > 320):
            return "lin_manuel_miranda"
        return None

    return label


def build_corpus(data: Path, frames: int = 12, seed: int = 2024, cache: Path | None = None,
                 people: set[str] | None = None, sizes: tuple[int, ...] = SIZES, groups: str = "*.jpg",
                 videos: bool = True) -> Corpus:
    """Build (or load from an explicit ``cache`` file) the benchmark material; ``people``, ``sizes``, ``groups``
    (a file pattern) and ``videos`` select a part of it (tests)."""
    if cache is not None and cache.exists():
        with open(cache, "rb") as fh:
            version, corpus = pickle.load(fh)
        if version == CACHE_VERSION:
            return corpus
    faces, video_dir = data / "faces", data / "videos"
    if not (faces / "enroll").is_dir() or not video_dir.is_dir():
        raise BenchError(f"no sample faces/videos under {data}: set PEOPLELENS_ASSETS to the sample bundle")
    rng = np.random.default_rng(seed)
    src = FaceSource()
    enrol = _enrol_photos(data, faces, people)
    scenes = _still_scenes(src, faces, frames, rng, sizes, people)
    scenes += _group_scenes(src, faces, enrol, frames, rng, groups)
    if videos:
        scenes += _talking_head_scenes(src, video_dir)
        scenes.append(_tracked_scene(src, video_dir / "royal_opera_pedestrians_1080p25.mp4",
                                     lambda i, ob: "video_royal"))
        scenes.append(_tracked_scene(src, video_dir / "hamilton_short_clip.mp4", _hamilton_label(video_dir)))
    corpus = Corpus(enrol, scenes)
    if cache is not None:
        with open(cache, "wb") as fh:
            pickle.dump((CACHE_VERSION, corpus), fh)
    return corpus
