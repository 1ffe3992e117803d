"""Enrolment from photos: per-photo quality feedback and enrolment of the good ones.

A photo is usable when exactly one dominant face is found, it is big enough and sharp enough. Each usable
photo is also put in a coarse pose bin from its 5 keypoints, so the user can be told which views are still
missing. Photos are decoded in memory and dropped; only the raw embedding is kept until it is protected. Every
refusal says which photo, what was measured, and what to change when retaking it.

Thresholds, measured with ``python -m peoplelens.bench.face_quality_accuracy`` (every sample enrolment photo shrunk
or blurred, enrolled, and compared with the held-out probe photos; the rule: the mean genuine cosine stays within
0.02 of the same photo at full size and at most 2 points more genuine comparisons fall below the identity accept
threshold):

* size: face box width >= 55 px. Genuine cosine lost against the full-size photo: 0.007 at 100 px, 0.010 at 80,
  0.013 at 70, 0.017 at 60, 0.020 at 55, 0.026 at 50, 0.049 at 40 (the old 100 px minimum refused ordinary
  82-99 px phone photos for no measurable gain);
* sharpness: :func:`peoplelens.lens.perception.face_quality.sharpness` (variance of the Laplacian over the inner
  face of the aligned 112x112 crop) >= 28: at a blur that costs 0.016 of genuine cosine 90 % of the photos keep 28
  or more; the next blur step (sharpness p10 18) costs 0.039. Small sharp faces measure lower (60 px faces: p10
  36), so the size and sharpness gates do not refuse the same photo twice;
* agreement: with several photos, each must match another photo of the set at cosine >= 0.35 (the one-shot
  verification threshold: genuine photo pairs of the samples >= 0.41): a photo of somebody else would later put
  this name on that person;
* pose: yaw ratio = nose offset from the eye midpoint / inter-ocular distance (eye line levelled): frontal
  photos -0.27..0.27, so |yaw| > 0.3 is "turned"; pitch ratio = nose depth between eye line (0) and mouth
  line (1): frontal 0.35..0.79, < 0.36 is "up", > 0.8 is "down".

Pose names are from the photographed person's point of view: ``turned_left`` = they turned their head to
their own left (nose towards image-right).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from peoplelens.lens.perception.face_quality import sharpness
from peoplelens.models.errors import ImageDecodeError
from peoplelens.models.face_detector import FaceDetector, FaceDetectorOptions, create_face_detector
from peoplelens.models.face_embedder import FaceEmbedder
from peoplelens.models.images import decode_image, ensure_bgr
from peoplelens.registration_app.errors import EnrolmentError
from peoplelens.registration_app.store import PeopleStore, PersonRecord, normalise_name

POSE_BINS = ("frontal", "turned_left", "turned_right", "up", "down")
REQUIRED_BINS = ("frontal", "turned_left", "turned_right")


@dataclass(frozen=True)
class EnrolmentOptions:
    """Photo quality thresholds (config section ``[registration]``)."""

    detector: str | None = None  # photo face detector; None = det_2.5g (research set) or the set's own
    min_face_px: float = 55.0  # measured, see the module docstring
    min_sharpness: float = 28.0  # measured, see the module docstring
    min_photo_agreement: float = 0.35  # each photo must match another of the set this well (several photos)
    similar_warning: float = 0.50  # warn when the new person matches someone already enrolled this well
    second_face_ratio: float = 0.5  # another face with >= this fraction of the biggest face's area = ambiguous
    yaw_turn: float = 0.3
    max_yaw: float = 0.9  # beyond this the face is near profile: not usable for recognition
    pitch_up: float = 0.36
    pitch_down: float = 0.80
    max_photo_side: int = 4096  # larger photos are scaled down before detection


@dataclass
class PhotoFeedback:
    """What one photo is worth for enrolment; ``messages`` tell the user what to change."""

    ok: bool
    face_found: bool
    n_faces: int = 0
    face_px: float = 0.0
    big_enough: bool = False
    sharpness: float = 0.0
    sharp_enough: bool = False
    pose: str | None = None
    yaw_ratio: float = 0.0
    pitch_ratio: float = 0.0
    messages: list[str] = field(default_factory=list)
    embedding: np.ndarray | None = field(default=None, repr=False)  # raw, in memory only
    embedder: str = ""  # the registry name of the embedder that made ``embedding``

    def to_dict(self) -> dict:
        """JSON-friendly view (without the embedding)."""
        d = asdict(self)
        d.pop("embedding")
        d.pop("embedder")
        return d


@dataclass
class EnrolReport:
    """The outcome of enrolling one person from a set of photos."""

    name: str
    enrolled: bool
    n_photos: int
    n_used: int
    rejected: list[tuple[int, list[str]]]  # (photo index, reasons)
    pose_bins_done: list[str]
    pose_bins_missing: list[str]
    record: PersonRecord | None = None
    name_audio: str = "none"  # "espeak-ng", "clip", "none", or why it failed
    message: str = ""
    warnings: list[str] = field(default_factory=list)  # e.g. looks like someone already enrolled

    def to_dict(self) -> dict:
        """JSON-friendly view."""
        d = asdict(self)
        d["rejected"] = [{"photo": i, "reasons": r} for i, r in self.rejected]
        return d


class FaceAnalyzer:
    """The detector + embedder pair used for enrolment (thread-safe: one inference at a time)."""

    def __init__(self, detector: FaceDetector, embedder: FaceEmbedder) -> None:
        self.detector, self.embedder = detector, embedder
        self.lock = threading.Lock()

    @classmethod
    def create(cls, options: EnrolmentOptions | None = None, config: dict | None = None) -> FaceAnalyzer:
        """Load the configured ``[models]`` set's embedder (the runtime's, so enrolled vectors match what it sees)
        and a photo face detector: ``[registration] detector``, else det_2.5g for the research set (its most
        accurate keypoints) or the set's own; padded retry on, for photos in which the face fills the frame."""
        from peoplelens.core.config import load_config
        from peoplelens.models.face_embedder import FaceEmbedderOptions
        from peoplelens.models.model_sets import configured_model_set

        options = options or EnrolmentOptions()
        models = configured_model_set(load_config() if config is None else config)
        detector = options.detector or ("det_2.5g" if models.name == "research" else models.face_detector)
        det = create_face_detector(FaceDetectorOptions(model=detector, pad_retry=True))
        return cls(det, FaceEmbedder.from_registry(FaceEmbedderOptions(model=models.embedder)))


