"""What face-detector resolution the ranges need: ``python -m peoplelens.bench.detector_range``.

Every enrolment photo's face is scaled down to a given width in pixels and placed in a 640x480 frame (mid-grey
around the photo); the face detector then runs at each network size (``face_max_side``). The table gives the
fraction of faces found per face width, the distance such a face is at (the pipeline's own estimate: 70 degree
camera, 0.15 m face width prior) and the detector's time per frame, so the detector resolution can be chosen from
the range a sound needs (name: 4 m, bump: 10 m, the latter also served by the body detector). Nothing is written.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import click
import cv2
import numpy as np

from peoplelens.core.types import box_iou
from peoplelens.lens.perception.distance import estimate_distance
from peoplelens.lens.perception.geometry import CameraIntrinsics
from peoplelens.models.face_detector import FaceDetectorOptions, create_face_detector
from peoplelens.models.images import load_image
from peoplelens.models.sessions import SessionConfig

FRAME = (640, 480)
WIDTHS = (8, 10, 12, 14, 16, 20, 24, 32)
MAX_SIDES = (320, 480, 640)


@dataclass
class RangeRow:
    """Recall of faces of one width at each detector size."""

    width_px: int
    distance_m: float
    found: dict[int, int]
    total: int


def face_boxes(photos: list[Path], model: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """(photo, its largest face box) for every photo with a face (found at full resolution)."""
    detector = create_face_detector(FaceDetectorOptions(model=model, max_side=1280, pad_retry=True),
                                    session_config=SessionConfig(intra_op_threads=1))
    out = []
    for path in photos:
        image = load_image(path)
        faces = detector.detect(image)
        if len(faces):
            areas = (faces.boxes[:, 2] - faces.boxes[:, 0]) * (faces.boxes[:, 3] - faces.boxes[:, 1])
            out.append((image, faces.boxes[int(np.argmax(areas))]))
    return out


def place(image: np.ndarray, box: np.ndarray, width_px: int) -> tuple[np.ndarray, np.ndarray]:
    """A 640x480 frame with ``image`` scaled so its face is ``width_px`` wide, the face at the frame centre."""
    scale = width_px / float(box[2] - box[0])
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    frame = np.full((FRAME[1], FRAME[0], 3), 127, np.uint8)
    cx, cy = (box[0] + box[2]) / 2 * scale, (box[1] + box[3]) / 2 * scale
    ox, oy = int(round(FRAME[0] / 2 - cx)), int(round(FRAME[1] / 2 - cy))
    h, w = small.shape[:2]
    x0, y0, x1, y1 = max(0, ox), max(0, oy), min(FRAME[0], ox + w), min(FRAME[1], oy + h)
    frame[y0:y1, x0:x1] = small[y0 - oy:y1 - oy, x0 - ox:x1 - ox]
    return frame, np.array([box[0] * scale + ox, box[1] * scale + oy, box[2] * scale + ox, box[3] * scale + oy])


def measure(photos: list[Path], model: str = "det_500m", widths=WIDTHS, max_sides=MAX_SIDES,
            iou: float = 0.3) -> tuple[list[RangeRow], dict[int, float]]:
    """Rows per face width, and the detector's median ms per 640x480 frame per max side."""
    faces = face_boxes(photos, model)
    detectors = {m: create_face_detector(FaceDetectorOptions(model=model, max_side=m),
                                         session_config=SessionConfig(intra_op_threads=1)) for m in max_sides}
    intr = CameraIntrinsics.from_fov(*FRAME)
    rows: list[RangeRow] = []
    times: dict[int, list[float]] = {m: [] for m in max_sides}
    for width in widths:
        found = dict.fromkeys(max_sides, 0)
        distances = []
        for image, box in faces:
            frame, truth = place(image, box, width)
            dist = estimate_distance(intr, face_box=truth)
            if dist is not None:
                distances.append(dist.distance_m)
            for m, det in detectors.items():
                t0 = time.perf_counter()
                dets = det.detect(frame)
                times[m].append(time.perf_counter() - t0)
                if len(dets) and float(box_iou(truth[None], dets.boxes).max()) >= iou:
                    found[m] += 1
        rows.append(RangeRow(width, float(np.median(distances)) if distances else float("nan"), found, len(faces)))
    return rows, {m: 1000 * float(np.median(v)) for m, v in times.items()}


@click.command()
@click.option("--photos", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Folder of <person>/*.jpg (default: $PEOPLELENS_ASSETS/data/faces/enroll).")
@click.option("--model", default="det_500m", show_default=True)
def main(photos: Path | None, model: str) -> None:
    """Print face recall per face width and detector size, with the distance each width means."""
    import os

    from rich.console import Console
    from rich.table import Table

    folder = photos or Path(os.environ.get("PEOPLELENS_ASSETS", "../shared")) / "data" / "faces" / "enroll"
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not paths:
        raise click.ClickException(f"no photos under {folder}")
    rows, times = measure(paths, model)
    table = Table(title=f"{model}: faces found in a 640x480 frame ({rows[0].total} faces)")
    table.add_column("face width px")
    table.add_column("distance m (70° camera)")
    for m in MAX_SIDES:
        table.add_column(f"max side {m} ({times[m]:.1f} ms)")
    for r in rows:
        table.add_row(str(r.width_px), f"{r.distance_m:.1f}", *(f"{r.found[m] / r.total:.0%}" for m in MAX_SIDES))
    Console().print(table)


if __name__ == "__main__":
    main()
