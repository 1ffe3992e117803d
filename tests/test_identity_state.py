"""The per-track identity state machine on scripted score sequences, gallery handling and face quality."""

from __future__ import annotations

import numpy as np
import pytest

from peoplelens.core.state import IdentityState
from peoplelens.lens.perception.face_quality import face_quality, laplacian_variance, nose_offset
from peoplelens.lens.perception.identity import IdentityConfig, IdentityError, IdentityGallery, IdentityTracker

NAMES = ["ann", "bob", "cat"]
RNG = np.random.default_rng(7)
BASIS = np.linalg.qr(RNG.normal(size=(128, 128)))[0].T.astype(np.float32)  # orthonormal rows
GALLERY = IdentityGallery(NAMES, BASIS[[0, 1, 2, 3]], np.array([0, 1, 2, 2]))  # cat has two vectors


def face(**cosines: float) -> np.ndarray:
    """A unit embedding with the given cosine to each named person's first vector (others ~0)."""
    v = np.zeros(128, np.float32)
    for name, c in cosines.items():
        v += c * BASIS[NAMES.index(name)]
    rest = max(0.0, 1.0 - float(v @ v))
    return v + np.sqrt(rest) * BASIS[10]


def feed(tracker: IdentityTracker, seq: list[tuple[np.ndarray | None, float]], track_id: int = 1, t0: float = 0.0):
    states = []
    for i, (emb, q) in enumerate(seq):
        ident = tracker.observe(track_id, t0 + i / 30, emb, q)
        states.append((ident.state, ident.name))
    return states


def test_gallery_scores_are_best_cosine_per_name() -> None:
    s = GALLERY.scores(face(ann=0.6, cat=0.3))
    assert s[0] == pytest.approx(0.6, abs=1e-5) and s[1] == pytest.approx(0.0, abs=1e-5)
    assert s[2] == pytest.approx(0.3, abs=1e-5)


def test_confirms_after_enough_good_frames_never_on_one() -> None:
    tr = IdentityTracker(GALLERY)
    assert tr.get(1).state is IdentityState.UNSEEN_FACE
    states = feed(tr, [(face(ann=0.9), 0.9)] * 8)
    assert states[0] == (IdentityState.IDENTIFYING, None)  # one excellent frame is not enough
    first_known = next(i for i, s in enumerate(states) if s[0] is IdentityState.KNOWN)
    assert first_known + 1 == IdentityConfig().min_good_frames
    assert states[-1] == (IdentityState.KNOWN, "ann")


def test_no_face_keeps_unseen_and_low_quality_is_not_evidence() -> None:
    tr = IdentityTracker(GALLERY)
    assert feed(tr, [(None, 0.0)] * 10)[-1][0] is IdentityState.UNSEEN_FACE
    # Faces below min_quality start IDENTIFYING but never decide anything.
    assert feed(tr, [(face(ann=0.9), 0.2)] * 50)[-1] == (IdentityState.IDENTIFYING, None)


def test_a_face_seen_without_an_embedding_is_identifying_and_decides_nothing() -> None:
    # the pipeline does not embed faces below min_quality; it reports them with saw_face()
    tr = IdentityTracker(GALLERY)
    ident = tr.saw_face(4, 1.5)
    assert (ident.state, ident.name, ident.faces_seen, ident.first_face_t) == (IdentityState.IDENTIFYING, None, 1, 1.5)
    for i in range(40):
        tr.saw_face(4, 1.6 + i / 30)
    assert (tr.get(4).state, tr.get(4).good_frames, tr.get(4).faces_seen) == (IdentityState.IDENTIFYING, 0, 41)
    assert tr.get(4).first_face_t == 1.5
    states = feed(tr, [(face(bob=0.9), 0.9)] * 6, track_id=4, t0=3.0)  # evidence still decides as usual
    assert states[-1] == (IdentityState.KNOWN, "bob")


def test_low_quality_frames_count_less() -> None:
    # 6 good-but-poor frames (quality 0.4, summed evidence 2.4 < min_evidence 3.0): not yet confirmed ...
    tr = IdentityTracker(GALLERY)
    assert feed(tr, [(face(ann=0.7), 0.4)] * 6)[-1][0] is IdentityState.IDENTIFYING
    # ... the same six frames at quality 0.9 confirm.
    tr = IdentityTracker(GALLERY)
    assert feed(tr, [(face(ann=0.7), 0.9)] * 6)[-1] == (IdentityState.KNOWN, "ann")
    # A high-quality good match outweighs poor frames that happen to favour another name.
    tr = IdentityTracker(GALLERY)
    seq = [(face(ann=0.6), 0.95), (face(bob=0.6), 0.31)] * 6
    assert feed(tr, seq)[-1] == (IdentityState.IDENTIFYING, None)  # top-1 only half the time: inconsistent
    mean = tr.get(1).mean_scores()
    assert mean[0] > mean[1] + 0.2


