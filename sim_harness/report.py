"""``report.html``: a self-contained HTML report of a replay (matplotlib PNGs embedded as base64).

Figures: event timeline per person, identity state over time per track, per-stage processing time
(box plots), end-to-end latency histogram; a summary table (frames, fps achieved, events by sound) and the
metrics when ground truth was given. :func:`write_batch_report` combines several replays in one page.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from peoplelens.core.sounds import SOUNDS  # noqa: E402
from peoplelens.sim_harness.records import ReplayResult, describe_last_frame  # noqa: E402

SOUND_COLOURS = {str(sound): spec.colour for sound, spec in SOUNDS.items()}
STATE_COLOURS = {"unseen_face": "#bbbbbb", "identifying": "#ffae42", "known": "#2ca02c", "not_enrolled": "#d62728"}


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _img(b64: str, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{b64}">'


def event_timeline(result: ReplayResult) -> str:
    """Events over time, one row per person (name or track), colour = sound."""
    rows: dict[str, int] = {}
    fig, ax = plt.subplots(figsize=(9, 0.4 * max(3, len({_who(e) for e in result.events})) + 1.2))
    for e in result.events:
        y = rows.setdefault(_who(e), len(rows))
        ax.scatter(e["t"], y, color=SOUND_COLOURS.get(e["sound"], "k"), s=28, marker="|" if e["sound"] == "bump"
                   else "o")
    for sound, colour in SOUND_COLOURS.items():
        if any(e["sound"] == sound for e in result.events):
            ax.scatter([], [], color=colour, label=sound)
    ax.set_yticks(list(rows.values()), list(rows.keys()))
    ax.set_xlim(0, max(result.frames[-1].t if result.frames else 1.0, 0.1))
    ax.set_xlabel("video time (s)")
    ax.set_title("Events per person")
    if result.events:
        ax.legend(loc="upper right", fontsize=7, ncol=4)
    return _png(fig)


def _who(e: dict[str, Any]) -> str:
    if e.get("name"):
        return str(e["name"])
    return f"track {e['track']}" if e.get("track") is not None else "(no track)"


def identity_timeline(result: ReplayResult) -> str:
    """Identity state of each track over time (one row per track, coloured segments)."""
    spans: dict[int, list[tuple[float, str]]] = {}
    for f in result.frames:
        for tr in f.tracks:
            label = tr["name"] if tr["identity"] == "known" and tr["name"] else tr["identity"]
            spans.setdefault(tr["track"], []).append((f.t, label if tr["identity"] == "known" else tr["identity"]))
    dt = 1.0 / result.fps if result.fps > 0 else 0.04
    fig, ax = plt.subplots(figsize=(9, 0.35 * max(3, len(spans)) + 1.2))
    for row, (_tid, samples) in enumerate(sorted(spans.items())):
        start, prev_t, prev_state = samples[0][0], samples[0][0], samples[0][1]
        for t, state in [*samples[1:], (float("inf"), "")]:  # merge runs of one state into one bar
            if state != prev_state or t - prev_t > 1.5 * dt:
                colour = STATE_COLOURS.get(prev_state, STATE_COLOURS["known"])
                ax.barh(row, prev_t + dt - start, left=start, color=colour, height=0.7, linewidth=0)
                start = t
            prev_t, prev_state = t, state
        names = sorted({s for _, s in samples if s not in STATE_COLOURS})
        if names:
            ax.text(samples[-1][0] + dt, row, ", ".join(names), va="center", fontsize=7)
    ax.set_yticks(range(len(spans)), [f"#{t}" for t in sorted(spans)])
    from matplotlib.patches import Patch

    ax.set_xlabel("video time (s)")
    ax.set_title("Identity state per track (in view); names at the right")
    ax.legend(handles=[Patch(color=c, label=s) for s, c in STATE_COLOURS.items()], loc="upper right", fontsize=7,
              ncol=4)
    return _png(fig)


def stage_times(result: ReplayResult) -> str:
    """Per-frame time of every stage (ms): one box per stage on one axis, slowest mean at the top (one axis
    instead of a grid of histograms: the same spread at a glance, and a tenth of the drawing time)."""
    stages: dict[str, list[float]] = {}
    for f in result.frames:
        for k, v in f.timings.items():
            stages.setdefault(k, []).append(1000 * v)
    ordered = sorted(stages.items(), key=lambda kv: float(np.mean(kv[1])))
    fig, ax = plt.subplots(figsize=(9, 0.28 * max(3, len(ordered)) + 1.0))
    if ordered:
        ax.boxplot([v for _, v in ordered], orientation="horizontal", widths=0.6, showfliers=True,
                   flierprops={"markersize": 2, "alpha": 0.5})
        ax.set_yticks(range(1, len(ordered) + 1), [f"{k} (mean {np.mean(v):.1f})" for k, v in ordered])
    ax.tick_params(labelsize=7)
    ax.set_xlabel("time per frame (ms)")
    ax.set_title("Per-stage time per frame", fontsize=9)
    return _png(fig)


def latency_histogram(result: ReplayResult) -> str:
    """End-to-end latency (frame available -> events produced), frames and events."""
    fig, ax = plt.subplots(figsize=(6, 2.8))
    lat = [1000 * f.latency_s for f in result.frames]
    ax.hist(lat, bins=40, color="#4477aa", alpha=0.7, label="every frame")
    ev = [1000 * e["latency_s"] for e in result.events]
    if ev:
        ax.hist(ev, bins=40, color="#cc6677", alpha=0.7, label="frames with events")
    ax.set_xlabel("latency (ms)")
    ax.set_title(f"End-to-end latency: p50 {np.median(lat):.1f} ms, p90 {np.percentile(lat, 90):.1f} ms")
    ax.legend(fontsize=7)
    return _png(fig)


def _table(rows: list[tuple[str, Any]]) -> str:
    body = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_fmt(v))}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, dict):
        return ", ".join(f"{k}: {_fmt(x)}" for k, x in v.items())
    return str(v)


def result_section(result: ReplayResult) -> str:
    """The HTML of one replay: summary, metrics, figures."""
    s = result.summary()
    rows = [("video", s["video"]), ("source", s["source"]), ("frame size", f"{s['size'][0]}x{s['size'][1]}"),
            ("frames", s["frames"]), ("video fps", s["video_fps"]), ("fps achieved", s["fps_achieved"]),
            ("wall time (s)", s["wall_s"]), ("real-time pacing", s["realtime"]), ("dropped", s["dropped_frames"]),
            ("events", s["events"]), ("events by sound", s["events_by_sound"] or "none"),
            ("frame latency ms", s["frame_latency_ms"]), ("event latency ms", s["event_latency_ms"]),
            ("stage mean ms", s["stage_ms_mean"]), ("people enrolled", len(s["people_enrolled"])),
            ("on the last frame", describe_last_frame(s["on_last_frame"]))]
    parts = [f"<h2>{html.escape(Path(result.video).name)}</h2>", _table(rows)]
    if result.metrics:
        flat = [(k, v) for k, v in result.metrics.items() if not isinstance(v, dict | list)]
        parts += ["<h3>Metrics against ground truth</h3>", _table(flat)]
        for k, v in result.metrics.items():
            if isinstance(v, dict | list):
                parts.append(f"<p><b>{html.escape(k)}</b>: {html.escape(_fmt(v) if isinstance(v, dict) else str(v))}"
                             "</p>")
    parts += [_img(event_timeline(result), "event timeline"), _img(identity_timeline(result), "identity timeline"),
              _img(stage_times(result), "stage times"), _img(latency_histogram(result), "latency")]
    return "\n".join(parts)


STYLE = ("body{font-family:sans-serif;margin:1.5em;max-width:1100px}table{border-collapse:collapse;margin:.5em 0}"
         "th,td{border:1px solid #ccc;padding:2px 8px;text-align:left;font-size:13px}img{display:block;margin:.6em 0}")


def _page(title: str, body: str) -> str:
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>\n{body}\n</body></html>\n")


def write_report(path: str | Path, result: ReplayResult) -> Path:
    """Write the report of one replay."""
    path = Path(path)
    path.write_text(_page(f"PeopleLens replay: {Path(result.video).name}", result_section(result)),
                    encoding="utf-8")
    return path


def write_batch_report(path: str | Path, results: list[ReplayResult], title: str = "PeopleLens batch replay") -> Path:
    """Write one page listing every replay's summary and figures."""
    rows = "".join(
        f"<tr><td>{html.escape(Path(r.video).name)}</td><td>{len(r.frames)}</td><td>{r.fps_achieved:.1f}</td>"
        f"<td>{len(r.events)}</td><td>{html.escape(_fmt(r.events_by_sound()))}</td></tr>" for r in results)
    head = f"<table><tr><th>video</th><th>frames</th><th>fps</th><th>events</th><th>by sound</th></tr>{rows}</table>"
    path = Path(path)
    path.write_text(_page(title, head + "\n".join(result_section(r) for r in results)), encoding="utf-8")
    return path
