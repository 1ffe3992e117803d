"""How wrong the distance estimate is for adults and children: ``python -m peoplelens.bench.distance_error``.

Monte Carlo over people drawn from the anthropometric spread (not the priors' means): adults (eye spacing
63 +- 3.8 mm, height 1.69 +- 0.09 m) and children aged 5, 8 and 11 (eye spacing 51 / 54 / 57 +- 3 mm, height
1.10 / 1.28 / 1.44 +- 0.06 m); face-box width = eye spacing x N(2.22, 0.12) (the detector's box/eye ratio and
its spread, see :mod:`peoplelens.lens.perception.distance`). Each person stands at a distance from 1 to 10 m in
front of a 1920x1080, 70 deg camera held 1.2 m high (a child wearer), facing it (head yaw known to +-10 deg); the
detector's noise is added where it measures (landmarks 1.5 px, box edges 3 px at the detector's resolution: the full
frame, or 640 px for today's wide pass). The body box is used when the feet are in view. Then
:func:`peoplelens.lens.perception.distance.estimate_distance` (the product's function) gives the estimate.

Printed per group and distance band: the median and 90th percentile relative error of ``distance_m`` (the People
Map's value), its median signed bias, and how often the 4 m name gate lets the person through -- with
``near_m`` (the new rule) and with the adult-only estimate (the old one). Nothing is written but ``--json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np

from peoplelens.lens.perception.distance import estimate_distance
from peoplelens.lens.perception.geometry import CameraIntrinsics

#: (eye spacing mm, sd), (height m, sd) per group: Dodgson 2004 / paediatric PD norms; CDC 2000 medians
GROUPS = {
    "adult": ((63.0, 3.8), (1.69, 0.09)),
    "child 5": ((51.0, 3.0), (1.10, 0.05)),
    "child 8": ((54.0, 3.0), (1.28, 0.06)),
    "child 11": ((57.0, 3.0), (1.44, 0.07)),
}
BANDS = ((1.0, 2.0), (2.0, 3.0), (3.0, 4.0), (4.0, 5.0), (5.0, 7.0), (7.0, 9.0), (9.0, 10.0))
CAMERA_HEIGHT_M = 1.2
GATE_M = 4.0  # the name gate
BUMP_M = 10.0  # the bump gate


@dataclass
class Sample:
    """One simulated sighting: truth and the three estimates the gates could read."""

    group: str
    true_m: float
    distance_m: float
    near_m: float
    adult_only_m: float


def _sighting(rng: np.random.Generator, cam: CameraIntrinsics, detect_scale: float, distance: float, iod_m: float,
              height_m: float, face_m: float) -> tuple[np.ndarray, tuple, tuple | None, float]:
    """Noisy keypoints, face box, body box (None when the feet are out of view) and the measured head yaw."""
    f = cam.fx
    x = cam.cx + rng.uniform(-0.3, 0.3) * cam.width  # anywhere across the middle of the view
    eye_y = cam.cy - f * (height_m - 0.12 - CAMERA_HEIGHT_M) / distance
    half = f * iod_m / 2 / distance
    kp_noise = 1.5 / detect_scale
    kps = np.array([[x - half, eye_y], [x + half, eye_y], [x, eye_y + half], [x - half, eye_y + 2 * half],
                    [x + half, eye_y + 2 * half]]) + rng.normal(0, kp_noise, (5, 2))
    hw = f * face_m / 2 / distance
    box_noise = 3.0 / detect_scale
    face = tuple(np.array([x - hw, eye_y - hw, x + hw, eye_y + 1.4 * hw]) + rng.normal(0, box_noise, 4))
    top, feet = cam.cy - f * (height_m - CAMERA_HEIGHT_M) / distance, cam.cy + f * CAMERA_HEIGHT_M / distance
    body = None
    if feet < cam.height - 3 and top > 3:
        body = tuple(np.array([x - f * 0.2 / distance, top, x + f * 0.2 / distance, feet])
                     + rng.normal(0, box_noise, 4))
    return kps, face, body, float(rng.normal(0.0, 10.0))


def simulate(n_per_cell: int = 200, wide_px: int | None = None, seed: int = 0) -> list[Sample]:
    """Samples for every group and distance band (``wide_px``: detector resolution, None = the full frame)."""
    rng = np.random.default_rng(seed)
    cam = CameraIntrinsics.from_fov(1920, 1080, 70.0)
    scale = 1.0 if wide_px is None else wide_px / cam.width
    out = []
    for group, ((iod_mm, iod_sd), (h_m, h_sd)) in GROUPS.items():
        for lo, hi in BANDS:
            for _ in range(n_per_cell):
                d = float(rng.uniform(lo, hi))
                iod = rng.normal(iod_mm, iod_sd) / 1000
                face = iod * rng.normal(2.22, 0.12)
                kps, box, body, yaw = _sighting(rng, cam, scale, d, iod, float(rng.normal(h_m, h_sd)), face)
                est = estimate_distance(cam, face_keypoints=kps, face_box=box, body_box=body, head_yaw_deg=yaw)
                old = estimate_distance(cam, face_keypoints=kps, face_box=box, body_box=body, head_yaw_deg=yaw,
                                        maybe_child=False)
                if est is not None and old is not None:
                    out.append(Sample(group, d, est.distance_m, est.near_m, old.distance_m))
    return out


def summarise(samples: list[Sample]) -> list[dict]:
    """Rows per group and band: errors of distance_m and gate pass rates (near_m, adult-only)."""
    rows = []
    for group in GROUPS:
        for lo, hi in BANDS:
            cell = [s for s in samples if s.group == group and lo <= s.true_m < hi]
            if not cell:
                continue
            rel = np.array([(s.distance_m - s.true_m) / s.true_m for s in cell])
            rows.append({"group": group, "band_m": [lo, hi], "n": len(cell),
                         "median_abs_rel_err": float(np.median(np.abs(rel))),
                         "p90_abs_rel_err": float(np.percentile(np.abs(rel), 90)),
                         "median_bias": float(np.median(rel)),
                         "gate_pass_near": float(np.mean([s.near_m <= GATE_M for s in cell])),
                         "gate_pass_adult_only": float(np.mean([s.adult_only_m <= GATE_M for s in cell])),
                         "bump_pass_near": float(np.mean([s.near_m <= BUMP_M for s in cell])),
                         "bump_pass_adult_only": float(np.mean([s.adult_only_m <= BUMP_M for s in cell]))})
    return rows


@click.command()
@click.option("--n", "n_per_cell", default=200, show_default=True, help="Sightings per group and band.")
@click.option("--wide-px", type=int, default=None, help="Detector resolution (e.g. 640 for today's wide pass).")
@click.option("--json", "json_path", type=click.Path(path_type=Path), default=None, help="Write the rows here.")
def main(n_per_cell: int, wide_px: int | None, json_path: Path | None) -> None:
    """Print distance error and 4 m gate pass rates for adults and children."""
    rows = summarise(simulate(n_per_cell, wide_px))
    res = "full 1920 px" if wide_px is None else f"{wide_px} px"
    print(f"distance error, 1920x1080 70 deg camera at 1.2 m, detector at {res}; passes the {GATE_M:g} m name "
          f"and {BUMP_M:g} m bump gates: with near_m (new) / the adult-only estimate (old)")
    print(f"{'group':9} {'band m':>6} {'med err':>7} {'p90 err':>7} {'bias':>5} {'name new':>8} {'old':>5} "
          f"{'bump new':>8} {'old':>5}")
    for r in rows:
        band = f"{r['band_m'][0]:g}-{r['band_m'][1]:g}"
        print(f"{r['group']:9} {band:>6} {r['median_abs_rel_err']:7.0%} {r['p90_abs_rel_err']:7.0%} "
              f"{r['median_bias']:+5.0%} {r['gate_pass_near']:8.0%} {r['gate_pass_adult_only']:5.0%} "
              f"{r['bump_pass_near']:8.0%} {r['bump_pass_adult_only']:5.0%}")
    if json_path is not None:
        json_path.write_text(json.dumps({"resolution": res, "gate_m": GATE_M, "bump_m": BUMP_M, "rows": rows},
                                        indent=2) + "\n")


if __name__ == "__main__":
    main()
