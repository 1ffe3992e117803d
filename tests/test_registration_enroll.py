"""Enrolment logic on real photos: quality feedback, pose bins, rejection, recognition of held-out probes."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy.io import wavfile

from peoplelens.registration_app.enroll import assess_photo, default_analyzer, enroll_photos, pose_ratios
from peoplelens.registration_app.errors import EnrolmentError
from peoplelens.registration_app.store import PeopleStore


@pytest.fixture(scope="module")
def analyzer():
    return default_analyzer()


def _photos(data_dir: Path, kind: str, person: str) -> list[Path]:
    return sorted((data_dir / "faces" / kind / person).glob("*.jpg"))


def test_good_photo_feedback(data_dir, analyzer):
    fb = assess_photo(_photos(data_dir, "enroll", "barack_obama")[0], analyzer)
    assert fb.ok and fb.face_found and fb.n_faces == 1 and fb.big_enough and fb.sharp_enough
    assert fb.pose == "frontal" and fb.embedding.shape == (128,)
    assert fb.messages == ["good photo (frontal)"]
    assert "embedding" not in fb.to_dict()


def test_bad_photos_are_rejected_with_reasons(data_dir, analyzer):
    photo = cv2.imread(str(_photos(data_dir, "enroll", "barack_obama")[0]))  # a 232 px face
    small = cv2.resize(photo, None, fx=0.15, fy=0.15, interpolation=cv2.INTER_AREA)
    fb = assess_photo(small, analyzer)
    assert fb.face_found and not fb.big_enough and not fb.ok
    assert fb.messages == [f"face too small ({fb.face_px:.0f} px wide, need 55): retake it from closer, at the "
                           "camera's full resolution"]
    blurred = cv2.GaussianBlur(photo, (0, 0), 8)
    fb = assess_photo(blurred, analyzer)
    assert fb.face_found and fb.big_enough and not fb.sharp_enough and "blurry" in " ".join(fb.messages)
    fb = assess_photo((data_dir / "faces/group/two_people.jpg").read_bytes(), analyzer)
    assert not fb.ok and fb.n_faces == 2 and "only the person to enrol" in fb.messages[0]
    fb = assess_photo(np.full((480, 640, 3), 128, np.uint8), analyzer)
    assert not fb.face_found and "no face found" in fb.messages[0]
    fb = assess_photo(b"GIF89a not really an image", analyzer)
    assert not fb.ok and "not a usable image" in fb.messages[0]
    assert fb.embedding is None


def test_pose_bins_on_labelled_head_poses(data_dir, analyzer):
    pose_dir = data_dir / "headpose/inspireface_pose"
    # inspireface names the side as seen in the image; our bins are the subject's own left/right
    assert assess_photo(pose_dir / "right_face.jpg", analyzer).pose == "turned_left"
    assert assess_photo(pose_dir / "left_face.jpg", analyzer).pose == "turned_right"
    assert assess_photo(pose_dir / "rise_face.jpg", analyzer).pose == "up"
    assert assess_photo(pose_dir / "lower_face.jpg", analyzer).pose == "down"
    # roll alone does not change the bin
    kps = np.array([[40, 50], [80, 50], [60, 70], [45, 90], [75, 90]], np.float32)
    centre = kps.mean(axis=0)
    rot = cv2.getRotationMatrix2D(tuple(map(float, centre)), 30, 1.0)
    rolled = kps @ rot[:, :2].T + rot[:, 2]
    np.testing.assert_allclose(pose_ratios(kps)[:2], pose_ratios(rolled)[:2], atol=1e-5)


def test_enroll_photos_reports_and_refuses_when_nothing_is_usable(tmp_path, data_dir, analyzer):
    store = PeopleStore.open(tmp_path / "people.db")
    report = enroll_photos(store, "Nobody", [np.zeros((300, 300, 3), np.uint8), b"not an image"], analyzer,
                           speak=False)
    assert not report.enrolled and report.n_used == 0 and len(report.rejected) == 2
    assert store.people() == []
    with pytest.raises(EnrolmentError):
        enroll_photos(store, "Nobody", [], analyzer)
    photos = _photos(data_dir, "enroll", "bbt_penny") + [data_dir / "faces/group/two_people.jpg"]
    report = enroll_photos(store, "Penny", photos, analyzer, speak=True)
    assert report.enrolled and report.n_used == 4 and [i for i, _ in report.rejected] == [4]
    assert "frontal" in report.pose_bins_done and "turned_left" in report.pose_bins_missing
    assert report.record.n_vectors == 4 and report.name_audio == "espeak-ng"
    pcm, rate = store.name_audio("Penny")
    assert rate > 8000 and 0.2 < len(pcm) / rate < 3 and np.max(np.abs(pcm)) > 0.05
    # a recorded clip replaces the synthesised name; a non-WAV clip is refused before anything is stored
    clip = io.BytesIO()
    wavfile.write(clip, 16000, (np.sin(np.linspace(0, 900, 12000)) * 20000).astype(np.int16))
    report = enroll_photos(store, "Penny", photos[:1], analyzer, name_clip=clip.getvalue())
    assert report.name_audio == "clip" and store.name_audio("Penny")[1] == 16000
    with pytest.raises(EnrolmentError, match="not a WAV"):
        enroll_photos(store, "Penny", photos[:1], analyzer, name_clip=b"ID3 mp3 bytes")
    assert store.people()[0].n_vectors == 5


def test_enrolled_people_are_recognised_from_probes(tmp_path, data_dir, analyzer):
    """Enrol every identity, then match each held-out probe photo in protected space (threshold 0.35)."""
    store = PeopleStore.open(tmp_path / "people.db")
    people = sorted(p.name for p in (data_dir / "faces/enroll").iterdir())
    for person in people:
        assert enroll_photos(store, person, _photos(data_dir, "enroll", person), analyzer, speak=False).enrolled
    gallery = store.gallery()
    correct = total = 0
    for person in people:
        for probe in _photos(data_dir, "probe", person):
            fb = assess_photo(probe, analyzer)
            assert fb.embedding is not None, (probe, fb.messages)
            name, score = gallery.best_match(store.protect(fb.embedding))[0]
            total += 1
            correct += name == person
    assert total == 30 and correct == 30


def test_ordinary_phone_photos_with_82_to_99_px_faces_are_accepted(data_dir, analyzer):
    """The issue's refused photos: faces 82-99 px wide. The minimum is now measured (55 px, see enroll.py)."""
    photo = cv2.imread(str(_photos(data_dir, "enroll", "barack_obama")[0]))  # a 232 px face
    for width in (82, 90, 99, 60):
        small = cv2.resize(photo, None, fx=width / 232, fy=width / 232, interpolation=cv2.INTER_AREA)
        fb = assess_photo(small, analyzer)
        assert fb.ok and fb.big_enough and fb.sharp_enough, (width, fb.messages)
        assert abs(fb.face_px - width) < 0.1 * width
    # the group photo's people (94-99 px faces) enrol from a crop around their face
    t1 = cv2.imread(str(data_dir / "faces/group/ensemble_cast_t1.jpg"))
    faces = analyzer.detector.detect(t1)
    assert len(faces) == 6 and faces.widths.min() < 100
    for box in faces.boxes:
        w = box[2] - box[0]
        crop = t1[int(max(0, box[1] - w)):int(box[3] + w), int(max(0, box[0] - w)):int(box[2] + w)]
        assert assess_photo(crop, analyzer).ok