def load_options() -> EnrolmentOptions:
    """Thresholds from the ``[registration]`` section of the config file (``--config`` / $PEOPLELENS_CONFIG)."""
    from peoplelens.core.config import load_config, section

    return section(load_config(), "registration", EnrolmentOptions)


_default: FaceAnalyzer | None = None
_default_lock = threading.Lock()


def default_analyzer() -> FaceAnalyzer:
    """A process-wide analyzer, loaded on first use."""
    global _default
    with _default_lock:
        if _default is None:
            _default = FaceAnalyzer.create()
        return _default


def pose_ratios(keypoints: np.ndarray) -> tuple[float, float, float]:
    """(yaw ratio, pitch ratio, inter-ocular px) from 5 keypoints, after levelling the eye line (roll)."""
    k = np.asarray(keypoints, dtype=np.float64).reshape(5, 2)
    eye_mid, mouth_mid = (k[0] + k[1]) / 2, (k[3] + k[4]) / 2
    v = k[1] - k[0]
    iod = float(np.hypot(*v))
    if iod < 1e-6:
        return 0.0, 0.5, 0.0
    c, s = v / iod
    rot = np.array([[c, s], [-s, c]])  # rotates the eye line onto +x
    nose, mouth = rot @ (k[2] - eye_mid), rot @ (mouth_mid - eye_mid)
    return float(nose[0] / iod), float(nose[1] / mouth[1]) if mouth[1] > 1e-6 else 0.5, iod


def pose_bin(yaw: float, pitch: float, options: EnrolmentOptions) -> str:
    """The coarse pose bin of a face (subject's point of view)."""
    if yaw > options.yaw_turn:
        return "turned_left"
    if yaw < -options.yaw_turn:
        return "turned_right"
    if pitch < options.pitch_up:
        return "up"
    if pitch > options.pitch_down:
        return "down"
    return "frontal"


def _to_image(photo: np.ndarray | bytes | str | Path, options: EnrolmentOptions) -> np.ndarray:
    if isinstance(photo, bytes | bytearray | memoryview):
        image = decode_image(bytes(photo), what="photo")
    elif isinstance(photo, str | Path):
        try:
            image = decode_image(Path(photo).read_bytes(), what=str(photo))
        except OSError as exc:
            raise ImageDecodeError(f"cannot read photo {photo}: {exc}") from exc
    else:
        image = ensure_bgr(photo)
    h, w = image.shape[:2]
    if max(h, w) > options.max_photo_side:
        scale = options.max_photo_side / max(h, w)
        image = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    return image


