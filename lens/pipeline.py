"""The perception pipeline: one call per camera frame turns pixels into People Map updates and audio events.

Per frame (stage names are the keys of ``ProcessResult.timings``):

1. ``world``: the wearer's head orientation — from the IMU when one is given, otherwise estimated from the
   video (background feature motion); also the image motion (homography) the tracker compensates for;
2. ``detect_faces`` (SCRFD, every frame) and ``detect_people`` (YOLOX, every ``people_every`` frames);
3. ``track``: people = bodies paired with faces, tracked with a Kalman motion model and assignment;
4. ``embed``: align + embed only the faces whose track still needs identity evidence (new, identifying, or a
   periodic re-check), batched;
5. ``identity``: per-track evidence accumulation → unseen face / identifying / known NAME / not enrolled;
6. ``pose_gaze``: head pose, both-ears decision, looking-at-wearer (with hysteresis per track);
7. ``people_map``: camera angles + distance → world frame, smoothing, out-of-view persistence;
8. ``experiences``: the sound scheme → ``AudioEvent``s and "seen" signals.

Overlapping stages (``stage_threads = 1``, the default): one helper thread runs independent work beside the
caller's thread: the costly half of the head-rotation estimate (background corner tracking), or on the frames that
run it the body detector, while the face detector runs; then the frame's face embeddings and head poses, shared
between the two threads by their cost. ONNX Runtime and OpenCV release the GIL, so on two cores a detection frame
costs about its longest branch instead of the sum, and each session keeps one intra-op thread (no oversubscription,
no spinning thread pools). The results do not depend on the scheduling: each branch reads only what earlier stages
left and writes its own outputs. ``ProcessResult.timings`` holds each stage's own duration, so overlapping stages
can add up to more than the frame's wall time.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from peoplelens.core.config import load_config, section
from peoplelens.core.state import HeadOrientation, IdentityState, ProcessResult, TrackView
from peoplelens.core.types import Detections, Frame
from peoplelens.lens.experiences import ExperienceEngine, experience_config
from peoplelens.lens.face_attributes import FaceAttributeEstimator, FaceAttributeOptions
from peoplelens.lens.face_quality import face_qualities
from peoplelens.lens.geometry import CameraConfig, CameraIntrinsics, estimate_distance
from peoplelens.lens.identity import IdentityConfig, IdentityTracker
from peoplelens.lens.people_map import PeopleMap, PeopleMapConfig, PersonObservation
from peoplelens.lens.tracking import PersonTracker, Track, TrackerConfig, build_observations
from peoplelens.lens.world import ImuTrack, VisualRotationConfig, WorldFrame
from peoplelens.lens.world.visual import TrackedCorners
from peoplelens.models.face_detector import FaceDetectorOptions, create_face_detector
from peoplelens.models.face_embedder import FaceEmbedder
from peoplelens.models.person_detector import PersonDetector, PersonDetectorOptions
from peoplelens.models.sessions import SessionConfig

log = logging.getLogger(__name__)

#: CPU cost of one face embedding in face head-pose estimates (ArcFace-128 ~9 ms, FSA-Net x2 ~1.1 ms per face),
#: used to share a frame's embeddings and head poses between the two threads
EMBED_COST = 8


@dataclass(frozen=True)
class PipelineConfig:
    """What runs and how often (the ``[pipeline]`` config section)."""

    face_model: str = "det_500m"  # det_500m is ~3x faster than det_2.5g at equal verification accuracy here
    face_max_side: int = 640  # network input longest side; larger reaches farther faces
    face_score_threshold: float = 0.5
    #: run the face detector (and everything that needs a face) every N frames; in between, tracks coast on their
    #: motion model. 2 halves the cost per frame (Hamilton: 20 vs 37 ms) for a name ~0.1 s later; 1 = every frame
    faces_every: int = 2
    people_detector: bool = True
    people_every: int = 3  # run the body detector on every Nth face-detection frame
    people_tiles: int | str = 0  # 0 = whole frame only; "auto" tiles wide frames for far people (costs 2-4x)
    embed_recheck_s: float = 2.0  # a confirmed track's face is embedded again this often (re-check)
    max_embed_per_frame: int = 2  # cap on faces embedded per frame, least recently embedded first (caps spikes)
    pose_gaze: bool = True
    visual_rotation: bool = True  # estimate head rotation from the video when there is no IMU
    coast_s: float = 0.25  # a confirmed track missed by the detectors this briefly is still reported in view
    #: helper threads that run independent stages beside the caller's thread (0 = all in the caller's thread);
    #: on 2 cores 1 cuts the time per frame from ~19 to ~12 ms (``peoplelens bench``) with identical results
    stage_threads: int = 1
    #: ONNX Runtime threads of the face detector's session (at most one per core; the other sessions keep one): it
    #: is the longest branch of a detection frame and the stage thread's branch beside it is short. On the frames
    #: that run the body detector beside it, a one-thread session of the same model runs instead
    face_detector_threads: int = 2


@dataclass
class _Timer:
    timings: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @contextmanager
    def stage(self, name: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - t0
            with self.lock:  # stages on the stage thread add to the same dict
                self.timings[name] = self.timings.get(name, 0.0) + elapsed

    def timed(self, name: str, fn: Callable[[], Any]) -> Callable[[], Any]:
        """``fn`` wrapped to add its duration to stage ``name`` (safe to run on another thread)."""
        def run() -> Any:
            with self.stage(name):
                return fn()
        return run


def _box_tuple(box: np.ndarray | None) -> tuple[float, float, float, float] | None:
    return None if box is None else tuple(float(v) for v in box[:4])  # type: ignore[return-value]


class LensPipeline:
    """Frames in, People Map + audio events out. Build with :func:`build_pipeline`."""

    def __init__(self, config: dict[str, Any] | None = None, store: Any = None,
                 session_config: SessionConfig | None = None, imu: ImuTrack | None = None) -> None:
        config = config or {}
        self._config_dict = config
        self.config = section(config, "pipeline", PipelineConfig)
        self.camera_config = section(config, "camera", CameraConfig)
        self.store = store
        self.imu = imu
        pc = self.config
        face_options = FaceDetectorOptions(model=pc.face_model, max_side=pc.face_max_side,
                                           score_threshold=pc.face_score_threshold)
        base_sessions = session_config or SessionConfig.from_env()
        face_threads = max(1, min(pc.face_detector_threads, os.cpu_count() or 1))
        self.face_detector = create_face_detector(face_options, session_config=replace(
            base_sessions, intra_op_threads=face_threads))
        # beside the body detector both cores are taken: there a one-thread session of the same model is faster
        self._face_detector_beside_bodies = (
            create_face_detector(face_options, session_config=replace(base_sessions, intra_op_threads=1))
            if face_threads > 1 and pc.people_detector and pc.stage_threads > 0 else self.face_detector)
        self.embedder = FaceEmbedder.from_registry(session_config=session_config)
        self.person_detector = (PersonDetector.from_registry(PersonDetectorOptions(tiles=pc.people_tiles),
                                                             session_config=session_config)
                                if pc.people_detector else None)
        attribute_options = section(config, "face_attributes", FaceAttributeOptions)
        if "use_mesh" not in config.get("face_attributes", {}):
            # FSA-Net alone: ~1.5 ms per face instead of ~7 ms with FaceMesh + iris, and on the hand-annotated
            # gaze samples it was no worse (accuracy 0.84 vs 0.81): the iris cue needs faces larger than ours
            attribute_options = replace(attribute_options, use_mesh=False)
        self.attributes = (FaceAttributeEstimator.from_registry(attribute_options, session_config=session_config)
                           if pc.pose_gaze else None)
        self.tracker = PersonTracker(section(config, "tracking", TrackerConfig))
        self.identity = IdentityTracker(store.gallery() if store is not None else None,
                                        section(config, "identity", IdentityConfig))
        self.people_map = PeopleMap(PeopleMapConfig.from_config(config))
        self.experiences = ExperienceEngine(experience_config(config))
        self.visual_config = section(config, "visual_rotation", VisualRotationConfig)
        self.world: WorldFrame | None = None
        self.intrinsics: CameraIntrinsics | None = None
        self.frame_count = 0
        self._last_bodies: Detections | None = None
        self._last_embed: dict[int, float] = {}
        self._doubt: set[int] = set()  # decided tracks whose latest face disagrees with the decision
        self._pending_motion = np.eye(3)
        self._last_attrs: dict[int, Any] = {}
        self._stage_pool = (ThreadPoolExecutor(max_workers=pc.stage_threads, thread_name_prefix="lens-stage")
                            if pc.stage_threads > 0 else None)
        # stop the helper thread when the pipeline is dropped without close()
        self._finalizer = weakref.finalize(self, _shutdown_pool, self._stage_pool)

    def close(self) -> None:
        """Stop the stage thread (the pipeline can still process frames afterwards, in the caller's thread)."""
        self._finalizer()
        self._stage_pool = None

    def _together(self, here: Callable[[], Any], beside: Callable[[], Any] | None) -> tuple[Any, Any]:
        """Run ``beside`` on the stage thread while ``here`` runs in this one; both results (in this order).
        Without a stage thread they run one after the other. An exception from either is raised here."""
        if beside is None:
            return here(), None
        if self._stage_pool is None:
            return here(), beside()
        future = self._stage_pool.submit(beside)
        try:
            mine = here()
        except BaseException:
            future.exception()  # let the other branch finish before the error propagates
            raise
        return mine, future.result()

    # ------------------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget everything seen (tracks, identities, People Map, experiences) but keep the models loaded:
        call between two recordings so a worker can replay many videos with warm sessions."""
        config = self._config_dict
        self.tracker = PersonTracker(section(config, "tracking", TrackerConfig))
        self.identity = IdentityTracker(self.store.gallery() if self.store is not None else None,
                                        section(config, "identity", IdentityConfig))
        self.people_map = PeopleMap(PeopleMapConfig.from_config(config))
        self.experiences = ExperienceEngine(experience_config(config))
        if self.attributes is not None:
            self.attributes = type(self.attributes)(self.attributes.head_pose, self.attributes.face_mesh,
                                                    self.attributes.options)
        self.world = None
        self.intrinsics = None
        self.frame_count = 0
        self._last_bodies = None
        self._last_embed.clear()
        self._doubt.clear()
        self._pending_motion = np.eye(3)
        self._last_attrs.clear()

    def reload_people(self) -> None:
        """Re-read the enrolled people (after an enrolment or a ``forget``)."""
        self.identity.set_gallery(self.store.gallery() if self.store is not None else None)

    def _too_poor_to_embed(self, track: Track) -> bool:
        """A face whose quality is below what identity and re-identification accept gives no evidence: its
        embedding would be thrown away, so it is not computed (the face still counts as seen)."""
        floor = min(self.identity.config.min_quality, self.tracker.config.gallery_min_quality)
        return track.observation is not None and track.observation.face_quality < floor

    def _needs_embedding(self, track: Track, t: float) -> bool:
        if track.observation is None or track.observation.face_keypoints is None or self._too_poor_to_embed(track):
            return False
        if self.identity.get(track.track_id).state in (IdentityState.UNSEEN_FACE, IdentityState.IDENTIFYING):
            return True
        if track.track_id in self._doubt:  # gather the contrary evidence quickly, every frame
            return True
        return t - self._last_embed.get(track.track_id, -1e9) >= self.config.embed_recheck_s

    def _disagrees(self, track_id: int) -> bool:
        """Does the track's latest good face contradict its decided identity? (A re-check found someone
        else, e.g. after a track jumped to another person.) Such tracks are embedded every frame until the
        identity module either switches or the faces agree again."""
        ident = self.identity.get(track_id)
        if ident.state not in (IdentityState.KNOWN, IdentityState.NOT_ENROLLED) or not ident.scores:
            return False
        last = np.asarray(ident.scores[-1])
        threshold = self.identity.config.reject_threshold
        if ident.state is IdentityState.NOT_ENROLLED:
            return bool(len(last) and last.max() >= threshold)
        names = self.identity.gallery.names
        if ident.name not in names:
            return True
        mine = names.index(ident.name)
        return bool(last[mine] < threshold or int(np.argmax(last)) != mine)

    def process(self, frame: Frame, head: HeadOrientation | None = None) -> ProcessResult:
        """Run every stage on one frame; ``head`` is the live IMU orientation when the runtime has one."""
        timer = _Timer()
        t = frame.timestamp
        image = frame.image
        h, w = image.shape[:2]
        if self.intrinsics is None or (self.intrinsics.width, self.intrinsics.height) != (w, h):
            self.intrinsics = CameraIntrinsics.from_config(self.camera_config, w, h)
        if self.world is None:
            self.world = WorldFrame(self.intrinsics, self.imu, use_visual=self.config.visual_rotation,
                                    visual_config=self.visual_config)
        detect_now = self.frame_count % max(1, self.config.faces_every) == 0
        run_people = (self.person_detector is not None and detect_now
                      and self.frame_count % max(1, self.config.people_every) == 0)
        if head is not None:  # a live IMU sample from the runtime
            self.world.push_imu(head)

        faces, bodies, prepared = self._detect(image, t, detect_now, run_people, timer)
        # people (this frame's faces, the latest bodies) are masked out of the head-rotation estimate
        people_boxes = np.concatenate([faces.boxes, self._last_bodies.boxes if self._last_bodies is not None
                                       else np.zeros((0, 4), np.float32)])
        with timer.stage("world"):  # corners on people dropped, rotation fitted
            head = self.world.update(image, t, people_boxes, prepared=prepared)
            homography = self.world.homography
        with timer.stage("track"):
            motion = self.world.visual.last_motion if self.world.visual is not None else None
            if motion is not None and motion.cut and head.source == "visual":
                self.tracker.break_continuity(t)  # nobody inherits a track (or a name) across a cut
            quality = face_qualities(faces.keypoints, faces.scores) if len(faces) else np.zeros(0, np.float32)
            observations = build_observations(bodies, faces, quality)
            # image motion since the last tracker update (frames without detections accumulate it)
            if homography is not None:
                self._pending_motion = np.asarray(homography, np.float64) @ self._pending_motion
            tracks = []
            if detect_now:  # otherwise tracks coast on their motion model until the next detections
                tracks = self.tracker.update(t, observations, camera_motion=self._pending_motion)
                self._pending_motion = np.eye(3)
                for fresh_id, restored_id in self.tracker.merges:  # re-identified: the old id comes back
                    if fresh_id in self.people_map:
                        self.people_map.merge(fresh_id, restored_id)
                    self.identity.merge(fresh_id, restored_id)
        for tr in tracks:  # faces too poor to embed still move a track from "no face yet" to "identifying"
            if tr.observation is not None and tr.observation.face_keypoints is not None and self._too_poor_to_embed(tr):
                self.identity.saw_face(tr.track_id, t)
        wanted = [tr for tr in tracks if self._needs_embedding(tr, t)]
        wanted.sort(key=lambda tr: self._last_embed.get(tr.track_id, -1e9))
        wanted = wanted[: self.config.max_embed_per_frame]
        face_tracks = [tr for tr in tracks if tr.observation is not None and tr.observation.face_box is not None]

        embeddings, attrs = self._embeddings_and_poses(image, wanted, face_tracks, timer)
        with timer.stage("identity"):
            protected = (self.store.protect(embeddings) if self.store is not None and len(embeddings)
                         else embeddings)
            for tr, raw, vec in zip(wanted, embeddings, protected, strict=True):
                q = float(tr.observation.face_quality)
                if q >= self.tracker.config.gallery_min_quality:  # the re-identification gallery
                    tr.add_embedding(raw, q, self.tracker.config.gallery_size)
                self.identity.observe(tr.track_id, t, vec, q)
                self._last_embed[tr.track_id] = t
                if self._disagrees(tr.track_id):
                    self._doubt.add(tr.track_id)
                else:
                    self._doubt.discard(tr.track_id)
            for tid in self.tracker.removed_ids if detect_now else []:  # identities stay (re-identification)
                self._last_embed.pop(tid, None)
                self._last_attrs.pop(tid, None)
                self._doubt.discard(tid)
                if self.attributes is not None:
                    self.attributes.forget([tid])
            if self.frame_count % 100 == 0:
                self.identity.prune(t, self.tracker.config.reid_memory_s)
        observed = {tr.track_id for tr in tracks}
        coasting = [tr for tr in self.tracker.tracks if tr.confirmed and tr.track_id not in observed
                    and t - tr.last_seen <= self.config.coast_s]
        with timer.stage("pose_gaze"):
            self._last_attrs.update(attrs)
            attrs.update({tr.track_id: self._last_attrs[tr.track_id] for tr in coasting
                          if tr.track_id in self._last_attrs})  # a coasting face keeps its last pose
        with timer.stage("people_map"):
            # on a frame without detections, tracks matched at the last detection frame are carried over
            carried = set() if detect_now else {tr.track_id for tr in coasting if tr.observation is not None}
            observations_pm, views = self._observations(tracks + coasting, attrs, observed, carried)
            self.people_map.update(t, head, observations_pm)
            people = self.people_map.people()
        with timer.stage("experiences"):
            update = self.experiences.update(people, head, t)
            for event in update.events:
                event.frame_t = t
        self.frame_count += 1
        return ProcessResult(frame_index=frame.index, t=t, head=head, events=list(update.events),
                             seen=list(update.seen), people=people, tracks=views, timings=timer.timings)

    def _detect(self, image: np.ndarray, t: float, detect_now: bool, run_people: bool, timer: _Timer
                ) -> tuple[Detections, Detections | None, TrackedCorners | None]:
        """This frame's faces (empty between detection frames), bodies (None unless ``run_people``) and the
        head-rotation corner tracking, the last two beside the face detector on the stage thread."""

        face_detector = self._face_detector_beside_bodies if run_people else self.face_detector

        def detect_faces() -> Detections:
            return face_detector.detect(image) if detect_now else Detections.empty(num_keypoints=5)

        faces_fn = timer.timed("detect_faces", detect_faces)
        prepare_world = timer.timed("world", lambda: self.world.prepare(image, t))  # corner tracking
        timer.timings["detect_people"] = 0.0
        if run_people:  # bodies beside (faces, then corner tracking)
            detector = self.person_detector
            (faces, prepared), bodies = self._together(lambda: (faces_fn(), prepare_world()),
                                                       timer.timed("detect_people", lambda: detector.detect(image)))
            self._last_bodies = bodies
            return faces, bodies, prepared
        faces, prepared = self._together(faces_fn, prepare_world) if detect_now else (faces_fn(), prepare_world())
        return faces, None, prepared

    def _embeddings_and_poses(self, image: np.ndarray, wanted: list[Track], face_tracks: list[Track],
                              timer: _Timer) -> tuple[np.ndarray, dict[int, Any]]:
        """Embeddings of ``wanted`` (in order) and face attributes of ``face_tracks`` (by track id). The
        embeddings and the FSA-Net head poses (stateless) are shared between the two threads by their cost; the
        per-track decisions (gaze hysteresis, ears) are made in this thread."""

        def embed(part: list[Track]) -> Callable[[], np.ndarray]:
            def run() -> np.ndarray:
                if not part:
                    return np.zeros((0, self.embedder.dim), np.float32)
                return self.embedder.embed(image, np.stack([tr.observation.face_keypoints for tr in part]))
            return timer.timed("embed", run)

        def head_poses(part: list[Track]) -> Callable[[], np.ndarray]:
            def run() -> np.ndarray:
                if self.attributes is None or not part:
                    return np.zeros((0, 3), np.float32)
                return self.attributes.head_pose.estimate(image, np.stack([tr.observation.face_box for tr in part]))
            return timer.timed("pose_gaze", run)

        # the first half of the embeddings beside, the rest here; head poses fill up the lighter side
        beside_embed, here_embed = wanted[: (len(wanted) + 1) // 2], wanted[(len(wanted) + 1) // 2:]
        n_poses = len(face_tracks) if self.attributes is not None else 0
        total = EMBED_COST * len(wanted) + n_poses
        k = min(n_poses, max(0, round(total / 2 - EMBED_COST * len(beside_embed)))) if self._stage_pool else 0
        beside_pose, here_pose = face_tracks[:k], face_tracks[k:]
        beside_work = ((lambda: (embed(beside_embed)(), head_poses(beside_pose)()))
                       if beside_embed or beside_pose else None)
        (here_vectors, here_poses), beside_result = self._together(
            lambda: (embed(here_embed)(), head_poses(here_pose)()), beside_work)
        beside_vectors, beside_poses = beside_result if beside_result is not None else (
            np.zeros((0, self.embedder.dim), np.float32), np.zeros((0, 3), np.float32))
        attrs: dict[int, Any] = {}
        with timer.stage("pose_gaze"):
            if self.attributes is not None and face_tracks:
                face_dets = Detections(np.stack([tr.observation.face_box for tr in face_tracks]),
                                       np.array([tr.observation.face_score for tr in face_tracks]),
                                       keypoints=np.stack([tr.observation.face_keypoints for tr in face_tracks]))
                results = self.attributes.estimate(image, face_dets, [tr.track_id for tr in face_tracks],
                                                   intrinsics=self.intrinsics.matrix,
                                                   poses=np.concatenate([beside_poses, here_poses]))
                attrs = {tr.track_id: a for tr, a in zip(face_tracks, results, strict=True)}
        return np.concatenate([beside_vectors, here_vectors]), attrs

    def _observations(self, tracks: list[Track], attrs: dict, observed: set[int], carried: set[int]
                      ) -> tuple[list[PersonObservation], list[TrackView]]:
        intr = self.intrinsics
        assert intr is not None
        out, views = [], []
        for tr in tracks:
            ob = tr.observation if tr.track_id in observed else None  # coasting: use the predicted boxes
            a = attrs.get(tr.track_id)
            ident = self.identity.get(tr.track_id)
            face_box = ob.face_box if ob is not None else tr.face_box
            body_box = ob.body_box if ob is not None else tr.body_box
            keypoints = ob.face_keypoints if ob is not None and ob.face_box is not None else None
            state, name = ident.state, ident.name
            if tr.track_id in self._doubt and state is IdentityState.KNOWN:
                state, name = IdentityState.IDENTIFYING, None  # never announce a name the latest face contradicts
            box = body_box if body_box is not None else face_box
            if face_box is not None:  # direction of the face centre
                cx, cy = (face_box[0] + face_box[2]) / 2, (face_box[1] + face_box[3]) / 2
            else:  # no face: a body's head is near the top of its box
                cx, cy = (box[0] + box[2]) / 2, box[1] + 0.1 * (box[3] - box[1])
            az, el = (float(v) for v in intr.pixel_to_angles(cx, cy))
            yaw = a.yaw if a is not None else None
            dist = estimate_distance(intr, face_keypoints=keypoints,
                                     face_box=face_box, body_box=body_box, head_yaw_deg=yaw)
            d, sigma = (dist.distance_m, dist.sigma_m) if dist is not None else (None, None)
            face_size = float(face_box[2] - face_box[0]) if face_box is not None else 0.0
            out.append(PersonObservation(
                track_id=tr.track_id, identity=state, name=name,
                identity_confidence=ident.confidence, camera_azimuth_deg=az, camera_elevation_deg=el,
                distance_m=d, distance_sigma_m=sigma, face_visible=face_box is not None,
                face_camera_azimuth_deg=az if face_box is not None else None,
                face_camera_elevation_deg=el if face_box is not None else None, face_size_px=face_size,
                both_ears_visible=bool(a.both_ears_visible) if a is not None else False,
                looking_at_wearer=bool(a.looking_at_wearer) if a is not None else False,
                head_yaw_deg=yaw, head_pitch_deg=a.pitch if a is not None else None,
            ))
            views.append(TrackView(
                # a face box only where a face was detected at the latest detection frame (not for a track the
                # detector missed: that box would be a guess)
                track_id=tr.track_id, box=_box_tuple(box), identity=state,
                face_box=_box_tuple(ob.face_box if ob is not None else
                                    tr.observation.face_box if tr.track_id in carried else None),
                name=name, head_yaw_deg=yaw, head_pitch_deg=a.pitch if a is not None else None,
                both_ears_visible=bool(a.both_ears_visible) if a is not None else False,
                looking_at_wearer=bool(a.looking_at_wearer) if a is not None else False,
                distance_m=d,
            ))
        return out, views


def _shutdown_pool(pool: ThreadPoolExecutor | None) -> None:
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)


def build_pipeline(config: dict[str, Any] | None = None, store: Any = None, imu: ImuTrack | None = None,
                   session_config: SessionConfig | None = None) -> LensPipeline:
    """The pipeline with its models loaded; ``config`` is a parsed TOML dict (default: ``$PEOPLELENS_CONFIG``)."""
    if config is None:
        config = load_config()
    if session_config is None:  # one ORT thread per session; the pipeline overlaps stages on its stage thread instead
        session_config = SessionConfig.from_env()
        if not os.environ.get("PEOPLELENS_THREADS"):
            session_config = replace(session_config, intra_op_threads=1)
    return LensPipeline(config, store=store, session_config=session_config, imu=imu)
