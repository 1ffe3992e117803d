"""Model-level measurements of the int8 variants against the float models, on the same data in one process:
latency per inference, embedder verification, face-detector recall, person-detector agreement.

Used by ``python -m peoplelens.bench.evaluate_int8``; every score goes through the product's own wrappers
(``create_face_detector``, ``FaceEmbedder``, ``PersonDetector``) with ``precision`` "fp32" or "int8".
"""

from __future__ import annotations

import csv
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from peoplelens.bench.detector_range import face_boxes, place
from peoplelens.core.types import box_iou
from peoplelens.models.assets import AssetManager
from peoplelens.models.evaluate_faces import PairScores, largest_face_embedding, lfw_pair_scores
from peoplelens.models.face_detector import FaceDetector, FaceDetectorOptions, ScrfdDetector, create_face_detector
from peoplelens.models.face_embedder import FaceEmbedder, FaceEmbedderOptions
from peoplelens.models.images import load_image
from peoplelens.models.person_detector import PersonDetector, PersonDetectorOptions
from peoplelens.models.quantize import fit_frame, video_frames
from peoplelens.models.sessions import SessionConfig, create_session
from peoplelens.models.variants import model_path

ONE_THREAD = SessionConfig(providers=("cpu",), intra_op_threads=1)
THRESHOLDS = (0.35, 0.40)  # one-shot verification; identity accept (IdentityConfig)
HELD_OUT_VIDEO = "data/videos/royal_opera_pedestrians_1080p25.mp4"  # not in the calibration set


# ---- latency ------------------------------------------------------------------------------------------------------
@dataclass
class Latency:
    """Median wall and CPU milliseconds per inference of one model file."""

    label: str
    wall_ms: float
    cpu_ms: float


def _time_sessions(files: dict[str, Path], feeds: list[dict], rounds: int, per_round: int) -> list[Latency]:
    sessions = {label: create_session(path, ONE_THREAD) for label, path in files.items()}
    for session in sessions.values():
        session.run(None, feeds[0])
    wall: dict[str, list[float]] = {k: [] for k in sessions}
    cpu: dict[str, list[float]] = {k: [] for k in sessions}
    for r in range(rounds):  # interleaved, so load on the shared machine hits every variant alike
        order = list(sessions) if r % 2 == 0 else list(reversed(sessions))
        for label in order:
            for i in range(per_round):
                feed = feeds[(r * per_round + i) % len(feeds)]
                t0, c0 = time.perf_counter(), time.process_time()
                sessions[label].run(None, feed)
                wall[label].append(time.perf_counter() - t0)
                cpu[label].append(time.process_time() - c0)
    return [Latency(k, 1000 * float(np.median(wall[k])), 1000 * float(np.median(cpu[k]))) for k in sessions]


def model_latencies(manager: AssetManager, frames: list[np.ndarray], crops: np.ndarray, rounds: int = 6,
                    per_round: int = 5) -> dict[str, list[Latency]]:
    """Per model: fp32 and int8 (and, for the embedder, fp32 with the exact PRelu rewrite) on real inputs."""
    out: dict[str, list[Latency]] = {}
    for name in ("det_500m", "det_2.5g"):
        det = ScrfdDetector.from_registry(FaceDetectorOptions(model=name, precision="fp32"), manager, ONE_THREAD)
        feeds = [{det.input_name: det.input_tensor(f)[0]} for f in frames]
        out[name] = _time_sessions(_files(name, manager), feeds, rounds, per_round)
    person = PersonDetector.from_registry(PersonDetectorOptions(precision="fp32", tiles=0), manager, ONE_THREAD)
    feeds = [{person.input_name: person.input_tensor(f, canvas=person.size)[0]} for f in frames]
    out["yolox_nano"] = _time_sessions(_files("yolox_nano", manager), feeds, rounds, per_round)
    emb = FaceEmbedder.from_registry(FaceEmbedderOptions(precision="fp32"), manager, ONE_THREAD)
    feeds = [{emb.input_name: emb.input_tensor(crops[i:i + 1])} for i in range(len(crops))]
    with tempfile.TemporaryDirectory(prefix="peoplelens-int8-eval-") as tmp:
        files = _files("arcface_mobileface128", manager)
        rewritten = _prelu_rewritten(files["fp32"], Path(tmp))
        if rewritten is not None:
            files = {"fp32": files["fp32"], "fp32 + PRelu rewrite": rewritten, "int8": files["int8"]}
        out["arcface_mobileface128"] = _time_sessions(files, feeds, rounds, per_round * 4)
    return out


