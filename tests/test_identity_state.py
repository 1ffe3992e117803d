"""The per-track identity state machine on scripted score sequences, gallery handling and face quality."""

from __future__ import annotations

import numpy as np
import pytest

from peoplelens.core.state import IdentityState
from peoplelens.lens.perception.face_quality import face_quality, laplacian_variance, nose_offset, sharpness
from peoplelens.lens.perception.identity import (
    FaceEvidence,
    IdentityConfig,
    IdentityError,
    IdentityGallery,
    IdentityTracker,
)

NAMES = ["ann", "bob", "cat"]
RNG = np.random.default_rng(7)
BASIS = np.linalg.qr(RNG.normal(size=(128, 128)))[0].T.astype(np.float32)  # orthonormal rows
GALLERY = IdentityGallery(NAMES, BASIS[[0, 1, 2, 3]], np.array([0, 1, 2, 2]))  # cat has two vectors
KNOWN, IDENTIFYING, NOT_ENROLLED = IdentityState.KNOWN, IdentityState.IDENTIFYING, IdentityState.NOT_ENROLLED


def face(rest: int = 10, **cosines: float) -> np.ndarray:
    """A unit embedding with the given cosine to each named person's first vector (others ~0); ``rest`` picks the
    direction that fills it up to unit length (different ``rest`` = different faces that match nobody)."""
    v = np.zeros(128, np.float32)
    for name, c in cosines.items():
        v += c * BASIS[NAMES.index(name)]
    return v + np.sqrt(max(0.0, 1.0 - float(v @ v))) * BASIS[rest]


def feed(tracker: IdentityTracker, seq: list[tuple[np.ndarray | None, float]], track_id: int = 1, t0: float = 0.0):
    """Reported (state, name) after each frame."""
    states = []
    for i, (emb, q) in enumerate(seq):
        ident = tracker.observe(track_id, t0 + i / 30, emb, q)
        states.append((ident.reported_state, ident.reported_name))
    return states


def test_gallery_scores_are_best_cosine_per_name() -> None:
    s = GALLERY.scores(face(ann=0.6, cat=0.3))
    assert s[0] == pytest.approx(0.6, abs=1e-5) and s[1] == pytest.approx(0.0, abs=1e-5)
    assert s[2] == pytest.approx(0.3, abs=1e-5)


def test_confirms_after_enough_good_frames_never_on_one() -> None:
    tr = IdentityTracker(GALLERY)
    assert tr.get(1).state is IdentityState.UNSEEN_FACE
    states = feed(tr, [(face(ann=0.9), 0.9)] * 8)
    assert states[0] == (IDENTIFYING, None)  # one excellent frame is not enough
    first_known = next(i for i, s in enumerate(states) if s[0] is KNOWN)
    assert first_known + 1 == IdentityConfig().min_good_frames
    assert states[-1] == (KNOWN, "ann")


def test_no_face_keeps_unseen_and_low_quality_is_not_evidence() -> None:
    tr = IdentityTracker(GALLERY)
    assert feed(tr, [(None, 0.0)] * 10)[-1][0] is IdentityState.UNSEEN_FACE
    # Faces below min_quality start IDENTIFYING but never decide anything.
    assert feed(tr, [(face(ann=0.9), 0.2)] * 50)[-1] == (IDENTIFYING, None)


def test_a_face_seen_without_an_embedding_is_identifying_and_decides_nothing() -> None:
    # the pipeline does not embed faces below min_quality; it reports them with saw_face()
    tr = IdentityTracker(GALLERY)
    ident = tr.saw_face(4, 1.5)
    assert (ident.state, ident.name, ident.faces_seen, ident.first_face_t) == (IDENTIFYING, None, 1, 1.5)
    for i in range(40):
        tr.saw_face(4, 1.6 + i / 30)
    assert (tr.get(4).state, tr.get(4).good_frames, tr.get(4).faces_seen) == (IDENTIFYING, 0, 41)
    assert tr.get(4).first_face_t == 1.5
    states = feed(tr, [(face(bob=0.9), 0.9)] * 6, track_id=4, t0=3.0)  # evidence still decides as usual
    assert states[-1] == (KNOWN, "bob")


