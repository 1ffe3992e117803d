"""Bump, name, click and seen signals on scripted People Map scenarios (pure logic, ~30 Hz)."""

from __future__ import annotations

from peoplelens.core.state import IdentityState, Sound
from peoplelens.lens.experiences import ExperienceConfig, ExperienceEngine
from peoplelens.lens.experiences.scripted import ScriptedPerson, ScriptedScene, events_of

KNOWN, NOT_ENROLLED, IDENTIFYING = IdentityState.KNOWN, IdentityState.NOT_ENROLLED, IdentityState.IDENTIFYING


def sweep(t: float, start: float = -60.0, speed: float = 40.0) -> float:
    """A head yaw sweeping right at ``speed`` °/s from ``start``."""
    return start + speed * t


def of(events, sound):
    return [e for e in events if e.sound == sound]


def test_sweep_bumps_people_within_10m_only_from_their_direction():
    scene = ScriptedScene([ScriptedPerson(1, -30, 2.0), ScriptedPerson(2, 0, 6.0), ScriptedPerson(3, 30, 12.0)])
    events = events_of(scene.run(ExperienceEngine(), 3.0, sweep))
    bumps = of(events, Sound.BUMP)
    assert [e.track_id for e in bumps] == [1, 2]
    assert [round(e.azimuth_deg) for e in bumps] == [-30, 0]
    assert [e.distance_m for e in bumps] == [2.0, 6.0]
    # each bump happens while the gaze is on the person (within the cone, or swept across in one frame)
    for e in bumps:
        yaw = sweep(e.t)
        assert abs(yaw - e.azimuth_deg) <= 8.0, (e.t, yaw, e.azimuth_deg)
        assert "gaze crossed person" in e.reason and f"{e.distance_m:.1f} m" in e.reason


def test_fast_sweep_detected_by_sign_change():
    # 240°/s at 30 Hz = 8° per frame: steps over a 3° cone; the sign change still counts as a crossing
    scene = ScriptedScene([ScriptedPerson(1, 7.0, 9.0)])  # frames at camera azimuth +4° then -4°
    events = events_of(scene.run(ExperienceEngine(), 0.5, lambda t: sweep(t, start=-45.0, speed=240.0)))
    bumps = of(events, Sound.BUMP)
    assert len(bumps) == 1 and "swept across" in bumps[0].reason


def test_known_close_with_both_ears_gets_name_after_the_bump_and_a_seen_signal():
    scene = ScriptedScene([ScriptedPerson(1, 10, 2.0, identity=KNOWN, name="lin_manuel_miranda")])
    frames = scene.run(ExperienceEngine(), 2.0, sweep)
    events = events_of(frames)
    assert [e.sound for e in events] == [Sound.BUMP, Sound.NAME]
    bump, name = events
    assert name.name == "lin_manuel_miranda" and name.track_id == 1
    assert name.t >= bump.t + 0.08 - 1e-9 and name.t - bump.t <= 0.5  # after the bump, not late
    assert "known (lin_manuel_miranda), 2.0 m <= 4 m, both ears visible" in name.reason
    seen = [s for f in frames for s in f.result.seen]
    assert len(seen) == 1 and seen[0].track_id == 1 and seen[0].name == "lin_manuel_miranda"
    assert abs(seen[0].t - name.t) < 1e-9


def test_known_at_6m_gets_bump_only():
    scene = ScriptedScene([ScriptedPerson(1, 10, 6.0, identity=KNOWN, name="ana")])
    frames = scene.run(ExperienceEngine(), 2.0, sweep)
    assert [e.sound for e in events_of(frames)] == [Sound.BUMP]
    assert not [s for f in frames for s in f.result.seen]


