"""The detectors: faces (SCRFD/YuNet), bodies (YOLOX), and each face's quality (aligned crop when blur counts)."""

from __future__ import annotations

import numpy as np

from peoplelens.core.types import Detections
from peoplelens.lens.perception.face_quality import FaceQualityConfig, face_qualities
from peoplelens.lens.pipeline.frame_state import FrameState
from peoplelens.models.face_detector import FaceDetector
from peoplelens.models.face_embedder import FaceEmbedder
from peoplelens.models.person_detector import PersonDetector


class DetectFacesStage:
    """Faces with 5 keypoints on the frames that run the face detector (an empty set on the others).

    ``beside_bodies`` is a one-thread session of the same model used on the frames where the body detector runs at
    the same time (both cores are taken then, and a one-thread session is faster than a two-thread one)."""

    name = "detect_faces"
    reads = frozenset({"frame", "run_faces", "run_people"})
    writes = frozenset({"faces"})

    def __init__(self, detector: FaceDetector, beside_bodies: FaceDetector | None = None) -> None:
        self.detector = detector
        self.beside_bodies = beside_bodies or detector

    def run(self, state: FrameState) -> None:
        """Detect faces (or leave none when the schedule says so)."""
        if state.run_faces:
            detector = self.beside_bodies if state.run_people else self.detector
            state.faces = detector.detect(state.frame.image)
        else:
            state.faces = Detections.empty(num_keypoints=5)

    def reset(self) -> None:
        """Nothing to forget."""


class DetectPeopleStage:
    """Bodies on the frames that run the body detector; ``latest_bodies`` carries the newest ones forward."""

    name = "detect_people"
    reads = frozenset({"frame", "run_people"})
    writes = frozenset({"bodies", "latest_bodies"})

    def __init__(self, detector: PersonDetector | None) -> None:
        self.detector = detector
        self._latest: Detections | None = None

    def run(self, state: FrameState) -> None:
        """Detect bodies when scheduled."""
        state.bodies = None
        if state.run_people and self.detector is not None:
            state.bodies = self._latest = self.detector.detect(state.frame.image)
        state.latest_bodies = self._latest

    def reset(self) -> None:
        """Forget the last bodies."""
        self._latest = None


class FaceQualityStage:
    """Each detected face's quality 0..1 (size, pose, detector score, and blur of the aligned crop when
    ``use_blur``: then the crops are made here, once, and the embed stage embeds them)."""

    name = "face_quality"
    reads = frozenset({"frame", "faces"})
    writes = frozenset({"face_crops", "face_quality"})

    def __init__(self, embedder: FaceEmbedder, quality: FaceQualityConfig | None = None,
                 use_blur: bool = False) -> None:
        self.embedder, self.quality, self.use_blur = embedder, quality or FaceQualityConfig(), use_blur

    def run(self, state: FrameState) -> None:
        """Score every face (aligning them first when blur counts)."""
        faces = state.faces
        state.face_crops = None
        if len(faces) == 0 or faces.keypoints is None:
            state.face_quality = np.zeros(len(faces), np.float32)
            return
        if self.use_blur:
            state.face_crops = self.embedder.align(state.frame.image, faces.keypoints)
        state.face_quality = face_qualities(faces.keypoints, faces.scores, aligned_crops=state.face_crops,
                                            config=self.quality)

    def reset(self) -> None:
        """Nothing to forget."""