def _files(name: str, manager: AssetManager) -> dict[str, Path]:
    return {"fp32": model_path(name, "fp32", manager), "int8": model_path(name, "int8", manager)}


def _prelu_rewritten(source: Path, folder: Path) -> Path | None:
    try:
        import onnx
    except ImportError:
        return None
    from peoplelens.models.graph_rewrites import prelu_as_depthwise_convs

    dest = folder / "arcface_prelu_rewritten.onnx"  # the float embedder's ([pipeline] embedder_fast_prelu)
    onnx.save(prelu_as_depthwise_convs(onnx.load(str(source))), str(dest))
    return dest


# ---- embedder verification ----------------------------------------------------------------------------------------
@dataclass
class Verification:
    """Genuine/impostor scores of one configuration and the rates at the thresholds."""

    label: str
    scores: PairScores
    skipped: int = 0

    def row(self) -> dict:
        """Summary figures (percent for rates)."""
        g, i = self.scores.genuine, self.scores.impostor
        eer, _ = self.scores.eer()
        row = {"genuine min": g.min(), "genuine p1": np.percentile(g, 1), "genuine median": np.median(g),
               "impostor median": np.median(i), "impostor p99": np.percentile(i, 99), "impostor max": i.max(),
               "EER %": 100 * eer}
        for t in THRESHOLDS:
            far, frr = self.scores.rates(t)
            row[f"FAR@{t:.2f} %"], row[f"FRR@{t:.2f} %"] = 100 * far, 100 * frr
        row["skipped"] = self.skipped
        return row


@dataclass
class FacePath:
    """One detector + embedder pair (the float or the int8 path)."""

    label: str
    detector: FaceDetector
    embedder: FaceEmbedder
    cache: dict[str, np.ndarray | None] = field(default_factory=dict)

    def embed_photo(self, path: Path) -> np.ndarray | None:
        """Unit embedding of the photo's largest face (cached per path)."""
        key = str(path)
        if key not in self.cache:
            self.cache[key] = largest_face_embedding(path, self.detector, self.embedder)
        return self.cache[key]


def face_path(label: str, detector_precision: str, embedder_precision: str, manager: AssetManager) -> FacePath:
    """The enrolment-style path (det_500m with the padded retry, then ArcFace-128) in the given precisions."""
    det = create_face_detector(FaceDetectorOptions(model="det_500m", pad_retry=True, precision=detector_precision),
                               manager, ONE_THREAD)
    emb = FaceEmbedder.from_registry(FaceEmbedderOptions(precision=embedder_precision), manager, ONE_THREAD)
    return FacePath(label, det, emb)


def pair_verification(pairs_csv: Path, side_a: FacePath, side_b: FacePath, label: str) -> Verification:
    """faces_pairs.csv scored with ``img_a`` through one path and ``img_b`` through another (same path: plain)."""
    genuine: list[float] = []
    impostor: list[float] = []
    skipped = 0
    with open(pairs_csv) as fh:
        for row in csv.DictReader(fh):
            a = side_a.embed_photo(pairs_csv.parent / row["img_a"])
            b = side_b.embed_photo(pairs_csv.parent / row["img_b"])
            if a is None or b is None:
                skipped += 1
                continue
            (genuine if row["same"] == "1" else impostor).append(float(a @ b))
    return Verification(label, PairScores(np.array(genuine), np.array(impostor)), skipped)


def lfw_verification(pairs_csv: Path, emb_a: FaceEmbedder, emb_b: FaceEmbedder, label: str) -> Verification:
    """small_lfw pairs (aligned crops): ``img_a`` by one embedder, ``img_b`` by another."""
    if emb_a is emb_b:
        return Verification(label, lfw_pair_scores(pairs_csv, emb_a))
    from peoplelens.models.face_embedder import resize_for_embedding

    genuine: list[float] = []
    impostor: list[float] = []
    with open(pairs_csv) as fh:
        for row in csv.DictReader(fh):
            a = emb_a.embed_aligned(resize_for_embedding(load_image(pairs_csv.parent / row["img_a"]))[None])[0]
            b = emb_b.embed_aligned(resize_for_embedding(load_image(pairs_csv.parent / row["img_b"]))[None])[0]
            (genuine if row["same"] == "1" else impostor).append(float(a @ b))
    return Verification(label, PairScores(np.array(genuine), np.array(impostor)))


