"""Tracker behaviour on scripted observations: motion, occlusion, camera-motion compensation, face-body pairing and
bad input (by appearance: ``test_tracking_appearance``)."""

from __future__ import annotations

import numpy as np
import pytest

from peoplelens.core.types import Detections
from peoplelens.lens.perception.tracking import (
    BoxKalman,
    PersonObservation,
    PersonTracker,
    TrackerConfig,
    TrackingError,
    build_observations,
    pair_faces_with_bodies,
)
from peoplelens.lens.perception.tracking.observations import head_fit

FPS = 30.0


def body(x: float, y: float = 100.0, w: float = 80.0, h: float = 200.0, score: float = 0.9,
         emb: np.ndarray | None = None) -> PersonObservation:
    """A body observation at (x, y) top-left, optionally with a good-quality face embedding."""
    face = np.array([x + w * 0.3, y + 5, x + w * 0.7, y + 5 + w * 0.45], np.float32) if emb is not None else None
    return PersonObservation(score=score, body_box=np.array([x, y, x + w, y + h], np.float32), face_box=face,
                             embedding=emb, face_quality=0.9 if emb is not None else 0.0)


def unit(seed: int, dim: int = 128) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=dim).astype(np.float32)
    return v / np.linalg.norm(v)


def run(tracker: PersonTracker, frames: list[list[PersonObservation]], motions=None) -> list[list[int]]:
    ids = []
    for i, obs in enumerate(frames):
        motion = None if motions is None else motions[i]
        ids.append([t.track_id for t in tracker.update(i / FPS, obs, camera_motion=motion)])
    return ids


def test_constant_velocity_keeps_one_id() -> None:
    # 25 px per frame (750 px/s): consecutive boxes overlap at IoU ~0.5; the Kalman prediction keeps it high.
    ids = run(PersonTracker(), [[body(10 + 25 * i)] for i in range(60)])
    seen = {i for frame in ids for i in frame}
    assert len(seen) == 1
    assert all(len(f) == 1 for f in ids[1:])  # reported from the second hit on


def test_velocity_model_predicts_through_an_occlusion() -> None:
    # 20 px per frame, hidden for 15 frames (0.5 s): the person reappears 320 px (4 box widths) from where
    # they were last seen, so only the constant-velocity prediction can bring the id back.
    frames = [[body(10 + 20 * i)] if not 20 <= i < 35 else [] for i in range(45)]
    ids = run(PersonTracker(), frames)
    assert ids[36] == ids[10]


def test_two_people_keep_separate_ids() -> None:
    frames = [[body(10 + 5 * i), body(400 - 5 * i, y=110)] for i in range(30)]
    ids = run(PersonTracker(), frames)
    assert len({i for frame in ids for i in frame}) == 2
    assert ids[5] == ids[29]


def test_a_close_match_is_not_broken_up_for_two_poor_ones() -> None:
    # A stands at x=100, B beside them at x=150 (their boxes overlap at IoU 0.23). In the last frame B is hidden
    # and a stray box turns up at x=50 (IoU 0.23 with A). A's observation fits A exactly; giving it to B and the
    # stray to A makes two matches out of one, each just over the 0.2 IoU gate: that moves B's track (and name)
    # onto A and A's onto a stray.
    tracker = PersonTracker()
    for i in range(10):
        tracker.update(i / FPS, [body(100.0), body(150.0, y=100.0)])
    a_id, b_id = (tr.track_id for tr in sorted(tracker.tracks, key=lambda tr: float(tr.box[0])))
    reported = tracker.update(10 / FPS, [body(100.0), body(50.0)])
    on_a = [tr.track_id for tr in reported if tr.observation is not None and tr.observation.body_box is not None
            and float(tr.observation.body_box[0]) == 100.0]
    assert on_a == [a_id]
    assert b_id in [tr.track_id for tr in tracker.tracks if tr.observation is None]  # B coasts, not moved


def test_short_occlusion_survives_and_long_one_does_not() -> None:
    cfg = TrackerConfig(max_age_s=1.0)
    frames = [[body(100 + 3 * i)] if not 20 <= i < 45 else [] for i in range(70)]  # 25 frames = 0.83 s gap
    ids = run(PersonTracker(cfg), frames)
    assert {i for f in ids for i in f} == {ids[10][0]}
    frames = [[body(100 + 3 * i)] if not 20 <= i < 60 else [] for i in range(80)]  # 40 frames = 1.33 s gap
    ids = run(PersonTracker(cfg), frames)
    assert ids[10] != ids[75]


