"""Verification accuracy by face size and sharpness: ``python -m peoplelens.bench.face_quality_accuracy``.

Two measurements on the sample faces, through the product's own code, that set thresholds elsewhere:

* **enrolment photos** (``registration_app.enroll.EnrolmentOptions.min_face_px`` / ``min_sharpness``): every
  enrolment photo is shrunk so its face is 40-160 px wide in a 640x480 photo (a person farther from the phone), or
  blurred at full size; :func:`~peoplelens.registration_app.enroll.assess_photo` (with its size and sharpness gate
  off) enrols it, and the held-out probe photos of the same person (genuine) and of everyone else (impostors) are
  compared with it. Reported per face width / sharpness: the genuine cosine (mean and 5th percentile, and its loss
  against the full-size photo), the share of genuine comparisons below the identity accept threshold, and the
  highest impostor cosine;
* **faces in view** (``lens.face_quality.FaceQualityConfig`` blur ramp): every probe photo's face at 32-112 px in a
  640x480 frame, sharp or blurred, through the pipeline's detector and embedder; the inner-face sharpness of the
  aligned crop and the cosine to the person's enrolled vectors.

The suggested minimum face width is the smallest at which the mean genuine cosine stays within ``--tolerance``
(default 0.02) of the same photos at full size and at most 2 points more genuine comparisons fall below the accept
threshold; the suggested minimum sharpness is what 90 % of the photos keep at the strongest blur that passes the
same rule. Nothing is written to disk.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
from rich.console import Console
from rich.table import Table

from peoplelens.bench.openset_data import FRAME, FaceSource, jitter
from peoplelens.lens.perception.identity import IdentityConfig
from peoplelens.models.face_detector import FaceDetectorOptions, create_face_detector
from peoplelens.models.images import load_image
from peoplelens.models.sessions import SessionConfig

WIDTHS = (40, 45, 50, 55, 60, 65, 70, 80, 90, 100, 120, 160)
BLURS = (0.0, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0)  # Gaussian sigma in units of (face width / 50 px)


def _photos(faces: Path, kind: str) -> list[tuple[str, Path]]:
    return [(p.parent.name, p) for p in sorted((faces / kind).glob("*/*.jpg"))]


def _largest_box(detector, image: np.ndarray) -> np.ndarray | None:
    det = detector.detect(image)
    return det.boxes[int(np.argmax(det.areas))] if len(det) else None


def probe_vectors(faces: Path, src: FaceSource) -> tuple[list[str], np.ndarray]:
    """Every probe photo's face at full resolution through the pipeline's detector + embedder."""
    people, vectors = [], []
    for person, path in _photos(faces, "probe"):
        _, obs = src.faces(load_image(path))
        if obs:
            people.append(person)
            vectors.append(max(obs, key=lambda o: o.width_px).embedding)
    return people, np.stack(vectors)


def _row(label: str, genuine: np.ndarray, impostor: np.ndarray, accept: float, extra: str = "",
         reference: np.ndarray | None = None) -> dict:
    row = {"label": label, "extra": extra, "n": len(genuine), "genuine_mean": float(genuine.mean()),
           "genuine_p5": float(np.percentile(genuine, 5)), "below_accept": float(np.mean(genuine < accept)),
           "impostor_max": float(impostor.max()) if len(impostor) else float("nan")}
    if reference is not None:  # the same comparisons with the photo at full size, sharp
        row.update(genuine_loss=float(np.mean(reference - genuine)),
                   reference_below_accept=float(np.mean(reference < accept)))
    return row


def enrolment_rows(faces: Path, probes: tuple[list[str], np.ndarray], accept: float) -> dict[str, list[dict]]:
    """Genuine / impostor cosines of probes against enrolment photos made smaller or blurrier, with the loss
    against the same photo at full size."""
    from peoplelens.registration_app.enroll import EnrolmentOptions, FaceAnalyzer, assess_photo

    options = replace(EnrolmentOptions(), min_face_px=0.0, min_sharpness=0.0)
    analyzer = FaceAnalyzer.create(options)
    probe_people, probe_vecs = probes
    mine = np.array(probe_people)
    cells: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray, float, float]]] = {}
    for person, path in _photos(faces, "enroll"):
        if person not in probe_people:
            continue
        image = load_image(path)
        ref = assess_photo(image, analyzer, options)
        box = _largest_box(analyzer.detector, image)
        if ref.embedding is None or box is None:
            continue
        ref_genuine = probe_vecs[mine == person] @ ref.embedding
        width = float(box[2] - box[0])
        centre = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
        variants = [(f"{w} px", jitter(image, w / width, None, FRAME, centre=centre)[0]) for w in WIDTHS if w < width]
        variants += [(f"blur {sigma}", cv2.GaussianBlur(image, (0, 0), sigma * width / 50) if sigma else image)
                     for sigma in BLURS]
        for label, photo in variants:
            fb = assess_photo(photo, analyzer, options)
            if fb.embedding is None:
                continue
            cells.setdefault(label, []).append((probe_vecs[mine == person] @ fb.embedding, ref_genuine,
                                                probe_vecs[mine != person] @ fb.embedding, fb.face_px, fb.sharpness))
    out: dict[str, list[dict]] = {"size": [], "blur": []}
    for label, items in cells.items():
        genuine, reference, impostor = (np.concatenate([it[k] for it in items]) for k in range(3))
        px, sharp = np.array([it[3] for it in items]), np.array([it[4] for it in items])
        row = _row(label, genuine, impostor, accept, f"face {np.median(px):.0f} px, sharpness p10/p50 "
                   f"{np.percentile(sharp, 10):.0f}/{np.median(sharp):.0f}", reference)
        row.update(sharpness_p10=float(np.percentile(sharp, 10)), sharpness_p50=float(np.median(sharp)),
                   face_px=float(np.median(px)), photos=len(items))
        out["size" if label.endswith("px") else "blur"].append(row)
    out["size"].sort(key=lambda r: r["face_px"])
    out["blur"].sort(key=lambda r: float(r["label"].split()[1]))
    return out


def view_rows(faces: Path, src: FaceSource, enrolled: tuple[list[str], np.ndarray], accept: float) -> list[dict]:
    """Probe faces at 32-112 px, sharp or blurred, in a 640x480 frame against the enrolled vectors."""
    people, vectors = enrolled
    people_arr = np.array(people)
    ref = create_face_detector(FaceDetectorOptions(model="det_500m", max_side=1280, pad_retry=True),
                               session_config=SessionConfig(intra_op_threads=1))
    rows = []
    cells: dict[tuple[int, float], list[tuple[float, float, float]]] = {}
    for person, path in _photos(faces, "probe"):
        if person not in people:
            continue
        image = load_image(path)
        box = _largest_box(ref, image)
        if box is None:
            continue
        for size in (32, 48, 64, 112):
            if size > box[2] - box[0]:
                continue
            frame, affine = jitter(image, size / float(box[2] - box[0]), None, FRAME,
                                   centre=((box[0] + box[2]) / 2, (box[1] + box[3]) / 2))
            for sigma in (0.0, 0.5, 1.0, 1.5):
                seen = cv2.GaussianBlur(frame, (0, 0), sigma * size / 50) if sigma else frame
                _, obs = src.faces(seen)
                if not obs:
                    continue
                ob = max(obs, key=lambda o: o.width_px)
                cos = vectors @ ob.embedding
                cells.setdefault((size, sigma), []).append(
                    (ob.sharpness, float(cos[people_arr == person].max()), float(cos[people_arr != person].max())))
    for (size, sigma), items in sorted(cells.items()):
        a = np.array(items)
        row = _row(f"{size} px, blur {sigma}", a[:, 1], a[:, 2], accept,
                   f"sharpness p10/p50/p90 {np.percentile(a[:, 0], 10):.0f}/{np.median(a[:, 0]):.0f}/"
                   f"{np.percentile(a[:, 0], 90):.0f}")
        row.update(size_px=size, blur=sigma, sharpness_p50=float(np.median(a[:, 0])))
        rows.append(row)
    return rows


def suggest_size(rows: list[dict], tolerance: float) -> float | None:
    """The smallest face width from which on (towards larger faces) every row loses at most ``tolerance`` of mean
    genuine cosine against the same photos at full size and has at most 2 points more genuine comparisons below the
    accept threshold."""
    good = None
    for r in sorted(rows, key=lambda r: -r["face_px"]):
        if r["genuine_loss"] > tolerance or r["below_accept"] > r["reference_below_accept"] + 0.02:
            break
        good = r["face_px"]
    return good


def suggest_sharpness(rows: list[dict], tolerance: float) -> float | None:
    """The sharpness that 90 % of the photos keep at the strongest blur that still loses at most ``tolerance`` of
    mean genuine cosine (and at most 2 more points below the accept threshold): a photo below it is likely blurrier
    than that."""
    good = None
    for r in sorted(rows, key=lambda r: float(r["label"].split()[1])):
        if r["genuine_loss"] > tolerance or r["below_accept"] > r["reference_below_accept"] + 0.02:
            break
        good = r["sharpness_p10"]
    return good


def main(argv: list[str] | None = None) -> dict:
    """Print the tables and the suggested enrolment minimums."""
    parser = argparse.ArgumentParser(prog="python -m peoplelens.bench.face_quality_accuracy", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--tolerance", type=float, default=0.02)
    args = parser.parse_args(argv)
    faces = (args.data or Path(os.environ.get("PEOPLELENS_ASSETS", "../shared")) / "data") / "faces"
    accept = IdentityConfig().accept_threshold
    src = FaceSource()
    probes = probe_vectors(faces, src)
    enrol = enrolment_rows(faces, probes, accept)
    from peoplelens.bench.openset_data import _enrol_photos  # the accepted enrolment vectors of every person

    accepted = [(p.person, p.embedding) for p in _enrol_photos(faces.parent, faces) if p.ok and p.embedding is not None]
    view = view_rows(faces, src, ([person for person, _ in accepted], np.stack([e for _, e in accepted])), accept)
    console = Console(width=160)
    for title, rows in (("enrolment photo: face width", enrol["size"]), ("enrolment photo: blur", enrol["blur"]),
                        ("face in view: size and blur (against the enrolled people)", view)):
        t = Table(title=f"{title} (accept threshold {accept})")
        for col in ("", "measured", "n", "genuine mean", "loss vs full size", "genuine p5", f"genuine < {accept}",
                    "(full size)", "impostor max"):
            t.add_column(col)
        for r in rows:
            t.add_row(r["label"], r["extra"], str(r["n"]), f"{r['genuine_mean']:.3f}",
                      f"{r['genuine_loss']:+.3f}" if "genuine_loss" in r else "-", f"{r['genuine_p5']:.3f}",
                      f"{100 * r['below_accept']:.1f}%",
                      f"{100 * r['reference_below_accept']:.1f}%" if "reference_below_accept" in r else "-",
                      f"{r['impostor_max']:.3f}")
        console.print(t)
    size_min = suggest_size(enrol["size"], args.tolerance)
    sharp_min = suggest_sharpness(enrol["blur"], args.tolerance)
    console.print(f"suggested enrolment minimums (genuine mean within {args.tolerance} of the full-size sharp photo): "
                  f"face width {size_min:.0f} px, sharpness {sharp_min:.0f}" if size_min and sharp_min else
                  "no suggestion: even the full-size photos fail the rule")
    return {"enrolment": enrol, "view": view, "suggested_min_face_px": size_min, "suggested_min_sharpness": sharp_min}


if __name__ == "__main__":
    main()
