"""Gaze notification (rising edge, debounce, cool-down), follow (also behind the wearer) and the orientation sweep."""

from __future__ import annotations

import pytest

from peoplelens.core.state import HeadOrientation, IdentityState, Sound
from peoplelens.lens.experiences import ExperienceConfig, ExperienceEngine, FollowError
from peoplelens.lens.experiences.scripted import ScriptedPerson, ScriptedScene, events_of

KNOWN = IdentityState.KNOWN


def of(frames, sound):
    return [e for e in events_of(frames) if e.sound == sound]


def looking_script(intervals):
    """``on_frame`` making person 1 look at the wearer during the given [start, end) intervals."""
    def script(t, sc):
        sc.person(1).looking_at_wearer = any(a <= t < b for a, b in intervals)
    return script


def test_gaze_notification_on_the_rising_edge_only_once_per_cooldown():
    # looks 1-3 s, again 4-6 s (within the 10 s cool-down), again 15-30 s (after it)
    scene = ScriptedScene([ScriptedPerson(1, 25.0, 3.0, identity=KNOWN, name="ana")])
    frames = scene.run(ExperienceEngine(), 30.0, lambda t: 0.0, on_frame=looking_script([(1, 3), (4, 6), (15, 30)]))
    gazes = of(frames, Sound.GAZE)
    assert [round(e.t, 1) for e in gazes] == [1.3, 15.3]  # debounced by 0.3 s; the 4 s look is cooling down
    assert all(e.azimuth_deg == pytest.approx(25.0) and e.track_id == 1 for e in gazes)
    assert "started looking at the wearer" in gazes[0].reason


def test_gaze_flickers_are_debounced():
    scene = ScriptedScene([ScriptedPerson(1, 0.0, 3.0)])
    # a 2-frame look (never stable), then a long look with a 1-frame drop after the cool-down has passed
    script = looking_script([(1.0, 1.06), (2.0, 14.0), (14.04, 20.0)])
    gazes = of(scene.run(ExperienceEngine(), 20.0, lambda t: 0.0, on_frame=script), Sound.GAZE)
    assert len(gazes) == 1 and gazes[0].t == pytest.approx(2.3, abs=0.04)


def test_follow_keeps_cueing_from_the_person_direction_also_behind_the_wearer():
    scene = ScriptedScene([ScriptedPerson(1, 10.0, 2.5, identity=KNOWN, name="ana"), ScriptedPerson(2, -20, 3.0)])
    engine = ExperienceEngine()
    scene.run(engine, 0.1, lambda t: 0.0)
    assert engine.follow("ana").track_id == 1

    def walk_behind(t, sc):  # she walks around the wearer to directly behind by t = 3 s
        sc.person(1).azimuth_deg = min(10.0 + 60.0 * (t - 0.1), 180.0)

    frames = scene.run(engine, 9.0, lambda t: 0.0, start_s=0.1, on_frame=walk_behind)
    follows = of(frames, Sound.FOLLOW)
    assert len(follows) == 6  # every 1.5 s over 9 s
    gaps = [b.t - a.t for a, b in zip(follows, follows[1:], strict=False)]
    assert all(g == pytest.approx(1.5, abs=0.04) for g in gaps)
    for e in follows:
        expected = min(10.0 + 60.0 * (e.t - 0.1), 180.0)
        assert e.azimuth_deg == pytest.approx(expected) and e.track_id == 1
    behind = [e for e in follows if e.t > 3.5]
    assert behind and all("out of view" in e.reason for e in behind)


def test_follow_ends_with_a_final_cue_when_the_person_leaves_the_map():
    scene = ScriptedScene([ScriptedPerson(1, -40.0, 2.0, identity=KNOWN, name="ana")])
    engine = ExperienceEngine()
    scene.run(engine, 0.1, lambda t: 0.0)
    engine.follow("ana")

    def leave(t, sc):
        sc.person(1).present = t < 2.0

    follows = of(scene.run(engine, 5.0, lambda t: 0.0, start_s=0.1, on_frame=leave), Sound.FOLLOW)
    assert [e.extra["final"] for e in follows] == [False, False, True]
    # as soon as the previous follow cue (0.52 s from t = 1.6 s) has finished, never later than 0.5 s
    assert 2.0 <= follows[-1].t <= 2.5 and follows[-1].t >= follows[-2].t + 0.52 - 1e-9
    assert follows[-1].azimuth_deg == pytest.approx(-40.0)
    assert "left the People Map" in follows[-1].reason
    assert engine.following is None


def test_follow_front_unfollow_and_clear_errors():
    scene = ScriptedScene([ScriptedPerson(1, 25.0, 2.0), ScriptedPerson(2, -5.0, 6.0), ScriptedPerson(3, 150, 1.0)])
    engine = ExperienceEngine()
    scene.run(engine, 0.1, lambda t: 0.0)
    assert engine.follow_front().track_id == 2
    with pytest.raises(FollowError, match="nobody named 'zoe'"):
        engine.follow("zoe")
    with pytest.raises(FollowError, match="track 9"):
        engine.follow_track(9)
    assert engine.following == 2  # a failed request keeps the current follow
    frames = scene.run(engine, 2.0, lambda t: 0.0, start_s=0.1)
    assert {e.track_id for e in of(frames, Sound.FOLLOW)} == {2}
    engine.unfollow()
    assert of(scene.run(engine, 3.0, lambda t: 0.0, start_s=2.1), Sound.FOLLOW) == []
    engine.update([], HeadOrientation(yaw_deg=180.0), 5.2)
    with pytest.raises(FollowError, match="within 30"):
        engine.follow_front()


def test_orientation_sweep_is_nearest_first_with_names_and_never_overlaps():
    scene = ScriptedScene([
        ScriptedPerson(1, 40.0, 3.0, identity=KNOWN, name="ana"),
        ScriptedPerson(2, -30.0, 1.5, identity=IdentityState.NOT_ENROLLED),
        ScriptedPerson(3, 170.0, 6.0, identity=KNOWN, name="bo"),  # behind the wearer
        ScriptedPerson(4, -90.0, 4.5, identity=IdentityState.IDENTIFYING),
    ])
    cfg = ExperienceConfig()
    engine = ExperienceEngine(cfg)
    scene.run(engine, 0.5, lambda t: 0.0)
    engine.request_orientation()
    sweep = [e for e in events_of(scene.run(engine, 5.0, lambda t: 0.0, start_s=0.5)) if "orientation" in e.reason]
    assert [(e.track_id, e.sound, e.name) for e in sweep] == [
        (2, Sound.ORIENTATION, None), (1, Sound.NAME, "ana"), (4, Sound.ORIENTATION, None), (3, Sound.NAME, "bo")]
    assert [e.azimuth_deg for e in sweep] == [-30.0, 40.0, -90.0, 170.0]
    for a, b in zip(sweep, sweep[1:], strict=False):
        duration = cfg.speech_duration(a.name) if a.sound == Sound.NAME else cfg.cue_duration("orientation")
        assert b.t >= a.t + duration + cfg.orientation_gap_s - 1e-9
    assert sweep[-1].t < 0.5 + 3.5  # and it does not dawdle