def test_a_photo_of_someone_else_is_refused_and_look_alikes_are_reported(tmp_path, data_dir, analyzer):
    store = PeopleStore.open(tmp_path / "people.db")
    penny = _photos(data_dir, "enroll", "bbt_penny")
    sheldon = _photos(data_dir, "enroll", "bbt_sheldon")[0]
    report = enroll_photos(store, "Penny", [*penny[:3], sheldon], analyzer, speak=False)
    assert report.enrolled and report.n_used == 3
    assert [i for i, _ in report.rejected] == [3] and "does not look like the other photos of Penny" in \
        report.rejected[0][1][0]
    # a photo added later must agree with the ones already enrolled
    report = enroll_photos(store, "Penny", [sheldon], analyzer, speak=False)
    assert not report.enrolled and "does not look like" in report.rejected[0][1][0]
    assert store.people()[0].n_vectors == 3
    # two photos that disagree: nothing is enrolled
    report = enroll_photos(store, "Sheldon", [sheldon, penny[3]], analyzer, speak=False)
    assert not report.enrolled and len(report.rejected) == 2 and "do not look like one person" in report.message
    # the same person under another name: enrolled, with a warning
    report = enroll_photos(store, "P. Twin", [penny[3]], analyzer, speak=False)
    assert report.enrolled and report.warnings and report.warnings[0].startswith("P. Twin looks like Penny")