@dataclass
class ProbeResult:
    """The held-out probe photos against the float enrolment gallery, named at the identity threshold."""

    label: str
    right: int = 0
    wrong: int = 0
    unnamed: int = 0
    worst_true: float = 1.0  # lowest best-score of the true name
    best_other: float = -1.0  # highest best-score of any other name


def probe_identification(gallery_path: FacePath, probe_path: FacePath, enroll: Path, threshold: float = 0.40,
                         ) -> ProbeResult:
    """Every probe photo (``faces/probe``) against a gallery of every enrolment photo embedded by ``gallery_path``:
    the best name at ``threshold`` or above, else unnamed."""
    names, vectors, owner = [], [], []
    for person in sorted(p for p in enroll.iterdir() if p.is_dir()):
        for photo in sorted(person.glob("*.jpg")):
            v = gallery_path.embed_photo(photo)
            if v is not None:
                if person.name not in names:
                    names.append(person.name)
                vectors.append(v)
                owner.append(names.index(person.name))
    gallery, owner_arr = np.stack(vectors), np.asarray(owner)
    out = ProbeResult(probe_path.label)
    for person in sorted(p for p in (enroll.parent / "probe").iterdir() if p.is_dir()):
        for photo in sorted(person.glob("*.jpg")):
            v = probe_path.embed_photo(photo)
            if v is None:
                out.unnamed += 1
                continue
            sims = gallery @ v
            per_name = np.array([sims[owner_arr == j].max() for j in range(len(names))])
            best = int(np.argmax(per_name))
            true = names.index(person.name) if person.name in names else -1
            if true >= 0:
                out.worst_true = min(out.worst_true, float(per_name[true]))
                out.best_other = max(out.best_other, float(np.delete(per_name, true).max()))
            if per_name[best] < threshold:
                out.unnamed += 1
            elif best == true:
                out.right += 1
            else:
                out.wrong += 1
    return out


# ---- face-detector recall -----------------------------------------------------------------------------------------
def recall_by_width(manager: AssetManager, model: str, widths: tuple[int, ...] = (12, 16, 20, 24, 32, 48),
                    ) -> tuple[int, dict[str, dict[int, int]]]:
    """``bench/detector_range``'s method at the pipeline's 640 px: each enrolment face scaled to a width in a
    640x480 frame; found = a detection with IoU >= 0.3. Returns (faces, {precision: {width: found}})."""
    enroll = manager.path("data/faces/enroll/barack_obama/fr_01.jpg").parents[1]
    photos = sorted(p for p in enroll.rglob("*.jpg"))
    faces = face_boxes(photos, model)  # truth: the float detector at full resolution, as detector_range does
    detectors = {p: create_face_detector(FaceDetectorOptions(model=model, max_side=640, precision=p), manager,
                                         ONE_THREAD) for p in ("fp32", "int8")}
    found = {p: dict.fromkeys(widths, 0) for p in detectors}
    for width in widths:
        for image, box in faces:
            frame, truth = place(image, box, width)
            for p, det in detectors.items():
                dets = det.detect(frame)
                if len(dets) and float(box_iou(truth[None], dets.boxes).max()) >= 0.3:
                    found[p][width] += 1
    return len(faces), found


def _dlib_boxes(xml_path: Path, ignored: bool = False) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for image in ET.parse(xml_path).getroot().iter("image"):
        boxes = []
        for b in image.iter("box"):
            if (b.get("ignore") == "1") == ignored:
                x, y, w, h = (int(b.get(k, "0")) for k in ("left", "top", "width", "height"))
                boxes.append([x, y, x + w, y + h])
        out[image.get("file", "")] = np.array(boxes, dtype=np.float32).reshape(-1, 4)
    return out


