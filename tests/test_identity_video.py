"""Tracking + identity over time on real video, through the product (the composition root): the Hamilton performer
(shot 3) with and without his enrolment, and the cut from shot 3 to the audience shot, where a confirmed name must
not jump to another face."""

from __future__ import annotations

from pathlib import Path

import pytest

from peoplelens.bench.videos import decode_frames, probe
from peoplelens.core.state import IdentityState
from peoplelens.core.types import Frame
from peoplelens.lens.pipeline import build_system
from peoplelens.sim_harness.enrollment import enroll_folder

PERFORMER = "lin_manuel_miranda"


@pytest.fixture(scope="module")
def hamilton(data_dir: Path) -> list[Frame]:
    info = probe(data_dir / "videos" / "hamilton_short_clip.mp4")
    return [Frame(image, index / info.fps, index) for index, image, _ in decode_frames(info, 232)]


@pytest.fixture(scope="module")
def stores(data_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    everyone = enroll_folder(data_dir / "faces" / "enroll")
    others = tmp_path_factory.mktemp("enroll-without-performer")
    for person in (data_dir / "faces" / "enroll").iterdir():
        if person.name != PERFORMER:
            (others / person.name).symlink_to(person)
    without = enroll_folder(others)
    assert PERFORMER in everyone.enrolled and PERFORMER not in without.enrolled and len(without.enrolled) == 18
    yield {"with": everyone, "without": without}
    everyone.close()
    without.close()


def replay(frames: list[Frame], people) -> list[list[tuple[int, IdentityState, str | None]]]:
    system = build_system({}, people=people.store)
    try:
        history = []
        for frame in frames:
            result = system.process(frame)
            history.append([(tv.track_id, tv.identity, people.name_map.get(tv.name, tv.name))
                            for tv in result.tracks])
        return history
    finally:
        system.close()


def test_performer_forms_one_stable_track_and_is_named(hamilton, stores) -> None:
    shot3 = replay(hamilton[100:161], stores["with"])
    ids = {tid for frame in shot3 for tid, _, _ in frame}
    assert len(ids) == 1, shot3
    assert sum(1 for frame in shot3 if frame) >= len(shot3) - 4  # reported in (almost) every frame
    states = [(s, n) for frame in shot3 for _, s, n in frame]
    assert states[-1] == (IdentityState.KNOWN, PERFORMER)
    assert states[0][0] is not IdentityState.KNOWN  # not on the first frame
    assert {n for s, n in states if s is IdentityState.KNOWN} == {PERFORMER}
    first_known = next(i for i, (s, _) in enumerate(states) if s is IdentityState.KNOWN)
    assert first_known <= 20  # within two thirds of a second


def test_performer_is_not_enrolled_without_his_enrolment(hamilton, stores) -> None:
    shot3 = replay(hamilton[100:161], stores["without"])
    states = [(s, n) for frame in shot3 for _, s, n in frame]
    assert all(s is not IdentityState.KNOWN for s, _ in states)  # never a wrong name
    assert states[-1] == (IdentityState.NOT_ENROLLED, None)


def test_name_does_not_cross_the_cut_to_the_audience(hamilton, stores) -> None:
    history = replay(hamilton[150:232], stores["with"])
    indices = [f.index for f in hamilton[150:232]]
    before = {tid for f, frame in zip(indices, history, strict=True) if f <= 210 for tid, s, n in frame
              if s is IdentityState.KNOWN and n == PERFORMER}
    assert before, "the performer should be named before the cut"
    after = [(tid, s, n) for f, frame in zip(indices, history, strict=True) if f >= 213 for tid, s, n in frame]
    assert after, "the audience should be tracked after the cut"
    assert all(s is not IdentityState.KNOWN for _, s, _ in after), after
    assert not before & {tid for tid, _, _ in after}
