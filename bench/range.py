"""The range benchmark: ``python -m peoplelens.bench.range`` (people found, faces found, named, wrong names and
distance error at 1 to 10 m, adult and child scale; and the 1080p pedestrian clip), for each pipeline setting
("arm") in the same run.

Scenes come from :mod:`peoplelens.bench.range_scenes` (real probe faces on a real dancer's body in real 1080p
frames, in memory). Every arm is the PRODUCT pipeline (``peoplelens.lens.pipeline.build_system``, the
composition root) with a temporary store enrolled from ``faces/enroll`` (``enroll_folder``); each scene is a short
sequence fed frame by frame (``pipeline.reset()`` between scenes). Per scene, from what the pipeline returned:

* **tracked**: a track's box overlaps the pasted body (IoU >= 0.4) or its face box the pasted face (IoU >= 0.3)
  in at least half of the frames after the first 0.4 s; **bump**: a BUMP event for such a track;
* **face**: share of frames whose matching track carries a detected face box (IoU >= 0.3 with the pasted face);
* **named**: a NAME event with the right name for such a track (what the wearer hears: identity, both ears and the
  4 m gate); **known**: the track shown KNOWN with the right name in any frame (the gate aside);
* **wrong**: scenes with any wrong name, spoken (a NAME event) or shown (any track, also the real pedestrians);
* **distance**: the People Map's distance of the matched person at the scene's last such frame, relative to the
  true distance along the ray; **near**: the same for ``distance_near_m`` where the pipeline fills it.

The pedestrian clip (``royal_opera_pedestrians_1080p25.mp4``, native 1920x1080): face recall against its hand-checked
boxes (9 frames, IoU >= 0.3, one-to-one), time per frame (median and p95 wall ms, mean CPU ms of the process, the
rate the mean wall time gives, with and without decoding) and each stage's mean ms (``ProcessResult.timings``).
**Windows**: the foveal windows' time against the wide face pass's in the same frames: the foveate stage's CPU
time over the wide passes' (what its budget account counts), stage wall time (``foveate`` over ``detect_faces``),
and, on the clip, CPU ms a frame of every stage measured serially (:func:`stage_cpu`). Figures and the table are
in :mod:`peoplelens.bench.range_report`.
Arms: ``today-640`` = frames shrunk to 640 px first (as ``peoplelens bench`` replays); ``today`` = native frames,
foveation off (the wide pass only: the face detector sees them at 640 px); ``foveated`` = native frames with the
product's defaults (foveal windows, the body detector's gaze tile). **Goals** per arm: named >= 95 % (adult) and
>= 90 % (child) of the scenes within 4 m, no wrong name in any scene, bumped >= 90 % at 10 m, windows <= 30 % of the
wide face pass. Frames and crops never reach the disk; ``--json`` writes the figures. ``peoplelens bench --range``
runs the same and adds it to the benchmark's report.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import cv2
import numpy as np

from peoplelens.bench.machine import load_average, machine_info
from peoplelens.bench.range_fidelity import composite_fidelity
from peoplelens.bench.range_report import goals, print_table, summarise, windows_share
from peoplelens.bench.range_scenes import (
    CAMERAS,
    SCALES,
    CameraSpec,
    RangeScenes,
    SceneError,
    SceneSpec,
    load_faces,
    told_the_camera,
)
from peoplelens.core.state import IdentityState, Sound
from peoplelens.core.types import Frame, box_iou

CLIP = "videos/royal_opera_pedestrians_1080p25.mp4"
CLIP_TRUTH = "videos/royal_opera_pedestrians.faces_gt_mot.txt"


@dataclass(frozen=True)
class Arm:
    """A pipeline setting to measure: config overrides (TOML sections) and the longest frame side fed to it."""

    name: str
    config: dict[str, Any] = field(default_factory=dict)
    max_side: int | None = None  # None = native frames


ARMS = {
    "today-640": Arm("today-640", max_side=640),  # frames shrunk to 640 px first (as ``peoplelens bench`` replays)
    "today": Arm("today", {"foveation": {"enabled": False}}),  # native frames, the wide pass only
    "foveated": Arm("foveated"),  # native frames, the product's defaults: windows + the body detector's gaze tile
}


def _fit(image: np.ndarray, max_side: int | None) -> tuple[np.ndarray, float]:
    """The frame as the arm feeds it, and the factor from its pixels back to native pixels."""
    if max_side is None or max(image.shape[:2]) <= max_side:
        return image, 1.0
    s = max_side / max(image.shape[:2])
    return cv2.resize(image, None, fx=s, fy=s, interpolation=cv2.INTER_AREA), 1.0 / s


def _scaled(box, k: float) -> np.ndarray | None:
    return None if box is None else np.asarray(box, np.float32) * k


def score_scene(results: list, frames: list, identity: str, scale_back: float) -> dict:
    """One scene's figures from the pipeline's results and the truth of each frame (module docstring)."""
    matched: list[int | None] = []
    face_hits = 0
    known = wrong_shown = False
    for res, fr in zip(results, frames, strict=True):
        best, best_iou = None, 0.0
        for view in res.tracks:
            body = _scaled(view.box, scale_back)
            face = _scaled(view.face_box, scale_back)
            iou_b = float(box_iou(body[None], np.array([fr.body_box]))[0, 0]) if body is not None else 0.0
            iou_f = float(box_iou(face[None], np.array([fr.face_box]))[0, 0]) if face is not None else 0.0
            if (iou_b >= 0.4 or iou_f >= 0.3) and max(iou_b, iou_f) > best_iou:
                best, best_iou = view, max(iou_b, iou_f)
            if view.identity == IdentityState.KNOWN and view.name and view.name != identity:
                wrong_shown = True
        matched.append(best.track_id if best is not None else None)
        if best is not None:
            face = _scaled(best.face_box, scale_back)
            if face is not None and float(box_iou(face[None], np.array([fr.face_box]))[0, 0]) >= 0.3:
                face_hits += 1
            known |= best.identity == IdentityState.KNOWN and best.name == identity
    settle = [m for fr, m in zip(frames, matched, strict=True) if fr.t >= 0.4]
    ids = {m for m in matched if m is not None}
    events = [ev for res in results for ev in res.events]
    named = any(ev.sound == Sound.NAME and ev.track_id in ids and ev.name == identity for ev in events)
    wrong_spoken = any(ev.sound == Sound.NAME and ev.name != identity for ev in events)
    distance = near = None
    for res, fr, m in zip(reversed(results), reversed(frames), reversed(matched), strict=True):
        person = next((p for p in res.people if m is not None and p.track_id == m), None)
        if person is not None and np.isfinite(person.distance_m):
            distance = (person.distance_m - fr.distance_m) / fr.distance_m
            if person.distance_near_m is not None:
                near = (person.distance_near_m - fr.distance_m) / fr.distance_m
            break
    return {"tracked": bool(settle) and sum(m is not None for m in settle) >= len(settle) / 2,
            "bump": any(ev.sound == Sound.BUMP and ev.track_id in ids for ev in events),
            "face": face_hits / len(frames), "named": named, "known": known,
            "wrong": wrong_spoken or wrong_shown, "distance_err": distance, "near_err": near}


def _fovea_totals(pipeline) -> dict[str, float]:
    """The foveate stage's running totals (zeros when the pipeline has none)."""
    try:
        stats = pipeline.stage("foveate").stats
    except KeyError:
        return {}
    return dict(vars(stats))