def test_confirmed_name_does_not_flip_on_bad_frames() -> None:
    tr = IdentityTracker(GALLERY)
    feed(tr, [(face(ann=0.8), 0.9)] * 10)
    assert tr.get(1).name == "ann"
    after = feed(tr, [(face(bob=0.95), 1.0)] + [(face(ann=0.8), 0.9)] * 3 + [(face(), 1.0)] * 5, t0=1.0)
    assert all(s == (IdentityState.KNOWN, "ann") for s in after)


def test_sustained_contrary_evidence_changes_a_decision() -> None:
    cfg = IdentityConfig()
    tr = IdentityTracker(GALLERY)
    feed(tr, [(face(ann=0.8), 0.9)] * 10)
    states = feed(tr, [(face(bob=0.8), 0.9)] * (cfg.switch_frames + 2), t0=1.0)
    switched = [i for i, s in enumerate(states) if s == (IdentityState.KNOWN, "bob")]
    assert switched and switched[0] + 1 == cfg.switch_frames  # not a frame earlier
    tr = IdentityTracker(GALLERY)
    feed(tr, [(face(ann=0.8), 0.9)] * 10)
    assert feed(tr, [(face(), 0.9)] * cfg.switch_frames, t0=1.0)[-1][0] is IdentityState.NOT_ENROLLED


def test_not_enrolled_confirmation() -> None:
    cfg = IdentityConfig()
    tr = IdentityTracker(GALLERY)
    states = feed(tr, [(face(ann=0.1, bob=0.15), 0.9)] * cfg.reject_frames)
    assert states[-2][0] is IdentityState.IDENTIFYING
    assert states[-1] == (IdentityState.NOT_ENROLLED, None)
    # Nobody enrolled at all: everyone is not enrolled.
    assert feed(IdentityTracker(None), [(face(), 0.9)] * cfg.reject_frames)[-1][0] is IdentityState.NOT_ENROLLED


def test_open_set_rejection_never_names_an_impostor() -> None:
    # Just below the measured impostor maximum (0.29) and above the reject threshold: ambiguous, so the track
    # stays IDENTIFYING for as long as it lasts, never KNOWN.
    tr = IdentityTracker(GALLERY)
    assert all(s[0] is not IdentityState.KNOWN for s in feed(tr, [(face(cat=0.35), 1.0)] * 200))
    # Two names equally likely: no margin, no name.
    tr = IdentityTracker(GALLERY)
    assert all(s[0] is not IdentityState.KNOWN for s in feed(tr, [(face(ann=0.6, bob=0.6), 1.0)] * 100))
    # Genuine-looking but inconsistent frames (alternating names) are not enough either.
    tr = IdentityTracker(GALLERY)
    seq = [(face(ann=0.7), 1.0), (face(bob=0.7), 1.0)] * 30
    assert all(s[0] is not IdentityState.KNOWN for s in feed(tr, seq))


def test_merge_restores_the_old_decision_and_gallery_update() -> None:
    tr = IdentityTracker(GALLERY)
    feed(tr, [(face(ann=0.8), 0.9)] * 10, track_id=5)
    feed(tr, [(face(ann=0.8), 0.9)] * 2, track_id=9, t0=5.0)
    merged = tr.merge(9, 5)
    assert (merged.state, merged.name) == (IdentityState.KNOWN, "ann") and 9 not in tr.identities
    tr.set_gallery(IdentityGallery(["bob"], BASIS[[1]], np.array([0])))  # ann un-enrolled
    assert tr.get(5).state is IdentityState.IDENTIFYING


def test_gallery_validation() -> None:
    with pytest.raises(IdentityError, match="owners"):
        IdentityGallery(["a"], BASIS[:2], np.array([0]))
    with pytest.raises(IdentityError, match="index"):
        IdentityGallery(["a"], BASIS[:1], np.array([3]))
    with pytest.raises(IdentityError, match="unit"):
        IdentityGallery(["a"], 2 * BASIS[:1], np.array([0]))
    with pytest.raises(IdentityError, match="dims"):
        GALLERY.scores(np.ones(64) / 8)
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
    assert sharp.quality > 0.6 and abs(nose_offset(kps)) < 0.15
    import cv2

    blurred = cv2.GaussianBlur(crop, (0, 0), 3)
    assert laplacian_variance(blurred) < laplacian_variance(crop) / 4
    assert face_quality(kps, score, blurred).quality < 0.5 * sharp.quality
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
