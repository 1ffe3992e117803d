"""People Map: world directions, smoothing, out-of-view persistence and fading, removal, 180-deg turns,
merging track ids, and the query API."""

from __future__ import annotations

import json
import math

import pytest

from peoplelens.core.config import ConfigError
from peoplelens.core.state import HeadOrientation, IdentityState
from peoplelens.lens.world.people_map import PeopleMap, PeopleMapConfig, PeopleMapError, PersonObservation


def head(yaw: float, t: float = 0.0) -> HeadOrientation:
    return HeadOrientation(yaw, 0.0, 0.0, t, "imu")


def run(pm: PeopleMap, t0: float, t1: float, yaw, obs_fn, fps: float = 10.0) -> None:
    """Update the map from t0 to t1 at ``fps`` with a yaw(t) function and observations(t, yaw) function."""
    n = round((t1 - t0) * fps)
    for i in range(n + 1):
        t = t0 + i / fps
        y = yaw(t)
        pm.update(t, head(y, t), obs_fn(t, y))


def test_world_azimuth_is_fixed_while_the_head_turns() -> None:
    pm = PeopleMap()
    world_az = 40.0
    # the person stands still at world azimuth 40; the head turns 0 -> 60 deg; the camera sees 40 - yaw
    run(pm, 0.0, 3.0, lambda t: 20.0 * t, lambda t, y: [PersonObservation(1, world_az - y, 5.0, distance_m=2.0,
                                                                           distance_sigma_m=0.3)])
    p = pm.get(1)
    assert p.azimuth_deg == pytest.approx(world_az, abs=1e-6)
    assert p.elevation_deg == pytest.approx(5.0)
    assert p.camera_azimuth_deg == pytest.approx(world_az - 60.0)
    assert p.seen_duration_s == pytest.approx(3.0) and p.first_seen == 0.0 and p.last_seen == pytest.approx(3.0)
    assert p.distance_m == pytest.approx(2.0) and p.distance_sigma_m < 0.3  # many measurements -> tighter


def test_direction_smoothing_on_the_circle() -> None:
    pm = PeopleMap(PeopleMapConfig(direction_tau_s=0.5))
    for i in range(40):  # jittery observations around 180 deg (crossing the +-180 seam)
        pm.update(i * 0.05, head(0.0), [PersonObservation(1, 176.0 if i % 2 else -176.0)])
    az = pm.get(1).azimuth_deg
    assert abs(abs(az) - 180.0) < 2.0  # a naive average would give ~0
    pm.update(2.05, head(0.0), [PersonObservation(1, 170.0)])
    assert abs(abs(pm.get(1).azimuth_deg) - 180.0) < 3.0  # one outlier frame moves it only partly


def test_distance_filter_weights_by_sigma() -> None:
    pm = PeopleMap(PeopleMapConfig(distance_process_m2_per_s=0.0))
    pm.update(0.0, head(0.0), [PersonObservation(1, 0.0, distance_m=3.0, distance_sigma_m=0.1)])
    pm.update(0.1, head(0.0), [PersonObservation(1, 0.0, distance_m=6.0, distance_sigma_m=1.0)])
    p = pm.get(1)
    expected = (3.0 / 0.01 + 6.0 / 1.0) / (1 / 0.01 + 1 / 1.0)
    assert p.distance_m == pytest.approx(expected)
    assert p.distance_sigma_m == pytest.approx(1 / math.sqrt(1 / 0.01 + 1))
    pm.update(0.2, head(0.0), [PersonObservation(1, 0.0)])  # no distance this frame: kept
    assert pm.get(1).distance_m == pytest.approx(expected)
    pm.update(0.3, head(0.0), [PersonObservation(2, 5.0)])
    assert math.isinf(pm.get(2).distance_m) and pm.nearest().track_id == 1  # unknown: inf, as the experiences read it