def run_scenes(pipeline, arm: Arm, scenes: RangeScenes, specs: list[SceneSpec], say=print,
               stage_ms: dict[str, list[float]] | None = None) -> list[dict]:
    """Every scene through one pipeline; a row per scene, with the time per frame."""
    rows = []
    for k, spec in enumerate(specs):
        pipeline.reset()
        results, frames, wall, cpu = [], [], [], []
        scale_back = 1.0
        for fr in scenes.render(spec):
            image, scale_back = _fit(fr.image, arm.max_side)
            t0, c0 = time.perf_counter(), time.process_time()
            results.append(pipeline.process(Frame(image, fr.t, fr.index)))
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            frames.append(fr)
            if stage_ms is not None:
                for stage, seconds in results[-1].timings.items():
                    stage_ms.setdefault(stage, []).append(1000 * seconds)
        row = score_scene(results, frames, spec.face.identity, scale_back)
        row.update(distance_m=spec.distance_m, scale=spec.scale, identity=spec.face.identity,
                   photo=spec.face.path.name, ms_per_frame=1000 * float(np.median(wall)),
                   cpu_ms_per_frame=1000 * float(np.mean(cpu)))
        rows.append(row)
        say(f"  {arm.name}: scene {k + 1}/{len(specs)} {spec.scale} {spec.distance_m:g} m "
            f"{spec.face.identity}: {'named' if row['named'] else 'known' if row['known'] else '-'}")
    return rows


