"""Scheduling: no overlapping speech, priorities, staleness, speech_finished, input checks and config overrides."""

from __future__ import annotations

import math

import pytest

from peoplelens.core.config import ConfigError, load_config
from peoplelens.core.state import HeadOrientation, IdentityState, PersonState, Sound
from peoplelens.lens.experiences import PRIORITY, ExperienceConfig, ExperienceEngine, ExperienceError, experience_config
from peoplelens.lens.experiences.context import Context, candidate, make_event
from peoplelens.lens.experiences.scheduler import CueScheduler
from peoplelens.lens.experiences.scripted import ScriptedPerson, ScriptedScene, events_of

KNOWN = IdentityState.KNOWN


def ctx_at(t: float, scheduler: CueScheduler, cfg: ExperienceConfig | None = None) -> Context:
    return Context(t=t, head=HeadOrientation(0.0), people={}, config=cfg or ExperienceConfig(), scheduler=scheduler)


def person(track_id: int = 1, **kw) -> PersonState:
    base = dict(track_id=track_id, identity=KNOWN, name="ana", azimuth_deg=0.0, elevation_deg=0.0, distance_m=2.0,
                distance_sigma_m=0.2, in_view=True, first_seen=0.0, last_seen=0.0, seen_duration_s=0.0,
                camera_azimuth_deg=0.0, camera_elevation_deg=0.0, both_ears_visible=True)
    base.update(kw)
    return PersonState(**base)


def test_priority_order_matches_the_scheme():
    order = [Sound.NAME, Sound.GAZE, Sound.CLICK, Sound.BUMP, Sound.WOODBLOCK, Sound.FOLLOW]
    assert [PRIORITY[s] for s in order] == sorted((PRIORITY[s] for s in order), reverse=True)


def test_a_name_beats_a_woodblock_in_the_same_frame():
    sched = CueScheduler()
    ctx = ctx_at(5.0, sched)
    p = person()
    dropped: list[str] = []
    sched.submit(candidate(ctx, make_event(ctx, Sound.WOODBLOCK, p, "guide"), max_delay_s=0.0,
                           on_drop=dropped.append))
    sched.submit(candidate(ctx, make_event(ctx, Sound.NAME, p, "known", name="ana")))
    started = sched.step(5.0)
    assert [c.event.sound for c in started] == [Sound.NAME]
    assert dropped == ["speech is playing"] and sched.pending() == []


def test_higher_priority_cue_first_lower_waits_then_stale_cues_are_dropped():
    sched = CueScheduler()
    ctx = ctx_at(1.0, sched)
    p = person()
    drops: list[str] = []
    sched.submit(candidate(ctx, make_event(ctx, Sound.BUMP, p, "bump")))
    sched.submit(candidate(ctx, make_event(ctx, Sound.GAZE, p, "gaze")))
    assert [c.event.sound for c in sched.step(1.0)] == [Sound.GAZE]  # gaze (0.38 s) occupies the cue channel
    assert sched.step(1.2) == []
    late = sched.step(1.4)
    assert [c.event.sound for c in late] == [Sound.BUMP] and late[0].event.extra["trigger_t"] == 1.0
    # a cue that cannot start within max_delay is dropped, never played late
    sched.cue_busy_until = 10.0
    ctx = ctx_at(2.0, sched)
    sched.submit(candidate(ctx, make_event(ctx, Sound.CLICK, p, "click"), on_drop=drops.append))
    for t in (2.1, 2.3, 2.45):
        assert sched.step(t) == []
    assert drops == [] and len(sched.pending()) == 1
    assert sched.step(2.6) == [] and drops and drops[0].startswith("stale") and sched.pending() == []
    # one that cannot start at its deadline is dropped then too
    ctx = ctx_at(3.0, sched)
    sched.submit(candidate(ctx, make_event(ctx, Sound.CLICK, p, "click"), on_drop=drops.append))
    assert sched.step(3.5) == [] and drops[-1] == "channel busy" and sched.pending() == []


def test_waiting_cues_of_people_who_left_the_map_are_dropped_and_delayed_ones_re_aimed():
    sched = CueScheduler()
    ctx = ctx_at(0.0, sched)
    drops: list[str] = []
    sched.submit(candidate(ctx, make_event(ctx, Sound.NAME, person(1), "a", name="ana"), delay_s=0.1,
                           on_drop=drops.append))
    sched.submit(candidate(ctx, make_event(ctx, Sound.BUMP, person(2), "b"), delay_s=0.1))
    started = sched.step(0.1, {2: person(2, azimuth_deg=7.0, distance_m=2.5)})
    assert drops == ["track 1 left the People Map"]
    assert [(c.event.track_id, c.event.azimuth_deg, c.event.distance_m) for c in started] == [(2, 7.0, 2.5)]


def test_speech_finished_frees_the_speech_channel_early():
    sched = CueScheduler()
    ctx = ctx_at(0.0, sched)
    sched.submit(candidate(ctx, make_event(ctx, Sound.NAME, person(1), "a", name="alexandra_maria")))
    assert len(sched.step(0.0)) == 1 and sched.speech_busy(0.5)  # estimated 0.45 + 15 * 0.07 = 1.5 s
    ctx = ctx_at(0.3, sched)
    sched.submit(candidate(ctx, make_event(ctx, Sound.NAME, person(2), "b", name="bo")))
    assert sched.step(0.3) == []
    sched.speech_finished(0.5)  # the audio layer: the utterance really ended at 0.5 s
    assert [c.event.name for c in sched.step(0.53)] == ["bo"]


