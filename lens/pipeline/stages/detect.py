"""The wide pass: faces (SCRFD/YuNet) on the whole frame shrunk once to the detector's input, bodies (YOLOX) on the
whole frame plus, at high resolution, a full-resolution tile around the gaze; and each face's quality (aligned crop
when blur counts). Boxes and keypoints are in the frame's own pixels."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from peoplelens.core.types import Detections
from peoplelens.lens.perception.face_quality import FaceQualityConfig, face_qualities
from peoplelens.lens.perception.tracking import warp_boxes
from peoplelens.lens.pipeline.frame_state import FrameState
from peoplelens.lens.pipeline.stage import Workers
from peoplelens.models.face_detector import FaceDetector
from peoplelens.models.face_embedder import FaceEmbedder
from peoplelens.models.images import downscale
from peoplelens.models.person_detector import PersonDetector, gaze_window


def shrink(image: np.ndarray, max_side: int) -> tuple[np.ndarray, tuple[float, float]]:
    """``image`` fitted inside ``max_side`` (aspect kept, never enlarged; :func:`downscale`: area halvings, then
    bilinear) and the factors (x, y) from its pixels back to the image's."""
    h, w = image.shape[:2]
    if max(w, h) <= max_side:
        return image, (1.0, 1.0)
    s = max_side / max(w, h)
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    return downscale(image, (nw, nh)), (w / nw, h / nh)


def to_frame_pixels(faces: Detections, factors: tuple[float, float]) -> Detections:
    """Detections on a shrunk copy -> the frame's pixels (boxes and keypoints)."""
    if factors == (1.0, 1.0) or not len(faces):
        return faces
    sx, sy = factors
    kps = None if faces.keypoints is None else (faces.keypoints * np.array([sx, sy], np.float32)).astype(np.float32)
    return Detections((faces.boxes * np.array([sx, sy, sx, sy], np.float32)).astype(np.float32), faces.scores,
                      keypoints=kps, data=dict(faces.data))


def _one_thread(detector: FaceDetector) -> bool:
    """Whether the detector's ONNX Runtime session computes in the calling thread only."""
    session = getattr(detector, "session", None)
    return session is not None and session.get_session_options().intra_op_num_threads == 1


class DetectFacesStage:
    """Faces with 5 keypoints on the frames that run the face detector (an empty set on the others).

    A frame larger than the detector's input (``max_side``, 640) is shrunk once (:func:`downscale`: 2.5 ms of CPU
    for 1920x1080 -> 640x360, where one area resize costs 7.5), and the faces are mapped back to the frame's
    pixels: the full frame is left for the foveal windows. ``beside_bodies`` is a one-thread session of the same
    model used on the frames where the body detector runs at the same time (both cores are taken then, and a
    one-thread session is faster)."""

    name = "detect_faces"
    reads = frozenset({"frame", "run_faces", "run_people"})
    writes = frozenset({"wide_faces", "wide_cpu_ms"})

    def __init__(self, detector: FaceDetector, beside_bodies: FaceDetector | None = None) -> None:
        self.detector = detector
        self.beside_bodies = beside_bodies or detector
        self._one_thread = {id(d): _one_thread(d) for d in (self.detector, self.beside_bodies)}

    def run(self, state: FrameState) -> None:
        """Detect faces (or leave none when the schedule says so); the pass's CPU time when it is measurable in
        this thread (a one-thread session: foveation budgets its windows by it)."""
        state.wide_cpu_ms = None
        if state.run_faces:
            detector = self.beside_bodies if state.run_people else self.detector
            c0 = time.thread_time()
            image, factors = shrink(state.frame.image, detector.options.max_side)
            state.wide_faces = to_frame_pixels(detector.detect(image), factors)
            if self._one_thread[id(detector)]:
                state.wide_cpu_ms = 1000.0 * (time.thread_time() - c0)
        else:
            state.wide_faces = Detections.empty(num_keypoints=5)

    def reset(self) -> None:
        """Nothing to forget."""