def test_known_with_one_ear_hidden_is_named_when_the_ears_show_while_attended():
    scene = ScriptedScene([ScriptedPerson(1, 0, 2.0, identity=KNOWN, name="ana", both_ears_visible=False)])

    def script(t, sc):
        sc.person(1).both_ears_visible = t >= 1.5

    # the head stops on the person (yaw 0 from t=1 s) and stays there
    frames = scene.run(ExperienceEngine(), 3.0, lambda t: min(sweep(t, -40.0), 0.0), on_frame=script)
    events = events_of(frames)
    assert [e.sound for e in events] == [Sound.BUMP, Sound.NAME]
    assert events[0].t < 1.5 and 1.5 <= events[1].t < 1.6  # not at bump time; as soon as the ears show
    assert len([s for f in frames for s in f.result.seen]) == 1


def test_ears_showing_after_the_gaze_left_do_not_name():
    scene = ScriptedScene([ScriptedPerson(1, 0, 2.0, identity=KNOWN, name="ana", both_ears_visible=False)])

    def script(t, sc):
        sc.person(1).both_ears_visible = t >= 1.8  # by then the gaze is 32° past her

    events = events_of(scene.run(ExperienceEngine(), 2.5, lambda t: sweep(t, -40.0), on_frame=script))
    assert [e.sound for e in events] == [Sound.BUMP]


def test_not_enrolled_gets_click_and_identifying_gets_nothing_after_the_bump():
    scene = ScriptedScene([ScriptedPerson(1, -20, 2.0, identity=NOT_ENROLLED),
                           ScriptedPerson(2, 20, 2.0, identity=IDENTIFYING)])
    frames = scene.run(ExperienceEngine(), 3.0, sweep)
    # (person 2 also gets woodblock guidance while unidentified: see test_experiences_guidance)
    events = [(e.sound, e.track_id) for e in events_of(frames) if e.sound != Sound.WOODBLOCK]
    assert events == [(Sound.BUMP, 1), (Sound.CLICK, 1), (Sound.BUMP, 2)]
    seen = [s for f in frames for s in f.result.seen]
    assert [(s.track_id, s.name) for s in seen] == [(1, None)]


def test_click_once_when_identified_as_not_enrolled_while_attended():
    scene = ScriptedScene([ScriptedPerson(1, 0, 3.0, identity=IDENTIFYING)])

    def script(t, sc):
        sc.person(1).identity = NOT_ENROLLED if t >= 1.0 else IDENTIFYING

    events = events_of(scene.run(ExperienceEngine(), 3.0, lambda t: 0.0, on_frame=script))
    assert [e.sound for e in events] == [Sound.BUMP, Sound.CLICK]
    assert events[1].t >= 1.0 and events[1].t < 1.1


def test_identified_as_known_while_attended_is_named_once():
    scene = ScriptedScene([ScriptedPerson(1, 0, 3.0, identity=IDENTIFYING, name="ana")])

    def script(t, sc):
        sc.person(1).identity = KNOWN if t >= 0.7 else IDENTIFYING

    events = events_of(scene.run(ExperienceEngine(), 4.0, lambda t: 0.0, on_frame=script))
    assert [e.sound for e in events] == [Sound.BUMP, Sound.NAME]


def test_cooldowns_stop_repeated_announcements_while_looking_and_allow_them_later():
    # the wearer looks at ana, then wobbles the head by ±4° (stays on her): one bump, one name
    scene = ScriptedScene([ScriptedPerson(1, 0, 2.0, identity=KNOWN, name="ana")])
    engine = ExperienceEngine(ExperienceConfig(name_cooldown_s=30.0))
    frames = scene.run(engine, 10.0, lambda t: 4.0 * ((t * 2) % 2 - 1))
    assert [e.sound for e in events_of(frames)] == [Sound.BUMP, Sound.NAME]
    # looking away and back 5 s later: a bump again, but the name is still cooling down
    away = scene.run(engine, 2.0, lambda t: 40.0, start_s=10.0)
    back = scene.run(engine, 2.0, lambda t: 0.0, start_s=12.0)
    assert events_of(away) == []
    assert [e.sound for e in events_of(back)] == [Sound.BUMP]
    assert "cool" not in events_of(back)[0].reason  # a plain bump
    # after the cool-down: away and back again -> bump and name
    scene.run(engine, 1.0, lambda t: 40.0, start_s=40.0)
    again = scene.run(engine, 1.0, lambda t: 0.0, start_s=41.0)
    assert [e.sound for e in events_of(again)] == [Sound.BUMP, Sound.NAME]