def test_low_quality_frames_count_less() -> None:
    # 6 good-but-poor frames (quality 0.4, summed evidence 2.4 < min_evidence 3.0): not yet confirmed ...
    tr = IdentityTracker(GALLERY)
    assert feed(tr, [(face(ann=0.7), 0.4)] * 6)[-1][0] is IDENTIFYING
    # ... the same six frames at quality 0.9 confirm.
    tr = IdentityTracker(GALLERY)
    assert feed(tr, [(face(ann=0.7), 0.9)] * 6)[-1] == (KNOWN, "ann")
    # A high-quality good match outweighs poor frames that happen to favour another name.
    tr = IdentityTracker(GALLERY)
    seq = [(face(ann=0.6), 0.95), (face(bob=0.6), 0.31)] * 6
    assert feed(tr, seq)[-1] == (IDENTIFYING, None)  # top-1 only half the time: inconsistent
    mean = tr.get(1).mean_scores()
    assert mean[0] > mean[1] + 0.2


def test_a_bad_frame_withholds_the_name_but_keeps_the_decision() -> None:
    tr = IdentityTracker(GALLERY)
    feed(tr, [(face(ann=0.8), 0.9)] * 10)
    assert (tr.get(1).state, tr.get(1).name) == (KNOWN, "ann")
    after = feed(tr, [(face(bob=0.95), 1.0)] + [(face(ann=0.8), 0.9)] * 3 + [(face(), 1.0)] * 2
                 + [(face(ann=0.8), 0.9)], t0=1.0)
    assert after[0] == (IDENTIFYING, None)  # the contradicting face: the name is not said meanwhile
    assert after[1:4] == [(KNOWN, "ann")] * 3
    assert after[4:6] == [(IDENTIFYING, None)] * 2  # two faces that match nobody: withheld, not withdrawn
    assert after[6] == (KNOWN, "ann") and tr.get(1).state is KNOWN


def test_a_name_is_withdrawn_when_the_evidence_turns_and_the_right_one_said() -> None:
    cfg = IdentityConfig()
    tr = IdentityTracker(GALLERY)
    feed(tr, [(face(ann=0.8), 0.9)] * 10)
    states = feed(tr, [(face(bob=0.8), 0.9)] * 12, t0=1.0)  # the track now follows bob (a tracker swap)
    assert states[0] == (IDENTIFYING, None)  # ann is never said on bob's face
    assert all(s != (KNOWN, "ann") for s in states)
    named = next(i for i, s in enumerate(states) if s == (KNOWN, "bob"))
    # withdrawn after withdraw_frames contradicting faces; those faces count towards bob's min_good_frames
    assert named + 1 == max(cfg.min_good_frames, cfg.withdraw_frames)
    tr = IdentityTracker(GALLERY)
    feed(tr, [(face(ann=0.8), 0.9)] * 10)
    assert feed(tr, [(face(), 0.9)] * 12, t0=1.0)[-1][0] is NOT_ENROLLED  # someone not enrolled now


def test_not_enrolled_confirmation_and_reopening() -> None:
    cfg = IdentityConfig()
    tr = IdentityTracker(GALLERY)
    states = feed(tr, [(face(ann=0.1, bob=0.15), 0.9)] * cfg.reject_frames)
    assert states[-2][0] is IDENTIFYING
    assert states[-1] == (NOT_ENROLLED, None)
    states = feed(tr, [(face(cat=0.8), 0.9)] * 8, t0=1.0)  # it was cat, badly seen
    assert states[-1] == (KNOWN, "cat")
    # Nobody enrolled at all: everyone is not enrolled.
    assert feed(IdentityTracker(None), [(face(), 0.9)] * cfg.reject_frames)[-1][0] is NOT_ENROLLED


