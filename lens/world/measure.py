"""Measure the visual rotation estimate on real footage with a scripted virtual head turn.

``python -m peoplelens.lens.world.measure [--script 0:0,1.5:30,3:-30,4.2:0] [--window 480x360] [--wide-hfov 100]``
prints the yaw error (max, mean, final drift) on the first royal-opera frame held still (pure head turn)
and on the moving clip (walkers + the clip's own camera motion), and the estimator's time per frame.
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np

from peoplelens.lens.world.virtual_head import VirtualHeadTurn, frame_times
from peoplelens.lens.world.visual import VisualRotationEstimator
from peoplelens.models.assets import asset_path

VIDEO = "data/videos/royal_opera_pedestrians_1080p25.mp4"


def measure(script: str, window: tuple[int, int], wide_hfov: float) -> dict[str, dict[str, float]]:
    """Yaw errors (degrees) and estimator time (ms/frame) for a still frame and for the moving clip."""
    cap = cv2.VideoCapture(str(asset_path(VIDEO)))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    cap.release()
    pan = VirtualHeadTurn((frames[0].shape[1], frames[0].shape[0]), window, script, wide_hfov_deg=wide_hfov)
    out = {}
    for label, pick in (("still_frame", lambda i: frames[0]), ("moving_clip", lambda i: frames[i])):
        est = VisualRotationEstimator(pan.window)
        errs, spent = [], 0.0
        for i, t in enumerate(frame_times(len(frames), 25.0)):
            img, truth = pan.render(pick(i), t)
            t0 = time.perf_counter()
            head = est.update(img, None, t)
            spent += time.perf_counter() - t0
            errs.append(head.yaw_deg - truth.yaw_deg)
        e = np.abs(errs)
        out[label] = {"max_err_deg": float(e.max()), "mean_err_deg": float(e.mean()), "final_err_deg": float(errs[-1]),
                      "ms_per_frame": 1000 * spent / len(frames), "failed_frames": est.failed_frames}
    return out


def main() -> None:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--script", default="0:0,1.5:30,3:-30,4.2:0")
    ap.add_argument("--window", default="480x360")
    ap.add_argument("--wide-hfov", type=float, default=100.0)
    args = ap.parse_args()
    w, h = (int(v) for v in args.window.split("x"))
    for label, row in measure(args.script, (w, h), args.wide_hfov).items():
        print(label, " ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))


if __name__ == "__main__":
    main()