def assess_photo(
    image: np.ndarray | bytes | str | Path, analyzer: FaceAnalyzer | None = None,
    options: EnrolmentOptions | None = None,
) -> PhotoFeedback:
    """Check one photo (BGR array, encoded bytes or a file path): face found, one dominant face, size,
    sharpness, pose bin; computes the raw embedding of a usable face. Bad image data gives a not-ok
    feedback with the reason (never an exception)."""
    options = options or EnrolmentOptions()
    analyzer = analyzer or default_analyzer()
    try:
        img = _to_image(image, options)
    except ImageDecodeError as exc:
        return PhotoFeedback(ok=False, face_found=False, messages=[f"not a usable image: {exc}"])
    with analyzer.lock:
        faces = analyzer.detector.detect(img)
    if len(faces) == 0:
        return PhotoFeedback(ok=False, face_found=False,
                             messages=["no face found: face the camera in good light, fill about a third of the frame"])
    order = np.argsort(-faces.areas)
    main = int(order[0])
    fb = PhotoFeedback(ok=False, face_found=True, n_faces=len(faces))
    if len(faces) > 1 and faces.areas[order[1]] >= options.second_face_ratio * faces.areas[main]:
        fb.messages.append(f"{len(faces)} faces of similar size: only the person to enrol should be in the photo "
                           "(retake it, or crop the others out)")
    assert faces.keypoints is not None  # the face detectors always give 5 keypoints
    kps = faces.keypoints[main]
    fb.face_px = float(faces.widths[main])
    fb.big_enough = fb.face_px >= options.min_face_px
    if not fb.big_enough:
        fb.messages.append(f"face too small ({fb.face_px:.0f} px wide, need {options.min_face_px:.0f}): retake it "
                           "from closer, at the camera's full resolution")
    fb.yaw_ratio, fb.pitch_ratio, _ = pose_ratios(kps)
    fb.pose = pose_bin(fb.yaw_ratio, fb.pitch_ratio, options)
    if abs(fb.yaw_ratio) > options.max_yaw:
        fb.messages.append("face turned too far (near profile): turn back towards the camera a little")
    with analyzer.lock:
        crop = analyzer.embedder.align(img, kps[None])
        fb.sharpness = sharpness(crop[0])
        fb.sharp_enough = fb.sharpness >= options.min_sharpness
        if not fb.sharp_enough:
            fb.messages.append(f"photo is blurry (sharpness {fb.sharpness:.0f}, need {options.min_sharpness:.0f}): "
                               "retake it holding the phone still, in more light, focused on the face")
        fb.ok = not fb.messages
        if fb.ok:
            fb.embedding = analyzer.embedder.embed_aligned(crop)[0]
            fb.embedder = analyzer.embedder.spec.name
    if fb.ok:
        fb.messages.append(f"good photo ({fb.pose.replace('_', ' ')})")
    return fb


def pose_coverage(feedbacks: Iterable[PhotoFeedback]) -> tuple[list[str], list[str]]:
    """(pose bins covered by usable photos, bins still missing), in :data:`POSE_BINS` order."""
    done = {fb.pose for fb in feedbacks if fb.ok and fb.pose}
    return [b for b in POSE_BINS if b in done], [b for b in POSE_BINS if b not in done]


def disagreeing_photos(embeddings: np.ndarray, minimum: float, others: np.ndarray | None = None
                       ) -> dict[int, float]:
    """Photos that match none of the other photos of the set (nor ``others``, the person's vectors already
    enrolled) at cosine >= ``minimum``: {index: best cosine}. Needs at least two vectors to compare."""
    vectors = np.asarray(embeddings, np.float32)
    if len(vectors) == 0:
        return {}
    vectors = vectors.reshape(len(vectors), -1)
    pool = vectors if others is None or len(others) == 0 else np.concatenate([vectors, others])
    if len(pool) < 2:
        return {}
    cos = vectors @ pool.T
    cos[np.arange(len(vectors)), np.arange(len(vectors))] = -1.0  # not with itself
    best = cos.max(1)
    return {i: float(b) for i, b in enumerate(best) if b < minimum}


def _similar_people(store: PeopleStore, name: str, protected: np.ndarray, threshold: float) -> list[tuple[str, float]]:
    """Already enrolled people (other than ``name``) whom the new photos match at ``threshold`` or more."""
    gallery = store.gallery()
    out = []
    for k, other in enumerate(gallery.names):
        if other.casefold() == name.casefold():
            continue
        best = float((protected @ gallery.vectors[gallery.owner == k].T).max()) if len(protected) else -1.0
        if best >= threshold:
            out.append((other, best))
    return sorted(out, key=lambda x: -x[1])


