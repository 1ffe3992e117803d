"""Tracker behaviour on scripted observations, by appearance: re-identification after leaving the view or coming
out from behind someone, contested faces, the face gallery, and faces that belong to someone else."""

from __future__ import annotations

import numpy as np

from peoplelens.lens.perception.tracking import FaceReidCost, PersonObservation, PersonTracker, TrackerConfig
from tests.test_tracking_synthetic import FPS, body, run, unit


def test_reidentification_after_leaving_view() -> None:
    alice, bob = unit(1), unit(2)
    noisy = alice + 0.5 * unit(3)  # cosine ~0.9 with alice
    noisy /= np.linalg.norm(noisy)
    frames = [[body(100 + 2 * i, emb=alice)] for i in range(15)] + [[] for _ in range(90)]  # 3 s away
    frames += [[body(500, emb=noisy)] for _ in range(10)]
    tracker = PersonTracker(TrackerConfig(max_age_s=1.0), cost=FaceReidCost())
    merges = []
    ids = []
    for i, obs in enumerate(frames):
        ids.append([t.track_id for t in tracker.update(i / FPS, obs)])
        merges += tracker.merges
    first, last = ids[10][0], ids[-1][0]
    assert last == first
    assert len(merges) == 1 and merges[0][1] == first
    # Somebody else appearing at the same place does not get alice's id.
    frames = [[body(100 + 2 * i, emb=alice)] for i in range(15)] + [[] for _ in range(90)]
    frames += [[body(500, emb=bob)] for _ in range(10)]
    ids = run(PersonTracker(TrackerConfig(max_age_s=1.0), cost=FaceReidCost()), frames)
    assert ids[-1][0] != ids[10][0]


def _back_from_behind(first_face_at_hit: int) -> tuple[PersonTracker, int, list[tuple[int, int]], list[int]]:
    """Alice is tracked (her face remembered, as the identify stage does after each update), hidden for 10 frames,
    and comes back 300 px away: a new track, whose face is first remembered at its ``first_face_at_hit``-th hit.
    Returns the tracker, her first id, what ``reidentify_reported`` answered after each of the new track's updates
    and the ids reported."""
    alice = unit(1)
    tracker = PersonTracker()
    for i in range(10):
        for tr in tracker.update(i / FPS, [body(100.0)]):
            tracker.remember_face(tr, alice, 0.9)
    old_id = tracker.tracks[0].track_id
    for i in range(10, 20):  # hidden: coasting
        tracker.update(i / FPS, [])
    answers, ids = [], []
    for hit, i in enumerate(range(20, 24), start=1):
        reported = tracker.update(i / FPS, [body(400.0 + 2 * hit)])
        ids += [tr.track_id for tr in reported]
        if reported and hit >= first_face_at_hit:
            tracker.remember_face(reported[0], alice, 0.9)
        answers += tracker.reidentify_reported(i / FPS, reported)
    return tracker, old_id, answers, ids


def test_a_person_back_from_behind_someone_gets_their_id_on_the_frame_first_reported() -> None:
    # The product embeds faces after association, so a new track's first face reaches the tracker after the update
    # that first reports it; the re-identification in that update had nothing to compare.
    tracker, old_id, answers, ids = _back_from_behind(first_face_at_hit=2)
    assert len(answers) == 1 and answers[0][1] == old_id  # right after the first report (the 2nd hit)
    assert ids[0] != old_id  # that update reported the fresh id; the identify stage renames it on the same frame
    assert set(ids[1:]) == {old_id} and [tr.track_id for tr in tracker.tracks] == [old_id]
    # a track reported on earlier frames already reached the People Map under its id: left to the next update
    tracker, old_id, answers, ids = _back_from_behind(first_face_at_hit=3)
    assert answers == []
    assert ids[0] == ids[1] != old_id and ids[2] == old_id and tracker.merges == [(ids[0], old_id)]  # by update
    assert [tr.track_id for tr in tracker.tracks] == [old_id]


def test_embedding_veto_stops_a_track_jumping_to_another_face() -> None:
    alice, bob = unit(1), unit(2)
    frames = [[body(100, emb=alice)] for _ in range(10)] + [[body(105, emb=bob)] for _ in range(5)]
    assert len({i for f in run(PersonTracker(cost=FaceReidCost()), frames) for i in f}) == 2
    assert len({i for f in run(PersonTracker(TrackerConfig(cost="person")), frames) for i in f}) == 1  # IoU alone: one