def test_head_turn_as_image_shift_needs_compensation() -> None:
    # At frame 15 the wearer turns: the whole image content jumps 200 px left (boxes are 80 px wide).
    xs = [300 + 2 * i - (200 if i >= 15 else 0) for i in range(30)]
    frames = [[body(x)] for x in xs]
    shifts = [(-200.0, 0.0) if i == 15 else None for i in range(30)]
    with_cmc = run(PersonTracker(), frames, shifts)
    without = run(PersonTracker(), frames)
    assert with_cmc[10] == with_cmc[29]
    assert without[10] != without[29]
    homographies = [np.array([[1, 0, -200], [0, 1, 0], [0, 0, 1]], float) if s else None for s in shifts]
    with_h = run(PersonTracker(), frames, homographies)
    assert with_h[10] == with_h[29]


def test_low_score_observations_extend_but_do_not_start_tracks() -> None:
    frames = [[body(100 + 2 * i, score=0.9 if i < 10 else 0.3)] for i in range(20)]
    ids = run(PersonTracker(), frames)
    assert ids[15] == ids[5]
    assert run(PersonTracker(), [[body(100, score=0.3)] for _ in range(10)])[-1] == []


def test_face_body_pairing_upper_third() -> None:
    bodies = np.array([[0, 0, 100, 300], [200, 0, 300, 300]], np.float32)
    faces = np.array([[230, 10, 270, 60], [20, 200, 60, 250], [500, 10, 540, 60]], np.float32)
    assert pair_faces_with_bodies(faces, bodies) == [(0, 1)]  # face 1 is low in body 0; face 2 is alone
    obs = build_observations(
        Detections(bodies, np.array([0.9, 0.8])),
        Detections(faces, np.array([0.7, 0.7, 0.95]), keypoints=np.zeros((3, 5, 2), np.float32)),
    )
    assert len(obs) == 4  # 2 bodies (one with its face) + 2 faces without a body
    assert obs[1].face_index == 0 and obs[0].face_index is None
    assert sorted(o.face_index for o in obs[2:]) == [1, 2] and all(o.body_box is None for o in obs[2:])


def test_a_face_at_its_own_bodys_head_point_is_not_given_to_a_neighbour() -> None:
    """Away crossing 2001, frame 162 (1920x1080): the near person's face sits at their body's head point; a background
    face lies low in their body box, and their face is just inside the edge of a neighbour's body. Pairing as many
    faces as possible gave their face to the neighbour (whose track took it) and their body to the background face."""
    own_face, background_face = [1424, 529, 1488, 625], [1333, 653, 1375, 708]
    own_body, neighbour = [1319, 509, 1603, 1080], [1453, 522, 1655, 1071]
    faces = np.array([own_face, background_face], np.float32)
    bodies = np.array([own_body, neighbour], np.float32)
    feasible, _ = head_fit(faces, bodies)
    assert feasible[0, 1] and feasible[1, 0]  # two pairs could be made
    assert pair_faces_with_bodies(faces, bodies) == [(0, 0)]  # the one close pair is made; the background face alone


def test_face_only_track_keeps_its_id_when_the_body_appears() -> None:
    tracker = PersonTracker()
    face = np.array([130, 110, 170, 160], np.float32)
    ids = []
    for i in range(20):
        f = face + [i, 0, i, 0]
        b = np.array([100 + i, 100, 200 + i, 400], np.float32)
        ob = PersonObservation(score=0.8, face_box=f) if i < 10 else PersonObservation(0.9, body_box=b, face_box=f)
        ids.append([t.track_id for t in tracker.update(i / FPS, [ob])])
    assert ids[5] == ids[15]


def test_a_person_seen_only_by_their_body_is_confirmed_by_the_next_body_detection() -> None:
    """The pipeline's schedule: faces every 2nd frame, bodies every 6th. Someone seen from behind (a body, no face)
    must become a track at the second body detection; the face-only updates in between did not look for bodies,
    so they must not drop the tentative track (before, it was dropped at the next face frame, again and again, and
    the person was never bumped)."""
    tracker = PersonTracker()
    confirmed_at = None
    for i in range(0, 20, 2):
        has_bodies = i % 6 == 0
        obs = [body(100.0 + i)] if has_bodies else []
        looked_for = frozenset({"face", "body"}) if has_bodies else frozenset({"face"})
        out = tracker.update(i / FPS, obs, looked_for=looked_for)
        if out and confirmed_at is None:
            confirmed_at = i
    assert confirmed_at == 6
    assert [t.track_id for t in tracker.tracks] == [1]


def test_a_tentative_track_missed_where_it_could_be_seen_is_still_noise() -> None:
    """A face seen once and not found by the next face detection is dropped (a detector false positive), and so is
    a body missed by the next body detection."""
    tracker = PersonTracker()
    face = PersonObservation(score=0.9, face_box=np.array([100, 100, 140, 150], np.float32))
    tracker.update(0.0, [face], looked_for=frozenset({"face"}))
    assert len(tracker.tracks) == 1
    tracker.update(2 / FPS, [], looked_for=frozenset({"face"}))
    assert tracker.tracks == []
    tracker.update(4 / FPS, [body(300.0)])
    assert len(tracker.tracks) == 1
    tracker.update(6 / FPS, [], looked_for=frozenset({"face", "body"}))
    assert tracker.tracks == []


