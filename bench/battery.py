"""The battery budget: CPU seconds per minute of live use, per scene, frame size, precision and schedule.

``python -m peoplelens.bench.battery`` (or ``peoplelens bench --battery``) builds the product
(:func:`~peoplelens.lens.pipeline.build_system`, the shared people enrolled) once per arm (float32 or int8 models,
adaptive schedule on or off) and feeds it the scenes of :mod:`.battery_scenes` (busy, quiet, empty room) at
640x480 and 1920x1080. For each it reports the process CPU time (all threads: ONNX Runtime's, the stage thread's,
OpenCV's; frames are decoded beforehand, so decoding is not in it) per minute of scene at the scene's frame rate,
the wall time per frame, and how many frames ran the detectors. Every frame is processed (as fast as it goes):
the figures are what live use costs when the device keeps up with the camera. A warm-up (the sessions' first
runs, and in the empty room the first ``idle_after_s`` at the full rate) is not counted.

Then the **step-in** test: the empty room until the schedule idles, then a person appears in the middle of the
view, at every phase of the idle detection interval; it reports the delay until the person is bumped (worst case
and median) and what woke the schedule.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from peoplelens.bench import battery_scenes as scenes
from peoplelens.core.sounds import Sound
from peoplelens.core.types import Frame
from peoplelens.lens.pipeline import build_system
from peoplelens.lens.pipeline.config import PipelineConfig

SIZES = {"640x480": (640, 480), "1920x1080": (1920, 1080)}
INT8: dict[str, Any] = {"face_precision": "int8", "embedder_precision": "int8", "people_precision": "int8"}
#: the [pipeline] settings of each arm: float32 or int8 models, adaptive schedule on or off
ARMS: dict[str, dict[str, Any]] = {
    "fp32": {}, "fp32, adaptive off": {"adaptive": False},
    "int8": INT8, "int8, adaptive off": {**INT8, "adaptive": False}}


def _config(pipeline: dict[str, Any]) -> dict[str, Any]:
    return {"pipeline": dict(pipeline)}


def measure(system: Any, scene: scenes.Scene, warmup_frames: int) -> dict[str, Any]:
    """Feed ``scene`` to ``system`` (reset first); CPU and wall time over the frames after ``warmup_frames``."""
    system.reset()
    frame_s, detected, idle = [], 0, 0
    cpu0 = wall0 = 0.0
    for i, image in enumerate(scene.frames):
        if i == warmup_frames:
            cpu0, wall0 = time.process_time(), time.perf_counter()
        t0 = time.perf_counter()
        result = system.process(Frame(image=image, timestamp=i / scene.fps, index=i))
        if i >= warmup_frames:
            frame_s.append(time.perf_counter() - t0)
            detected += int(result.detected)
            idle += int(result.idle)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    n = len(frame_s)
    seconds = n / scene.fps
    return {"frames": n, "seconds": round(seconds, 2), "cpu_s": round(cpu, 3),
            "cpu_s_per_min": round(cpu / seconds * 60.0, 1), "cpu_share_of_one_core": round(cpu / seconds, 3),
            "frame_ms_mean": round(1000 * wall / n, 2),
            "frame_ms_p95": round(1000 * sorted(frame_s)[int(0.95 * (n - 1))], 2),
            "detection_frames": round(detected / n, 3), "idle_frames": round(idle / n, 3)}


def step_in_delays(system: Any, data: Path, size: tuple[int, int], fps: float = 30.0) -> dict[str, Any]:
    """The delay from a person's first frame to their bump, at every phase of the idle detection interval."""
    pc: PipelineConfig = system.config
    phases, person_s = max(1, round(pc.idle_every_s * fps)), 1.5
    room = scenes.empty_room_image(data, size)
    person, _ = scenes.read_video(data / scenes.QUIET, max_frames=round(person_s * fps) + 1)
    delays, reasons, in_map = [], [], []
    for k in range(phases):
        scene = scenes.step_in(room, person, empty_s=pc.idle_after_s + 1.0 + k / fps, person_s=person_s, fps=fps,
                               seed=k)
        system.reset()
        bump_t = seen_t = None
        idle_before = False
        enters = scene.enters if scene.enters is not None else 0
        for i, image in enumerate(scene.frames):
            result = system.process(Frame(image=image, timestamp=i / fps, index=i))
            if i == enters - 1:
                idle_before = result.idle
            if i >= enters:
                if seen_t is None and result.tracks:
                    seen_t = result.t
                if bump_t is None and any(e.sound == Sound.BUMP for e in result.events):
                    bump_t = result.t
                    break
        t_in = enters / fps
        delays.append(None if bump_t is None else round(bump_t - t_in, 3))
        in_map.append(None if seen_t is None else round(seen_t - t_in, 3))
        reasons.append(system.activity.wake_reason if idle_before else "not idle")
    found = [d for d in delays if d is not None]
    return {"phases": phases, "bump_delay_s": delays, "in_view_delay_s": in_map, "woken_by": reasons,
            "bumped": f"{len(found)}/{phases}", "worst_s": max(found) if found else None,
            "median_s": round(statistics.median(found), 3) if found else None}