def stage_cpu(config: dict, people, arm: Arm, data: Path, max_frames: int = 60) -> dict:
    """CPU ms a frame of each stage on the pedestrian clip, the product run serially (``stage_threads = 0``: the
    runner's order, one stage at a time, so the process's CPU time between two stages is that stage's, its ONNX
    Runtime threads included; results are the same as with the stage thread, ``test_pipeline_stages``), with the
    face detector in one thread (as beside the body detector, where the product measures the wide pass for the
    windows' budget; two threads cost more CPU for the same work), and the foveal windows' share of the wide face
    pass."""
    from peoplelens.lens.pipeline import build_system
    from peoplelens.lens.pipeline.frame_state import FrameState

    serial = {**arm.config.get("pipeline", {}), "stage_threads": 0, "face_detector_threads": 1}
    system = build_system(_merged(config, {**arm.config, "pipeline": serial}), people=people)
    cpu: dict[str, float] = {}
    cap = cv2.VideoCapture(str(data / CLIP))
    fps, n = cap.get(cv2.CAP_PROP_FPS) or 25.0, 0
    try:
        while n < max_frames:
            ok, frame = cap.read()
            if not ok:
                break
            state = FrameState(frame=Frame(_fit(frame, arm.max_side)[0], n / fps, n))
            for stage in system.stages:  # in frame order (members of a parallel step in their listed order)
                c0 = time.process_time()
                stage.run(state)
                cpu[stage.name] = cpu.get(stage.name, 0.0) + 1000 * (time.process_time() - c0)
            n += 1
    finally:
        cap.release()
        system.close()
    per_frame = {k: v / max(1, n) for k, v in cpu.items()}
    wide = per_frame.get("detect_faces", 0.0)
    return {"frames": n, "cpu_ms_per_frame": per_frame, "total_cpu_ms_per_frame": sum(per_frame.values()),
            "windows_over_wide_face_pass": per_frame.get("foveate", 0.0) / wide if wide else None}


def run_clip(pipeline, arm: Arm, data: Path) -> dict:
    """Face recall on the pedestrian clip's annotated frames and time per frame."""
    from scipy.optimize import linear_sum_assignment

    from peoplelens.sim_harness.truth import load_mot

    truth = load_mot(data / CLIP_TRUTH).boxes or {}
    pipeline.reset()
    cap = cv2.VideoCapture(str(data / CLIP))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    hits = total = 0
    wall, cpu, decode = [], [], []
    stages: dict[str, list[float]] = {}
    before = _fovea_totals(pipeline)
    index = 0
    while True:
        t_read = time.perf_counter()
        ok, frame = cap.read()
        if not ok:
            break
        image, scale_back = _fit(frame, arm.max_side)
        decode.append(time.perf_counter() - t_read)
        t0, c0 = time.perf_counter(), time.process_time()
        res = pipeline.process(Frame(image, index / fps, index))
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        for stage, seconds in res.timings.items():
            stages.setdefault(stage, []).append(1000 * seconds)
        if index in truth:
            gt = np.array([b for _, b in truth[index]], np.float32)
            pred = np.array([np.asarray(v.face_box) * scale_back for v in res.tracks if v.face_box is not None],
                            np.float32).reshape(-1, 4)
            total += len(gt)
            if len(pred):
                iou = box_iou(gt, pred)
                r, c = linear_sum_assignment(-iou)
                hits += int((iou[r, c] >= 0.3).sum())
        index += 1
    cap.release()
    return {"frames": index, "face_recall": hits / total if total else None, "faces": total,
            "ms_per_frame": 1000 * float(np.median(wall)), "p95_ms_per_frame": 1000 * float(np.percentile(wall, 95)),
            "cpu_ms_per_frame": 1000 * float(np.mean(cpu)), "fps": 1 / float(np.mean(wall)) if wall else None,
            "fps_with_decode": len(wall) / (sum(wall) + sum(decode)) if wall else None,
            "stage_ms_mean": {k: float(np.mean(v)) for k, v in stages.items()},
            "windows": windows_share(before, _fovea_totals(pipeline), stages)}


def product_config(config: dict, arm: Arm, camera: CameraSpec) -> dict:
    """The product's config for ``arm`` on scenes drawn for ``camera``: the user's config told the scenes' camera
    (:func:`told_the_camera`), then the arm's settings."""
    return _merged(told_the_camera(config, camera), arm.config)


def _merged(config: dict, overrides: dict) -> dict:
    """``config`` with ``overrides`` applied key by key within each section."""
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in config.items()}
    for name, values in overrides.items():
        out[name] = {**out.get(name, {}), **values}
    return out


