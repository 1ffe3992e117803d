"""The benchmark end to end on a short slice of a real clip: every documented JSON key, sane values."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from peoplelens.bench.baseline import Baseline
from peoplelens.bench.cli import bench
from peoplelens.bench.core import MAX_PACED_REPLAYS, paced_replays
from peoplelens.bench.errors import BenchError
from peoplelens.bench.videos import centre_crop, decode_frames, parse_aspect, probe

STAGES = ("decode", "clock", "schedule", "detect_faces", "detect_people", "motion", "detect", "world", "foveate",
          "face_quality", "track", "embed", "identify", "identity", "face_attributes", "place", "people_map",
          "experiences", "audio_render")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> dict:
    root = tmp_path_factory.mktemp("bench")
    videos, enroll = root / "videos", root / "enroll"
    videos.mkdir()
    enroll.mkdir()
    (videos / "hamilton_short_clip.mp4").symlink_to(data_dir / "videos" / "hamilton_short_clip.mp4")
    (videos / "hamilton_short_clip.shots.csv").symlink_to(data_dir / "videos" / "hamilton_short_clip.shots.csv")
    for person in ("lin_manuel_miranda", "alex_lacamoire", "bbt_amy"):  # a small gallery keeps enrolment short
        (enroll / person).symlink_to(data_dir / "faces" / "enroll" / person)
    out = root / "bench.json"
    result = CliRunner().invoke(bench, ["--videos", str(videos), "--enroll", str(enroll), "--max-frames", "24",
                                        "--json", str(out)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return json.loads(out.read_text())


def _summary_ok(s: dict, allow_empty: bool = False) -> None:
    assert set(s) == {"n", "mean_ms", "median_ms", "p95_ms", "p99_ms", "max_ms"}
    if allow_empty and s["n"] == 0:
        assert s["median_ms"] is None
        return
    assert s["n"] > 0 and s["median_ms"] >= 0 and s["p95_ms"] >= s["median_ms"] and s["p99_ms"] >= s["p95_ms"]


def test_report_has_every_key_with_sane_values(report: dict) -> None:
    assert report["schema"] == "peoplelens-bench/1"
    assert {"machine", "settings", "enrolment", "videos", "ours", "baseline", "comparison", "memory", "goals",
            "identity_definition"} <= set(report)
    assert report["machine"]["cpu"] and report["machine"]["load_avg_1m_end"] >= 0  # the CPU the timings came from
    assert report["enrolment"]["people"] == 3
    assert report["enrolment"]["photos"] == 7 and report["enrolment"]["photos_with_face"] == 7
    assert report["baseline"]["enrol_photos"] == 7 and report["baseline"]["enrolled_people"] == 3
    assert report["baseline"]["enrol_photos_without_face"] == 0  # bbt_amy's 4 crops only after the padded retry
    assert report["baseline"]["enrol_found_after_padding"] == 4
    (video,) = report["videos"]
    assert video["frames"] == 24 and video["size"] == [640, 360] and video["native_size"] == [640, 360]
    ours = report["ours"]
    for stage in STAGES:
        _summary_ok(ours["stages"][stage], allow_empty=stage == "audio_render")
    for stage in ("decode", "detect_faces", "embed", "face_attributes"):
        assert ours["stages"][stage]["median_ms"] > 0
    _summary_ok(ours["process"])
    assert ours["frames"] == 24 and ours["time_per_frame_ms"] > 0
    assert ours["sustained_fps"] > 0 and ours["sustained_fps_excluding_decode"] >= ours["sustained_fps"]
    assert ours["fifo_at_30fps"]["frames"] == 24
    paced = ours["paced"]
    # 24 frames are under a second: paced again from the start until 20 s (the default), at most 10 times
    assert paced["runs"] == video["paced_replays"] == MAX_PACED_REPLAYS
    assert paced["frames_offered"] == 24 * MAX_PACED_REPLAYS
    assert paced["frames_processed"] + paced["frames_dropped"] == 24 * MAX_PACED_REPLAYS
    assert video["paced_dropped"] == paced["frames_dropped"]
    _summary_ok(paced["frame_latency"])
    _summary_ok(paced["event_latency"], allow_empty=True)
    assert paced["frame_latency"]["median_ms"] > 0 and isinstance(paced["realtime_ok"], bool)
    # the backlog goal reads the wait before processing, which a backlog grows (not the content-driven latency)
    wait_trend = paced["queue_wait_trend_ms_per_s_worst_video"]
    assert wait_trend is not None and paced["realtime_ok"] == (paced["dropped_fraction"] <= 0.01 and wait_trend < 1.0)
    assert report["memory"]["peak_rss_mb_ours"] > 50
    assert report["memory"]["peak_rss_mb_with_baseline"] >= report["memory"]["peak_rss_mb_ours"]
    threads = report["settings"]["ort_intra_op_threads_used"]
    assert threads["embedder"] == threads["head_pose"] == 1
    assert report["settings"]["pipeline"]["face_detector_threads"] == 2
    # the body detector may run on the light frames (bodies_before_faces): both detectors get the face detector's
    # threads (and one-thread sessions for the frames where they meet)
    assert threads["face_detector"] == threads["person_detector"] == min(2, os.cpu_count() or 1)
    if (os.cpu_count() or 1) > 1:
        assert threads["face_detector_beside_bodies"] == threads["person_detector_beside_faces"] == 1
    assert report["baseline"]["session"].startswith("default:")  # the way a user runs it
    assert report["baseline"]["ort_intra_op_threads"] == "default"


def test_a_short_video_is_paced_until_enough_seconds_are_covered() -> None:
    assert paced_replays(105, 25.0, 20.0) == 5  # the 4.2-s pedestrian clip: 21 s
    assert paced_replays(275, 25.0, 20.0) == 2  # an 11-s clip: twice
    assert paced_replays(500, 25.0, 20.0) == 1  # 20 s: once
    assert paced_replays(24, 25.0, 20.0) == MAX_PACED_REPLAYS
    assert paced_replays(105, 25.0, 0.0) == paced_replays(0, 25.0, 20.0) == 1


def test_ratio_comes_from_the_two_measured_times(report: dict) -> None:
    ours, base, cmp = report["ours"], report["baseline"], report["comparison"]
    assert base["frames"] == ours["frames"] == 24 and base["time_per_frame_ms"] > 0
    _summary_ok(base["process"])
    assert cmp["time_ratio_ours_over_baseline"] == pytest.approx(ours["time_per_frame_ms"] / base["time_per_frame_ms"])
    assert cmp["speedup"] == pytest.approx(1 / cmp["time_ratio_ours_over_baseline"])
    assert base["detector"] == report["settings"]["face_detector"] == "det_500m"


def test_identity_is_scored_for_both_systems(report: dict) -> None:
    for system in ("ours", "baseline"):
        ident = report[system]["identity"]
        assert 0 <= ident["correct"] <= ident["names_given"]
        # frames 0-23: shot 1 (performer visible, tiny face) and the start of shot 2; shot 3 is not reached
        assert ident["recall_frames"] == 0 and ident["recall"] is None
        if ident["names_given"]:
            assert ident["precision"] == pytest.approx(ident["correct"] / ident["names_given"])
    assert set(report["goals"]) >= {"sustained_30fps", "paced_realtime_no_growing_backlog", "latency_p95_below_60ms",
                                    "speedup_at_least_3x", "precision_equal_or_better", "peak_rss_below_1.5GB"}


def test_cuda_request_reports_not_available_here(tmp_path: Path, data_dir: Path) -> None:
    import onnxruntime as ort

    out = tmp_path / "cuda.json"
    result = CliRunner().invoke(bench, ["--providers", "cuda", "--max-frames", "1", "--json", str(out),
                                        "--videos", str(data_dir / "videos")])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    if "CUDAExecutionProvider" in ort.get_available_providers():
        assert "ours" in data
    else:
        assert "not available" in data["providers"]["cuda"] and "ours" not in data


def test_bad_video_folder_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(bench, ["--videos", str(tmp_path), "--enroll", str(tmp_path), "--skip-baseline"])
    assert result.exit_code != 0 and "no video files" in result.output


@pytest.mark.parametrize(("threads", "spinning", "want_threads", "want_spin"),
                         [(2, False, 2, "0"), (1, False, 1, "0"), (None, True, 0, "")])
def test_baseline_session_settings_reach_insightface(threads, spinning, want_threads, want_spin) -> None:
    baseline = Baseline(threads=threads, spinning=spinning)
    try:
        sessions = [model.session for model in baseline.app.models.values()]
        assert len(sessions) == 2  # detection + recognition
        for session in sessions:
            opts = session.get_session_options()
            assert opts.intra_op_num_threads == want_threads  # 0 = ONNX Runtime's default (one per core)
            if want_spin:
                assert opts.get_session_config_entry("session.intra_op.allow_spinning") == want_spin
            else:  # untouched: ONNX Runtime's default (spin-waiting)
                with pytest.raises(RuntimeError, match="allow_spinning"):
                    opts.get_session_config_entry("session.intra_op.allow_spinning")
    finally:
        baseline.close()


def test_aspect_crop_runs_the_pedestrian_clip_at_640x480(data_dir: Path) -> None:
    path = data_dir / "videos" / "royal_opera_pedestrians_1080p25.mp4"
    plain, cropped = probe(path), probe(path, parse_aspect("4:3"))
    assert (plain.native_size, plain.size, plain.crop) == ((1920, 1080), (640, 360), None)
    assert (cropped.crop, cropped.size) == ((240, 0, 1440, 1080), (640, 480))
    (_, full, _), = decode_frames(plain, 1)
    (_, frame, _), = decode_frames(cropped, 1)
    assert frame.shape == (480, 640, 3)
    # the kept centre is the middle of the full frame: compare at the plain run's scale (1/3)
    middle = cv2.resize(frame, (480, 360), interpolation=cv2.INTER_AREA).astype(np.float32)
    assert np.abs(middle - full[:, 80:560].astype(np.float32)).mean() < 4.0


def test_centre_crop_and_aspect_parsing() -> None:
    assert centre_crop(640, 360, (4, 3)) == (80, 0, 480, 360)
    assert centre_crop(480, 640, (4, 3)) == (0, 140, 480, 360)  # too tall: keep the full width
    assert centre_crop(640, 480, (4, 3)) == (0, 0, 640, 480)
    for bad in ("4x3", "0:3", "a:b"):
        with pytest.raises(BenchError, match="aspect"):
            parse_aspect(bad)


def test_baseline_enrols_tight_crops_with_the_products_padded_retry(tmp_path: Path, data_dir: Path) -> None:
    """FaceAnalysis scales a ~150 px face crop up to 640x640 and finds no face; retried padded (as our enrolment
    does) it does. Measured on all 82 sample photos: no face in 72 without the retry, in 0 with it."""
    enroll = tmp_path / "enroll"
    enroll.mkdir()
    for person in ("bbt_amy", "john_salley"):  # 4 + 8 tight crops
        (enroll / person).symlink_to(data_dir / "faces" / "enroll" / person)
    galleries = {}
    for pad_retry in (False, True):
        baseline = Baseline(threads=1, spinning=False, enrol_pad_retry=pad_retry)
        try:
            baseline.enroll_folder(enroll)
        finally:
            baseline.close()
        galleries[pad_retry] = baseline.gallery
    plain, padded = galleries[False], galleries[True]
    assert plain.photos == padded.photos == 12
    assert plain.found_after_padding == 0 and plain.photos_without_face == 12 and plain.names == []
    assert padded.photos_without_face == 0 and padded.found_after_padding == 12
    assert padded.names == ["bbt_amy", "john_salley"] and len(padded.vectors) == 12
    # the padded photos give the same person's vectors: every photo is closest to its own person's other photos
    sims = padded.vectors @ padded.vectors.T
    np.fill_diagonal(sims, -1)
    assert (padded.owner[sims.argmax(axis=1)] == padded.owner).all()