def dlib_recall(manager: AssetManager, model: str) -> dict[str, tuple[int, int, int]]:
    """Per precision: (found, total, false positives >= 24 px) on the dlib face boxes (IoU >= 0.3)."""
    folder = manager.path("data/detection/dlib_faces/testing.xml").parent
    truth = _dlib_boxes(folder / "testing.xml") | _dlib_boxes(folder / "training.xml")
    ignored = _dlib_boxes(folder / "testing.xml", True) | _dlib_boxes(folder / "training.xml", True)
    out: dict[str, tuple[int, int, int]] = {}
    for precision in ("fp32", "int8"):
        det = create_face_detector(FaceDetectorOptions(model=model, precision=precision), manager, ONE_THREAD)
        hits = total = false_pos = 0
        for name, boxes in truth.items():
            faces = det.detect(load_image(folder / name))
            hits += int((box_iou(boxes, faces.boxes).max(axis=1) >= 0.3).sum()) if len(faces) else 0
            total += len(boxes)
            any_face = np.concatenate([boxes, ignored.get(name, np.zeros((0, 4), np.float32))])
            unmatched = box_iou(any_face, faces.boxes).max(axis=0, initial=0) < 0.3
            false_pos += int((unmatched & (faces.widths >= 24)).sum())
        out[precision] = (hits, total, false_pos)
    return out


def mot_face_recall(manager: AssetManager, model: str) -> dict[str, tuple[int, int]]:
    """Per precision: (found, total) of the hand-checked face boxes of the held-out pedestrian clip, on its frames
    fitted to 640x360 as the pipeline gets them (IoU >= 0.3)."""
    video = manager.path(HELD_OUT_VIDEO)
    gt_file = manager.path("data/videos/royal_opera_pedestrians.faces_gt_mot.txt")
    boxes: dict[int, list[list[float]]] = {}
    for line in gt_file.read_text().splitlines():
        parts = line.split(",")
        if len(parts) >= 6:
            f, x, y, w, h = int(parts[0]), *map(float, parts[2:6])
            boxes.setdefault(f - 1, []).append([x, y, x + w, y + h])
    frames = _frames_at(video, sorted(boxes))
    detectors = {p: create_face_detector(FaceDetectorOptions(model=model, precision=p), manager, ONE_THREAD)
                 for p in ("fp32", "int8")}
    out = {p: [0, 0] for p in detectors}
    for index, image in frames.items():
        small = fit_frame(image)
        scale = small.shape[1] / image.shape[1]
        truth = np.array(boxes[index], np.float32) * scale
        for p, det in detectors.items():
            faces = det.detect(small)
            out[p][0] += int((box_iou(truth, faces.boxes).max(axis=1) >= 0.3).sum()) if len(faces) else 0
            out[p][1] += len(truth)
    return {p: (v[0], v[1]) for p, v in out.items()}


def _frames_at(video: Path, indices: list[int]) -> dict[int, np.ndarray]:
    import cv2

    cap = cv2.VideoCapture(str(video))
    out: dict[int, np.ndarray] = {}
    index, wanted = 0, set(indices)
    while len(out) < len(wanted):
        ok, image = cap.read()
        if not ok:
            break
        if index in wanted:
            out[index] = image
        index += 1
    cap.release()
    return out


# ---- person-detector agreement ------------------------------------------------------------------------------------
def person_agreement(manager: AssetManager, videos: tuple[str, ...], per_video: int = 30, iou: float = 0.5,
                     ) -> dict[str, tuple[int, int, int]]:
    """Per video: (float persons, of them found by int8 at IoU >= ``iou``, int8 persons matching no float one).
    The float model's boxes are the reference: this is agreement with it, not accuracy against truth."""
    dets = {p: PersonDetector.from_registry(PersonDetectorOptions(tiles=0, precision=p), manager, ONE_THREAD)
            for p in ("fp32", "int8")}
    out: dict[str, tuple[int, int, int]] = {}
    for name in videos:
        ref = found = extra = 0
        for frame in video_frames(manager.path(name), per_video):
            a, b = dets["fp32"].detect(frame), dets["int8"].detect(frame)
            ref += len(a)
            if len(a) and len(b):
                m = box_iou(a.boxes, b.boxes)
                found += int((m.max(axis=1) >= iou).sum())
                extra += int((m.max(axis=0) < iou).sum())
            else:
                extra += len(b)
        out[name] = (ref, found, extra)
    return out
