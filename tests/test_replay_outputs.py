"""A real replay (the product pipeline, a virtual head pan on real footage) writes all four outputs correctly;
corrupt video is a clear error that writes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from peoplelens.audio.wavio import read_wav
from peoplelens.core.event_log import REQUIRED_KEYS, read_event_log
from peoplelens.lens.world import load_imu_sidecar
from peoplelens.sim_harness.errors import ReplayError
from peoplelens.sim_harness.overlay import overlay_size
from peoplelens.sim_harness.processors import build_replay_processor
from peoplelens.sim_harness.replay import ReplayOptions, replay_video
from peoplelens.sim_harness.sources import parse_pan

FRAMES = 40
PAN = "0:-18,1.3:18"  # the head sweeps across the person in front
WINDOW = (640, 480)


@pytest.fixture(scope="module")
def replay_out(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("replay")
    processor = build_replay_processor(config={})
    options = ReplayOptions(max_frames=FRAMES, virtual_pan=PAN, window=WINDOW, progress=False)
    result = replay_video(data_dir / "videos/talking_heads/liveportrait_s18.mp4", processor, out, options)
    return out, result


def test_events_jsonl_has_the_required_keys(replay_out) -> None:
    out, result = replay_out
    records = read_event_log(out / "events.jsonl")  # checks every line is JSON with the required keys
    assert len(records) == len(result.events) > 0
    assert {"bump"} <= {r["sound"] for r in records}  # the pan crosses the person
    for r in records:
        assert set(REQUIRED_KEYS) <= set(r) and 0.0 <= r["t"] <= FRAMES / 30.0
        assert r["latency_s"] > 0


def test_audio_wav_is_stereo_with_sound_where_events_are(replay_out) -> None:
    out, result = replay_out
    x, fs = read_wav(out / "audio.wav")
    assert x.ndim == 2 and x.shape[1] == 2 and fs == 48000
    first = min(e["t"] for e in result.events)
    rms = lambda a, b: float(np.sqrt(np.mean(x[int(a * fs): int(b * fs)] ** 2)))  # noqa: E731
    assert rms(0.0, first - 0.01) < 1e-4  # silence before the first cue
    for e in result.events:
        assert rms(e["t"], e["t"] + 0.15) > 1e-3, e


def test_overlay_has_every_frame_at_the_documented_size(replay_out) -> None:
    out, _ = replay_out
    cap = cv2.VideoCapture(str(out / "overlay.mp4"))
    n = 0
    size = None
    while True:
        ok, img = cap.read()
        if not ok:
            break
        n += 1
        size = (img.shape[1], img.shape[0])
    cap.release()
    assert n == FRAMES
    assert size == overlay_size(*WINDOW) == (640 + 480, 480)


def test_report_embeds_the_plots(replay_out) -> None:
    out, result = replay_out
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 4
    assert "fps achieved" in html and "bump" in html
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames"] == FRAMES and summary["events"] == len(result.events)


def test_virtual_pan_imu_matches_the_script(replay_out) -> None:
    out, result = replay_out
    script = parse_pan(PAN, 10.0)
    imu = load_imu_sidecar(out / "imu.csv")
    times = [f.t for f in result.frames]
    assert len(imu) == FRAMES
    for f in result.frames:  # the pipeline got the scripted head at every frame
        assert f.head_yaw_deg == pytest.approx(script(f.t), abs=0.01)  # f.t is rounded to 0.1 ms
        assert imu.at(f.t).yaw_deg == pytest.approx(script(f.t), abs=0.01)
    assert times == sorted(times) and result.width == WINDOW[0]


def test_corrupt_video_is_a_clear_error_and_writes_nothing(tmp_path: Path, data_dir: Path) -> None:
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00\x01not a video" * 1000)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes((data_dir / "videos/hamilton_short_clip.mp4").read_bytes()[:20000])
    for bad in (garbage, truncated, tmp_path / "missing.mp4"):
        out = tmp_path / f"out_{bad.stem}"
        with pytest.raises(ReplayError, match="video"):
            replay_video(bad, processor=None, out_dir=out)  # type: ignore[arg-type]
        assert not out.exists() or not any(out.iterdir())
