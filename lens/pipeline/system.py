"""The composition root: one function builds the whole per-frame system, and every entry point uses it.

``peoplelens run``, ``phone``, ``replay``, ``bench``, ``demo``, the identity scorer and the tests all call
:func:`build_system` with (configuration, enrolled people, camera, IMU source) and get a :class:`LensSystem`:
``process(frame, head) -> ProcessResult`` once per frame, ``reset()`` between recordings, ``reload_people()``
after an enrolment, ``close()`` at the end. A frame's path through it::

    clock -> schedule -> detect_faces | detect_people | motion -> world -> bodies -> foveate -> face_quality
          -> track -> face_attributes | embed -> identify -> place -> people_map -> experiences -> activity

Frames keep the camera's resolution: the wide face pass sees a 640-px copy, the body detector the whole frame
plus (at high resolution) a full-resolution tile around the gaze, and ``foveate`` looks at small and tracked
heads in full-resolution windows (``[foveation]``; off for frames no larger than 640 px, which run as before).

Every stage is timed by the runner (``ProcessResult.timings``, seconds per stage; stages in one parallel step
overlap, so their times can add up to more than the frame's wall time).
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from typing import Any, TypeVar

from peoplelens.core.config import load_config, section
from peoplelens.core.errors import PeopleLensError
from peoplelens.core.state import HeadOrientation, ProcessResult
from peoplelens.core.types import Frame
from peoplelens.lens.experiences import ExperienceEngine, experience_config
from peoplelens.lens.perception.distance import DistancePriors
from peoplelens.lens.perception.face_attributes import FaceAttributeEstimator, FaceAttributeOptions
from peoplelens.lens.perception.face_quality import FaceQualityConfig
from peoplelens.lens.perception.foveation import FoveationConfig, FoveationError, Foveator
from peoplelens.lens.perception.geometry import CameraConfig, CameraIntrinsics
from peoplelens.lens.perception.identity import IdentityConfig
from peoplelens.lens.perception.identity_policy import EmbeddingSchedule, IdentityPolicy, PeopleGallery
from peoplelens.lens.perception.tracking import TrackerConfig, create_tracker
from peoplelens.lens.pipeline.config import PipelineConfig, face_detector_options
from peoplelens.lens.pipeline.frame_state import FrameState
from peoplelens.lens.pipeline.stage import Parallel, Stage, StageRunner, Workers
from peoplelens.lens.pipeline.stages.attributes import FaceAttributesStage
from peoplelens.lens.pipeline.stages.clock import ClockStage, FrameClock
from peoplelens.lens.pipeline.stages.detect import BodiesStage, DetectFacesStage, DetectPeopleStage, FaceQualityStage
from peoplelens.lens.pipeline.stages.foveate import FoveateStage
from peoplelens.lens.pipeline.stages.identity import EmbedStage, IdentifyStage
from peoplelens.lens.pipeline.stages.people import ExperiencesStage, PeopleMapStage
from peoplelens.lens.pipeline.stages.place import PlaceStage
from peoplelens.lens.pipeline.stages.schedule import Activity, ActivityStage, DetectionSchedule, ScheduleStage
from peoplelens.lens.pipeline.stages.track import MotionSinceUpdate, TrackStage
from peoplelens.lens.pipeline.stages.world import MotionStage, WorldModel, WorldStage
from peoplelens.lens.world import ImuConfig, ImuTrack, VisualRotationConfig
from peoplelens.lens.world.people_map import PeopleMap, PeopleMapConfig
from peoplelens.models.face_detector import create_face_detector
from peoplelens.models.face_embedder import FaceEmbedder, FaceEmbedderOptions
from peoplelens.models.model_sets import configured_model_set
from peoplelens.models.person_detector import PersonDetector, PersonDetectorOptions
from peoplelens.models.sessions import SessionConfig

T = TypeVar("T")
log = logging.getLogger(__name__)


class LensSystem:
    """Frames in, People Map + audio events out (build with :func:`build_system`)."""

    def __init__(self, runner: StageRunner, policy: IdentityPolicy, people_map: PeopleMap,
                 experiences: ExperienceEngine, config: PipelineConfig, models: dict[str, Any],
                 clock: FrameClock | None = None, world: WorldModel | None = None,
                 activity: Activity | None = None) -> None:
        self.runner, self.policy, self.people_map, self.experiences = runner, policy, people_map, experiences
        self.config = config
        self.models = models  # the loaded model wrappers by role (for reports: sessions, providers, threads)
        self.clock, self.world = clock, world
        self.activity = activity  # the adaptive schedule's view of the recent frames

    def wake(self) -> None:
        """The wearer asked for something (a button, a voice command): run at the full rate from the next frame
        for ``[pipeline] wake_s``, even with nobody in view."""
        if self.activity is not None:
            self.activity.wake()

    def request_orientation(self) -> None:
        """The wearer asks where everyone is: the orientation guide, with the detectors at the full rate."""
        self.wake()
        self.experiences.request_orientation()

    def health(self) -> dict[str, dict[str, float]]:
        """What the frame clock and the world frame have coped with since the system was built: ``clock`` (epochs,
        jumps back / forward, held jitter) and ``world`` (IMU samples accepted / refused by reason, IMU fall-backs
        to the video's rotation and hand-overs back, seconds on each source). The runtime adds them to its stats."""
        out: dict[str, dict[str, float]] = {}
        if self.clock is not None:
            out["clock"] = self.clock.health.as_counters()
        if self.world is not None:
            out["world"] = self.world.health.as_counters()
        return out

    def sessions(self) -> dict[str, Any]:
        """The ONNX Runtime session of each model, by role."""
        out = {}
        for role, model in self.models.items():
            session = getattr(model, "session", None)
            if session is None and getattr(model, "sessions", None):
                session = model.sessions[0]
            if session is not None:
                out[role] = session
        return out

    @property
    def stages(self) -> list[Stage]:
        """The stages in frame order."""
        return self.runner.stages

    def stage(self, name: str) -> Stage:
        """The stage called ``name`` (KeyError naming the stages when there is none)."""
        for stage in self.runner.stages:
            if stage.name == name:
                return stage
        raise KeyError(f"no stage {name!r}; stages: {', '.join(s.name for s in self.runner.stages)}")

    @property
    def enrolled(self) -> list[str]:
        """The enrolled names the system can announce."""
        return self.policy.enrolled

    def process(self, frame: Frame, head: HeadOrientation | None = None) -> ProcessResult:
        """Run every stage on one frame; ``head`` is the live IMU orientation when the runtime has one."""
        return self.runner.run(FrameState(frame=frame, head_sample=head)).result()

    def reset(self) -> None:
        """Forget everything seen (tracks, identities, People Map, experiences) but keep the models loaded: call
        between two recordings so a worker can replay many videos with warm sessions."""
        self.runner.reset()

    def reload_people(self) -> None:
        """Re-read the enrolled people (after an enrolment or a ``forget``)."""
        self.policy.reload_people()

    def close(self) -> None:
        """Stop the stage thread (frames can still be processed afterwards, in the caller's thread)."""
        self.runner.close()


def _with_defaults(settings: T, configured: dict[str, Any], **defaults: Any) -> T:
    """``settings`` with ``defaults`` for the fields the config file did not set."""
    return replace(settings, **{k: v for k, v in defaults.items() if k not in configured})  # type: ignore[type-var]


class ModelSetMismatchError(PeopleLensError):
    """The enrolled people's vectors come from another embedder than the configured model set's."""


def _check_people_embedder(people: PeopleGallery | None, embedder: str, set_name: str) -> None:
    """Refuse to name against vectors of another embedder (their similarities mean nothing to this one)."""
    enrolled_with = getattr(people, "embedder", None)
    name = enrolled_with() if callable(enrolled_with) else None
    if name is not None and name != embedder:
        raise ModelSetMismatchError(
            f"the enrolled people were enrolled with the {name} embedder, but the [models] set {set_name!r} uses "
            f"{embedder}: set [models] set to the one they were enrolled with, or enrol them again with this set")


def default_session_config() -> SessionConfig:
    """One ONNX Runtime thread per session (the stage thread overlaps stages instead), unless
    ``$PEOPLELENS_THREADS`` says otherwise."""
    config = SessionConfig.from_env()
    return config if os.environ.get("PEOPLELENS_THREADS") else replace(config, intra_op_threads=1)


def _window_detector(face_options: Any, fovea: FoveationConfig, sessions: SessionConfig) -> Any:
    """The foveal windows' face detector: the wide pass's SCRFD model in its own one-thread session, with no input
    limit (SCRFD never enlarges, so each window runs at its own size); None when foveation is off or the model set's
    detector cannot run windows (YuNet's input is a fixed 640 square: a window would be enlarged 5x)."""
    if fovea.enabled is False:
        return None
    if face_options.model not in ("det_500m", "det_2.5g"):
        if fovea.enabled is True:
            raise FoveationError(f"[foveation] enabled = true needs an SCRFD face detector (det_500m or det_2.5g), "
                                 f"the [models] set uses {face_options.model}: set enabled = \"auto\" or false")
        log.info("foveation off: the face detector %s cannot run small windows", face_options.model)
        return None
    return create_face_detector(replace(face_options, max_side=4096, pad_retry=False),
                                session_config=replace(sessions, intra_op_threads=1))


def build_system(config: dict[str, Any] | None = None, people: PeopleGallery | None = None,
                 camera: CameraIntrinsics | None = None, imu: ImuTrack | None = None,
                 session_config: SessionConfig | None = None) -> LensSystem:
    """The whole per-frame system with its models loaded.

    ``config``: a parsed TOML dict (default: ``$PEOPLELENS_CONFIG``); ``people``: the enrolled people (the people
    store; None = nobody enrolled, everyone gets a click); ``camera``: the camera's intrinsics (default: from the
    ``[camera]`` section and each frame's size); ``imu``: a recorded IMU track covering the video (live IMU samples
    come with each frame instead); ``session_config``: ONNX Runtime settings (default: one thread per session)."""
    config = load_config() if config is None else config
    sessions = session_config or default_session_config()
    pc = section(config, "pipeline", PipelineConfig)
    models = configured_model_set(config)
    _check_people_embedder(people, models.embedder, models.name)
    workers = Workers(pc.stage_threads)

    face_options = face_detector_options(config, models)
    face_threads = max(1, min(pc.face_detector_threads, os.cpu_count() or 1))
    face_detector = create_face_detector(face_options, session_config=replace(sessions, intra_op_threads=face_threads))
    # beside the body detector both cores are taken: there a one-thread session of the same model is faster
    beside_bodies = (create_face_detector(face_options, session_config=replace(sessions, intra_op_threads=1))
                     if face_threads > 1 and pc.people_detector and pc.stage_threads > 0 else None)
    # on the light frame before a face frame only the corner tracking runs beside it: both cores (as the face
    # detector); on the frames that run both detectors (the first full-rate frame, idle frames) a one-thread
    # session of each, as two-thread ones there would oversubscribe the cores
    people_threads = face_threads if pc.bodies_before_faces and pc.faces_every > 1 else 1
    people_options = PersonDetectorOptions(tiles=pc.people_tiles, precision=pc.people_precision)
    person_detector = (PersonDetector.from_registry(people_options,
                                                    session_config=replace(sessions, intra_op_threads=people_threads))
                       if pc.people_detector else None)
    people_beside_faces = (PersonDetector.from_registry(people_options,
                                                        session_config=replace(sessions, intra_op_threads=1))
                           if person_detector is not None and people_threads > 1 and pc.stage_threads > 0 else None)
    fovea = section(config, "foveation", FoveationConfig)
    window_detector = _window_detector(face_options, fovea, sessions)
    gaze_tile_px = fovea.body_tile_px if fovea.enabled is not False else 0
    embedder = FaceEmbedder.from_registry(FaceEmbedderOptions(model=models.embedder, precision=pc.embedder_precision,
                                                              fast_prelu=pc.embedder_fast_prelu),
                                          session_config=sessions)

    # cosine thresholds belong to the embedder: the model set's, unless the config sets them
    tracker_config = _with_defaults(section(config, "tracking", TrackerConfig), config.get("tracking", {}),
                                    reid_threshold=models.thresholds.reid)
    tracker = create_tracker(tracker_config)  # ours, or the ByteTrack baseline ([tracking] tracker)
    identity_config = _with_defaults(section(config, "identity", IdentityConfig), config.get("identity", {}),
                                     accept_threshold=models.thresholds.accept,
                                     reject_threshold=models.thresholds.reject, margin=models.thresholds.margin)
    policy = IdentityPolicy(people, identity_config, EmbeddingSchedule(pc.embed_recheck_s, pc.max_embed_per_frame),
                            min_embed_quality=min(identity_config.min_quality, tracker_config.gallery_min_quality))
    world = WorldModel(imu, pc.visual_rotation, section(config, "visual_rotation", VisualRotationConfig),
                       section(config, "imu", ImuConfig))
    clock = FrameClock(pc.clock_max_gap_s, pc.clock_max_backstep_s)
    people_map = PeopleMap(PeopleMapConfig.from_config(config))
    experiences = ExperienceEngine(experience_config(config))

    schedule = DetectionSchedule(faces_every=pc.faces_every, people_every=pc.people_every,
                                 bodies_before_faces=pc.bodies_before_faces, adaptive=pc.adaptive,
                                 idle_after_s=pc.idle_after_s, idle_every_s=pc.idle_every_s,
                                 idle_motion_every_s=pc.idle_motion_every_s, idle_still_dps=pc.idle_still_dps,
                                 wake_s=pc.wake_s)
    activity = Activity(schedule)  # the adaptive schedule: what the last frames found (schedule, activity stages)
    motion_since_update = MotionSinceUpdate()  # the head rotation the tracker has not applied yet (track, foveate)
    estimator = None
    if pc.pose_gaze:
        # FSA-Net head pose + the iris model on eye regions from the detector's keypoints (see face_attributes)
        attribute_options = section(config, "face_attributes", FaceAttributeOptions)
        if models.head_pose == "facemesh":  # the permissive set: FaceMesh + PnP (FSA-Net's weights are research-only)
            attribute_options = _with_defaults(attribute_options, config.get("face_attributes", {}),
                                               use_mesh=True, pose_source="facemesh")
        estimator = FaceAttributeEstimator.from_registry(attribute_options, session_config=sessions)
    steps: list[Stage | Parallel] = [
        ClockStage(clock),
        ScheduleStage(schedule, camera if camera is not None else section(config, "camera", CameraConfig),
                      person_detector is not None, activity),
        # listed in the order the two threads take them: faces here, bodies (when they run) and corners beside
        Parallel(DetectFacesStage(face_detector, beside_bodies),
                 DetectPeopleStage(person_detector, gaze_tile_px,
                                   0 if fovea.enabled is True else face_options.max_side, people_beside_faces,
                                   workers),
                 MotionStage(world)),
        WorldStage(world),
        BodiesStage(),
        FoveateStage(Foveator(window_detector, fovea) if window_detector is not None else None, tracker, policy,
                     motion_since_update, face_options.max_side, workers),
        FaceQualityStage(embedder, section(config, "face_quality", FaceQualityConfig), pc.quality_blur),
        TrackStage(tracker, pc.coast_s, tracker_config.face_top_fraction, motion_since_update, embedder, workers),
        # head poses and eyes (here) beside the embeddings (the stage thread, which then joins the faces' poses)
        Parallel(FaceAttributesStage(estimator, workers),
                 EmbedStage(policy, embedder, workers, section(config, "face_quality", FaceQualityConfig))),
        IdentifyStage(policy, tracker, tracker_config.reid_memory_s),
        PlaceStage(section(config, "distance", DistancePriors)), PeopleMapStage(people_map),
        ExperiencesStage(experiences), ActivityStage(activity),
    ]
    loaded: dict[str, Any] = {"face_detector": face_detector, "embedder": embedder}
    if beside_bodies is not None:
        loaded["face_detector_beside_bodies"] = beside_bodies
    if person_detector is not None:
        loaded["person_detector"] = person_detector
    if people_beside_faces is not None:
        loaded["person_detector_beside_faces"] = people_beside_faces
    if window_detector is not None:
        loaded["face_detector_windows"] = window_detector
    if estimator is not None and estimator.head_pose is not None:
        loaded["head_pose"] = estimator.head_pose
    return LensSystem(StageRunner(steps, workers), policy, people_map, experiences, pc, loaded, clock, world,
                      activity)
