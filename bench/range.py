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
boxes (9 frames, IoU >= 0.3, one-to-one), time per frame (median wall ms, mean CPU ms, the rate the mean wall
time gives) and each stage's mean ms (``ProcessResult.timings``).
Arms: ``today`` = today's pipeline on native frames (the face detector sees them at 640 px, ``face_max_side``);
``today-640`` = frames shrunk to 640 px first (as ``peoplelens bench`` replays). Add an arm in ``ARMS`` to
compare another setting (e.g. foveation on) in the same run. Frames and crops never reach the disk; ``--json``
writes the figures.
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

from peoplelens.bench.range_scenes import CAMERAS, SCALES, RangeScenes, SceneSpec, load_faces
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


def run_scenes(pipeline, arm: Arm, scenes: RangeScenes, specs: list[SceneSpec], say=print) -> list[dict]:
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
        row = score_scene(results, frames, spec.face.identity, scale_back)
        row.update(distance_m=spec.distance_m, scale=spec.scale, identity=spec.face.identity,
                   photo=spec.face.path.name, ms_per_frame=1000 * float(np.median(wall)),
                   cpu_ms_per_frame=1000 * float(np.mean(cpu)))
        rows.append(row)
        say(f"  {arm.name}: scene {k + 1}/{len(specs)} {spec.scale} {spec.distance_m:g} m "
            f"{spec.face.identity}: {'named' if row['named'] else 'known' if row['known'] else '-'}")
    return rows


def run_clip(pipeline, arm: Arm, data: Path) -> dict:
    """Face recall on the pedestrian clip's annotated frames and time per frame."""
    from scipy.optimize import linear_sum_assignment

    from peoplelens.sim_harness.truth import load_mot

    truth = load_mot(data / CLIP_TRUTH).boxes or {}
    pipeline.reset()
    cap = cv2.VideoCapture(str(data / CLIP))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    hits = total = 0
    wall, cpu = [], []
    stages: dict[str, list[float]] = {}
    index = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        image, scale_back = _fit(frame, arm.max_side)
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
    ms = 1000 * float(np.median(wall))
    return {"frames": index, "face_recall": hits / total if total else None, "faces": total,
            "ms_per_frame": ms, "cpu_ms_per_frame": 1000 * float(np.mean(cpu)),
            "fps": 1 / float(np.mean(wall)) if wall else None,
            "stage_ms_mean": {k: float(np.mean(v)) for k, v in stages.items()}}


def summarise(rows: list[dict]) -> list[dict]:
    """Per scale and distance: shares of scenes, median distance errors."""
    out = []
    for scale in SCALES:
        for d in sorted({r["distance_m"] for r in rows}):
            cell = [r for r in rows if r["scale"] == scale and r["distance_m"] == d]
            if not cell:
                continue
            errs = [r["distance_err"] for r in cell if r["distance_err"] is not None]
            nears = [r["near_err"] for r in cell if r["near_err"] is not None]
            out.append({"scale": scale, "distance_m": d, "scenes": len(cell),
                        **{k: float(np.mean([r[k] for r in cell])) for k in
                           ("tracked", "bump", "face", "named", "known", "wrong")},
                        "distance_err_median": float(np.median(errs)) if errs else None,
                        "near_err_median": float(np.median(nears)) if nears else None})
    return out


def _pct(v: float | None) -> str:
    return "   -" if v is None else f"{100 * v:4.0f}"


def print_table(summaries: dict[str, list[dict]], clips: dict[str, dict]) -> None:
    """The per-distance table, arms side by side (two arms fit 80 columns), then the clip."""
    arms = list(summaries)
    cols = ("tracked", "bump", "face", "named", "wrong", "distance_err_median")
    print("% of scenes tracked (trk), bumped, faces found (% of frames), named (spoken), with a wrong")
    print("name (wrng), and the median distance error (derr %), per distance (m) and scale")
    print("         |" + "|".join(f" {a[:28]:28} " for a in arms))
    print("scale  m |" + "|".join("  trk bump face name wrng derr " for _ in arms))
    for i, row in enumerate(summaries[arms[0]]):
        cells = ["  " + " ".join(_pct(summaries[a][i][c]) for c in cols) + " " for a in arms]
        print(f"{row['scale'][:5]:5} {row['distance_m']:2g} |" + "|".join(cells))
    for a, c in clips.items():
        print(f"pedestrian clip, {a}: face recall {_pct(c['face_recall']).strip()} % of {c['faces']}, "
              f"{c['ms_per_frame']:.0f} ms/frame ({c['fps']:.1f} fps), CPU {c['cpu_ms_per_frame']:.0f} ms/frame")


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
@click.option("--arm", "arms", multiple=True, default=("today", "today-640"), show_default=True,
              type=click.Choice(list(ARMS)))
@click.option("--clip/--no-clip", default=True, help="Also replay the 1080p pedestrian clip.")
@click.option("--seed", default=0, show_default=True)
@click.option("--json", "json_path", type=click.Path(path_type=Path), default=None, help="Write the figures here.")
def main(camera: str, distances: str, scales: str, per_cell: int, frames: int, arms: tuple[str, ...], clip: bool,
         seed: int, json_path: Path | None) -> None:
    """Run the range scenes (and the pedestrian clip) through each arm of the product pipeline."""
    from peoplelens.core.config import load_config
    from peoplelens.lens.pipeline import build_system
    from peoplelens.sim_harness.enrollment import enroll_folder

    root = Path(os.environ.get("PEOPLELENS_ASSETS", "../shared")) / "data"
    try:
        dist = [float(v) for v in distances.split(",")]
    except ValueError:
        raise click.ClickException(f"--distances must be numbers separated by commas, got {distances!r}") from None
    wanted_scales = [s for s in scales.split(",") if s]
    if not set(wanted_scales) <= set(SCALES):
        raise click.ClickException(f"--scales must be among {sorted(SCALES)}, got {scales!r}")
    scenes = RangeScenes(root, CAMERAS[camera])
    specs = build_specs(load_faces(root / "faces" / "probe"), dist, wanted_scales, per_cell, frames, seed)
    say = lambda s: click.echo(s, err=True)  # noqa: E731
    report: dict[str, Any] = {"camera": vars(CAMERAS[camera]), "scenes": len(specs), "frames_per_scene": frames,
                              "arms": {}}
    summaries, clips = {}, {}
    with enroll_folder(root / "faces" / "enroll") as people:
        for name in arms:
            arm = ARMS[name]
            config = {**load_config(), **arm.config}
            pipeline = build_system(config, people=people.store)
            try:
                rows = run_scenes(pipeline, arm, scenes, specs, say)
                summaries[name] = summarise(rows)
                entry = {"settings": {"config": arm.config, "max_side": arm.max_side}, "scenes": rows,
                         "bands": summaries[name]}
                if clip:
                    clips[name] = entry["clip"] = run_clip(pipeline, arm, root)
                entry["ms_per_frame_scenes"] = float(np.median([r["ms_per_frame"] for r in rows]))
            finally:
                pipeline.close()
            report["arms"][name] = entry
    print_table(summaries, clips)
    if json_path is not None:
        json_path.write_text(json.dumps(report, indent=2, default=str) + "\n")
        say(f"wrote {json_path}")


if __name__ == "__main__":
    main()
