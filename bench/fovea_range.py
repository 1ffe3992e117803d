"""What foveation adds on the range scenes, before it is wired into the pipeline:
``python -m peoplelens.bench.fovea_range``.

On frames of the range scenes (:mod:`peoplelens.bench.range_scenes`), the wide pass as today's pipeline runs it
(face detector at 640 px, body detector at 416 px, one ONNX Runtime thread each), the body detector also with
``tiles="auto"`` (the whole frame + 3 square tiles, each at 416 px) and with one extra tile only, a 720-px square
around the gaze (a bump needs the person within a few degrees of the gaze), and then
:class:`peoplelens.lens.perception.foveation.Foveator` with its defaults on the same frame: windows for the
wide pass's small faces and for the (tiled) bodies without a face (no tracks: a first sighting), within the
product's budget for that frame (``budget_share`` of the wide face pass's measured CPU, so the window count follows the
machine's speed as in the pipeline; ``--budget-ms`` fixes it instead). Per distance and scale:
the pasted body found (IoU >= 0.4) by the whole-frame / tiled body detector, the pasted face found (IoU >= 0.3) by the
wide pass / with the windows, the eye keypoints' error over the eye spacing (what alignment gets), windows per frame
and their time against the wide pass's (face + whole-frame body detector) in the same frame (CPU time of this
thread: the work, which a busy machine does not inflate). Nothing is written but ``--json``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import click
import numpy as np

from peoplelens.bench.range import build_specs
from peoplelens.bench.range_scenes import CAMERAS, SCALES, RangeScenes, load_faces
from peoplelens.core.types import Detections, box_iou, nms
from peoplelens.lens.perception.foveation import FoveationConfig, Foveator
from peoplelens.models.face_detector import FaceDetectorOptions, create_face_detector
from peoplelens.models.person_detector import PersonDetector, PersonDetectorOptions
from peoplelens.models.sessions import SessionConfig

GAZE_TILE_PX = 720


def _with_gaze_tile(detector: PersonDetector, image: np.ndarray, whole) -> Detections:
    """``whole`` (the whole-frame bodies) plus the bodies in a square around the image centre (the gaze), merged."""
    h, w = image.shape[:2]
    side = min(GAZE_TILE_PX, h, w)
    x0, y0 = (w - side) // 2, (h - side) // 2
    tile = detector.detect(image[y0:y0 + side, x0:x0 + side])
    boxes = np.concatenate([whole.boxes, tile.boxes + np.array([x0, y0, x0, y0], np.float32)])
    scores = np.concatenate([whole.scores, tile.scores])
    keep = nms(boxes, scores, 0.45)
    return Detections(boxes[keep], scores[keep])


def _match(faces, frame) -> tuple[bool, float | None]:
    if not len(faces):
        return False, None
    iou = box_iou(np.array([frame.face_box]), faces.boxes)[0]
    best = int(np.argmax(iou))
    if iou[best] < 0.3:
        return False, None
    iod = float(np.linalg.norm(frame.eyes[0] - frame.eyes[1]))
    return True, float(np.linalg.norm(faces.keypoints[best][:2] - frame.eyes, axis=1).mean()) / iod


def measure(data: Path, camera: str = "glasses", distances=tuple(range(1, 11)), scales=tuple(SCALES),
            per_cell: int = 2, frames_per_scene: int = 3, config: FoveationConfig | None = None,
            seed: int = 0) -> list[dict]:
    """One row per rendered frame."""
    config = config or FoveationConfig()
    session = SessionConfig(intra_op_threads=1)
    wide = create_face_detector(FaceDetectorOptions(model="det_500m", max_side=640), session_config=session)
    native = create_face_detector(FaceDetectorOptions(model="det_500m", max_side=4096), session_config=session)
    bodies = PersonDetector.from_registry(PersonDetectorOptions(tiles=0), session_config=session)
    tiled = PersonDetector.from_registry(PersonDetectorOptions(tiles="auto"), session_config=session)
    fovea = Foveator(native, config)
    scenes = RangeScenes(data, CAMERAS[camera])
    specs = build_specs(load_faces(data / "faces" / "probe"), distances, scales, per_cell, frames_per_scene, seed)
    rows = []
    for spec in specs:
        for frame in scenes.render(spec):
            t0 = time.thread_time()  # CPU time: one-thread sessions compute in this thread; a busy machine
            faces = wide.detect(frame.image)  # does not inflate it
            t1 = time.thread_time()
            people = bodies.detect(frame.image)
            t2 = time.thread_time()
            people_tiled = tiled.detect(frame.image)
            t3 = time.thread_time()
            people_gaze = _with_gaze_tile(bodies, frame.image, people)
            t4 = time.thread_time()
            # the product's rule (an account credited with budget_share of each wide face pass's CPU), for one frame;
            # a fixed budget_ms when the share is 0 (--budget-ms)
            budget = config.budget_share * 1000 * (t1 - t0) if config.budget_share > 0 else config.budget_ms
            result = fovea.run(frame.image, faces, people_tiled.boxes, budget_ms=budget)
            wide_hit, wide_err = _match(faces, frame)
            fov_hit, fov_err = _match(result.faces, frame)
            truth = np.array([frame.body_box])
            body_hit = bool(len(people)) and float(box_iou(truth, people.boxes).max()) >= 0.4
            tiled_hit = bool(len(people_tiled)) and float(box_iou(truth, people_tiled.boxes).max()) >= 0.4
            gaze_hit = bool(len(people_gaze)) and float(box_iou(truth, people_gaze.boxes).max()) >= 0.4
            rows.append({"distance_m": spec.distance_m, "scale": spec.scale, "wide_face": wide_hit,
                         "fovea_face": fov_hit, "wide_eye_err": wide_err, "fovea_eye_err": fov_err,
                         "body": body_hit, "body_tiled": tiled_hit, "body_gaze": gaze_hit,
                         "windows": len(result.crops), "body_gaze_ms": 1000 * (t4 - t3) + 1000 * (t2 - t1),
                         "targets": result.targets, "face_ms": 1000 * (t1 - t0), "body_ms": 1000 * (t2 - t1),
                         "body_tiled_ms": 1000 * (t3 - t2), "fovea_ms": result.cpu_ms})
    return rows


def summarise(rows: list[dict]) -> list[dict]:
    """Per scale and distance."""
    out = []
    for scale in SCALES:
        for d in sorted({r["distance_m"] for r in rows}):
            cell = [r for r in rows if r["scale"] == scale and r["distance_m"] == d]
            if not cell:
                continue

            def med(key: str, cell=cell) -> float | None:
                vals = [r[key] for r in cell if r[key] is not None]
                return float(np.median(vals)) if vals else None

            out.append({"scale": scale, "distance_m": d, "frames": len(cell),
                        "body": float(np.mean([r["body"] for r in cell])),
                        "body_tiled": float(np.mean([r["body_tiled"] for r in cell])),
                        "body_gaze": float(np.mean([r["body_gaze"] for r in cell])),
                        "wide_face": float(np.mean([r["wide_face"] for r in cell])),
                        "fovea_face": float(np.mean([r["fovea_face"] for r in cell])),
                        "wide_eye_err": med("wide_eye_err"), "fovea_eye_err": med("fovea_eye_err"),
                        "windows": float(np.mean([r["windows"] for r in cell])),
                        "fovea_over_wide": float(np.sum([r["fovea_ms"] for r in cell])
                                                 / np.sum([r["face_ms"] + r["body_ms"] for r in cell]))})
    return out


@click.command()
@click.option("--camera", type=click.Choice(list(CAMERAS)), default="glasses", show_default=True)
@click.option("--per-cell", default=2, show_default=True, help="Scenes per distance and scale.")
@click.option("--frames", default=3, show_default=True, help="Frames per scene.")
@click.option("--budget-ms", type=float, default=None,
              help="Windows' fixed time budget per frame (default: the product's share of this frame's wide pass).")
@click.option("--input-px", type=int, default=None, help="Window input size (default: config).")
@click.option("--json", "json_path", type=click.Path(path_type=Path), default=None, help="Write the figures here.")
def main(camera: str, per_cell: int, frames: int, budget_ms: float | None, input_px: int | None,
         json_path: Path | None) -> None:
    """Print face recall of the wide pass alone and with foveal windows, per distance and scale."""
    data = Path(os.environ.get("PEOPLELENS_ASSETS", "../shared")) / "data"
    config = FoveationConfig()
    overrides = {k: v for k, v in (("budget_ms", budget_ms), ("input_px", input_px)) if v is not None}
    if budget_ms is not None:
        overrides["budget_share"] = 0.0
    config = FoveationConfig(**{**vars(config), **overrides})
    rows = measure(data, camera, per_cell=per_cell, frames_per_scene=frames, config=config)
    bands = summarise(rows)
    budget = (f"budget {config.budget_share:g} x the frame's wide face pass" if config.budget_share > 0
              else f"budget {config.budget_ms:g} ms")
    print(f"foveation on range scenes ({camera}; windows {config.input_px} px, {budget}): "
          "% found, eye error / eye spacing")
    print("scale  m | body whole gaze tiles | face wide fovea | eye err wide fovea | windows | fovea/wide")
    for b in bands:
        we = "   -" if b["wide_eye_err"] is None else f"{b['wide_eye_err']:4.2f}"
        fe = "   -" if b["fovea_eye_err"] is None else f"{b['fovea_eye_err']:4.2f}"
        print(f"{b['scale'][:5]:5} {b['distance_m']:2g} | {100 * b['body']:10.0f} {100 * b['body_gaze']:4.0f} "
              f"{100 * b['body_tiled']:5.0f} | {100 * b['wide_face']:9.0f} {100 * b['fovea_face']:5.0f} | {we:>12} "
              f"{fe:>5} | {b['windows']:7.1f} | {100 * b['fovea_over_wide']:8.0f} %")
    ms = {k: float(np.median([r[k] for r in rows]))
          for k in ("face_ms", "body_ms", "body_gaze_ms", "body_tiled_ms", "fovea_ms")}
    print(f"median CPU ms a frame: face detector 640 {ms['face_ms']:.1f}, body detector {ms['body_ms']:.1f} "
          f"(+ gaze tile {ms['body_gaze_ms']:.1f}, tiled {ms['body_tiled_ms']:.1f}), windows {ms['fovea_ms']:.1f}")
    if json_path is not None:
        json_path.write_text(json.dumps({"config": vars(config), "bands": bands, "median_ms": ms, "rows": rows},
                                        indent=2) + "\n")


if __name__ == "__main__":
    main()
