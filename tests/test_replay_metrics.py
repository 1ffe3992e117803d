"""Metrics against a hand computation, truth formats on the real annotation files, and real-pipeline metrics."""

from __future__ import annotations

from pathlib import Path

import pytest

from peoplelens.sim_harness.errors import TruthError
from peoplelens.sim_harness.metrics import identity_metrics, mot_metrics
from peoplelens.sim_harness.records import FrameRecord, ReplayResult
from peoplelens.sim_harness.truth import Truth, TruthRange, find_truth, load_truth, shots_to_ranges

A = (0.0, 0.0, 10.0, 10.0)
B = (100.0, 0.0, 110.0, 10.0)


def test_mot_metrics_match_a_hand_computation() -> None:
    # truth: persons 1 (box A) and 2 (box B) in frames 0, 1, 2
    truth = {f: [(1, A), (2, B)] for f in range(3)}
    hyp = {
        0: [(10, (2.0, 0.0, 12.0, 10.0)), (20, B)],  # IoU(A) = 80/120 = 0.67 -> match
        1: [(10, A), (20, B), (30, (200.0, 200.0, 210.0, 210.0))],  # 30 is a false positive
        2: [(11, A), (20, (107.0, 0.0, 117.0, 10.0))],  # 11 takes over person 1 (switch); IoU(B) = 30/170 < 0.3
    }
    m = mot_metrics(truth, hyp, iou_threshold=0.3)
    # by hand: GT = 6, predictions = 7, matches: f0 2, f1 2, f2 1 -> TP = 5; FP = 1 (#30) + 1 (#20 at f2) = 2;
    # FN = 1 (person 2 at f2); ID switches = 1 (person 1: 10 -> 11)
    gt, pred, tp, fp, fn, idsw = 6, 7, 5, 2, 1, 1
    assert (m["num_objects"], m["num_predictions"], m["num_detections"]) == (gt, pred, tp)
    assert m["num_matches"] == tp - idsw  # motmetrics counts a switch apart from a plain match
    assert (m["num_false_positives"], m["num_misses"], m["num_switches"]) == (fp, fn, idsw)
    assert m["precision"] == pytest.approx(tp / (tp + fp), abs=1e-4)
    assert m["recall"] == pytest.approx(tp / gt, abs=1e-4)
    assert m["mota"] == pytest.approx(1 - (fn + fp + idsw) / gt, abs=1e-4)
    # IDF1: best one-to-one id mapping 1->10 (2 frames), 2->20 (2 frames; f2 is below the IoU threshold)
    idtp = 4
    assert m["idf1"] == pytest.approx(2 * idtp / (gt + pred), abs=1e-4)
    assert m["idp"] == pytest.approx(idtp / pred, abs=1e-4)
    assert m["idr"] == pytest.approx(idtp / gt, abs=1e-4)


def _frame(i: int, t: float, tracks: list[tuple[int, str, str | None]]) -> FrameRecord:
    return FrameRecord(i, t, 0.0, 0.0, "none", [{"track": tid, "identity": state, "name": name, "face_box": None}
                                                for tid, state, name in tracks], [], {}, 0.01, 0)


def test_identity_metrics_match_a_hand_computation() -> None:
    truth = Truth("hand", ranges=[TruthRange(0.0, 1.0, "ana", False), TruthRange(1.0, 3.0, "ana", True)])
    frames = [
        _frame(0, 0.5, [(1, "identifying", None)]),
        _frame(1, 1.5, [(1, "identifying", None)]),  # ana faces the camera, not named yet
        _frame(2, 2.0, [(1, "known", "ana"), (2, "known", "bob")]),  # bob is wrong
        _frame(3, 2.5, [(1, "known", "ana")]),
        _frame(4, 3.5, [(1, "known", "ana")]),  # ana no longer in the truth -> wrong
    ]
    events = [{"t": 2.0, "sound": "name", "name": "ana"}, {"t": 2.0, "sound": "name", "name": "bob"},
              {"t": 2.2, "sound": "bump", "name": None}]
    result = ReplayResult("v", "v", 10, 10, 2.0, frames=frames, events=events)
    m = identity_metrics(truth, result)
    assert m["identity_known_assertions"] == 4
    assert m["identity_precision"] == pytest.approx(2 / 4, abs=1e-4)  # ana at 2.0 and 2.5
    assert m["identity_recall"] == pytest.approx(2 / 3, abs=1e-4)  # facing at 1.5, 2.0, 2.5; named at 2.0, 2.5
    assert m["name_precision"] == pytest.approx(1 / 2, abs=1e-4)
    assert [w["name"] for w in m["wrong_names"]] == ["bob"]
    assert m["announcement_delay_s"] == {"ana": pytest.approx(1.0)}


def test_real_truth_files_load(data_dir: Path) -> None:
    videos = data_dir / "videos"
    mot = load_truth(videos / "royal_opera_pedestrians.faces_gt_mot.txt")
    assert sorted(mot.boxes) == [0, 12, 25, 38, 50, 62, 75, 88, 100]  # 1-based frames 1, 13, ... 101
    assert len({pid for rows in mot.boxes.values() for pid, _ in rows}) == 12
    x1, y1, x2, y2 = dict(mot.boxes[0])[1]
    assert (x1, y1) == (675.0, 557.9) and x2 == pytest.approx(675.0 + 67.3)
    ranges = shots_to_ranges(videos / "hamilton_short_clip.shots.csv")
    assert [(r.name, r.facing) for r in ranges] == [("lin_manuel_miranda", False), ("lin_manuel_miranda", True)]
    assert ranges[1].start_s == pytest.approx(2.736) and ranges[1].end_s == pytest.approx(7.007)
    assert find_truth(videos / "royal_opera_pedestrians_1080p25.mp4").name == "royal_opera_pedestrians.faces_gt_mot.txt"
    assert find_truth(videos / "talking_heads" / "liveportrait_d0.mp4") is None


def test_bad_truth_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "t.csv"
    bad.write_text("start_s,end_s,name,facing\n1.0,0.5,ana,yes\n")
    with pytest.raises(TruthError, match="start_s <= end_s"):
        load_truth(bad)
    (tmp_path / "u.txt").write_text("hello world\n")
    with pytest.raises(TruthError, match="unknown truth format"):
        load_truth(tmp_path / "u.txt")


def test_real_pipeline_on_the_royal_opera_annotation(data_dir: Path) -> None:
    from peoplelens.sim_harness.processors import build_replay_processor
    from peoplelens.sim_harness.replay import ReplayOptions, replay_video

    videos = data_dir / "videos"
    options = ReplayOptions(max_frames=40, truth=str(videos / "royal_opera_pedestrians.faces_gt_mot.txt"),
                            progress=False)
    result = replay_video(videos / "royal_opera_pedestrians_1080p25.mp4", build_replay_processor(config={}), None,
                          options)
    m = result.metrics
    print("royal opera, first 40 frames:", {k: v for k, v in m.items() if k != "truth"})
    assert m["annotated_frames"] == m["num_frames"] == 4  # frames 1, 13, 26, 39
    assert m["num_objects"] == 30  # truth boxes in those frames
    assert m["precision"] >= 0.9 and m["recall"] >= 0.5  # the main people's faces are found and tracked
    assert m["mota"] > 0.3 and m["idf1"] > 0.4
