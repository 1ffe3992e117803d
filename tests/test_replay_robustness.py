"""Replay tells the truth: damaged videos (made here from a real clip) are skipped over and counted, or refused
when too much is damaged; a non-empty --out is refused unless --overwrite; runs never mix; what a run killed
with SIGKILL left is cleaned up, put in place or flagged by the next."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from peoplelens.sim_harness.errors import ReplayError
from peoplelens.sim_harness.output_dir import MARKER, begin_batch, check_output, prepare_output, recover
from peoplelens.sim_harness.processors import build_replay_processor
from peoplelens.sim_harness.replay import ReplayOptions, replay_video
from peoplelens.sim_harness.video import VideoFrames

CLIP = "videos/hamilton_short_clip.mp4"  # 275 frames
FAST = {"overlay": False, "audio": False, "report": False, "progress": False}


def damaged_copy(src: Path, dest: Path, fraction: float, seed: int = 1) -> Path:
    """``src`` with random bytes written over 2000-byte runs every 40000 bytes across the middle ``fraction``."""
    data = bytearray(src.read_bytes())
    rng = random.Random(seed)
    lo, hi = int(len(data) * (0.5 - fraction / 2)), int(len(data) * (0.5 + fraction / 2))
    for start in range(lo, hi, 40000 if fraction < 0.5 else 4000):
        for i in range(start, min(start + 2000, len(data))):
            data[i] = rng.randrange(256)
    dest.write_bytes(bytes(data))
    return dest


@pytest.fixture(scope="module")
def pipeline():
    return build_replay_processor(config={})


def fresh(processor):
    """The processor with its per-video state cleared (as the batch runner does between videos)."""
    processor.reset()
    return processor


@pytest.fixture()
def processor(pipeline):
    return fresh(pipeline)


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_undecodable_frames_are_skipped_and_counted(data_dir, tmp_path, processor):
    video = damaged_copy(data_dir / CLIP, tmp_path / "damaged.mp4", 0.4)
    frames = VideoFrames(video)
    got = list(frames)
    assert frames.frames_undecodable > 0 and len(got) > 200  # it reads past the damage to the end
    assert len(got) + frames.frames_undecodable == frames.info.frame_count == 275
    assert got[-1].index == 274 and [f.index for f in got] == sorted({f.index for f in got})
    assert all(b.timestamp > a.timestamp for a, b in zip(got, got[1:], strict=False))
    out = tmp_path / "out"
    result = replay_video(video, processor, out, ReplayOptions(**FAST))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames"] == len(got) and summary["frames_undecodable"] == frames.frames_undecodable
    assert result.frames_undecodable == frames.frames_undecodable


def test_a_badly_damaged_video_fails_and_writes_nothing(data_dir, tmp_path, processor):
    video = damaged_copy(data_dir / CLIP, tmp_path / "ruined.mp4", 0.8)
    out = tmp_path / "out"
    with pytest.raises(ReplayError, match="cannot be decoded"):
        replay_video(video, processor, out, ReplayOptions(**FAST))
    assert not out.exists() and not list(tmp_path.glob(".out.*"))


def test_a_non_empty_out_is_refused_unless_overwrite_and_runs_never_mix(data_dir, tmp_path, processor):
    video = data_dir / CLIP
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    r = subprocess.run([sys.executable, "-m", "peoplelens.cli", "replay", str(video), "--out", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "not empty" in r.stderr and "--overwrite" in r.stderr, r.stderr
    r = subprocess.run([sys.executable, "-m", "peoplelens.cli", "replay", str(video), "--out", str(out),
                        "--overwrite"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "does not hold replay outputs" in r.stderr, r.stderr
    assert [p.name for p in out.iterdir()] == ["notes.txt"]  # never touched
    out = tmp_path / "replay"
    replay_video(video, processor, out, ReplayOptions(max_frames=5, **(FAST | {"overlay": True})))
    assert (out / "overlay.mp4").is_file()
    with pytest.raises(ReplayError, match="not empty"):
        replay_video(video, processor, out, ReplayOptions(max_frames=3, **FAST))
    replay_video(video, fresh(processor), out, ReplayOptions(max_frames=3, overwrite=True, **FAST))
    assert not (out / "overlay.mp4").exists()  # the first run's overlay does not linger beside the second's
    assert json.loads((out / "summary.json").read_text())["frames"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "replay"]  # no staging or old folder left


def test_a_killed_replay_is_cleaned_up_by_the_next(data_dir, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "peoplelens.cli", "replay", str(data_dir / CLIP), "--out",
                             str(out), "--realtime", "--no-overlay", "--no-audio", "--no-report", "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob(".out.partial-*")) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.05)
        time.sleep(1.0)  # mid-run
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    staging = list(tmp_path.glob(".out.partial-*"))
    assert len(staging) == 1 and (staging[0] / MARKER).is_file() and not out.exists()
    notices = prepare_output(out, overwrite=False)
    assert any("removed the partial output" in n for n in notices), notices
    assert not list(tmp_path.glob(".out.*")) and not out.exists()


def test_interrupted_renames_and_batches_are_put_right_or_flagged(tmp_path):
    out = tmp_path / "out"
    finished = tmp_path / ".out.partial-1-abcd"  # killed after finishing, before moving into place
    finished.mkdir()
    (finished / "summary.json").write_text("{}")
    assert any("put in place" in n for n in recover(out)) and (out / "summary.json").is_file()
    out.rename(tmp_path / ".out.old-1-abcd")  # killed after setting the old output aside
    assert any("put back" in n for n in recover(out)) and (out / "summary.json").is_file()
    batch = tmp_path / "batch"
    begin_batch(batch, overwrite=False)
    (batch / "clip_a").mkdir()
    (batch / "clip_a" / "summary.json").write_text("{}")
    (batch / MARKER).write_text(json.dumps({"pid": _dead_pid(), "host": os.uname().nodename, "started": 0}))
    notices = recover(batch)
    assert any("interrupted" in n and "1 video(s) finished" in n for n in notices), notices
    with pytest.raises(ReplayError, match="not empty"):
        check_output(batch, overwrite=False)
    check_output(batch, overwrite=True)
    begin_batch(batch, overwrite=True)
    assert [p.name for p in batch.iterdir()] == [MARKER]
    (batch / MARKER).write_text(json.dumps({"pid": os.getppid(), "host": os.uname().nodename, "started": 0}))
    with pytest.raises(ReplayError, match="another replay"):
        recover(batch)