def test_open_set_rejection_never_names_an_impostor() -> None:
    # The look-alikes scored 0.44 and 0.46 against the people they were taken for: a face that keeps
    # scoring like that is never named, however long it is seen.
    for score in (0.40, 0.44, 0.46, 0.48):
        tr = IdentityTracker(GALLERY)
        assert all(s[0] is not KNOWN for s in feed(tr, [(face(cat=score), 1.0)] * 200))
    # Two names equally likely: no margin, no name.
    tr = IdentityTracker(GALLERY)
    assert all(s[0] is not KNOWN for s in feed(tr, [(face(ann=0.6, bob=0.6), 1.0)] * 100))
    # Genuine-looking but inconsistent frames (alternating names) are not enough either.
    tr = IdentityTracker(GALLERY)
    seq = [(face(ann=0.7), 1.0), (face(bob=0.7), 1.0)] * 30
    assert all(s[0] is not KNOWN for s in feed(tr, seq))


def test_a_face_that_resembles_the_crowd_is_not_named() -> None:
    # The face matches ann at 0.56, above the accept threshold. In a crowd of faces that it (and ann's photo)
    # resemble at ~0.45, ann's name does not stand out from the cohort: no name. Alone, the same face is named.
    probe = face(ann=0.56, rest=20)
    crowd = np.stack([face(ann=0.45, rest=20 + k) for k in range(1, 6)])
    crowd = crowd / np.linalg.norm(crowd, axis=1, keepdims=True)
    tr = IdentityTracker(GALLERY)
    for i in range(20):
        tr.observe(1, i / 15, probe, 1.0, crowd=crowd)
    assert tr.get(1).state is not KNOWN
    raw, normalised = tr.get(1).means()
    assert raw[0] > IdentityConfig().accept_threshold > raw[0] - 0.2 and normalised[0] < IdentityConfig().cohort_margin
    alone = IdentityTracker(GALLERY)
    assert feed(alone, [(probe, 1.0)] * 8)[-1] == (KNOWN, "ann")


def test_two_faces_in_one_frame_never_carry_the_same_name() -> None:
    tr = IdentityTracker(GALLERY)
    ann_face, lookalike = face(ann=0.85, rest=30), face(ann=0.6, rest=31)
    for i in range(12):  # both alone first: each could be ann
        tr.update_frame(i / 15, [FaceEvidence(1, ann_face, 1.0)], visible=[1])
        tr.update_frame(i / 15, [FaceEvidence(2, lookalike, 1.0)], visible=[2])
    assert tr.get(1).reported_name == "ann" and tr.get(2).reported_name == "ann"
    for i in range(12, 20):  # now in one frame: the better match keeps the name, the other loses it
        out = tr.update_frame(i / 15, [FaceEvidence(1, ann_face, 1.0), FaceEvidence(2, lookalike, 1.0)], [1, 2])
        assert [x.reported_name for x in out.values()].count("ann") <= 1
    assert tr.get(1).reported_name == "ann" and tr.get(2).reported_name is None
    assert tr.wants_evidence(2) and not tr.wants_evidence(1)  # the contested face keeps being looked at
    # two faces about equally like ann in one frame: neither is named
    tr = IdentityTracker(GALLERY)
    a, b = face(ann=0.8, rest=40), face(ann=0.78, rest=41)
    for i in range(20):
        out = tr.update_frame(i / 15, [FaceEvidence(1, a, 1.0), FaceEvidence(2, b, 1.0)], [1, 2])
        assert all(x.reported_name is None for x in out.values())


def test_strangers_seen_before_join_the_cohort() -> None:
    cfg = IdentityConfig()
    tr = IdentityTracker(GALLERY)
    stranger = face(rest=50)
    feed(tr, [(stranger, 1.0)] * cfg.reject_frames, track_id=7)
    assert tr.get(7).state is NOT_ENROLLED and len(tr.cohort.seen_t) > 0
    # the same stranger later, now looking a bit like ann: compared with their own earlier faces, no name
    later = face(ann=0.55, rest=50)
    later /= np.linalg.norm(later)
    assert all(s[0] is not KNOWN for s in feed(tr, [(later, 1.0)] * 30, track_id=8, t0=5.0))
    tr.cohort.forget_tracks([7])
    assert len(tr.cohort.seen_t) == 0
    # faces that match an enrolled person never enter; old ones expire
    tr.cohort.add_seen(face(ann=0.9)[None], 0.0, 9)
    assert len(tr.cohort.seen_t) == 0
    tr.cohort.add_seen(face(rest=60)[None], 0.0, 10)
    tr.cohort.expire(cfg.cohort_seen_memory_s + 1)
    assert len(tr.cohort.seen_t) == 0


