"""Tracking + identity over time on real video: the hamilton performer (shot 3) with and without his enrolment,
and the cut from shot 3 to the audience shot, where a confirmed name must not jump to another face."""

from __future__ import annotations

import pytest

from peoplelens.core.state import IdentityState
from peoplelens.core.types import Detections
from peoplelens.lens.perception.face_quality import face_qualities
from peoplelens.lens.perception.identity import IdentityTracker
from peoplelens.lens.perception.tracking import FaceReidCost, PersonTracker, TrackerConfig, build_observations
from peoplelens.models.face_detector import FaceDetectorOptions, create_face_detector
from peoplelens.models.face_embedder import FaceEmbedder
from peoplelens.sim_harness.eval_identity import enrol_gallery, read_frames

PERFORMER = "lin_manuel_miranda"


@pytest.fixture(scope="module")
def models():
    detector = create_face_detector(FaceDetectorOptions(model="det_500m"))
    return detector, FaceEmbedder.from_registry()


@pytest.fixture(scope="module")
def galleries(models, data_dir):
    detector, embedder = models
    enrol_det = create_face_detector(FaceDetectorOptions(model="det_500m", pad_retry=True))
    full = enrol_gallery(data_dir / "faces" / "enroll", enrol_det, embedder)
    assert PERFORMER in full.names and len(full.names) == 19
    return {"with": full, "without": full.without({PERFORMER})}


def detect_segment(models, path, start: int, stop: int, stride: int) -> list[tuple[int, float, Detections]]:
    """Faces (with embeddings and quality) for a frame range, computed once and replayed per test."""
    detector, embedder = models
    out = []
    for index, t, frame in read_frames(path, start, stop, stride):
        faces = detector.detect(frame)
        crops = embedder.align(frame, faces.keypoints)
        faces.embeddings = embedder.embed_aligned(crops)
        faces.data["quality"] = face_qualities(faces.keypoints, faces.scores, crops)
        out.append((index, t, faces))
    return out


@pytest.fixture(scope="module")
def shot3(models, data_dir):
    return detect_segment(models, data_dir / "videos" / "hamilton_short_clip.mp4", 100, 160, 2)


@pytest.fixture(scope="module")
def cut(models, data_dir):
    return detect_segment(models, data_dir / "videos" / "hamilton_short_clip.mp4", 180, 232, 2)


def replay(segment, gallery):
    tracker = PersonTracker(TrackerConfig(), cost=FaceReidCost())
    identity = IdentityTracker(gallery)
    history: list[list[tuple[int, IdentityState, str | None]]] = []
    for _, t, faces in segment:
        tracks = tracker.update(t, build_observations(None, faces))
        for fresh, old in tracker.merges:
            identity.merge(fresh, old)
        ids = identity.update(t, tracks)
        history.append([(tid, i.state, i.name) for tid, i in ids.items()])
    return history


def test_performer_forms_one_stable_track(shot3, galleries) -> None:
    history = replay(shot3, galleries["with"])
    ids = {tid for frame in history for tid, _, _ in frame}
    assert len(ids) == 1, history
    assert sum(1 for frame in history if frame) >= len(history) - 2  # reported in (almost) every frame


def test_performer_is_named_when_enrolled(shot3, galleries) -> None:
    history = replay(shot3, galleries["with"])
    states = [(s, n) for frame in history for _, s, n in frame]
    assert states[-1] == (IdentityState.KNOWN, PERFORMER)
    assert states[0][0] is IdentityState.IDENTIFYING  # not on the first frame
    assert {n for s, n in states if s is IdentityState.KNOWN} == {PERFORMER}
    first_known = next(i for i, (s, _) in enumerate(states) if s is IdentityState.KNOWN)
    assert first_known <= 10  # within a third of a second of 15 fps input


def test_performer_is_not_enrolled_without_his_enrolment(shot3, galleries) -> None:
    history = replay(shot3, galleries["without"])
    states = [(s, n) for frame in history for _, s, n in frame]
    assert all(s is not IdentityState.KNOWN for s, _ in states)  # never a wrong name
    assert states[-1] == (IdentityState.NOT_ENROLLED, None)


def test_name_does_not_cross_the_cut_to_the_audience(cut, galleries) -> None:
    history = replay(cut, galleries["with"])
    frames = [index for index, _, _ in cut]
    before = {tid for f, frame in zip(frames, history, strict=True) if f <= 210 for tid, s, n in frame
              if s is IdentityState.KNOWN and n == PERFORMER}
    assert before, "the performer should be named before the cut"
    after = [(tid, s, n) for f, frame in zip(frames, history, strict=True) if f >= 212 for tid, s, n in frame]
    assert after, "the audience should be tracked after the cut"
    assert all(s is not IdentityState.KNOWN for _, s, _ in after), after
    assert not before & {tid for tid, _, _ in after}