def test_no_two_names_overlap_and_both_are_eventually_spoken():
    cfg = ExperienceConfig()
    # two known people side by side in front; the wearer looks between them and stays
    scene = ScriptedScene([ScriptedPerson(1, -1.5, 2.0, identity=KNOWN, name="lin_manuel_miranda"),
                           ScriptedPerson(2, 1.5, 2.2, identity=KNOWN, name="ana")])
    frames = scene.run(ExperienceEngine(cfg), 4.0, lambda t: 0.0)
    names = [e for e in events_of(frames) if e.sound == Sound.NAME]
    assert sorted(e.name for e in names) == ["ana", "lin_manuel_miranda"]
    for a, b in zip(names, names[1:], strict=False):
        assert b.t >= a.t + cfg.speech_duration(a.name) - 1e-9
    assert len({s.track_id for f in frames for s in f.result.seen}) == 2


def test_scenario_events_are_never_late_and_woodblocks_never_play_over_speech():
    cfg = ExperienceConfig()
    scene = ScriptedScene([
        ScriptedPerson(1, -8.0, 3.0, identity=IdentityState.IDENTIFYING),
        ScriptedPerson(2, 2.0, 2.0, identity=KNOWN, name="ana", looking_at_wearer=True),
        ScriptedPerson(3, 25.0, 3.0, identity=IdentityState.NOT_ENROLLED),
    ])

    def wander(t):
        return 30.0 * math.sin(t * 0.9)

    events = events_of(scene.run(ExperienceEngine(cfg), 20.0, wander))
    sounds = {e.sound for e in events}
    assert {Sound.BUMP, Sound.NAME, Sound.WOODBLOCK, Sound.CLICK, Sound.GAZE} <= sounds
    for e in events:
        trigger = e.extra.get("trigger_t", e.t)
        assert e.t - trigger <= cfg.max_delay_s + cfg.cue_duration("bump") + 1e-9, e
        assert e.reason
    speech = [(e.t, e.t + cfg.speech_duration(e.name)) for e in events if e.sound == Sound.NAME]
    for e in events:
        if e.sound in (Sound.WOODBLOCK, Sound.FOLLOW):
            assert not any(a <= e.t < b for a, b in speech), e


def test_bad_input_gives_clear_errors_and_loses_nothing():
    engine = ExperienceEngine()
    head = HeadOrientation(0.0)
    engine.update([person()], head, 1.0)
    with pytest.raises(ExperienceError, match="went backwards"):
        engine.update([person()], head, 0.5)
    with pytest.raises(ExperienceError, match="appears twice"):
        engine.update([person(1), person(1)], head, 1.1)
    with pytest.raises(ExperienceError, match="azimuth_deg"):
        engine.update([person(azimuth_deg=float("nan"))], head, 1.1)
    with pytest.raises(ExperienceError, match="distance_m"):
        engine.update([person(distance_m=-1.0)], head, 1.1)
    with pytest.raises(ExperienceError, match="finite"):
        engine.update([], head, float("inf"))
    with pytest.raises(ExperienceError, match="list of PersonState"):
        engine.update(1.1, head, [person()])  # arguments in the wrong order
    # the engine still works: an unknown distance (inf) is simply too far to bump
    assert engine.update([person(2, distance_m=float("inf"))], head, 1.2).events == []


def test_config_overrides_from_toml_and_rejects_unknown_or_invalid(tmp_path):
    path = tmp_path / "peoplelens.toml"
    path.write_text("[experiences]\nbump_max_distance_m = 4.0\nname_cooldown_s = 60\n"
                    "cue_durations_s = [[\"bump\", 0.2]]\n")
    cfg = experience_config(load_config(path))
    assert cfg.bump_max_distance_m == 4.0 and cfg.name_cooldown_s == 60 and cfg.cue_duration("bump") == 0.2
    scene = ScriptedScene([ScriptedPerson(1, -30, 2.0), ScriptedPerson(2, 0, 6.0)])
    bumps = [e for e in events_of(scene.run(ExperienceEngine(cfg), 3.0, lambda t: -60 + 40 * t))
             if e.sound == Sound.BUMP]
    assert [e.track_id for e in bumps] == [1]  # 6 m is now too far
    assert ExperienceEngine.from_config(load_config(path)).config == cfg
    with pytest.raises(ConfigError, match="unknown setting"):
        experience_config({"experiences": {"bump_distance": 3}})
    with pytest.raises(ConfigError, match=r"name_max_distance_m = -1: expected float, value >= 0.0 and <= 100.0"):
        experience_config({"experiences": {"name_max_distance_m": -1}})
    with pytest.raises(ConfigError, match="bump_min_cone_deg must not exceed bump_max_cone_deg"):
        experience_config({"experiences": {"bump_min_cone_deg": 20.0}})
