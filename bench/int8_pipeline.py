"""The product pipeline with float and with int8 models on the sample videos, in one process (section 5 of
``python -m peoplelens.bench.evaluate_int8``): ``build_system`` + the benchmark's ``run_fast``, the variants taking
turns per video (order alternating) so load on a shared machine hits them alike; one enrolled (float) store."""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from peoplelens.bench.enrol import enroll_people
from peoplelens.bench.identity_metrics import score_identity
from peoplelens.bench.runner import run_fast
from peoplelens.bench.truth import load_truth, restrict
from peoplelens.bench.videos import find_videos, probe
from peoplelens.models.assets import AssetManager
from peoplelens.models.variants import ENV_PRECISION

STAGES = ("detect_faces", "detect_people", "embed")


@contextlib.contextmanager
def precision_env(value: str | None):
    """``$PEOPLELENS_PRECISION`` set to ``value`` (None: unset) while models are loaded."""
    old = os.environ.get(ENV_PRECISION)
    if value is None:
        os.environ.pop(ENV_PRECISION, None)
    else:
        os.environ[ENV_PRECISION] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(ENV_PRECISION, None)
        else:
            os.environ[ENV_PRECISION] = old


@dataclass
class VariantTotals:
    """One variant's sums over the videos."""

    precision: str | None  # the $PEOPLELENS_PRECISION it ran with (None: float)
    frames: int = 0
    process_s: float = 0.0
    cpu_s: float = 0.0
    given: int = 0
    correct: int = 0
    recall_frames: int = 0
    recall_hits: int = 0
    wrong: dict[str, int] = field(default_factory=dict)
    stage_s: dict[str, float] = field(default_factory=dict)
    per_video: dict[str, dict] = field(default_factory=dict)

    def ms_per_frame(self) -> float:
        """Pipeline time per frame (LensPipeline.process), ms."""
        return 1000 * self.process_s / max(1, self.frames)

    def cpu_ms_per_frame(self) -> float:
        """Process CPU time per frame (all threads, decode included), ms."""
        return 1000 * self.cpu_s / max(1, self.frames)


def run_variants(manager: AssetManager, variants: dict[str, str | None], only: tuple[str, ...] = (),
                 max_frames: int | None = None) -> dict[str, VariantTotals]:
    """Every sample video through the pipeline once per variant (label -> $PEOPLELENS_PRECISION value)."""
    from peoplelens.lens.pipeline import build_system

    videos_dir = manager.path("data/videos/hamilton_short_clip.mp4").parent
    paths = [p for p in find_videos(videos_dir) if not only or any(o in p.name for o in only)]
    with precision_env(None):  # enrolment as the product does it (float), whatever the environment says
        people = enroll_people(manager.path("data/faces/enroll/barack_obama/fr_01.jpg").parents[1])
    totals = {label: VariantTotals(value) for label, value in variants.items()}
    try:
        for index, path in enumerate(paths):
            info = probe(path)
            truth = load_truth(info.path, set(people.enrolled))
            order = list(variants) if index % 2 == 0 else list(reversed(variants))
            for label in order:
                with precision_env(variants[label]):
                    pipeline = build_system({}, people=people.store)
                c0 = time.process_time()
                try:
                    run = run_fast(pipeline, info, max_frames, people.name_map)
                finally:
                    pipeline.close()
                cpu = time.process_time() - c0
                t = restrict(truth, set(range(run.frames)))
                score = score_identity(run.named, t.visible, t.recall_frames)
                tot = totals[label]
                tot.frames += run.frames
                tot.process_s += sum(run.process_s)
                tot.cpu_s += cpu
                tot.given += score.names_given
                tot.correct += score.correct
                tot.recall_frames += score.recall_frames
                tot.recall_hits += score.recall_hits
                for name, n in score.wrong_names.items():
                    tot.wrong[name] = tot.wrong.get(name, 0) + n
                for stage in STAGES:
                    tot.stage_s[stage] = tot.stage_s.get(stage, 0.0) + sum(run.stages[stage])
                tot.per_video[Path(path).name] = {
                    "frames": run.frames, "ms_per_frame": 1000 * sum(run.process_s) / max(1, run.frames),
                    "cpu_ms_per_frame": 1000 * cpu / max(1, run.frames), "names_given": score.names_given,
                    "correct": score.correct}
    finally:
        people.close()
    return totals
