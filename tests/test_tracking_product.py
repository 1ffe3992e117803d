"""One person, one track, through the product (``build_system``) on real clips with our annotations (tests/data):
a man in profile who leaves the frame at its edge and comes back (hamilton shot 2), a dancer on a plain wall
(liveportrait_s13); the ByteTrack baseline runs through the same product; the evaluation command scores the product's
own frames."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest

from peoplelens.core.errors import PeopleLensError
from peoplelens.lens.perception.geometry import CameraIntrinsics
from peoplelens.lens.perception.tracking import ByteTrackBaseline, PersonTracker
from peoplelens.lens.pipeline import build_system
from peoplelens.lens.world.visual import VisualRotationEstimator
from peoplelens.sim_harness import eval_tracking
from peoplelens.sim_harness.person_metrics import person_metrics
from peoplelens.sim_harness.replay import ReplayOptions, replay_video
from peoplelens.sim_harness.truth import load_truth

DATA = Path(__file__).resolve().parent / "data"
PROFILE_TRUTH = DATA / "hamilton_profile_turn.mot.txt"
DANCER_TRUTH = DATA / "s13_dancer.mot.txt"


@pytest.fixture(scope="module")
def systems():
    """Our tracker and the ByteTrack baseline, each in a whole product."""
    built = {"ours": build_system({}), "bytetrack": build_system({"tracking": {"tracker": "bytetrack"}})}
    yield built
    for system in built.values():
        system.close()


def _replay(system, video: Path, max_frames: int | None = None):
    system.reset()
    return replay_video(video, system, None, ReplayOptions(overlay=False, audio=False, report=False, progress=False,
                                                           max_frames=max_frames))


def test_profile_turn_stays_one_track(systems, data_dir: Path) -> None:
    """The man turns to profile, turns away, leaves the frame at its edge (only his nose showing, a hand in front of
    him) and comes back: every annotated frame shows him as at most one track, and it is the same track throughout."""
    result = _replay(systems["ours"], data_dir / "videos/hamilton_short_clip.mp4", max_frames=82)
    m = person_metrics(load_truth(PROFILE_TRUTH), result)
    assert m["annotated_frames"] == 21
    assert m["split_frames"] == 0, m
    assert m["tracks_per_person_max"] == 1 and m["num_switches"] == 0, m
    assert m["recall"] >= 0.8, m  # he is shown (as a face, or his body carrying him) on most annotated frames


def test_dancer_on_a_plain_wall_is_one_track_all_along(systems, data_dir: Path) -> None:
    """The plain wall gives the head-rotation estimate almost no background corners; that is no shot cut, so her
    track is never retired: one track, shown on nearly every annotated frame."""
    result = _replay(systems["ours"], data_dir / "videos/talking_heads/liveportrait_s13.mp4")
    m = person_metrics(load_truth(DANCER_TRUTH), result)
    assert m["tracks_per_person_max"] == 1 and m["split_frames"] == 0, m
    assert m["recall"] >= 0.9, m
    assert len({t["track"] for f in result.frames for t in f.tracks}) == 1


def test_plain_wall_is_not_a_cut_but_a_real_cut_is(data_dir: Path) -> None:
    cap = cv2.VideoCapture(str(data_dir / "videos/talking_heads/liveportrait_s13.mp4"))
    frames = [cap.read()[1] for _ in range(40)]
    est = VisualRotationEstimator(CameraIntrinsics.from_fov(720, 1080, 70.0))
    for i, frame in enumerate(frames):
        est.update(frame, None, i / 25)
    assert est.cuts == 0
    cap = cv2.VideoCapture(str(data_dir / "videos/hamilton_short_clip.mp4"))
    est = VisualRotationEstimator(CameraIntrinsics.from_fov(640, 360, 70.0))
    for i in range(90):  # shot cuts at 0-based frames 20 and 82; a close profile in between is not one
        est.update(cap.read()[1], None, i / 30)
    assert est.cuts == 2


def test_bytetrack_baseline_runs_through_the_product(systems, data_dir: Path) -> None:
    assert isinstance(systems["bytetrack"].stage("track").tracker, ByteTrackBaseline)
    assert isinstance(systems["ours"].stage("track").tracker, PersonTracker)
    result = _replay(systems["bytetrack"], data_dir / "videos/royal_opera_pedestrians_1080p25.mp4", max_frames=40)
    ids = {t["track"] for f in result.frames for t in f.tracks}
    assert len(ids) >= 5  # the people walking toward the camera
    shown = [len(f.tracks) for f in result.frames[10:]]
    assert min(shown) >= 3


def test_evaluation_scores_the_products_frames(systems, data_dir: Path) -> None:
    """The evaluation's figures are those of a plain replay through the same product."""
    video = data_dir / "videos/talking_heads/liveportrait_s13.mp4"
    scores = {name: eval_tracking.evaluate_clip(system, name, video, DANCER_TRUTH) for name, system in systems.items()}
    for name, system in systems.items():
        again = person_metrics(load_truth(DANCER_TRUTH), _replay(system, video))
        assert {k: v for k, v in scores[name].people.items()} == again
        assert scores[name].frames == 103 and scores[name].track_ms > 0
    table = eval_tracking.format_table(list(scores.values()))
    assert "ours" in table and "bytetrack" in table


def test_unknown_tracker_is_a_clear_error() -> None:
    with pytest.raises(PeopleLensError, match="tracker = 'sort': expected 'people' or 'bytetrack'"):
        build_system({"tracking": {"tracker": "sort"}})


def test_the_evaluation_builds_the_product_from_the_users_config(tmp_path: Path, monkeypatch) -> None:
    """``eval_tracking`` and ``gaze_eval --product`` score the product as the user configured it
    (``$PEOPLELENS_CONFIG``, which ``peoplelens run`` reads), not the defaults: a setting the product rejects stops
    them before any replay."""
    from peoplelens.sim_harness.gaze_eval import print_product

    config = tmp_path / "lens.toml"
    config.write_text('[pipeline]\nfaces_every = 99\n')
    monkeypatch.setenv("PEOPLELENS_CONFIG", str(config))
    with pytest.raises(PeopleLensError, match="faces_every"):
        eval_tracking.main(["--trackers", "ours", "--clip", "missing.mp4::missing.txt"])
    with pytest.raises(PeopleLensError, match="faces_every"):
        print_product([])