def test_a_coasting_track_whose_id_was_just_taken_back_is_not_placed_twice() -> None:
    # The identify stage re-identified a track first reported on this frame as a person the track stage had listed
    # as coasting: both Track objects now carry that id, and the person is placed (and shown) once, where seen.
    from peoplelens.core.types import Frame
    from peoplelens.lens.perception.geometry import CameraIntrinsics
    from peoplelens.lens.pipeline.frame_state import FrameState
    from peoplelens.lens.pipeline.stages.place import PlaceStage

    tracker = PersonTracker()
    for i in range(3):
        tracker.update(i / FPS, [body(100.0), body(400.0)])
    seen, coasting = sorted(tracker.tracks, key=lambda tr: float(tr.box[0]))
    coasting.observation = None
    seen.track_id = coasting.track_id
    state = FrameState(frame=Frame(np.zeros((480, 640, 3), np.uint8), 3 / FPS, 3),
                       intrinsics=CameraIntrinsics.from_fov(640, 480))
    state.tracks, state.coasting = [seen], [coasting]
    PlaceStage().run(state)
    assert [v.track_id for v in state.views] == [seen.track_id]
    assert state.views[0].box[0] == 100.0  # where the person is seen, not the coasting prediction
    assert [o.track_id for o in state.observations] == [seen.track_id]


def _face(x: float, y: float = 100.0, size: float = 80.0) -> PersonObservation:
    """A face seen alone (no body), without an embedding: as the product's detectors hand it to the tracker."""
    return PersonObservation(score=0.9, face_box=np.array([x, y, x + size, y + size], np.float32),
                             face_keypoints=np.zeros((5, 2), np.float32), face_score=0.9, face_quality=0.9)


def test_a_face_two_tracks_could_take_goes_to_the_one_it_looks_like() -> None:
    # Alice's face (x 100) and Bob's (x 160) are tracked and remembered, as the identify stage does after each
    # update. Then one face shows up at x 145: by overlap it is Bob's (IoU 0.68 against 0.28 with Alice's), but
    # it is Alice, e.g. passing in front of him. The tracker embeds such a contested face before association and
    # gives it to the track it looks like; a face only one track could take, where its face was, is never embedded.
    alice, bob = unit(11), unit(12)
    who: dict[int, np.ndarray] = {}
    asked: list[int] = []

    def embed(observations) -> None:
        asked.append(len(observations))
        for ob in observations:
            ob.embedding = who[id(ob)]

    def crossing(embed_faces) -> tuple[int, int, int | None]:
        tracker = PersonTracker()
        ids: dict[str, int] = {}
        for i in range(5):
            a, b = _face(100), _face(160)
            who[id(a)], who[id(b)] = alice, bob
            for tr in tracker.update(i / FPS, [a, b], embed=embed_faces):
                name = "alice" if tr.observation is a else "bob"
                ids[name] = tr.track_id
                tracker.remember_face(tr, who[id(tr.observation)], 0.9)
        passing = _face(145)
        who[id(passing)] = alice
        (seen,) = tracker.update(5 / FPS, [passing], embed=embed_faces)
        return ids["alice"], ids["bob"], seen.track_id

    alice_id, bob_id, taken_by = crossing(None)
    assert taken_by == bob_id != alice_id  # by position alone: Bob's track takes Alice's face
    asked.clear()
    alice_id, _, taken_by = crossing(embed)
    assert taken_by == alice_id
    assert asked == [1]  # only the contested face, only on that frame
    assert PersonTracker(TrackerConfig(contested_faces=0)).config.contested_faces == 0


def test_a_face_embedded_for_a_contest_enters_the_gallery_once() -> None:
    # The tracker keeps a contested face's vector in the track's gallery, and the identity stage hands the same
    # vector to remember_face: one face must count once in the gallery's mean.
    tracker = PersonTracker()
    tracker.update(0.0, [_face(100)])
    (track,) = tracker.update(1 / FPS, [_face(102)])  # confirmed on its second hit
    v = unit(21)
    tracker.remember_face(track, v, 0.9)
    tracker.remember_face(track, v.copy(), 0.9)
    tracker.remember_face(track, unit(22), 0.9)
    assert len(track.gallery) == 2


