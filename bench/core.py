"""The benchmark: enrol, then per video run our pipeline (fast + paced) and the baseline, and gather figures.

Everything runs in this process, ours first (so the first memory reading is ours alone), then the baseline.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from peoplelens.bench.baseline import Baseline
from peoplelens.bench.baseline_sessions import BASELINE_SESSIONS
from peoplelens.bench.enrol import enroll_people
from peoplelens.bench.errors import BenchError
from peoplelens.bench.identity_metrics import DEFINITION, merge_named, score_identity
from peoplelens.bench.machine import load_average, machine_info
from peoplelens.bench.memory import METHOD, peak_rss_mb
from peoplelens.bench.runner import (
    PIPELINE_STAGES,
    FastRun,
    PacedRun,
    make_event_renderer,
    run_baseline,
    run_fast,
    run_paced,
)
from peoplelens.bench.stats import fifo_backlog, summarize_ms, trend_ms_per_s
from peoplelens.bench.truth import load_truth, restrict
from peoplelens.bench.videos import MAX_SIZE, find_videos, parse_aspect, probe

SCHEMA = "peoplelens-bench/1"
BASELINE_THREADS = {"tuned": 2, "default": None, "single": 1}
GOALS = {"fps": 30.0, "latency_p95_ms": 60.0, "speedup": 3.0, "peak_rss_mb": 1536.0}
MAX_PACED_REPLAYS = 10


@dataclass(frozen=True)
class BenchOptions:
    """What to run (the CLI's options)."""

    videos: Path
    enroll: Path
    max_frames: int | None = None
    providers: str = "cpu"
    skip_baseline: bool = False
    skip_paced: bool = False
    pace_fps: float | None = None  # None = each video's own frame rate
    config: dict | None = None  # pipeline config (TOML dict)
    only: tuple[str, ...] = ()  # only videos whose file name contains one of these
    threads: int | None = None  # ORT intra-op threads per session (None: what build_system uses by default)
    baseline_session: str = "default"  # see BASELINE_SESSIONS
    aspect: str | None = None  # "4:3": centre-crop every frame to this aspect before fitting it inside 640x480
    native: bool = True  # also run ours on the videos larger than 640x480 at their own size (the camera's frames)
    range_data: Path | None = None  # the shared data folder: also run the range benchmark (bench/range.py)
    range_per_cell: int = 2  # range scenes per distance and scale
    #: each video is paced again from its start (a new recording) until this many seconds are paced, so that the
    #: latency percentiles rest on enough frames and events (a 4-s clip gives ~15 events a replay); 0 = once
    paced_seconds: float = 20.0


def cuda_status() -> str | None:
    """None when ONNX Runtime's CUDA provider is usable here, else why not."""
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return f"not available (onnxruntime {ort.__version__} providers: {', '.join(ort.get_available_providers())})"
    return None


def _session_config(options: BenchOptions):
    """None (the pipeline's own default, as the runtime gets it) unless a provider or thread count is forced."""
    from peoplelens.models.sessions import SessionConfig

    if options.providers == "cpu" and options.threads is None:
        return None
    kwargs: dict = {"providers": ("cuda", "cpu") if options.providers == "cuda" else ("cpu",)}
    if options.threads is not None:
        kwargs["intra_op_threads"] = options.threads
    return SessionConfig(**kwargs)


def run_benchmark(options: BenchOptions, say: Callable[[str], None] = lambda s: None) -> dict:
    """Run everything and return the report dict (see ``bench/README`` keys in the CLI help)."""
    from peoplelens.core.config import section
    from peoplelens.lens.pipeline import PipelineConfig
    from peoplelens.lens.pipeline.config import face_detector_options
    from peoplelens.models.model_sets import configured_model_set

    report: dict = {"schema": SCHEMA, "machine": machine_info(), "identity_definition": DEFINITION}
    if options.providers == "cuda" and (why := cuda_status()) is not None:
        report["providers"] = {"cuda": why}
        report["skipped"] = f"CUDA provider {why}"
        return report
    session_config = _session_config(options)
    config = options.config or {}
    pipeline_config = section(config, "pipeline", PipelineConfig)
    paths = [p for p in find_videos(options.videos) if not options.only or any(o in p.name for o in options.only)]
    if not paths:
        raise BenchError(f"no video under {options.videos} matches {', '.join(options.only)}")
    aspect = parse_aspect(options.aspect) if options.aspect else None
    videos = [probe(p, aspect) for p in paths]
    report["settings"] = {
        "providers": options.providers, "max_frames": options.max_frames,
        "frame_size": (f"centre crop to {options.aspect}, then " if aspect else "")
        + f"fit inside {MAX_SIZE[0]}x{MAX_SIZE[1]}, aspect kept, never upscaled"
        + ("; larger videos also at their own size (the 'native' section)" if options.native else ""),
        "pace_fps": options.pace_fps or "each video's own fps", "pipeline": dataclasses.asdict(pipeline_config),
        "model_set": configured_model_set(config).name, "face_detector": face_detector_options(config).model,
        "session": {"intra_op_threads": session_config.intra_op_threads if session_config else "pipeline default",
                    "inter_op_threads": session_config.inter_op_threads if session_config else "pipeline default"},
    }
    say(f"enrolling {options.enroll} ...")
    people = enroll_people(options.enroll)
    try:
        report["enrolment"] = {"people": len(people.enrolled), "skipped": people.skipped,
                               "seconds": round(people.seconds, 2), "photos": people.photos,
                               "photos_with_face": people.photos_with_face, "photos_used": people.photos_used}
        render = make_event_renderer()
        report["settings"]["audio_renderer"] = render.describe()
        per_video, fast_runs, paced_runs = [], [], []
        truths = []
        native: dict = {"videos": [], "fast": [], "paced": [], "truths": []}
        for info in videos:
            truth = load_truth(info.path, set(people.enrolled))
            entry, fast, paced = _ours_on(info, options, config, people, session_config, render, report, say)
            truths.append(restrict(truth, set(range(fast.frames))))
            fast_runs.append(fast)
            paced_runs += paced
            entry["truth"] = truth.source
            per_video.append(entry)
            own = replace(info, size=(info.crop[2], info.crop[3]) if info.crop else info.native_size)
            if options.native and own.size != info.size:  # the camera's own frames: foveation at work
                entry, fast, paced = _ours_on(own, options, config, people, session_config, render, report, say)
                entry["ms_per_frame_ratio_native_over_fitted"] = (entry["ours_ms_per_frame"]
                                                                  / per_video[-1]["ours_ms_per_frame"])
                native["videos"].append(entry)
                native["fast"].append(fast)
                native["paced"] += paced
                native["truths"].append(truths[-1])
        report["memory"] = {"method": METHOD, "peak_rss_mb_ours": round(peak_rss_mb(), 1)}
        report["videos"] = per_video
        report["ours"] = _ours_section(fast_runs, paced_runs, truths)
        if native["videos"]:
            report["native"] = {"videos": native["videos"],
                                "ours": _ours_section(native["fast"], native["paced"], native["truths"])}
        if options.range_data is not None:
            from peoplelens.bench.range import run_range

            say("range scenes: today's pipeline on 640-px frames vs the product on native frames ...")
            report["range"] = run_range(options.range_data, per_cell=options.range_per_cell, config=config, say=say)
        if not options.skip_baseline:
            report["baseline"] = _baseline_section(options, videos, truths, per_video, say)
            report["memory"]["peak_rss_mb_with_baseline"] = round(peak_rss_mb(), 1)
            report["comparison"] = _comparison(report["ours"], report["baseline"])
        report["goals"] = _goals(report)
        report["machine"]["load_avg_1m_end"] = load_average()
    finally:
        people.close()
    return report


def paced_replays(frames: int, fps: float, seconds: float) -> int:
    """How many times a video of ``frames`` frames is paced at ``fps`` to cover ``seconds`` (1 to
    ``MAX_PACED_REPLAYS``)."""
    if seconds <= 0 or frames <= 0:
        return 1
    return max(1, min(MAX_PACED_REPLAYS, math.ceil(seconds * fps / frames)))


def _ours_on(info, options: BenchOptions, config: dict, people, session_config, render, report: dict,
             say: Callable[[str], None]) -> tuple[dict, FastRun, list[PacedRun]]:
    """Our pipeline on one video at ``info.size``: as fast as possible, then paced (unless skipped), replayed from
    the start (``reset``: a new recording) until ``options.paced_seconds`` are paced."""
    from peoplelens.lens.pipeline import build_system

    say(f"ours: {info.name} ({info.size[0]}x{info.size[1]}) as fast as possible ...")
    t0 = time.perf_counter()
    pipeline = build_system(config, people=people.store, session_config=session_config)
    load_s = time.perf_counter() - t0
    report["settings"]["ort_intra_op_threads_used"] = _threads_used(pipeline)
    fast = run_fast(pipeline, info, options.max_frames, people.name_map, render)
    pipeline.close()
    entry = {"name": info.name, "native_size": list(info.native_size), "size": list(info.size),
             "fps": round(info.fps, 3), "frames": fast.frames, "max_people_in_view": fast.max_people,
             "pipeline_load_s": round(load_s, 2), "ours_ms_per_frame": 1000 * sum(fast.process_s) / max(1, fast.frames)}
    paced: list[PacedRun] = []
    if not options.skip_paced:
        fps = options.pace_fps or info.fps
        replays = paced_replays(fast.frames, fps, options.paced_seconds)
        say(f"ours: {info.name} ({info.size[0]}x{info.size[1]}) paced at {fps:.2f} fps"
            + (f", {replays} replays ..." if replays > 1 else " ..."))
        pipeline = build_system(config, people=people.store, session_config=session_config)
        for replay in range(replays):
            if replay:
                pipeline.reset()
            paced.append(run_paced(pipeline, info, options.max_frames, fps))
        pipeline.close()
        entry["paced_replays"] = replays
        entry["paced_dropped"] = sum(run.dropped for run in paced)
        entry["paced_latency_p95_ms"] = summarize_ms([x for run in paced for x in run.frame_latency_s])["p95_ms"]
    return entry, fast, paced


def _ours_section(fast_runs, paced_runs, truths) -> dict:
    stages = {name: [s for run in fast_runs for s in run.stages[name]] for name in ("decode", *PIPELINE_STAGES,
                                                                                      "audio_render")}
    stages["detect"] = [a + b for run in fast_runs for a, b in zip(run.stages["detect_faces"],
                                                                    run.stages["detect_people"], strict=True)]
    stages["identity"] = [a + b + c for run in fast_runs for a, b, c in zip(
        run.stages["face_quality"], run.stages["embed"], run.stages["identify"], strict=True)]
    process = [s for run in fast_runs for s in run.process_s]
    frames = sum(run.frames for run in fast_runs)
    wall = sum(run.wall_s for run in fast_runs)
    out: dict = {
        "stages": {name: summarize_ms(samples) for name, samples in stages.items()},
        "process": summarize_ms(process),
        "frames": frames,
        "time_per_frame_ms": 1000 * sum(process) / max(1, frames),
        "cpu_ms_per_frame": 1000 * sum(run.cpu_s for run in fast_runs) / max(1, frames),
        "sustained_fps": frames / wall if wall else None,
        "sustained_fps_excluding_decode": frames / sum(process) if process else None,
        "fifo_at_30fps": fifo_backlog([d + p for run in fast_runs for d, p in zip(run.stages["decode"],
                                                                                    run.process_s, strict=True)],
                                      30.0),
        "events": dict(sum((run.events for run in fast_runs), Counter())),
        "identity": score_identity(merge_named([r.named for r in fast_runs]),
                                   merge_named([t.visible for t in truths]),
                                   _merge_recall(truths)).to_json(),
    }
    if paced_runs:
        out["paced"] = paced_summary(paced_runs)
    return out


def paced_summary(paced_runs: list[PacedRun]) -> dict:
    """Frames dropped, latencies and their trends over the real-time paced replays, and ``realtime_ok``: at most 1 %
    of the frames dropped and no growing backlog (the wait before processing rises by < 1 ms a second)."""
    offered = sum(r.offered for r in paced_runs)
    dropped = sum(r.dropped for r in paced_runs)
    lat = [x for r in paced_runs for x in r.frame_latency_s]
    worst_trend = _worst(trend_ms_per_s(r.capture_t_s, r.frame_latency_s) for r in paced_runs)
    thirds = []
    for r in paced_runs:
        n = len(r.frame_latency_s) // 3
        if n:
            thirds.append((summarize_ms(r.frame_latency_s[:n])["median_ms"],
                           summarize_ms(r.frame_latency_s[-n:])["median_ms"]))
    # a backlog shows as frames waiting longer and longer before they are processed; the latency itself also
    # rises with what the video shows (more people entering a short clip), so the goal reads the wait
    worst_wait_trend = _worst(trend_ms_per_s(r.capture_t_s, r.queue_wait_s) for r in paced_runs)
    paced = {
        "runs": len(paced_runs), "frames_offered": offered,
        "frames_processed": sum(r.processed for r in paced_runs),
        "frames_dropped": dropped, "dropped_fraction": dropped / offered if offered else None,
        "frame_latency": summarize_ms(lat),
        "event_latency": summarize_ms([x for r in paced_runs for x in r.event_latency_s]),
        "queue_wait": summarize_ms([x for r in paced_runs for x in r.queue_wait_s]),
        "latency_trend_ms_per_s_worst_video": worst_trend,
        "queue_wait_trend_ms_per_s_worst_video": worst_wait_trend,
        "latency_median_first_vs_last_third_ms": thirds,
    }
    paced["realtime_ok"] = bool(offered and dropped / offered <= 0.01
                                and (worst_wait_trend is None or worst_wait_trend < 1.0))
    return paced


def _worst(trends: Iterable[float | None]) -> float | None:
    """The steepest of the videos' trends (ms/s), None when no video had enough frames for one."""
    return max((t for t in trends if t is not None), default=None)


def _merge_recall(truths) -> dict:
    merged: dict = {}
    for v, truth in enumerate(truths):
        for person, frames in truth.recall_frames.items():
            merged.setdefault(person, set()).update((v, f) for f in frames)
    return merged


def _threads_used(system) -> dict[str, int]:
    """ONNX Runtime intra-op threads of each of the system's sessions."""
    return {name: s.get_session_options().intra_op_num_threads for name, s in system.sessions().items()}


def _baseline_section(options: BenchOptions, videos, truths, per_video, say) -> dict:
    from peoplelens.lens.pipeline.config import face_detector_options

    detector = face_detector_options(options.config or {}).model
    if detector not in ("det_500m", "det_2.5g"):
        raise BenchError(f"the baseline needs an SCRFD detector (det_500m / det_2.5g), the pipeline uses {detector}")
    say(f"baseline: insightface FaceAnalysis with {detector} + arcface_mobileface128, enrolling ...")
    if options.baseline_session not in BASELINE_SESSIONS:
        raise BenchError(f"baseline session {options.baseline_session!r}: choose one of {', '.join(BASELINE_SESSIONS)}")
    baseline_threads = BASELINE_THREADS[options.baseline_session]
    baseline = Baseline(detector=detector, providers=options.providers, threads=baseline_threads, spinning=False)
    try:
        enrol_s = baseline.enroll_folder(options.enroll)
        runs = []
        for info, entry in zip(videos, per_video, strict=True):
            say(f"baseline: {info.name} ...")
            run = run_baseline(baseline, info, options.max_frames)
            runs.append(run)
            entry["baseline_ms_per_frame"] = 1000 * sum(run.frame_s) / max(1, run.frames)
    finally:
        baseline.close()
    times = [s for r in runs for s in r.frame_s]
    frames = sum(r.frames for r in runs)
    return {
        "method": f"insightface FaceAnalysis.get() ({detector} at 640x640 + arcface_mobileface128) on every frame, "
                  "each face matched to the enrolled vectors: max cosine per name >= 0.35 gives the name, no tracking",
        "detector": detector, "ort_intra_op_threads": baseline_threads or "default",
        "session": f"{options.baseline_session}: {BASELINE_SESSIONS[options.baseline_session]}",
        "enrolled_people": len(baseline.gallery.names),
        "enrol_photos_without_face": baseline.gallery.photos_without_face, "enrol_seconds": round(enrol_s, 2),
        "enrol_photos": baseline.gallery.photos, "enrol_found_after_padding": baseline.gallery.found_after_padding,
        "frames": frames, "process": summarize_ms(times),
        "time_per_frame_ms": 1000 * sum(times) / max(1, frames),
        "cpu_ms_per_frame": 1000 * sum(r.cpu_s for r in runs) / max(1, frames),
        "sustained_fps_excluding_decode": frames / sum(times) if times else None,
        "identity": score_identity(merge_named([r.named for r in runs]), merge_named([t.visible for t in truths]),
                                   _merge_recall(truths)).to_json(),
    }


def _comparison(ours: dict, baseline: dict) -> dict:
    ratio = ours["time_per_frame_ms"] / baseline["time_per_frame_ms"] if baseline["time_per_frame_ms"] else None
    p_o, p_b = ours["identity"]["precision"], baseline["identity"]["precision"]
    cpu_ratio = ours["cpu_ms_per_frame"] / baseline["cpu_ms_per_frame"] if baseline["cpu_ms_per_frame"] else None
    return {"time_ratio_ours_over_baseline": ratio, "speedup": 1 / ratio if ratio else None,
            "cpu_time_ratio_ours_over_baseline": cpu_ratio,
            "precision_ours": p_o, "precision_baseline": p_b,
            "recall_ours": ours["identity"]["recall"], "recall_baseline": baseline["identity"]["recall"],
            "precision_equal_or_better": None if p_b is None else (p_o is None or p_o >= p_b)}


def _goals(report: dict) -> dict:
    ours = report["ours"]
    goals: dict = {"sustained_30fps": (ours["sustained_fps"] or 0) >= GOALS["fps"]}
    if "paced" in ours:
        goals["paced_realtime_no_growing_backlog"] = ours["paced"]["realtime_ok"]
        # events are emitted when their frame's processing ends, so frame latency is their distribution too
        p95s = [ours["paced"][k]["p95_ms"] for k in ("event_latency", "frame_latency")
                if ours["paced"][k]["p95_ms"] is not None]
        goals["latency_p95_below_60ms"] = bool(p95s) and max(p95s) < GOALS["latency_p95_ms"]
    if "comparison" in report:
        c = report["comparison"]
        goals["speedup_at_least_3x"] = (c["speedup"] or 0) >= GOALS["speedup"]
        goals["precision_equal_or_better"] = c["precision_equal_or_better"]
    goals["peak_rss_below_1.5GB"] = report["memory"]["peak_rss_mb_ours"] < GOALS["peak_rss_mb"]
    if "native" in report:  # the camera's own frames (1920x1080): the same throughput and latency goals
        native = report["native"]["ours"]
        goals["native_sustained_30fps"] = (native["sustained_fps"] or 0) >= GOALS["fps"]
        if "paced" in native:
            p95s = [native["paced"][k]["p95_ms"] for k in ("event_latency", "frame_latency")
                    if native["paced"][k]["p95_ms"] is not None]
            goals["native_latency_p95_below_60ms"] = bool(p95s) and max(p95s) < GOALS["latency_p95_ms"]
    if "range" in report and "foveated" in report["range"]["arms"]:
        for key, met in report["range"]["arms"]["foveated"]["goals"]["met"].items():
            goals[f"range_{key}"] = met
    return goals
