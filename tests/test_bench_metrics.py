"""Benchmark metric functions checked against hand computations on tiny hand-made examples."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from peoplelens.bench.baseline import BaselineGallery
from peoplelens.bench.core import paced_summary
from peoplelens.bench.identity_metrics import merge_named, score_identity
from peoplelens.bench.machine import cpu_model, machine_info
from peoplelens.bench.runner import PacedRun
from peoplelens.bench.stats import fifo_backlog, summarize_ms, trend_ms_per_s
from peoplelens.bench.truth import load_truth, restrict
from peoplelens.bench.videos import fit_size


def test_identity_scores_match_a_hand_computation() -> None:
    # frames 0-3: "ann" visible in frames 1, 2, 3 (recall over 1..3); "bob" enrolled but never visible
    visible = {1: {"ann"}, 2: {"ann"}, 3: {"ann"}}
    named = {
        0: ["ann"],          # wrong: ann not visible in frame 0
        1: ["ann", "ann"],   # one correct, the second face with the same name is wrong
        2: ["ann", "bob"],   # ann correct, bob wrong
        # frame 3: nobody named -> a recall miss
    }
    score = score_identity(named, visible, {"ann": {1, 2, 3}})
    # names given 1 + 2 + 2 = 5; correct 0 + 1 + 1 = 2; recall: named in frames 1 and 2 of {1, 2, 3}
    assert (score.names_given, score.correct) == (5, 2)
    assert score.precision == pytest.approx(2 / 5)
    assert (score.recall_frames, score.recall_hits) == (3, 2)
    assert score.recall == pytest.approx(2 / 3)
    assert score.wrong_names == {"ann": 2, "bob": 1}
    assert score.wrong_frames == [0, 1, 2]


def test_identity_scores_undefined_without_names_or_truth() -> None:
    score = score_identity({}, {}, {})
    assert score.precision is None and score.recall is None and score.names_given == 0


def test_merge_named_keeps_videos_apart() -> None:
    merged = merge_named([{0: ["a"]}, {0: ["b"], 5: ["c"]}])
    assert merged == {(0, 0): ["a"], (1, 0): ["b"], (1, 5): ["c"]}
    # frame 0 of video 1 does not count as frame 0 of video 0
    score = score_identity(merged, {(0, 0): {"a"}}, {"a": {(0, 0)}})
    assert (score.names_given, score.correct, score.recall) == (3, 1, 1.0)


def test_hamilton_truth_from_the_shot_annotation(data_dir: Path) -> None:
    video = data_dir / "videos" / "hamilton_short_clip.mp4"
    truth = load_truth(video, {"lin_manuel_miranda", "alex_lacamoire"})
    # performer named in shots 1 (0-19) and 3 (82-210); shot 2 says "not asserted" so alex is never visible
    assert truth.visible[0] == {"lin_manuel_miranda"} and truth.visible[210] == {"lin_manuel_miranda"}
    assert 20 not in truth.visible and 81 not in truth.visible and 211 not in truth.visible
    assert truth.recall_frames == {"lin_manuel_miranda": set(range(82, 211))}
    cut = restrict(truth, set(range(100)))
    assert cut.recall_frames["lin_manuel_miranda"] == set(range(82, 100))
    other = load_truth(data_dir / "videos" / "royal_opera_pedestrians_1080p25.mp4", {"lin_manuel_miranda"})
    assert other.visible == {} and other.recall_frames == {}


def test_summaries_and_trend() -> None:
    s = summarize_ms([0.001, 0.002, 0.003, 0.004, 0.010])
    assert s["n"] == 5 and s["median_ms"] == pytest.approx(3.0)
    # numpy linear interpolation: p95 at rank 0.95 * 4 = 3.8 -> 4 + 0.8 * (10 - 4)
    assert s["p95_ms"] == pytest.approx(8.8) and s["max_ms"] == pytest.approx(10.0)
    assert summarize_ms([])["median_ms"] is None
    # latency growing 5 ms per second of capture time
    assert trend_ms_per_s([0, 1, 2, 3], [0.010, 0.015, 0.020, 0.025]) == pytest.approx(5.0)


def _paced(latency_ms: list[float], wait_ms: list[float], dropped: int = 0) -> PacedRun:
    n = len(latency_ms)
    return PacedRun(fps=10.0, offered=n + dropped, processed=n, dropped=dropped,
                    frame_latency_s=[v / 1000 for v in latency_ms], capture_t_s=[i / 10 for i in range(n)],
                    queue_wait_s=[v / 1000 for v in wait_ms])


def test_real_time_reads_the_wait_before_processing_not_the_latency() -> None:
    """More people entering a short clip make each frame slower (the latency rises 10 ms/s) while no frame waits
    longer: real time. Frames waiting longer and longer are a backlog, and so are over 1 % of them dropped."""
    rising, flat = [20.0 + i for i in range(30)], [2.0] * 30
    content = paced_summary([_paced(rising, flat)])
    assert content["latency_trend_ms_per_s_worst_video"] == pytest.approx(10.0)
    assert content["queue_wait_trend_ms_per_s_worst_video"] == pytest.approx(0.0, abs=1e-9)
    assert content["realtime_ok"] is True
    backlog = paced_summary([_paced(rising, flat), _paced(rising, [2.0 + 0.5 * i for i in range(30)])])
    assert backlog["queue_wait_trend_ms_per_s_worst_video"] == pytest.approx(5.0)
    assert backlog["realtime_ok"] is False
    assert paced_summary([_paced(rising, flat, dropped=1)])["realtime_ok"] is False  # 1 of 31 dropped: 3 %


def test_fifo_backlog_hand_computed() -> None:
    # 10 fps (period 0.1 s); service 0.15 s each: frame i finishes at 0.15 * (i + 1), latency 0.15 (i+1) - 0.1 i
    out = fifo_backlog([0.15] * 4, 10.0)
    lat = [0.15, 0.2, 0.25, 0.3]
    assert out["latency_p50_ms"] == pytest.approx(1000 * float(np.median(lat)))
    # at t=0.3 (frame 3 arrives) frames 1 (done 0.3: not waiting) and 2 (0.45) -> 1 waiting
    assert out["final_backlog_frames"] == 1 and out["latency_trend_ms_per_s"] > 0
    fast = fifo_backlog([0.05] * 10, 10.0)
    assert fast["max_backlog_frames"] == 0 and fast["latency_p95_ms"] == pytest.approx(50.0)
    assert math.isclose(fast["latency_trend_ms_per_s"], 0.0, abs_tol=1e-9)


def test_baseline_match_takes_the_best_vector_per_name() -> None:
    e = np.eye(4, dtype=np.float32)
    gallery = BaselineGallery(["ann", "bob"], np.stack([e[0], e[1], e[2]]), np.array([0, 0, 1]))
    q = np.stack([e[1], 0.3 * e[2] + 0.95 * e[3], 0.5 * e[2] + 0.86 * e[3]])
    # q0 = ann's second vector (1.0); q1 cosine 0.3 with bob (< 0.35); q2 cosine 0.5 with bob
    assert gallery.match(q) == ["ann", None, "bob"]


def test_the_cpu_model_is_read_from_cpuinfo(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9R14 96-Core Processor\n"
                       "processor\t: 1\nmodel name\t: AMD EPYC 9R14 96-Core Processor\n")
    assert cpu_model(cpuinfo) == "AMD EPYC 9R14 96-Core Processor"
    assert cpu_model(tmp_path / "absent") != ""  # elsewhere: what the platform module says
    info = machine_info()
    assert info["cpu"] and info["cpu_count"] >= 1 and info["load_avg_1m_start"] >= 0


def test_fit_size_keeps_aspect_and_never_upscales() -> None:
    assert fit_size(1920, 1080) == (640, 360)
    assert fit_size(640, 360) == (640, 360)
    assert fit_size(512, 512) == (480, 480)
    assert fit_size(320, 240) == (320, 240)


def test_detector_range_places_faces_and_finds_the_large_ones(data_dir: Path) -> None:
    from peoplelens.bench.detector_range import FRAME, measure, place

    photos = sorted((data_dir / "faces" / "enroll" / "barack_obama").glob("*.jpg"))[:3]
    image = cv2.imread(str(photos[0]))
    frame, box = place(image, np.array([100.0, 80.0, 180.0, 180.0]), 40)
    assert frame.shape == (FRAME[1], FRAME[0], 3)
    assert box[2] - box[0] == pytest.approx(40.0)
    assert (box[0] + box[2]) / 2 == pytest.approx(FRAME[0] / 2, abs=1.0)
    rows, times = measure(photos, widths=(8, 48), max_sides=(640,))
    small, large = rows
    assert large.total == 3 and large.found[640] == 3  # a 48 px face is always found at the native 640
    assert small.found[640] < large.found[640]  # an 8 px face (beyond 8 m) mostly is not
    assert small.distance_m > 3 * large.distance_m > 0
    assert times[640] > 0