def test_near_bound_is_filtered_beside_the_distance() -> None:
    """The near bound (child hypothesis) goes through the same filter as the distance; without one the gate
    distance is the distance itself."""
    pm = PeopleMap()
    near = [3.4, 3.8, 3.5, 3.7]
    for i, n in enumerate(near):
        pm.update(0.1 * i, head(0.0), [PersonObservation(1, 0.0, distance_m=4.4 + 0.1 * (i % 2), distance_sigma_m=0.4,
                                                         distance_near_m=n),
                                       PersonObservation(2, 10.0, distance_m=4.4, distance_sigma_m=0.4)])
    p, q = pm.get(1), pm.get(2)
    assert min(near) < p.distance_near_m < max(near) and p.gate_distance_m == p.distance_near_m
    assert p.distance_m > 4.3  # the People Map keeps the fused estimate
    assert q.distance_near_m == pytest.approx(q.distance_m) and q.gate_distance_m == pytest.approx(4.4)


def test_out_of_view_person_persists_fades_and_is_removed() -> None:
    cfg = PeopleMapConfig(fade_half_life_s=10.0, min_confidence=0.1, max_age_s=60.0)
    pm = PeopleMap(cfg)
    run(pm, 0.0, 2.0, lambda t: 0.0, lambda t, y: [PersonObservation(7, 20.0, distance_m=3.0, distance_sigma_m=0.3)])
    # the wearer turns 180 deg to the right over 2 s; the person leaves the 70-deg view at yaw ~55
    run(pm, 2.1, 4.0, lambda t: 180.0 * (t - 2.0) / 2.0,
        lambda t, y: [PersonObservation(7, 20.0 - y, distance_m=3.0)] if abs(20.0 - y) < 35 else [])
    p = pm.get(7)
    assert p is not None and not p.in_view
    assert p.azimuth_deg == pytest.approx(20.0, abs=0.5)  # remembered world direction
    assert p.camera_azimuth_deg is None and p.seen_duration_s == 0.0  # peoplelens.core.state contract
    rel_az, _ = pm.relative_direction(7)
    assert rel_az == pytest.approx(20.0 - 180.0, abs=0.5)  # behind the wearer, slightly to the left
    assert abs(abs(rel_az) - 180.0) < 25.0
    left_at = p.last_seen
    assert 2.5 < left_at < 3.0
    # 10 s after leaving: confidence halved
    run(pm, 4.1, left_at + 10.0, lambda t: 180.0, lambda t, y: [])
    assert pm.get(7).confidence == pytest.approx(0.5, abs=0.02)
    assert pm.get(7).distance_sigma_m > 1.0  # the remembered distance grows uncertain
    # removed once the confidence falls below 0.1 (10 * log2(10) = 33.2 s after leaving)
    run(pm, left_at + 10.1, left_at + 33.0, lambda t: 180.0, lambda t, y: [])
    assert 7 in pm
    run(pm, left_at + 33.1, left_at + 34.0, lambda t: 180.0, lambda t, y: [])
    assert 7 not in pm and pm.get(7) is None


def test_max_age_removes_even_when_confidence_is_high() -> None:
    pm = PeopleMap(PeopleMapConfig(fade_half_life_s=1000.0, max_age_s=5.0))
    person = 1
    pm.update(0.0, head(0.0), [PersonObservation(person, 0.0)])
    pm.update(5.0, head(0.0), [])
    assert person in pm
    pm.update(5.2, head(0.0), [])
    assert person not in pm and pm.removed == [person]


def test_seen_duration_survives_short_gaps_and_resets_after_long_ones() -> None:
    pm = PeopleMap(PeopleMapConfig(in_view_grace_s=0.3))
    run(pm, 0.0, 1.0, lambda t: 0.0, lambda t, y: [PersonObservation(1, 0.0)])
    pm.update(1.1, head(0.0), [])  # one missed detection
    assert pm.get(1).in_view
    pm.update(1.2, head(0.0), [PersonObservation(1, 0.0)])
    assert pm.get(1).seen_duration_s == pytest.approx(1.2)
    run(pm, 1.3, 2.0, lambda t: 0.0, lambda t, y: [])  # gone 0.8 s
    assert not pm.get(1).in_view and pm.get(1).seen_duration_s == 0.0
    run(pm, 2.1, 2.6, lambda t: 0.0, lambda t, y: [PersonObservation(1, 0.0)])
    assert pm.get(1).seen_duration_s == pytest.approx(0.5)
    assert pm.get(1).first_seen == 0.0