def test_no_bump_while_wearer_keeps_looking_and_rearm_needs_leaving():
    scene = ScriptedScene([ScriptedPerson(1, 0, 5.0)])
    engine = ExperienceEngine()
    frames = scene.run(engine, 5.0, lambda t: 2.0)  # inside the 3° cone the whole time
    assert len(of(events_of(frames), Sound.BUMP)) == 1
    # a small move (still within cone + margin) does not re-arm
    frames = scene.run(engine, 2.0, lambda t: 10.0 if t < 6.0 else 0.0, start_s=5.0)
    assert of(events_of(frames), Sound.BUMP) == []
    # leaving by more than the margin re-arms
    frames = scene.run(engine, 2.0, lambda t: 20.0 if t < 8.0 else 0.0, start_s=7.0)
    assert len(of(events_of(frames), Sound.BUMP)) == 1


def test_out_of_view_people_are_not_bumped():
    # an occluded (remembered, not in view) person is not bumped when the gaze crosses their direction
    scene = ScriptedScene([ScriptedPerson(1, 0, 2.0, identity=KNOWN, name="ana", occluded=True)])
    engine = ExperienceEngine()
    assert events_of(scene.run(engine, 2.0, sweep)) == []
    scene.person(1).occluded = False  # she steps out from behind: the next crossing bumps and names her
    events = events_of(scene.run(engine, 3.0, lambda t: sweep(t - 2.0), start_s=2.0))
    assert [e.sound for e in events] == [Sound.BUMP, Sound.NAME]


def test_name_cooldown_survives_a_track_id_change():
    scene = ScriptedScene([ScriptedPerson(1, 0, 2.0, identity=KNOWN, name="ana")])
    engine = ExperienceEngine()
    assert [e.sound for e in events_of(scene.run(engine, 1.0, lambda t: 0.0))] == [Sound.BUMP, Sound.NAME]
    # the tracker loses her and she comes back as track 7 two seconds later: bump, but no second name
    scene.person(1).present = False
    scene.run(engine, 1.0, lambda t: 0.0, start_s=1.0)
    scene.people.append(ScriptedPerson(7, 0, 2.0, identity=KNOWN, name="ana"))
    events = events_of(scene.run(engine, 2.0, lambda t: 0.0, start_s=2.0))
    assert [(e.sound, e.track_id) for e in events] == [(Sound.BUMP, 7)]


def test_a_child_whose_adult_size_reads_beyond_4m_is_named_from_the_near_bound():
    """A child's smaller face reads ~20 % farther under an adult prior: the name gate reads the nearest plausible
    distance (perception's child hypothesis), so a child at 3.6 m read as 4.5 m is still named, an adult at 4.5 m
    (near bound 4.3 m) is not."""
    child = ScriptedPerson(1, 10, 4.5, identity=KNOWN, name="mia", distance_near_m=3.6)
    frames = ScriptedScene([child]).run(ExperienceEngine(), 2.0, sweep)
    names = [e for e in events_of(frames) if e.sound == Sound.NAME]
    assert len(names) == 1 and "4.5 m (a child's size: 3.6 m) <= 4 m" in names[0].reason
    adult = ScriptedPerson(1, 10, 4.5, identity=KNOWN, name="ana", distance_near_m=4.3)
    frames = ScriptedScene([adult]).run(ExperienceEngine(), 2.0, sweep)
    assert [e.sound for e in events_of(frames)] == [Sound.BUMP]