class DetectPeopleStage:
    """Bodies on the frames that run the body detector (``detected_bodies``; :class:`BodiesStage` decides which
    frame's tracker update they join); ``latest_bodies`` carries the newest ones forward.

    With ``gaze_tile_px`` the detector also runs on a square of that side around the gaze (the image centre) at
    full resolution, on frames whose longer side exceeds ``tile_above_px`` (a 640x480 frame runs as before).
    ``beside_faces`` is a one-thread session of the same model for the frames where the face detector runs at the
    same time (as the face stage's ``beside_bodies``: both cores are taken then).

    Several windows (the whole frame and the gaze tile) run in that one-thread session, shared with the stage thread
    (``workers``), one window a thread: on two cores one-thread runs side by side take less time and CPU than the
    same runs one after the other on two threads each (YOLOX-Nano, 1920x1080, here: 18 ms a window on one thread,
    14 on two)."""

    name = "detect_people"
    reads = frozenset({"frame", "run_people", "run_faces"})
    writes = frozenset({"detected_bodies", "latest_bodies"})

    def __init__(self, detector: PersonDetector | None, gaze_tile_px: int = 0, tile_above_px: int = 0,
                 beside_faces: PersonDetector | None = None, workers: Workers | None = None) -> None:
        self.detector = detector
        self.beside_faces = beside_faces or detector
        self.gaze_tile_px, self.tile_above_px = gaze_tile_px, tile_above_px
        self.workers = workers or Workers(0)
        self._latest: Detections | None = None

    def run(self, state: FrameState) -> None:
        """Detect bodies when scheduled."""
        state.detected_bodies = None
        detector = self.beside_faces if state.run_faces else self.detector
        if state.run_people and detector is not None:
            image = state.frame.image
            h, w = image.shape[:2]
            tiles = ([gaze_window(w, h, self.gaze_tile_px)] if self.gaze_tile_px and max(w, h) > self.tile_above_px
                     else [])
            one_thread, windows = self.beside_faces, len(detector.windows(w, h)) + len(tiles)
            if self.workers.pool is not None and one_thread is not None and windows > 1:
                bodies = one_thread.detect(image, tiles, split=self.workers.split)  # one window a thread
            else:
                bodies = detector.detect(image, tiles)
            state.detected_bodies = self._latest = bodies
        state.latest_bodies = self._latest

    def reset(self) -> None:
        """Forget the last bodies."""
        self._latest = None


class BodiesStage:
    """The bodies the tracker sees with this frame's faces.

    Bodies detected on a frame with the wide face pass join that frame's update. Bodies detected on a frame without
    it (the schedule runs the body detector on the frame before a face frame, so that the two detectors' costs do
    not fall on one frame) wait for the next frame and join its update moved by the image motion between the two
    (the head rotation; a person's own step in one frame is small beside a body box). The tracker pairs faces with
    bodies of one update, so they must meet there: bodies on a frame of their own split a person turning to profile
    (face lost, body kept) into two tracks. A view jump drops the waiting bodies (their pixels no longer map)."""

    name = "bodies"
    reads = frozenset({"detected_bodies", "run_faces", "image_motion", "view_jumped"})
    writes = frozenset({"bodies"})

    def __init__(self) -> None:
        self._waiting: Detections | None = None

    def run(self, state: FrameState) -> None:
        """This frame's bodies, the previous frame's moved into this one, or None (no body detection to use)."""
        waiting, self._waiting = self._waiting, None
        detected = state.detected_bodies
        if detected is not None and not state.run_faces:
            self._waiting, state.bodies = detected, None
        elif detected is not None:
            state.bodies = detected
        elif waiting is not None and not state.view_jumped:
            # (body detections carry no keypoints to move)
            state.bodies = replace(waiting, boxes=warp_boxes(state.image_motion, waiting.boxes).astype(np.float32))
        else:
            state.bodies = None

    def reset(self) -> None:
        """Forget the waiting bodies."""
        self._waiting = None


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
