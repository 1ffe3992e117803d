"""Woodblock guidance toward an unidentified face: start after 1 s, pitch follows the offset, stop when done."""

from __future__ import annotations

import pytest

from peoplelens.core.state import IdentityState, Sound
from peoplelens.lens.experiences import ExperienceConfig, ExperienceEngine, guidance_pitch
from peoplelens.lens.experiences.scripted import ScriptedPerson, ScriptedScene, events_of

IDENTIFYING, UNSEEN, KNOWN = IdentityState.IDENTIFYING, IdentityState.UNSEEN_FACE, IdentityState.KNOWN


def woodblocks(frames):
    return [e for e in events_of(frames) if e.sound == Sound.WOODBLOCK]


def test_pitch_mapping_is_monotonic_symmetric_and_bounded():
    cfg = ExperienceConfig()
    offsets = [0, 2, 5, 10, 15, 20, 29, 30, 45]
    pitches = [guidance_pitch(o, cfg) for o in offsets]
    assert all(a > b for a, b in zip(pitches[:-2], pitches[1:-1], strict=True))  # strictly falls to the range edge
    assert pitches[0] == cfg.guidance_max_semitones and pitches[-1] == pitches[-2] == 0.0
    assert guidance_pitch(-12, cfg) == guidance_pitch(12, cfg)


def test_taps_start_after_one_second_unidentified_from_the_face_direction():
    scene = ScriptedScene([ScriptedPerson(1, 12.0, 3.0, identity=IDENTIFYING)])
    taps = woodblocks(scene.run(ExperienceEngine(), 3.0, lambda t: 0.0))
    assert taps, "no guidance"
    assert taps[0].t >= 1.0 and taps[0].t < 1.05
    gaps = [b.t - a.t for a, b in zip(taps, taps[1:], strict=False)]
    assert min(gaps) >= 0.4 - 1e-9 and max(gaps) < 0.45  # rate limited to one every 0.4 s
    assert len(taps) == 5  # t = 1.0, 1.4, 1.8, 2.2, 2.6 (up to 3 s)
    for e in taps:
        assert e.azimuth_deg == pytest.approx(12.0) and e.track_id == 1
        assert e.pitch_semitones == pytest.approx(12.0 * (1 - 12.0 / 30.0))
        assert e.extra["turn_azimuth_deg"] == pytest.approx(12.0)
        assert "turn 12.0° right" in e.reason


def test_pitch_rises_as_the_wearer_turns_toward_the_face_and_stops_when_centred():
    scene = ScriptedScene([ScriptedPerson(1, 20.0, 3.0, identity=UNSEEN)])
    # the head turns slowly toward the person: 8°/s from t=1 s
    frames = scene.run(ExperienceEngine(), 4.0, lambda t: max(0.0, 8.0 * (t - 1.0)))
    taps = woodblocks(frames)
    offsets = [e.extra["offset_deg"] for e in taps]
    pitches = [e.pitch_semitones for e in taps]
    assert len(taps) >= 4
    assert all(a > b for a, b in zip(offsets, offsets[1:], strict=False))
    assert all(a < b for a, b in zip(pitches, pitches[1:], strict=False))
    # the face is within 4° of the axis once yaw >= 16° (t >= 3 s): no tap from then on
    assert max(e.t for e in taps) < 3.0
    assert all(e.extra["offset_deg"] > 4.0 for e in taps)


def test_side_is_consistent_left_and_right():
    def run(azimuth):
        scene = ScriptedScene([ScriptedPerson(1, azimuth, 3.0, identity=IDENTIFYING, face_offset_deg=(0.0, 6.0))])
        return woodblocks(scene.run(ExperienceEngine(), 2.0, lambda t: 0.0))

    right, left = run(15.0), run(-15.0)
    assert len(right) == len(left) > 0
    for r, lt in zip(right, left, strict=True):
        assert r.pitch_semitones == pytest.approx(lt.pitch_semitones)
        assert r.azimuth_deg > 0 > lt.azimuth_deg and r.azimuth_deg == pytest.approx(-lt.azimuth_deg)
        assert r.elevation_deg == pytest.approx(6.0) and lt.elevation_deg == pytest.approx(6.0)  # face is above
        assert "right" in r.reason and "left" in lt.reason and "up" in r.reason


def test_guidance_uses_the_body_when_no_face_is_seen():
    scene = ScriptedScene([ScriptedPerson(1, -10.0, 3.0, identity=UNSEEN, face_visible=False)])
    taps = woodblocks(scene.run(ExperienceEngine(), 1.6, lambda t: 0.0))
    assert taps and all("the body of person 1" in e.reason for e in taps)
    assert taps[0].azimuth_deg == pytest.approx(-10.0)


def test_guidance_stops_when_identified_and_never_targets_known_or_far_or_peripheral_people():
    scene = ScriptedScene([
        ScriptedPerson(1, 10.0, 3.0, identity=IDENTIFYING),
        ScriptedPerson(2, -10.0, 3.0, identity=KNOWN, name="ana"),
        ScriptedPerson(3, -5.0, 11.0, identity=IDENTIFYING),  # beyond 10 m
        ScriptedPerson(4, 30.0, 3.0, identity=IDENTIFYING),  # 30° off the gaze: not attended
    ])

    def script(t, sc):
        if t >= 2.0:
            sc.person(1).identity = IdentityState.NOT_ENROLLED

    taps = woodblocks(scene.run(ExperienceEngine(), 4.0, lambda t: 0.0, on_frame=script))
    assert {e.track_id for e in taps if e.t < 2.0} == {1}
    assert all(e.t < 2.0 for e in taps)  # person 1 identified at 2 s; 2, 3, 4 never guided


def test_the_attended_person_is_the_one_closest_to_the_gaze():
    scene = ScriptedScene([ScriptedPerson(1, 15.0, 3.0), ScriptedPerson(2, -6.0, 3.0)])
    taps = woodblocks(scene.run(ExperienceEngine(), 2.0, lambda t: 0.0))
    assert taps and {e.track_id for e in taps} == {2}