def run_range(data: Path, arms: tuple[str, ...] = ("today-640", "foveated"), camera: str = "glasses",
              distances: tuple[float, ...] = tuple(range(1, 11)), scales: tuple[str, ...] = ("adult", "child"),
              per_cell: int = 2, frames: int = 40, clip: bool = True, seed: int = 0, config: dict | None = None,
              say=print) -> dict:
    """Every arm through the range scenes (and the clip) in this process; the report dict (``--json``)."""
    from peoplelens.lens.pipeline import build_system
    from peoplelens.sim_harness.enrollment import enroll_folder

    unknown = [a for a in arms if a not in ARMS]
    if unknown or not set(scales) <= set(SCALES) or camera not in CAMERAS:
        raise SceneError(f"arms must be among {sorted(ARMS)}, scales among {sorted(SCALES)}, camera among "
                         f"{sorted(CAMERAS)}; got {arms}, {scales}, {camera!r}")
    scenes = RangeScenes(data, CAMERAS[camera])
    faces = load_faces(data / "faces" / "probe")
    specs = build_specs(faces, distances, scales, per_cell, frames, seed)
    report: dict[str, Any] = {"camera": vars(CAMERAS[camera]), "scenes": len(specs), "frames_per_scene": frames,
                              "machine": machine_info(), "arms": {}}
    say("checking that the composites keep their photos' identity ...")
    report["composite_fidelity"] = composite_fidelity(scenes, sorted({s.face.path: s.face for s in specs}.values(),
                                                                    key=lambda f: f.path))
    with enroll_folder(data / "faces" / "enroll") as people:
        for name in arms:
            arm = ARMS[name]
            # (the clip is replayed by the same pipeline: its own camera is unknown, and its figures -- face recall,
            # time -- do not depend on the field of view)
            pipeline = build_system(product_config(config or {}, arm, CAMERAS[camera]), people=people.store)
            try:
                stage_ms: dict[str, list[float]] = {}
                before = _fovea_totals(pipeline)
                rows = run_scenes(pipeline, arm, scenes, specs, say, stage_ms)
                windows = windows_share(before, _fovea_totals(pipeline), stage_ms)
                bands = summarise(rows)
                entry: dict[str, Any] = {"settings": {"config": arm.config, "max_side": arm.max_side}, "bands": bands,
                         "windows": windows, "goals": goals(bands, rows, windows),
                         "ms_per_frame_scenes": float(np.median([r["ms_per_frame"] for r in rows])),
                         "cpu_ms_per_frame_scenes": float(np.mean([r["cpu_ms_per_frame"] for r in rows])),
                         "stage_ms_mean_scenes": {k: float(np.mean(v)) for k, v in stage_ms.items()}, "scenes": rows}
                if clip:
                    say(f"  {name}: the pedestrian clip ...")
                    entry["clip"] = run_clip(pipeline, arm, data)
                    entry["clip"]["cpu_by_stage"] = stage_cpu(config or {}, people.store, arm, data)
            finally:
                pipeline.close()
            report["arms"][name] = entry
    report["machine"]["load_avg_1m_end"] = load_average()
    return report


def build_specs(faces, distances, scales, per_cell: int, frames: int, seed: int) -> list[SceneSpec]:
    """``per_cell`` scenes per distance and scale, faces taken in turn (a different one per cell where possible)."""
    specs, k = [], seed
    for scale in scales:
        for d in distances:
            for _ in range(per_cell):
                specs.append(SceneSpec(float(d), scale, faces[k % len(faces)], seed=k, frames=frames))
                k += 7  # step through the photos (7 is prime to their count)
    return specs


@click.command()
@click.option("--camera", type=click.Choice(list(CAMERAS)), default="glasses", show_default=True)
@click.option("--distances", default="1,2,3,4,5,6,7,8,9,10", show_default=True)
@click.option("--scales", default="adult,child", show_default=True)
@click.option("--per-cell", default=2, show_default=True, help="Scenes per distance and scale.")
@click.option("--frames", default=40, show_default=True, help="Frames per scene (25 fps; at most 60).")
@click.option("--arm", "arms", multiple=True, default=("today-640", "foveated"), show_default=True,
              type=click.Choice(list(ARMS)))
@click.option("--clip/--no-clip", default=True, help="Also replay the 1080p pedestrian clip.")
@click.option("--seed", default=0, show_default=True)
@click.option("--json", "json_path", type=click.Path(path_type=Path), default=None, help="Write the figures here.")
def main(camera: str, distances: str, scales: str, per_cell: int, frames: int, arms: tuple[str, ...], clip: bool,
         seed: int, json_path: Path | None) -> None:
    """Run the range scenes (and the pedestrian clip) through each arm of the product pipeline."""
    from peoplelens.core.config import load_config

    root = Path(os.environ.get("PEOPLELENS_ASSETS", "../shared")) / "data"
    try:
        dist = tuple(float(v) for v in distances.split(","))
    except ValueError:
        raise click.ClickException(f"--distances must be numbers separated by commas, got {distances!r}") from None
    try:
        report = run_range(root, arms, camera, dist, tuple(s for s in scales.split(",") if s), per_cell, frames,
                           clip, seed, load_config(), say=lambda s: click.echo(s, err=True))
    except SceneError as exc:
        raise click.ClickException(str(exc)) from exc
    print_table(report)
    if json_path is not None:
        json_path.write_text(json.dumps(report, indent=2, default=str) + "\n")
        click.echo(f"wrote {json_path}", err=True)


if __name__ == "__main__":
    main()