def test_merge_keeps_history_identity_and_direction() -> None:
    pm = PeopleMap()
    pm.update(0.0, head(0.0), [PersonObservation(3, -30.0, identity=IdentityState.KNOWN, name="rose_leslie",
                                                 identity_confidence=0.9, distance_m=2.0, distance_sigma_m=0.2)])
    run(pm, 0.1, 5.0, lambda t: 0.0, lambda t, y: [])
    pm.update(5.1, head(90.0, 5.1), [PersonObservation(9, -80.0, identity=IdentityState.IDENTIFYING,
                                                        distance_m=2.5, distance_sigma_m=1.0)])
    merged = pm.merge(3, 9)
    assert merged.track_id == 9 and 3 not in pm and len(pm) == 1
    assert merged.identity == IdentityState.KNOWN and merged.name == "rose_leslie"
    assert merged.first_seen == 0.0 and merged.in_view
    assert merged.azimuth_deg == pytest.approx(10.0)  # the newer observation: 90 - 80
    assert pm.get(3) is merged  # the old id still finds the person
    assert pm.merge(9, 9) is merged
    pm.merge(9, 12)  # renaming to an id not in the map
    assert pm.get(12).track_id == 12 and pm.get(3).track_id == 12
    with pytest.raises(PeopleMapError, match="not in the People Map"):
        pm.merge(44, 12)


def test_queries_and_snapshot() -> None:
    pm = PeopleMap()
    obs = [
        PersonObservation(1, -20.0, distance_m=4.0, distance_sigma_m=0.5),
        PersonObservation(2, 4.0, identity=IdentityState.KNOWN, name="Kit_Harington", distance_m=2.0,
                          distance_sigma_m=0.3, face_visible=True, both_ears_visible=True, looking_at_wearer=True),
        PersonObservation(3, 12.0, identity=IdentityState.NOT_ENROLLED, distance_m=1.5, distance_sigma_m=0.3),
    ]
    pm.update(1.0, head(30.0, 1.0), obs)
    assert [p.track_id for p in pm.people()] == [1, 2, 3]
    assert pm.in_front().track_id == 2
    assert pm.in_front(max_offset_deg=3.0) is None
    assert pm.nearest().track_id == 3
    assert pm.where("kit_harington").track_id == 2 and pm.where("nobody") is None
    assert [p.name for p in pm.known()] == ["Kit_Harington"]
    assert pm.get(2).azimuth_deg == pytest.approx(34.0)
    with pytest.raises(PeopleMapError, match="twice"):
        pm.update(1.1, head(30.0), [obs[0], obs[0]])
    snap = json.loads(pm.to_json())
    assert snap["t"] == 1.0 and snap["head"]["yaw_deg"] == 30.0
    people = {p["track_id"]: p for p in snap["people"]}
    assert people[2]["identity"] == "known" and people[2]["looking_at_wearer"] is True
    assert people[1]["relative_azimuth_deg"] == pytest.approx(-20.0)


def test_config_from_toml_section() -> None:
    cfg = PeopleMapConfig.from_config({"people_map": {"fade_half_life_s": 5.0}})
    assert cfg.fade_half_life_s == 5.0 and cfg.max_age_s == 60.0
    with pytest.raises(ConfigError, match="half_life"):
        PeopleMapConfig.from_config({"people_map": {"half_life": 5.0}})


def test_person_straight_ahead_is_behind_after_a_half_turn() -> None:
    pm = PeopleMap()
    run(pm, 0.0, 1.0, lambda t: 0.0, lambda t, y: [PersonObservation(5, 0.0, distance_m=2.0, distance_sigma_m=0.2)])
    run(pm, 1.1, 3.0, lambda t: -90.0 * (t - 1.0),  # a left turn through -90 to -171 deg ...
        lambda t, y: [PersonObservation(5, -y)] if abs(y) < 35 else [])
    run(pm, 3.1, 3.5, lambda t: 180.0, lambda t, y: [])  # ... ending at 180
    az, _ = pm.relative_direction(5)
    assert abs(abs(az) - 180.0) < 1.0
    assert abs(pm.snapshot()["people"][0]["relative_azimuth_deg"]) == pytest.approx(180.0, abs=1.0)
    assert pm.in_front(max_offset_deg=30.0, in_view_only=False) is None
    run(pm, 3.6, 4.0, lambda t: 0.0, lambda t, y: [])  # facing them again (eyes closed / no detection)
    assert pm.in_front(in_view_only=False).track_id == 5 and pm.in_front() is None
