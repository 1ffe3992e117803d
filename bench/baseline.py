"""The obvious baseline: insightface ``FaceAnalysis.get()`` on every frame, then every face matched against the
enrolled vectors (max cosine per name >= 0.35 gives the name), per frame, with no tracking.

It uses the project's own model files (the same SCRFD detector as the pipeline's default and the same
ArcFace-128 embedder), symlinked into a temporary insightface "model pack" so insightface routes them itself.

Enrolment is made as fair as the product's: a photo in which insightface finds no face is tried once more padded
by 50 % per side, as the product's enrolment does (``FaceDetectorOptions.pad_retry``). ``FaceAnalysis`` scales
every image to 640x640, so a tight ~150 px face crop becomes a face larger than SCRFD's anchors and is missed:
without the retry the baseline enrolled 6 of the 19 sample people (no face in 72 of 82 photos), and its identity
precision measured its enrolment, not its recognition.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from peoplelens.core.extras import require
from peoplelens.models.assets import asset_path
from peoplelens.models.images import load_image

MATCH_THRESHOLD = 0.35
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")


def require_insightface():
    """The ``insightface.app`` module, or a clear error naming the ``baseline`` extra."""
    return require("insightface.app", extra="baseline",
                   feature="the benchmark's insightface baseline (or run `peoplelens bench --skip-baseline`)")


def provider_list(providers: str) -> list[str]:
    """ORT provider names for the benchmark's ``--providers`` choice."""
    return ["CUDAExecutionProvider", "CPUExecutionProvider"] if providers == "cuda" else ["CPUExecutionProvider"]


@dataclass
class BaselineGallery:
    """Raw (unprotected) unit embeddings of the enrolled photos: ``vectors[i]`` belongs to ``names[owner[i]]``."""

    names: list[str] = field(default_factory=list)
    vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 128), np.float32))
    owner: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    photos: int = 0  # enrolment photos looked at
    photos_without_face: int = 0  # ... in which no face was found (after the padded retry when it is on)
    found_after_padding: int = 0  # ... in which a face was found only in the padded retry

    def match(self, embeddings: np.ndarray, threshold: float = MATCH_THRESHOLD) -> list[str | None]:
        """Per embedding: the name whose best (max cosine) enrolled vector is >= ``threshold``, else None."""
        if len(embeddings) == 0 or len(self.vectors) == 0:
            return [None] * len(embeddings)
        sims = embeddings @ self.vectors.T  # (F, M)
        per_name = np.full((len(embeddings), len(self.names)), -np.inf, np.float32)
        for j in range(len(self.names)):
            cols = self.owner == j
            if cols.any():
                per_name[:, j] = sims[:, cols].max(axis=1)
        best = per_name.argmax(axis=1)
        return [self.names[b] if per_name[i, b] >= threshold else None for i, b in enumerate(best)]


class Baseline:
    """insightface FaceAnalysis over the project's models; ``process(bgr)`` gives the names of the frame's faces."""

    def __init__(self, detector: str = "det_500m", providers: str = "cpu", det_size: int = 640,
                 threads: int | None = None, spinning: bool = True, enrol_pad_retry: bool = True) -> None:
        """``threads``: ORT intra-op threads per session (None: ONNX Runtime's default session options, one
        thread per core with spin-waiting, as insightface users get them); ``spinning=False`` stops idle
        intra-op threads spin-waiting (only with ``threads``); ``enrol_pad_retry``: enrolment photos without a
        face are tried again padded, as the product's enrolment does."""
        import onnxruntime as ort

        FaceAnalysis = require_insightface().FaceAnalysis
        self.detector = detector
        self.threads = threads
        self.enrol_pad_retry = enrol_pad_retry
        self._tmp = tempfile.TemporaryDirectory(prefix="peoplelens-bench-baseline-")
        pack = Path(self._tmp.name) / "models" / "pl_pack"
        pack.mkdir(parents=True)
        os.symlink(asset_path(detector), pack / f"{detector}.onnx")
        os.symlink(asset_path("arcface_mobileface128"), pack / "w_arcface.onnx")
        with contextlib.redirect_stdout(io.StringIO()):  # insightface prints every model it finds
            kwargs: dict = {"providers": provider_list(providers)}
            if threads is not None:
                opts = ort.SessionOptions()
                opts.intra_op_num_threads = threads
                opts.inter_op_num_threads = 1
                opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
                kwargs["sess_options"] = opts
            self.app = FaceAnalysis(name="pl_pack", root=self._tmp.name, allowed_modules=["detection", "recognition"],
                                    **kwargs)
            self.app.prepare(ctx_id=-1 if providers == "cpu" else 0, det_size=(det_size, det_size))
        self.gallery = BaselineGallery()

    def close(self) -> None:
        """Remove the temporary model pack folder."""
        self._tmp.cleanup()

    def faces(self, bgr: np.ndarray) -> list:
        """insightface faces (with ``normed_embedding``) of one BGR image."""
        return self.app.get(bgr)

    def enrolment_faces(self, image: np.ndarray) -> tuple[list, bool]:
        """insightface faces of an enrolment photo, and whether they were found only in the padded retry (the
        product's rule: pad by half the longer side on every side, black, once)."""
        faces = self.faces(image)
        if faces or not self.enrol_pad_retry:
            return faces, False
        pad = max(image.shape[:2]) // 2
        padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
        faces = self.faces(padded)
        return faces, bool(faces)

    def enroll_folder(self, folder: Path) -> float:
        """Enrol ``folder/<person>/*.jpg``: the largest face of each photo; returns the seconds it took."""
        t0 = time.perf_counter()
        names, vectors, owner = [], [], []
        counts = BaselineGallery()
        for person in sorted(p for p in folder.iterdir() if p.is_dir()):
            for photo in sorted(p for p in person.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES):
                counts.photos += 1
                faces, padded = self.enrolment_faces(load_image(photo))
                counts.found_after_padding += int(padded)
                if not faces:
                    counts.photos_without_face += 1
                    continue
                face = max(faces, key=lambda f: float((f.bbox[2] - f.bbox[0]) * (f.bbox[3] - f.bbox[1])))
                if person.name not in names:
                    names.append(person.name)
                vectors.append(np.asarray(face.normed_embedding, np.float32))
                owner.append(names.index(person.name))
        self.gallery = counts
        if vectors:
            self.gallery = BaselineGallery(names, np.stack(vectors), np.asarray(owner), counts.photos,
                                           counts.photos_without_face, counts.found_after_padding)
        return time.perf_counter() - t0

    def process(self, bgr: np.ndarray) -> list[str]:
        """Names given in this frame (one entry per named face); faces below the threshold give nothing."""
        faces = self.faces(bgr)
        if not faces:
            return []
        emb = np.stack([np.asarray(f.normed_embedding, np.float32) for f in faces])
        return [n for n in self.gallery.match(emb) if n is not None]