def run_battery(data: Path, people: Any = None, arms: list[str] | None = None, sizes: list[str] | None = None,
                seconds: float = 6.0, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Every arm x size x scene, and the step-in delays (adaptive arms); a JSON-ready dict."""
    out: dict[str, Any] = {"scenes": {}, "step_in": {}, "settings": {}}
    chosen_sizes = sizes or list(SIZES)
    for size_name in chosen_sizes:
        size = SIZES[size_name]
        say(f"[battery] preparing scenes at {size_name}")
        made = [scenes.busy(data, size), scenes.quiet(data, size)]
        for arm in arms or list(ARMS):
            system = build_system(_config(ARMS[arm]), people=people)
            pc: PipelineConfig = system.config
            out["settings"][arm] = {"adaptive": pc.adaptive, "idle_after_s": pc.idle_after_s,
                                    "idle_every_s": pc.idle_every_s, "precision": "int8" if "int8" in arm else "fp32"}
            empty = scenes.empty(data, size, seconds=pc.idle_after_s + 1.0 + seconds)
            warmups = {"busy": 5, "quiet": 5, "empty": round((pc.idle_after_s + 1.0) * empty.fps)}
            try:
                for scene in [*made, empty]:
                    say(f"[battery] {size_name} {arm}: {scene.name} ({len(scene.frames)} frames)")
                    out["scenes"].setdefault(size_name, {}).setdefault(scene.name, {})[arm] = measure(
                        system, scene, warmups[scene.name])
                if pc.adaptive:
                    say(f"[battery] {size_name} {arm}: a person steps into the empty room")
                    out["step_in"].setdefault(size_name, {})[arm] = step_in_delays(system, data, size)
            finally:
                system.close()
    for by_scene in out["scenes"].values():
        for arm in by_scene.get("busy", {}):
            busy_cpu = by_scene["busy"][arm]["cpu_s_per_min"]
            for arms_ in by_scene.values():
                arms_[arm]["of_busy"] = round(arms_[arm]["cpu_s_per_min"] / busy_cpu, 3)
    return out


def print_battery(report: dict[str, Any], write: Callable[[str], None] = print) -> None:
    """The battery figures as tables."""
    for size_name, by_scene in report["scenes"].items():
        write(f"\nBattery at {size_name}: CPU s per minute of live use (x of busy) | frame ms mean / p95 | "
              f"detector frames")
        for scene_name, arms in by_scene.items():
            for arm, m in arms.items():
                write(f"  {scene_name:6s} {arm:20s} {m['cpu_s_per_min']:7.1f} ({m['of_busy']:.2f}) | "
                      f"{m['frame_ms_mean']:6.1f} / {m['frame_ms_p95']:6.1f} | {m['detection_frames']:.2f}")
    for size_name, arms in report["step_in"].items():
        for arm, s in arms.items():
            write(f"Step-in at {size_name} ({arm}): bumped {s['bumped']}, worst {s['worst_s']} s, median "
                  f"{s['median_s']} s, woken by {sorted(set(s['woken_by']))}")


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m peoplelens.bench.battery [--size 640x480] [--arm fp32] [--json FILE]``."""
    from peoplelens.sim_harness.enrollment import enroll_folder

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", action="append", choices=list(SIZES), help="frame size (default: both)")
    parser.add_argument("--arm", action="append", choices=list(ARMS), help="models and schedule (default: all)")
    parser.add_argument("--seconds", type=float, default=6.0, help="seconds of empty room measured")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args(argv)
    root = os.environ.get("PEOPLELENS_ASSETS")
    if not root:
        parser.error("set PEOPLELENS_ASSETS (the shared assets folder: its data/ holds the recordings)")
    data = Path(root) / "data"
    people = enroll_folder(data / "faces" / "enroll")
    try:
        report = run_battery(data, people.store, args.arm, args.size, args.seconds,
                             say=lambda s: print(s, file=sys.stderr))
    finally:
        people.close()
    print_battery(report)
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