def enroll_feedbacks(
    store: PeopleStore, name: str, feedbacks: Sequence[PhotoFeedback],
    name_clip: bytes | str | Path | None = None, speak: bool = True, options: EnrolmentOptions | None = None,
) -> EnrolReport:
    """Enrol ``name`` from already-assessed photos; nothing is stored if no photo is usable.

    Usable photos must also agree with each other (and with the person's photos already enrolled): one that
    matches none of them is refused, since a photo of somebody else would later put this name on that person.
    The report warns when the new photos look like someone already enrolled. The spoken name comes from
    ``name_clip`` (WAV) if given, else espeak-ng when ``speak``; a failure there is reported but does not undo the
    enrolment (the runtime can still synthesise the name)."""
    from peoplelens.registration_app.name_audio import read_clip, speak_name

    options = options or EnrolmentOptions()
    clean = normalise_name(name)
    clip = read_clip(name_clip) if name_clip is not None else None  # a bad clip is refused before enrolling
    rejected = [(i, list(fb.messages)) for i, fb in enumerate(feedbacks) if not fb.ok]
    usable = [i for i, fb in enumerate(feedbacks) if fb.ok and fb.embedding is not None]
    raw = [fb.embedding for fb in feedbacks if fb.ok and fb.embedding is not None]  # in the order of usable
    gallery = store.gallery()
    mine = [k for k, n in enumerate(gallery.names) if n.casefold() == clean.casefold()]
    enrolled_before = gallery.vectors[np.isin(gallery.owner, mine)] if mine else None
    protected = store.protect(np.stack(raw)) if usable else np.zeros((0, 128))
    odd = disagreeing_photos(protected, options.min_photo_agreement, enrolled_before)
    for j, best in odd.items():
        rejected.append((usable[j], [f"does not look like the other photos of {clean} (best match {best:.2f}, need "
                                     f"{options.min_photo_agreement:.2f}): check that it shows {clean}, or retake it "
                                     "facing the camera in good light"]))
    rejected.sort()
    keep = [j for j in range(len(usable)) if j not in odd]
    ok_feedbacks = [feedbacks[usable[j]] for j in keep]
    done, missing = pose_coverage(ok_feedbacks)
    good = [raw[j] for j in keep]
    report = EnrolReport(clean, False, len(feedbacks), len(good), rejected, done, missing)
    if not good:
        report.message = ("nothing enrolled: no usable photo" if feedbacks else "nothing enrolled: no photo given") \
            + ("; the photos do not look like one person" if odd else "")
        return report
    similar = _similar_people(store, clean, protected[keep], options.similar_warning)
    embedder = feedbacks[usable[keep[0]]].embedder
    report.record = store.enroll(clean, np.stack(good), embedder=embedder)
    report.enrolled = True
    try:
        if clip is not None:
            store.set_name_audio(clean, *clip)
            report.name_audio = "clip"
        elif speak and not report.record.has_name_audio:
            store.set_name_audio(clean, *speak_name(clean))
            report.name_audio = "espeak-ng"
        elif report.record.has_name_audio:
            report.name_audio = "kept"
    except EnrolmentError as exc:
        report.name_audio = f"failed: {exc}"
    report.record = next((p for p in store.people() if p.person_id == report.record.person_id), report.record)
    want = [b for b in REQUIRED_BINS if b in missing]
    report.message = f"enrolled {clean} from {len(good)} photo(s)" + (
        f"; for better recognition add: {', '.join(b.replace('_', ' ') for b in want)}" if want else "")
    report.warnings = [f"{clean} looks like {other} (cosine {cos:.2f}): people who look this alike may be left "
                       "unnamed when both could be in view" for other, cos in similar]
    if report.warnings:
        report.message += "; " + "; ".join(report.warnings)
    return report


def enroll_photos(
    store: PeopleStore, name: str, images: Sequence[np.ndarray | bytes | str | Path],
    analyzer: FaceAnalyzer | None = None, options: EnrolmentOptions | None = None,
    name_clip: bytes | str | Path | None = None, speak: bool = True,
) -> EnrolReport:
    """Assess every photo, then enrol ``name`` from the usable ones (see :func:`enroll_feedbacks`)."""
    normalise_name(name)
    if not images:
        raise EnrolmentError("no photo given")
    feedbacks = [assess_photo(img, analyzer, options) for img in images]
    return enroll_feedbacks(store, name, feedbacks, name_clip=name_clip, speak=speak, options=options)
