"""Scale out: replay every video of a folder sequentially, in a local process pool, or on a Ray cluster.

Each worker (process or Ray actor) builds its processor and loads the enrolled people once and reuses the
ONNX sessions for every video it gets. Between videos the processor's per-video state is cleared with its
``reset()`` when it has one; otherwise the worker rebuilds it (the models load again). Each video's outputs go
to ``OUT/<video stem>/``; the combined ``OUT/summary.json`` and ``OUT/report.html`` list every video.
Ray runs offline: ``RAY_USAGE_STATS_ENABLED=0`` and ``include_dashboard=False``; ``ray.init()`` starts a local
cluster unless ``address`` names one.
"""

from __future__ import annotations

import json
import logging
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from peoplelens.core.extras import available, require
from peoplelens.lens.runtime.protocol import DEFAULT_FACTORY
from peoplelens.sim_harness.errors import ReplayError
from peoplelens.sim_harness.output_dir import begin_batch, finish_batch
from peoplelens.sim_harness.records import ReplayResult
from peoplelens.sim_harness.replay import ReplayOptions, replay_video, resolve_report
from peoplelens.sim_harness.truth import find_truth

log = logging.getLogger(__name__)


@dataclass
class BatchSettings:
    """What every worker needs to build its processor and replay videos."""

    processor: str = DEFAULT_FACTORY
    config: dict[str, Any] = field(default_factory=dict)
    people: str | None = None  # a people store (None: the default store `peoplelens enroll` writes)
    enroll_dir: str | None = None  # or photos to enrol into a temporary store (once per worker)
    options: ReplayOptions = field(default_factory=ReplayOptions)
    auto_truth: bool = True  # look for a truth file next to each video (see peoplelens.sim_harness.truth.find_truth)


class ReplayWorker:
    """Holds a processor and the enrolled people; replays videos one after the other."""

    def __init__(self, settings: BatchSettings) -> None:
        from peoplelens.sim_harness.enrollment import enroll_folder, open_people
        from peoplelens.sim_harness.processors import build_replay_processor

        self.settings = settings
        self.people = enroll_folder(settings.enroll_dir) if settings.enroll_dir else open_people(settings.people)
        self._build = lambda: build_replay_processor(settings.processor, settings.config, self.people.store)
        self.processor = self._build()
        self.used = False

    def _fresh(self) -> Any:
        if self.used:
            reset = getattr(self.processor, "reset", None)
            if callable(reset):
                reset()
            else:
                self.processor = self._build()
        self.used = True
        return self.processor

    def replay(self, video: str, out_dir: str | None) -> ReplayResult:
        """Replay one video with fresh per-video state."""
        options = self.settings.options
        if self.settings.auto_truth and not options.truth and available("motmetrics"):  # else: no metrics
            truth = find_truth(video)
            options = replace(options, truth=str(truth) if truth else None)
        return replay_video(video, self._fresh(), out_dir, replace(options, progress=False),
                            self.people.enrolled)


def _out_for(video: Path, out: Path | None) -> str | None:
    return str(out / video.stem) if out is not None else None


_WORKER: ReplayWorker | None = None


def _pool_init(settings: BatchSettings) -> None:
    global _WORKER
    _WORKER = ReplayWorker(settings)


def _pool_replay(video: str, out_dir: str | None) -> ReplayResult:
    assert _WORKER is not None
    return _WORKER.replay(video, out_dir)


def _bar(total: int, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc="videos", unit="video", disable=not enabled)


def serial_stages(settings: BatchSettings) -> BatchSettings:
    """Settings whose pipelines run their stages in the caller's thread (``stage_threads = 0``) unless the config
    says otherwise: with one worker per core the cores are already busy, and the results are the same."""
    pipeline = dict(settings.config.get("pipeline", {}))
    if "stage_threads" in pipeline:
        return settings
    pipeline["stage_threads"] = 0
    return replace(settings, config={**settings.config, "pipeline": pipeline})


def run_batch(videos: list[Path], out: str | Path | None, settings: BatchSettings, jobs: int = 1,
              use_ray: bool = False, ray_address: str | None = None, cpus_per_actor: float = 1.0,
              progress: bool = True) -> list[ReplayResult]:
    """Replay ``videos`` (sequentially, ``jobs`` processes, or ``jobs`` Ray actors); results in ``videos`` order."""
    if not videos:
        raise ReplayError("no videos to replay")
    out_path = Path(out) if out is not None else None
    if use_ray:
        require("ray", extra="ray", feature="replaying on Ray (--ray)")  # before any work
    if out_path is not None:  # an empty OUT marked as being written (see peoplelens.sim_harness.output_dir)
        for notice in begin_batch(out_path, settings.options.overwrite):
            log.warning("replay: %s", notice)
    if use_ray or jobs > 1:
        settings = serial_stages(settings)
    if use_ray:
        results = _run_ray(videos, out_path, settings, jobs, ray_address, cpus_per_actor, progress)
    elif jobs <= 1:
        worker = ReplayWorker(settings)
        results = []
        with _bar(len(videos), progress) as bar:
            for v in videos:
                results.append(worker.replay(str(v), _out_for(v, out_path)))
                bar.update(1)
    else:
        by_video: dict[str, ReplayResult] = {}
        with ProcessPoolExecutor(max_workers=jobs, initializer=_pool_init, initargs=(settings,)) as pool, \
                _bar(len(videos), progress) as bar:
            futures = {pool.submit(_pool_replay, str(v), _out_for(v, out_path)): str(v) for v in videos}
            for fut in as_completed(futures):
                by_video[futures[fut]] = fut.result()
                bar.update(1)
        results = [by_video[str(v)] for v in videos]
    if out_path is not None:
        write_batch_outputs(out_path, results, settings.options.report)
        finish_batch(out_path)
    return results


def _run_ray(videos: list[Path], out: Path | None, settings: BatchSettings, jobs: int, address: str | None,
             cpus_per_actor: float, progress: bool) -> list[ReplayResult]:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray = require("ray", extra="ray", feature="replaying on Ray (--ray)")

    started = False
    if not ray.is_initialized():
        root = str(Path(__file__).resolve().parent.parent)
        ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False,
                 runtime_env={"env_vars": {"RAY_USAGE_STATS_ENABLED": "0",
                                           "PEOPLELENS_ASSETS": os.environ.get("PEOPLELENS_ASSETS", ""),
                                           "PYTHONPATH": os.pathsep.join(
                                               p for p in (root, os.environ.get("PYTHONPATH", "")) if p)}})
        started = True
    try:
        actor_cls = ray.remote(num_cpus=cpus_per_actor)(ReplayWorker)
        actors = [actor_cls.remote(settings) for _ in range(max(1, min(jobs, len(videos))))]
        pool = ray.util.ActorPool(actors)
        by_video: dict[str, ReplayResult] = {}
        with _bar(len(videos), progress) as bar:
            for res in pool.map_unordered(lambda a, v: a.replay.remote(str(v), _out_for(v, out)), videos):
                by_video[res.video] = res
                bar.update(1)
        return [by_video[str(v)] for v in videos]
    finally:
        if started:
            ray.shutdown()


def write_batch_outputs(out: Path, results: list[ReplayResult], report: bool | None = None) -> None:
    """``summary.json`` (one entry per video) and, when ``report``, the combined ``report.html``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps({"videos": [r.summary() for r in results]}, indent=2,
                                                 allow_nan=False))
    if report is not False and resolve_report(report)[0]:
        from peoplelens.sim_harness.report import write_batch_report

        write_batch_report(out / "report.html", results)
