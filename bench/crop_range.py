"""Foveal window sizes from measurements: ``python -m peoplelens.bench.crop_range``.

The method of :mod:`peoplelens.bench.detector_range`, at full resolution: every enrolment photo is scaled so its
face is ``w`` pixels wide and pasted into a real 1920x1080 frame (the pedestrian clip's first frame, in the
people-free sign area). Then, for each face width:

* **wide 640**: the face detector on the whole frame shrunk to 640 px (today's pipeline);
* **window S**: the product's foveation code (:func:`peoplelens.lens.perception.foveation.crop_window` / ``cut`` /
  ``Crop.to_frame``) cuts a window around a *predicted* face box -- centre off by up to half a face width,
  width wrong by -20..+25 % (seeded) -- ``context`` times the predicted width, resizes it to ``S`` px (at most
  2x enlarged) and runs the same detector on it;
* **full 1920** (``--full``): the detector on the whole frame at native resolution (the costly upper bound).

A face counts as found when a box overlaps the true box by IoU >= 0.3; ``eye err`` is the median distance of
the two eye keypoints from the true ones (the photo's own full-resolution detection, scaled) over the
inter-ocular distance: what alignment gets. Times are medians of the detector call's CPU time (incl. the resize;
one ONNX Runtime thread, so CPU time is the work, also on a busy machine), this run. Nothing is written except
the optional ``--json`` figures.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import click
import cv2
import numpy as np

from peoplelens.bench.detector_range import face_boxes
from peoplelens.core.types import box_iou
from peoplelens.lens.perception.foveation import Crop, FoveationConfig, HeadTarget, crop_window, cut
from peoplelens.lens.perception.geometry import CameraIntrinsics
from peoplelens.models.face_detector import FaceDetectorOptions, create_face_detector
from peoplelens.models.sessions import SessionConfig

WIDTHS = (12, 16, 20, 24, 32, 40, 48, 64)
INPUT_SIZES = (96, 128, 160, 192, 256)
FRAME_SIZE = (1920, 1080)
PASTE_CENTRE = (960, 300)  # the people-free sign wall of the pedestrian clip's first frame


@dataclass
class Arm:
    """One way of looking for the face: found count, eye errors and detector times."""

    found: dict[int, int] = field(default_factory=dict)
    eye_err: dict[int, list[float]] = field(default_factory=dict)
    ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    _t0: tuple[float, float] = (0.0, 0.0)

    def start(self) -> None:
        """Start timing one detector call (wall and this process's CPU time)."""
        self._t0 = (time.perf_counter(), time.process_time())

    def add(self, width: int, hit: bool, err: float | None) -> None:
        """Record one face (and the time since :meth:`start`)."""
        self.ms.append(1000 * (time.perf_counter() - self._t0[0]))
        self.cpu_ms.append(1000 * (time.process_time() - self._t0[1]))
        self.found[width] = self.found.get(width, 0) + int(hit)
        if err is not None:
            self.eye_err.setdefault(width, []).append(err)


def background(path: Path) -> np.ndarray:
    """The first frame of ``path`` at 1920x1080 (resized if the video has another size)."""
    cap = cv2.VideoCapture(str(path))
    ok, frame = cap.read()
    cap.release()
    if not ok:
        raise click.ClickException(f"cannot read a frame from {path}")
    return cv2.resize(frame, FRAME_SIZE) if frame.shape[1::-1] != FRAME_SIZE else frame


def paste(frame: np.ndarray, image: np.ndarray, box: np.ndarray, kps: np.ndarray, width_px: float,
          centre: tuple[float, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``image`` scaled so its face box is ``width_px`` wide, pasted with the face at ``centre``; returns the
    frame, the true box and the true keypoints in frame pixels."""
    scale = width_px / float(box[2] - box[0])
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    out = frame.copy()
    ox = int(round(centre[0] - (box[0] + box[2]) / 2 * scale))
    oy = int(round(centre[1] - (box[1] + box[3]) / 2 * scale))
    h, w = small.shape[:2]
    x0, y0, x1, y1 = max(0, ox), max(0, oy), min(out.shape[1], ox + w), min(out.shape[0], oy + h)
    out[y0:y1, x0:x1] = small[y0 - oy:y1 - oy, x0 - ox:x1 - ox]
    offset = np.array([ox, oy], np.float32)
    return out, (box.reshape(2, 2) * scale + offset).reshape(4), kps * scale + offset


def _eye_error(found, truth_box: np.ndarray, truth_kps: np.ndarray) -> tuple[bool, float | None]:
    if not len(found):
        return False, None
    ious = box_iou(truth_box[None], found.boxes)[0]
    best = int(np.argmax(ious))
    if ious[best] < 0.3:
        return False, None
    iod = float(np.linalg.norm(truth_kps[0] - truth_kps[1]))
    err = float(np.linalg.norm(found.keypoints[best][:2] - truth_kps[:2], axis=1).mean()) / max(iod, 1e-6)
    return True, err


def measure(photos: list[Path], video: Path, model: str = "det_500m", widths=WIDTHS, input_sizes=INPUT_SIZES,
            context: float = 3.0, full: bool = False, seed: int = 0, max_upscale: float = 2.0
            ) -> tuple[dict[str, Arm], int]:
    """Every arm's results per face width, and the number of faces."""
    session = SessionConfig(intra_op_threads=1)
    faces = face_boxes(photos, model)
    # keypoints of each photo's face at its own resolution (the truth the windows' keypoints are compared with)
    full_det = create_face_detector(FaceDetectorOptions(model=model, max_side=2048, pad_retry=True),
                                    session_config=session)
    truths = []
    for image, box in faces:
        det = full_det.detect(image)
        best = int(np.argmax(box_iou(box[None], det.boxes)[0]))
        truths.append((image, box, det.required_keypoints[best]))
    wide = create_face_detector(FaceDetectorOptions(model=model, max_side=640), session_config=session)
    # windows and the whole frame at native size: SCRFD never upscales, so a window runs at its own size
    native = create_face_detector(FaceDetectorOptions(model=model, max_side=2048), session_config=session)
    frame0 = background(video)
    rng = np.random.default_rng(seed)
    arms: dict[str, Arm] = {"wide 640": Arm()}
    arms.update({f"window {s}": Arm() for s in input_sizes})
    if full:
        arms["full 1920"] = Arm()
    for width in widths:
        for image, box, kps in truths:
            frame, tbox, tkps = paste(frame0, image, box, kps, width, PASTE_CENTRE)
            arms["wide 640"].start()
            found = wide.detect(frame)
            arms["wide 640"].add(width, *_eye_error(found, tbox, tkps))
            # a prediction as a tracker or a body box gives it: off-centre and mis-sized
            dx, dy = rng.uniform(-0.5, 0.5, 2) * width
            pw = width * rng.uniform(0.8, 1.25)
            cx, cy = (tbox[0] + tbox[2]) / 2 + dx, (tbox[1] + tbox[3]) / 2 + dy
            target = HeadTarget((cx - pw / 2, cy - 0.6 * pw, cx + pw / 2, cy + 0.6 * pw), "face")
            for s in input_sizes:
                config = FoveationConfig(input_px=s, face_context=context, max_upscale=max_upscale)
                window, scale, size = crop_window(target, FRAME_SIZE, config)
                crop = Crop(target, window, scale, size, 0, 0.0)
                arms[f"window {s}"].start()
                found = crop.to_frame(native.detect(cut(frame, crop)))
                arms[f"window {s}"].add(width, *_eye_error(found, tbox, tkps))
            if full:
                arms["full 1920"].start()
                found = native.detect(frame)
                arms["full 1920"].add(width, *_eye_error(found, tbox, tkps))
    return arms, len(truths)


def distances(widths=WIDTHS, hfov_deg: float = 70.0) -> dict[int, tuple[float, float]]:
    """Distance (m) of an adult (0.15 m) and a child (0.13 m) face of each width on a 1920-px camera."""
    fx = CameraIntrinsics.from_fov(*FRAME_SIZE, hfov_deg).fx
    return {w: (fx * 0.15 / w, fx * 0.13 / w) for w in widths}


@click.command()
@click.option("--photos", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Folder of <person>/*.jpg (default: $PEOPLELENS_ASSETS/data/faces/enroll).")
@click.option("--model", default="det_500m", show_default=True)
@click.option("--context", default=3.0, show_default=True, help="Window side / predicted face width.")
@click.option("--sizes", default=",".join(map(str, INPUT_SIZES)), show_default=True,
              help="Window input sizes (comma-separated).")
@click.option("--max-upscale", default=2.0, show_default=True, help="Largest enlargement of a window.")
@click.option("--full", is_flag=True, help="Also run the detector on the whole 1920x1080 frame (slow).")
@click.option("--json", "json_path", type=click.Path(path_type=Path), default=None, help="Write the figures here.")
def main(photos: Path | None, model: str, context: float, sizes: str, max_upscale: float, full: bool,
         json_path: Path | None) -> None:
    """Print face recall per face width for the wide pass and foveal windows of each input size."""
    from rich.console import Console
    from rich.table import Table

    root = Path(os.environ.get("PEOPLELENS_ASSETS", "../shared")) / "data"
    folder = photos or root / "faces" / "enroll"
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not paths:
        raise click.ClickException(f"no photos under {folder}")
    try:
        input_sizes = tuple(int(v) for v in sizes.split(","))
    except ValueError:
        raise click.ClickException(f"--sizes must be integers separated by commas, got {sizes!r}") from None
    arms, n = measure(paths, root / "videos" / "royal_opera_pedestrians_1080p25.mp4", model,
                      input_sizes=input_sizes, context=context, full=full, max_upscale=max_upscale)
    dist = distances()
    table = Table(title=f"{model}: faces found ({n} faces, 1920x1080, window = {context:g} x predicted face, "
                        f"enlarged <= {max_upscale:g}x)")
    table.add_column("face px")
    table.add_column("m adult/child")
    for name, arm in arms.items():
        table.add_column(f"{name}\n{np.median(arm.cpu_ms):.1f} ms CPU")
    for w in WIDTHS:
        cells = []
        for arm in arms.values():
            err = arm.eye_err.get(w)
            cells.append(f"{arm.found.get(w, 0) / n:.0%}" + (f" e{np.median(err):.2f}" if err else ""))
        table.add_row(str(w), f"{dist[w][0]:.1f}/{dist[w][1]:.1f}", *cells)
    Console().print(table)
    if json_path is not None:
        out = {"faces": n, "model": model, "context": context, "max_upscale": max_upscale, "threads": 1,
               "arms": {name: {"found": {w: arm.found.get(w, 0) / n for w in WIDTHS},
                               "eye_error_over_iod": {w: float(np.median(arm.eye_err[w])) for w in arm.eye_err},
                               "median_ms": float(np.median(arm.ms)), "median_cpu_ms": float(np.median(arm.cpu_ms))}
                        for name, arm in arms.items()}}
        json_path.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
