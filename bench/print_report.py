"""The benchmark's report on the terminal (rich tables); the same figures go to ``--json``."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

STAGE_LABELS = {
    "decode": "decode (+ resize)", "schedule": "schedule", "detect_faces": "detect faces",
    "detect_people": "detect people", "motion": "corner tracking (head rotation)", "detect": "detect (faces + people)",
    "clock": "clock (frame times)", "world": "world (head rotation)",
    "bodies": "bodies (to the face frame)", "foveate": "foveal windows (full resolution)",
    "face_quality": "face quality", "track": "track", "embed": "align + embed",
    "identify": "identity evidence", "identity": "quality + embed + identify", "face_attributes": "head pose / gaze",
    "place": "place (direction, distance)", "people_map": "people map", "experiences": "experiences",
    "audio_render": "audio render (per event)",
}


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def print_report(report: dict, console: Console | None = None) -> None:
    """Print the report dict :func:`peoplelens.bench.core.run_benchmark` returns."""
    c = console if console is not None else Console(width=130)
    m = report["machine"]
    cpu = m.get("cpu", "CPU not recorded")
    c.print(f"[bold]PeopleLens benchmark[/] ({cpu}, {m['cpu_count']} CPUs, onnxruntime {m['onnxruntime']}, "
            f"load avg {m['load_avg_1m_start']} -> {m.get('load_avg_1m_end', '?')}; "
            "timings on a shared machine are noisy)")
    if "skipped" in report:
        c.print(f"[yellow]{report['skipped']}[/]")
        return
    s = report["settings"]
    c.print(f"providers {s['providers']}; frames {s['frame_size']}; pipeline: face {s['face_detector']} "
            f"@{s['pipeline']['face_max_side']} every {s['pipeline'].get('faces_every', 1)} frame(s) (tracks coast "
            f"in between: events up to one frame later), people every {s['pipeline']['people_every']}; "
            f"audio: {s['audio_renderer']}")
    t = Table(title="videos")
    for col in ("video", "size", "fps", "frames", "max people", "ours ms/frame", "baseline ms/frame",
                "paced dropped", "paced p95 ms"):
        t.add_column(col)
    for v in report["videos"]:
        t.add_row(v["name"], f"{v['size'][0]}x{v['size'][1]}", f"{v['fps']:.2f}", str(v["frames"]),
                  str(v["max_people_in_view"]), _ms(v["ours_ms_per_frame"]), _ms(v.get("baseline_ms_per_frame")),
                  str(v.get("paced_dropped", "-")), _ms(v.get("paced_latency_p95_ms")))
    c.print(t)
    ours = report["ours"]
    t = Table(title="our pipeline, per stage (as fast as possible)")
    for col in ("stage", "n", "median ms", "p95 ms"):
        t.add_column(col)
    for name, summary in ours["stages"].items():
        t.add_row(STAGE_LABELS.get(name, name), str(summary["n"]), _ms(summary["median_ms"]), _ms(summary["p95_ms"]))
    t.add_row("[bold]process (whole frame)[/]", str(ours["process"]["n"]), _ms(ours["process"]["median_ms"]),
              _ms(ours["process"]["p95_ms"]))
    c.print(t)
    c.print(f"sustained: {ours['sustained_fps']:.1f} fps with decode in the same thread, "
            f"{ours['sustained_fps_excluding_decode']:.1f} fps excluding decode; "
            f"time per frame {ours['time_per_frame_ms']:.1f} ms; CPU time {ours['cpu_ms_per_frame']:.1f} ms/frame "
            f"(all threads, decode included); events {ours['events']}")
    f = ours["fifo_at_30fps"]
    c.print(f"FIFO at 30 fps from the measured times (no dropping): max backlog {f['max_backlog_frames']} frames, "
            f"final {f['final_backlog_frames']}, latency p95 {_ms(f['latency_p95_ms'])} ms, "
            f"trend {f['latency_trend_ms_per_s']:.2f} ms/s")
    if "paced" in ours:
        p = ours["paced"]
        c.print(f"paced (latest frame wins, {p['runs']} runs): {p['frames_processed']}/{p['frames_offered']} "
                f"processed, {p['frames_dropped']} dropped ({_pct(p['dropped_fraction'])}); capture -> result latency "
                f"p50 {_ms(p['frame_latency']['median_ms'])} / p95 {_ms(p['frame_latency']['p95_ms'])} / "
                f"p99 {_ms(p['frame_latency']['p99_ms'])} ms; capture -> audio event p50 "
                f"{_ms(p['event_latency']['median_ms'])} / p95 {_ms(p['event_latency']['p95_ms'])} / p99 "
                f"{_ms(p['event_latency']['p99_ms'])} ms over {p['event_latency']['n']} events; worst trend of the "
                f"latency {_ms(p['latency_trend_ms_per_s_worst_video'])} ms/s, of the wait before processing "
                f"{_ms(p.get('queue_wait_trend_ms_per_s_worst_video'))} ms/s (a backlog: < 1 with <= 1 % dropped); "
                f"real time ok: {p['realtime_ok']}")
    e = report.get("enrolment", {})
    if "photos" in e:
        line = (f"enrolment: ours {e['people']} people, a face found in {e['photos_with_face']}/{e['photos']} photos, "
                f"{e['photos_used']} passed the quality checks")
        if "baseline" in report and "enrol_photos" in report["baseline"]:
            b = report["baseline"]
            line += (f"; baseline {b['enrolled_people']} people, a face found in "
                     f"{b['enrol_photos'] - b['enrol_photos_without_face']}/{b['enrol_photos']} photos "
                     f"({b['enrol_found_after_padding']} only in the padded retry, as ours does)")
        c.print(line)
    c.print(f"identity definition: {report['identity_definition']}")
    t = Table(title="identity (same frames)")
    for col in ("system", "names given", "correct", "precision", "recall frames", "named", "recall", "wrong names"):
        t.add_column(col)
    systems = [("ours", ours)] + ([("baseline", report["baseline"])] if "baseline" in report else [])
    for label, sec in systems:
        i = sec["identity"]
        t.add_row(label, str(i["names_given"]), str(i["correct"]), _pct(i["precision"]), str(i["recall_frames"]),
                  str(i["recall_hits"]), _pct(i["recall"]), str(i["wrong_names"] or "-"))
    c.print(t)
    if "comparison" in report:
        b, cmp = report["baseline"], report["comparison"]
        c.print(f"baseline: {b['method']}")
        c.print(f"baseline {b['time_per_frame_ms']:.1f} ms/frame (median {_ms(b['process']['median_ms'])}, p95 "
                f"{_ms(b['process']['p95_ms'])}); ours {ours['time_per_frame_ms']:.1f} ms/frame -> ratio ours/baseline "
                f"{cmp['time_ratio_ours_over_baseline']:.3f} ([bold]{cmp['speedup']:.2f}x faster[/]); CPU per frame "
                f"{ours['cpu_ms_per_frame']:.1f} vs {b['cpu_ms_per_frame']:.1f} ms (ratio "
                f"{cmp['cpu_time_ratio_ours_over_baseline']:.3f}); baseline sessions: {b['session']}")
    mem = report["memory"]
    c.print(f"peak RSS: ours {mem['peak_rss_mb_ours']:.0f} MiB"
            + (f", with the baseline loaded too {mem['peak_rss_mb_with_baseline']:.0f} MiB"
               if "peak_rss_mb_with_baseline" in mem else "") + f" ({mem['method']})")
    if "native" in report:
        _print_native(c, report["native"])
    if "range" in report:
        from peoplelens.bench.range_report import print_table

        c.print("[bold]range scenes[/] (today's pipeline on 640-px frames vs the product on native frames)")
        print_table(report["range"], echo=lambda line: c.print(line, markup=False, highlight=False))
    c.print("goals: " + ", ".join(f"{k}: {_verdict(v)}" for k, v in report["goals"].items()))


def _print_native(c: Console, native: dict) -> None:
    """The videos larger than 640x480 at their own size (foveation on), beside the fitted run's figures."""
    ours = native["ours"]
    for v in native["videos"]:
        c.print(f"[bold]native[/] {v['name']} {v['size'][0]}x{v['size'][1]}: {_ms(v['ours_ms_per_frame'])} ms/frame "
                f"({v['ms_per_frame_ratio_native_over_fitted']:.2f}x the fitted frames'), paced dropped "
                f"{v.get('paced_dropped', '-')}, p95 {_ms(v.get('paced_latency_p95_ms'))} ms")
    line = (f"native: sustained {ours['sustained_fps']:.1f} fps with decode "
            f"({ours['sustained_fps_excluding_decode']:.1f} without), CPU {ours['cpu_ms_per_frame']:.1f} ms/frame, "
            f"foveal windows median "
            f"{_ms(ours['stages']['foveate']['median_ms'])} / p95 {_ms(ours['stages']['foveate']['p95_ms'])} ms")
    if "paced" in ours:
        p = ours["paced"]
        line += (f"; paced ({p['runs']} runs) {p['frames_dropped']}/{p['frames_offered']} dropped, capture -> audio "
                 f"event p50 {_ms(p['event_latency']['median_ms'])} / p95 {_ms(p['event_latency']['p95_ms'])} ms "
                 f"({p['event_latency']['n']} events), capture -> result p95 {_ms(p['frame_latency']['p95_ms'])} ms")
    c.print(line)


def _verdict(value: bool | None) -> str:
    """yes / no, or n/a when the run cannot tell (e.g. precision when neither system named anyone)."""
    return "n/a" if value is None else "[green]yes[/]" if value else "[red]no[/]"
