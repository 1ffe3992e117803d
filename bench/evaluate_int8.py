"""Float32 against int8, side by side in one run: ``python -m peoplelens.bench.evaluate_int8``.

Prints, for the int8 variants made by ``peoplelens assets quantize``:

1. per model, median latency per inference (one ORT thread, wall and CPU time, variants interleaved);
2. embedder verification on ``faces_pairs.csv`` and ``small_lfw`` (genuine/impostor, EER, FAR/FRR at 0.35 and
   0.40), for the int8 embedder, the whole int8 path, and int8 probes against float enrolments (an existing store);
   the held-out probe photos against the float enrolment gallery at the identity threshold;
3. face-detector recall by face width (``bench/detector_range``'s method at 640 px), on the dlib boxes and on the
   hand-checked faces of the held-out pedestrian clip;
4. person-detector agreement with the float model (agreement, not truth);
5. the product pipeline (``build_system``, the benchmark's ``run_fast``) on the sample videos with float and with
   int8 models, in the same process: time and CPU time per frame, names given, wrong names.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np
from rich.console import Console
from rich.table import Table

from peoplelens.bench import int8_models as m
from peoplelens.bench.int8_pipeline import run_variants
from peoplelens.bench.machine import load_average, machine_info
from peoplelens.models.assets import AssetManager, default_manager
from peoplelens.models.quantize import CALIBRATION_VIDEOS, video_frames

console = Console(width=200)
#: the int8 pipeline runs: every model the pipeline uses in int8, and only the variant within the tolerance
PIPELINE_RUNS = ("det_500m=int8,arcface_mobileface128=int8,yolox_nano=int8", "arcface_mobileface128=int8")
#: The accuracy an int8 variant may cost and still become a default, stated before measuring (points = percentage
#: points; every count is against the float model on the same data in the same run).
TOLERANCE = {
    "embedder": "EER +0.5 points, FAR at 0.35 and 0.40 not higher, FRR at 0.40 +1 point (faces_pairs and small_lfw; "
                "int8 path and float-enrolled vs int8 probe); 0 wrong names on the held-out probes",
    "face detector": "recall -1 point at each face width >= 20 px, on the dlib boxes and on the held-out clip's "
                     "faces; -2 points below 20 px",
    "person detector": "recall against the float model's persons -1 point (>= 99 % agreement)",
    "pipeline": "0 wrong names; Hamilton shot-3 recall -1 point",
}


def _table(title: str, columns: list[str], rows: list[list]) -> None:
    table = Table(title=title)
    for col in columns:
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*[f"{v:.3f}" if isinstance(v, float) else str(v) for v in row])
    console.print(table)


def models_section(manager: AssetManager, report: dict) -> None:
    """Sections 1-4."""
    frames = video_frames(manager.path(m.HELD_OUT_VIDEO), 12)
    fp32_path = m.face_path("fp32", "fp32", "fp32", manager)
    lfw_csv = manager.path("data/pairs/small_lfw_pairs.csv")
    from peoplelens.models.face_embedder import resize_for_embedding
    from peoplelens.models.images import load_image

    crops = np.stack([resize_for_embedding(load_image(p)) for p in sorted(lfw_csv.parent.glob("small_lfw/*.jpg"))])
    console.print("[bold]1. latency per inference[/bold] (1 ORT thread; inputs: held-out pedestrian frames at 640x360, "
                  "small_lfw crops one at a time; median of interleaved runs)")
    lat = m.model_latencies(manager, frames, crops)
    rows = []
    for name, results in lat.items():
        base = results[0]
        for r in results:
            rows.append([name, r.label, r.wall_ms, r.cpu_ms, f"{base.cpu_ms / r.cpu_ms:.2f}x"])
    _table("latency", ["model", "variant", "wall ms", "CPU ms", "CPU speed-up vs fp32"], rows)
    report["latency"] = {k: [vars(r) for r in v] for k, v in lat.items()}

    console.print("[bold]2. embedder verification[/bold] (det_500m alignment with the padded retry, as enrolment)")
    pairs_csv = manager.path("data/pairs/faces_pairs.csv")
    emb_int8 = m.face_path("int8 embedder", "fp32", "int8", manager)
    full_int8 = m.face_path("int8 det + emb", "int8", "int8", manager)
    runs = [m.pair_verification(pairs_csv, fp32_path, fp32_path, "fp32"),
            m.pair_verification(pairs_csv, emb_int8, emb_int8, "int8 embedder"),
            m.pair_verification(pairs_csv, full_int8, full_int8, "int8 detector + embedder"),
            m.pair_verification(pairs_csv, fp32_path, full_int8, "fp32 enrolled vs int8 probe")]
    lfw = [m.lfw_verification(lfw_csv, fp32_path.embedder, fp32_path.embedder, "fp32"),
           m.lfw_verification(lfw_csv, emb_int8.embedder, emb_int8.embedder, "int8 embedder"),
           m.lfw_verification(lfw_csv, fp32_path.embedder, emb_int8.embedder, "fp32 vs int8")]
    for title, items in (("faces_pairs.csv (378 genuine + 378 impostor)", runs), ("small_lfw (10 + 10)", lfw)):
        cols = list(items[0].row())
        _table(title, ["variant", *cols], [[v.label, *v.row().values()] for v in items])
        report.setdefault("verification", {})[title] = {v.label: {k: float(x) for k, x in v.row().items()}
                                                        for v in items}
    enroll = manager.path("data/faces/enroll/barack_obama/fr_01.jpg").parents[1]
    probes = [m.probe_identification(fp32_path, p, enroll) for p in (fp32_path, full_int8)]
    _table("held-out probes vs the float enrolment gallery (named at cosine >= 0.40)",
           ["probe path", "right", "wrong", "unnamed", "lowest true-name score", "highest other-name score"],
           [[p.label, p.right, p.wrong, p.unnamed, p.worst_true, p.best_other] for p in probes])
    report["probes"] = [vars(p) for p in probes]

    console.print("[bold]3. face-detector recall[/bold]")
    for model in ("det_500m", "det_2.5g"):
        total, found = m.recall_by_width(manager, model)
        _table(f"{model}: faces found in a 640x480 frame by face width ({total} enrolment faces)",
               ["precision", *[f"{w} px" for w in found["fp32"]]],
               [[p, *[f"{100 * n / total:.1f}%" for n in row.values()]] for p, row in found.items()])
        dlib = m.dlib_recall(manager, model)
        mot = m.mot_face_recall(manager, model)
        _table(f"{model}: dlib boxes (IoU >= 0.3) and the held-out clip's hand-checked faces at 640x360",
               ["precision", "dlib found", "dlib false pos >= 24 px", "pedestrian faces found"],
               [[p, f"{dlib[p][0]}/{dlib[p][1]}", dlib[p][2], f"{mot[p][0]}/{mot[p][1]}"] for p in ("fp32", "int8")])
        report.setdefault("face_detector", {})[model] = {"faces": total, "by_width": found, "dlib": dlib, "mot": mot}

    console.print("[bold]4. person detector: int8 against the float model's persons[/bold] (agreement, not truth; "
                  "IoU >= 0.5)")
    agree = m.person_agreement(manager, (m.HELD_OUT_VIDEO, CALIBRATION_VIDEOS[0]))
    _table("yolox_nano", ["video", "float persons", "int8 found", "agreement", "int8 extra"],
           [[Path(k).name, a, b, f"{100 * b / max(1, a):.1f}%", c] for k, (a, b, c) in agree.items()])
    report["person_agreement"] = agree
    report["verdicts"] = verdicts(report)
    console.print("[bold]tolerance[/bold] (stated before measuring): " + "; ".join(f"{k}: {v}" for k, v in
                                                                                 TOLERANCE.items()))
    for name, (ok, why) in report["verdicts"].items():
        console.print(f"  {name}: {'[green]within[/green]' if ok else '[red]outside[/red]'} the tolerance"
                      + (f" ({'; '.join(why)})" if why else ""))


def verdicts(report: dict) -> dict[str, tuple[bool, list[str]]]:
    """Per model: whether its int8 variant stays within :data:`TOLERANCE`, and the breaches."""
    out: dict[str, tuple[bool, list[str]]] = {}
    why: list[str] = []
    for title, rows in report["verification"].items():
        base = rows["fp32"]
        for label, row in rows.items():
            if label == "fp32":
                continue
            if row["EER %"] > base["EER %"] + 0.5:
                why.append(f"{title} {label}: EER {base['EER %']:.2f} -> {row['EER %']:.2f} %")
            for t in ("0.35", "0.40"):
                if row[f"FAR@{t} %"] > base[f"FAR@{t} %"]:
                    why.append(f"{title} {label}: FAR@{t} {base[f'FAR@{t} %']:.2f} -> {row[f'FAR@{t} %']:.2f} %")
            if row["FRR@0.40 %"] > base["FRR@0.40 %"] + 1.0:
                why.append(f"{title} {label}: FRR@0.40 {base['FRR@0.40 %']:.2f} -> {row['FRR@0.40 %']:.2f} %")
    why += [f"{p['label']}: {p['wrong']} wrong names on the probes" for p in report["probes"] if p["wrong"]]
    out["arcface_mobileface128"] = (not why, why)
    for model, fd in report["face_detector"].items():
        why = []
        total = fd["faces"]
        for width, n in fd["by_width"]["fp32"].items():
            drop = 100 * (n - fd["by_width"]["int8"][width]) / total
            if drop > (1.0 if width >= 20 else 2.0):
                why.append(f"{width} px: -{drop:.1f} points")
        for key, label in (("dlib", "dlib boxes"), ("mot", "held-out clip faces")):
            f, q = fd[key]["fp32"], fd[key]["int8"]
            if 100 * (f[0] - q[0]) / f[1] > 1.0:
                why.append(f"{label}: {f[0]} -> {q[0]} of {f[1]}")
        out[model] = (not why, why)
    why = [f"{Path(v).name}: {b}/{a} of the float model's persons" for v, (a, b, _) in
           report["person_agreement"].items() if a and 100 * (a - b) / a > 1.0]
    out["yolox_nano"] = (not why, why)
    return out


def pipeline_section(manager: AssetManager, report: dict, int8_runs: tuple[str, ...], only: tuple[str, ...],
                     max_frames: int | None) -> None:
    """Section 5: the product pipeline with float models and with each int8 choice, in one process."""
    variants: dict[str, str | None] = {"fp32": None}
    variants.update({f"int8 ({value})": value for value in int8_runs})
    totals = run_variants(manager, variants, only, max_frames)
    videos = list(totals["fp32"].per_video)
    rows = [[v, totals["fp32"].per_video[v]["frames"],
             *[f"{t.per_video[v]['ms_per_frame']:.1f} / {t.per_video[v]['cpu_ms_per_frame']:.1f}"
               for t in totals.values()],
             *[f"{t.per_video[v]['correct']}/{t.per_video[v]['names_given']}" for t in totals.values()]]
            for v in videos]
    labels = list(totals)
    _table("5. pipeline per video (float enrolment); ms per frame / CPU ms per frame, then names right/given",
           ["video", "frames", *labels, *labels], rows)
    base = totals["fp32"]
    summary = []
    for label, t in totals.items():
        n = max(1, t.frames)
        summary.append([label, t.frames, t.ms_per_frame(), t.cpu_ms_per_frame(),
                        f"{base.process_s / max(1e-9, t.process_s):.2f}x", f"{base.cpu_s / max(1e-9, t.cpu_s):.2f}x",
                        *[1000 * t.stage_s[s] / n for s in ("detect_faces", "detect_people", "embed")],
                        f"{t.correct}/{t.given}", sum(t.wrong.values()), f"{t.recall_hits}/{t.recall_frames}"])
    _table("pipeline, all videos", ["variant", "frames", "ms/frame", "CPU ms/frame", "speed-up", "CPU speed-up",
                                    "detect faces ms/frame", "detect people ms/frame", "embed ms/frame",
                                    "names right/given", "wrong names", "recall (Hamilton shot 3)"], summary)
    for label, t in list(totals.items())[1:]:
        speed = base.process_s / max(1e-9, t.process_s)
        recall_drop = 100 * (base.recall_hits - t.recall_hits) / max(1, base.recall_frames)
        ok = speed >= 1.5 and not t.wrong and recall_drop <= 1.0
        console.print(f"goal (>= 1.5x per frame, 0 wrong names, recall -1 point at most) for {label}: "
                      f"{'[green]met[/green]' if ok else '[red]not met[/red]'} ({speed:.2f}x, "
                      f"{sum(t.wrong.values())} wrong names, recall {-recall_drop:+.1f} points)")
    report["pipeline"] = {label: {**vars(t), "ms_per_frame": t.ms_per_frame(),
                                  "cpu_ms_per_frame": t.cpu_ms_per_frame()} for label, t in totals.items()}


@click.command()
@click.option("--skip-models", is_flag=True, help="Only the pipeline run.")
@click.option("--skip-pipeline", is_flag=True, help="Only the model-level measurements.")
@click.option("--only", multiple=True, help="Pipeline: only videos whose file name contains this (repeatable).")
@click.option("--max-frames", type=click.IntRange(min=1), default=None, help="Pipeline: frames per video.")
@click.option("--int8-models", "int8_runs", multiple=True, default=PIPELINE_RUNS, show_default=True,
              help="Pipeline: the $PEOPLELENS_PRECISION value of an int8 run (repeatable: one run each).")
@click.option("--json", "json_path", type=click.Path(path_type=Path), default=None, help="Write the figures here.")
def main(skip_models: bool, skip_pipeline: bool, only: tuple[str, ...], max_frames: int | None,
         int8_runs: tuple[str, ...], json_path: Path | None) -> None:
    """Float32 against int8 on the same data in one run (needs `peoplelens assets quantize` first)."""
    from peoplelens.core.errors import PeopleLensError

    try:
        _main(skip_models, skip_pipeline, only, max_frames, int8_runs, json_path)
    except PeopleLensError as exc:
        raise click.ClickException(str(exc)) from exc


def _main(skip_models: bool, skip_pipeline: bool, only: tuple[str, ...], max_frames: int | None,
          int8_runs: tuple[str, ...], json_path: Path | None) -> None:
    from peoplelens.models.variants import INT8_MODELS, int8_path

    manager = default_manager()
    for name in INT8_MODELS:
        int8_path(name, manager)  # clear error before any work when a variant is missing
    report: dict = {"machine": machine_info()}
    if not skip_models:
        models_section(manager, report)
    if not skip_pipeline:
        pipeline_section(manager, report, int8_runs, only, max_frames)
    machine = report["machine"]
    machine["load_avg_1m_end"] = load_average()
    console.print(f"{machine['cpu']} ({machine['cpu_count']} CPUs); load average (1 min) at start "
                  f"{machine['load_avg_1m_start']}, at end {machine['load_avg_1m_end']}")
    if json_path:
        json_path.write_text(json.dumps(report, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
