"""A folder replayed on Ray gives the same per-video results (events, metrics; not timings) as sequentially."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from peoplelens.sim_harness.batch import BatchSettings, run_batch, serial_stages
from peoplelens.sim_harness.replay import ReplayOptions
from peoplelens.sim_harness.video import list_videos

CLIPS = ("liveportrait_d0.mp4", "liveportrait_s18.mp4")


def _comparable(result) -> dict:
    """Events, tracks and metrics without timings; track ids renumbered by first appearance, because
    ``peoplelens.lens.perception.tracking`` numbers tracks from a process-wide counter
    (the second video of a worker starts higher)."""
    order: dict[int, int] = {}
    for f in result.frames:
        for t in f.tracks:
            order.setdefault(t["track"], len(order) + 1)
    for e in result.events:
        order.setdefault(e["track"], len(order) + 1)
    renumber = lambda text: re.sub(r"\b(person|track) (\d+)", lambda m: f"{m[1]} #{order.get(int(m[2]), m[2])}",  # noqa: E731
                                   json.dumps(text))
    events = [renumber({**{k: v for k, v in e.items() if k != "latency_s"}, "track": order.get(e["track"])})
              for e in result.events]
    frames = [(f.index, f.t, [(order[t["track"]], t["identity"], t["name"], t["face_box"]) for t in f.tracks])
              for f in result.frames]
    return {"events": events, "frames": frames, "metrics": result.metrics}


@pytest.fixture(scope="module")
def folder(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("clips")
    for name in CLIPS:
        shutil.copy(data_dir / "videos/talking_heads" / name, d / name)
    return d


def test_ray_equals_sequential(folder: Path, tmp_path: Path) -> None:
    # the foveation account in predicted costs: with measured CPU time, windows depend on the machine's load (two
    # Ray workers side by side measure slower than one plain run), so the results would too
    settings = BatchSettings(options=ReplayOptions(max_frames=30, audio=False, overlay=False, progress=False),
                             config={"foveation": {"budget_clock": "predicted"}})
    videos = list_videos(folder)
    assert [v.name for v in videos] == sorted(CLIPS)
    plain = run_batch(videos, tmp_path / "plain", settings, jobs=1, progress=False)
    on_ray = run_batch(videos, tmp_path / "ray", settings, jobs=2, use_ray=True, progress=False)
    assert [r.video for r in plain] == [r.video for r in on_ray] == [str(v) for v in videos]
    assert sum(len(r.events) for r in plain) > 0
    for a, b in zip(plain, on_ray, strict=True):
        assert len(a.frames) == 30
        assert _comparable(a) == _comparable(b)
    for run in ("plain", "ray"):
        summary = json.loads((tmp_path / run / "summary.json").read_text())
        assert [Path(v["video"]).name for v in summary["videos"]] == sorted(CLIPS)
        html = (tmp_path / run / "report.html").read_text()
        assert html.count("data:image/png;base64,") >= 8  # 4 figures per video
        for clip in CLIPS:
            assert (tmp_path / run / Path(clip).stem / "events.jsonl").is_file()


def test_parallel_workers_run_their_stages_serially_unless_told() -> None:
    plain = BatchSettings(config={"camera": {"fov_deg": 90}})
    serial = serial_stages(plain)
    assert serial.config == {"camera": {"fov_deg": 90}, "pipeline": {"stage_threads": 0}}
    assert plain.config == {"camera": {"fov_deg": 90}}  # the caller's settings are not changed
    told = BatchSettings(config={"pipeline": {"stage_threads": 1, "faces_every": 1}})
    assert serial_stages(told).config == told.config