def test_merge_restores_the_old_decision_and_gallery_update() -> None:
    tr = IdentityTracker(GALLERY)
    feed(tr, [(face(ann=0.8), 0.9)] * 10, track_id=5)
    feed(tr, [(face(ann=0.8), 0.9)] * 2, track_id=9, t0=5.0)
    merged = tr.merge(9, 5)
    assert (merged.state, merged.name) == (KNOWN, "ann") and 9 not in tr.identities
    tr.set_gallery(IdentityGallery(["bob"], BASIS[[1]], np.array([0])))  # ann un-enrolled
    assert tr.get(5).state is IDENTIFYING


def test_gallery_validation() -> None:
    with pytest.raises(IdentityError, match="owners"):
        IdentityGallery(["a"], BASIS[:2], np.array([0]))
    with pytest.raises(IdentityError, match="index"):
        IdentityGallery(["a"], BASIS[:1], np.array([3]))
    with pytest.raises(IdentityError, match="unit"):
        IdentityGallery(["a"], 2 * BASIS[:1], np.array([0]))
    with pytest.raises(IdentityError, match="dims"):
        GALLERY.scores(np.ones(64) / 8)
    with pytest.raises(IdentityError, match="dims"):
        IdentityTracker(GALLERY).observe(1, 0.0, np.ones(64) / 8, 1.0)
    with pytest.raises(IdentityError, match="names, vectors and owner"):
        IdentityGallery.from_any(object())


def test_face_quality_factors(data_dir) -> None:
    from peoplelens.models.face_detector import FaceDetectorOptions, create_face_detector
    from peoplelens.models.face_embedder import FaceEmbedder
    from peoplelens.models.images import load_image

    image = load_image(data_dir / "faces/enroll/barack_obama/fr_01.jpg")
    faces = create_face_detector(FaceDetectorOptions(model="det_500m", pad_retry=True)).detect(image)
    kps, score = faces.keypoints[0], float(faces.scores[0])
    crop = FaceEmbedder.from_registry().align(image, faces.keypoints[:1])[0]
    sharp = face_quality(kps, score, crop)
    assert sharp.quality > 0.6 and abs(nose_offset(kps)) < 0.15 and sharp.blur == 1.0
    import cv2

    blurred = cv2.GaussianBlur(crop, (0, 0), 3)
    assert laplacian_variance(blurred) < laplacian_variance(crop) / 4
    assert sharpness(blurred) < sharpness(crop) / 4
    assert face_quality(kps, score, blurred).quality < 0.5 * sharp.quality
    assert face_quality(kps, score, sharpness_value=sharpness(blurred)) == face_quality(kps, score, blurred)
    assert face_quality(kps, score).blur == 1.0  # unknown blur does not veto
    with pytest.raises(ValueError, match="112x112"):
        sharpness(crop[:100])
    from peoplelens.lens.perception.face_quality import inter_ocular_px

    small = face_quality(kps * (5.0 / inter_ocular_px(kps)), score, crop)  # the same face with eyes 5 px apart
    assert small.size == 0.0 and small.quality == 0.0
    profile = kps.copy()
    profile[2, 0] = profile[1, 0] + 0.3 * inter_ocular_px(kps)  # nose beyond the far eye: profile
    assert face_quality(profile, score, crop).frontal == 0.0
    assert face_quality(kps, score, crop, yaw_deg=80).frontal == 0.0
    assert face_quality(kps, 0.4, crop).quality == 0.0  # weak detection


def test_gallery_without_a_person() -> None:
    g = GALLERY.without({"ann"})
    assert g.names == ["bob", "cat"] and len(g.vectors) == 3 and list(g.owner) == [0, 1, 1]
    assert np.allclose(g.scores(face(cat=0.5)), [0.0, 0.5], atol=1e-5)