def test_a_part_of_a_tracked_person_boxed_on_its_own_does_not_become_a_person() -> None:
    """The body detector sometimes boxes a raised arm or a torso on its own (Hamilton's performer, frames 118-130).
    Kept through the face-only frames, such a box would be confirmed at the next body detection: a faceless new body
    lying mostly inside an established person's body is dropped instead."""
    tracker = PersonTracker()
    person = [body(100.0, w=200.0, h=300.0)]
    for i in range(0, 12, 2):  # the person is established
        tracker.update(i / FPS, person)
    arm = PersonObservation(score=0.8, body_box=np.array([90, 150, 170, 380], np.float32))  # 70 % inside
    ids = set()
    for i in range(12, 40, 2):
        has_bodies = i % 6 == 0
        obs = [body(100.0, w=200.0, h=300.0), arm] if has_bodies else []
        looked_for = frozenset({"face", "body"}) if has_bodies else frozenset({"face"})
        ids |= {t.track_id for t in tracker.update(i / FPS, obs, looked_for=looked_for)}
    assert ids == {1}


def test_a_face_over_the_shoulder_does_not_take_the_persons_body() -> None:
    """Royal opera, frame 48 (640-px copy): a background face peeks over a walker's head, inside the top of the
    walker's body box, and the pairing (which knows no tracks) gives the body that face, nearer the expected head
    point. The walker's track must keep the walker's own face, which continues its predicted face, and stay one
    track; before, the background face took the body and the walker's face started a second track."""
    keypoints = np.zeros((2, 5, 2), np.float32)
    walker_body = np.array([145, 181, 276, 360], np.float32)
    tracker = PersonTracker()
    ids = []
    for i in range(0, 12, 2):  # the walker, face and body, drifting left; bodies every 6th frame
        shift = np.array([-i, 0, -i, 0], np.float32)
        own_face = np.array([197, 208, 223, 239], np.float32) + shift
        faces = [own_face]
        if i == 6:  # the background face appears above the walker's head
            faces = [np.array([203, 192, 225, 218], np.float32) + shift, own_face]
        bodies = Detections((walker_body + shift)[None], np.array([0.85])) if i % 6 == 0 else None
        obs = build_observations(bodies, Detections(np.stack(faces), np.full(len(faces), 0.8),
                                                    keypoints=keypoints[:len(faces)]))
        if i == 6:  # the pairing alone gives the body the background face
            paired = [o for o in obs if o.body_box is not None]
            assert paired[0].face_index == 0
        looked_for = frozenset({"face", "body"}) if bodies is not None else frozenset({"face"})
        matched = tracker.update(i / FPS, obs, looked_for=looked_for)
        walker = [t for t in matched if t.observation is not None and t.observation.face_box is not None
                  and np.allclose(t.observation.face_box, own_face)]
        ids.append([t.track_id for t in walker])
        if i == 6:  # the walker's track kept body and own face together
            assert walker and walker[0].observation is not None and walker[0].observation.body_box is not None
    assert ids[1:] == [[1]] * (len(ids) - 1)


def test_bad_input_gives_clear_errors() -> None:
    tracker = PersonTracker()
    tracker.update(1.0, [body(0)])
    with pytest.raises(TrackingError, match="backwards"):
        tracker.update(0.5, [body(0)])
    with pytest.raises(TrackingError, match="camera motion"):
        tracker.update(2.0, [body(0)], camera_motion=np.zeros(5))
    with pytest.raises(TrackingError, match="qualities"):
        build_observations(None, Detections(np.zeros((2, 4)), np.ones(2)), face_quality=np.ones(3))


def test_a_boxs_prediction_at_a_later_time_moves_with_its_velocity_and_the_head_and_leaves_the_filter() -> None:
    kalman = BoxKalman(np.array([100.0, 100.0, 140.0, 150.0]), t=0.0)
    for k in range(1, 6):  # walking right at 60 px/s
        kalman.predict(k / 30)
        kalman.update(np.array([100.0 + 2 * k, 100.0, 140.0 + 2 * k, 150.0]))
    state = kalman.x.copy()
    now = kalman.box_at(kalman.t)
    later = kalman.box_at(kalman.t + 1 / 30)
    assert later[0] - now[0] == pytest.approx(kalman.x[4] / 30)
    assert kalman.x[4] == pytest.approx(60.0, rel=0.2)
    turned = np.array([[1.0, 0.0, -40.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])  # the head turned: the scene 40 px left
    np.testing.assert_allclose(kalman.box_at(kalman.t + 1 / 30, turned), later - [40.0, 0.0, 40.0, 0.0])
    np.testing.assert_array_equal(kalman.x, state)  # a look ahead, not an update