def test_a_face_that_is_someone_elses_leaves_the_body_it_was_paired_with() -> None:
    # Bob stands at x=400; Alice was tracked at x=100 and is lost. Bob's own face is missed on one frame and the
    # pairing puts a face in his body's head region with his body: Alice's (she is back, behind him). Bob's track
    # keeps his body and his gallery; the face starts a track that re-identification gives Alice's id.
    alice, bob = unit(1), unit(2)
    tracker = PersonTracker(TrackerConfig(max_age_s=0.2))
    for i in range(10):
        tracker.update(i / FPS, [body(100.0, emb=alice), body(400.0, emb=bob)])
    alice_id, bob_id = (tr.track_id for tr in tracker.tracks)
    for i in range(10, 20):
        tracker.update(i / FPS, [body(400.0, emb=bob)])
    assert [tr.track_id for tr in tracker.lost] == [alice_id]
    gallery = len(tracker.tracks[0].gallery)
    mixed = body(400.0, emb=alice)
    mixed.face_score = 0.8
    reported = tracker.update(20 / FPS, [mixed])
    assert sorted(tr.track_id for tr in reported) == sorted([alice_id, bob_id])
    bob_track = next(tr for tr in reported if tr.track_id == bob_id)
    assert bob_track.observation is mixed and mixed.face_box is None and mixed.body_box is not None
    assert len(bob_track.gallery) == gallery and float(bob_track.gallery_embedding() @ bob) > 0.99
    assert [old for _, old in tracker.merges] == [alice_id]
    # A face that is nobody else's (a blurred or turned face of Bob's own, say) stays with his body.
    stranger = unit(7)
    own = body(400.0, emb=stranger)
    reported = tracker.update(21 / FPS, [own])
    assert [tr.track_id for tr in reported if tr.observation is own] == [bob_id] and own.face_box is not None


def test_a_person_seen_from_behind_who_turns_round_gets_their_id_back() -> None:
    # Alice is tracked and leaves; 3 s later a body is tracked from behind (no face) where she went, and after 3 s
    # more it turns round: her face. Re-identification counts its window from the track's first face, not from
    # when the body was first seen, so the body's track gets her id back.
    alice = unit(1)
    tracker = PersonTracker(TrackerConfig(max_age_s=0.5))
    for i in range(10):
        tracker.update(i / FPS, [body(100.0, emb=alice)])
    alice_id = tracker.tracks[0].track_id
    frames = [[] for _ in range(90)] + [[body(600.0)] for _ in range(90)]
    for i, obs in enumerate(frames, start=10):
        tracker.update(i / FPS, obs)
    assert [tr.track_id for tr in tracker.lost] == [alice_id]
    back_id = tracker.tracks[0].track_id
    assert back_id != alice_id
    turned = body(600.0, emb=alice)
    reported = tracker.update(200 / FPS, [turned])
    assert [tr.track_id for tr in reported] == [alice_id] and tracker.merges == [(back_id, alice_id)]


def test_a_face_that_jumps_within_a_body_is_embedded_and_can_leave_it() -> None:
    # Bob is tracked, body and face; Alice is lost. A face appears in Bob's body's head region, away from his
    # predicted face (no overlap): only Bob's track could take the observation, so it is no contest, but a face
    # that jumps may be someone else's, so it is embedded before association. It is Alice's: it leaves Bob's body
    # and gets her id back. Bob's own face, where it should be, is never embedded.
    alice, bob = unit(1), unit(2)
    asked: list[PersonObservation] = []
    faces: dict[int, np.ndarray] = {}

    def embed(observations) -> None:
        asked.extend(observations)
        for ob in observations:
            ob.embedding = faces[id(ob)]

    tracker = PersonTracker(TrackerConfig(max_age_s=0.2))
    for i in range(10):
        tracker.update(i / FPS, [body(100.0, emb=alice), body(400.0, emb=bob)], embed=embed)
    alice_id, bob_id = (tr.track_id for tr in tracker.tracks)
    for i in range(10, 20):
        own = body(400.0, emb=None)
        own.face_box, own.face_quality, own.face_score = np.array([424, 105, 456, 141], np.float32), 0.9, 0.8
        tracker.update(i / FPS, [own], embed=embed)
    assert asked == [] and [tr.track_id for tr in tracker.lost] == [alice_id]
    jumped = body(400.0, emb=None)
    jumped.face_box, jumped.face_quality, jumped.face_score = np.array([402, 150, 422, 170], np.float32), 0.9, 0.8
    faces[id(jumped)] = alice
    reported = tracker.update(20 / FPS, [jumped], embed=embed)
    assert asked == [jumped]
    assert sorted(tr.track_id for tr in reported) == sorted([alice_id, bob_id])
    assert next(tr for tr in reported if tr.track_id == bob_id).observation is jumped and jumped.face_box is None
