"""The range benchmark's figures (:mod:`peoplelens.bench.range`): per distance and scale, the goals of each arm,
the windows' share of the wide face pass, and the table printed on the terminal."""

from __future__ import annotations

import numpy as np

from peoplelens.bench.range_scenes import SCALES


def windows_share(before: dict, after: dict, stage_ms: dict[str, list[float]]) -> dict:
    """The windows against the wide face pass over a run: the foveate stage's CPU time (windows + planning) over the
    wide passes' (what the budget account counts), the cost model's prediction, and the stages' wall times."""
    d = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
    frames = max(1, len(stage_ms.get("foveate", [])))
    wide_ms, fovea_ms = sum(stage_ms.get("detect_faces", [])), sum(stage_ms.get("foveate", []))
    spent = d.get("window_cpu_ms", 0.0) + d.get("planning_cpu_ms", 0.0)
    return {"windows": int(d.get("windows", 0)), "frames_with_windows": int(d.get("frames_with_windows", 0)),
            "partial_updates": int(d.get("partial_updates", 0)),
            "windows_per_frame": d.get("windows", 0) / frames,
            "cpu_share": spent / d["wide_cost_ms"] if d.get("wide_cost_ms") else None,
            "predicted_share": (d["window_predicted_ms"] / d["wide_predicted_ms"]) if d.get("wide_predicted_ms")
            else None,
            "stage_time_share": fovea_ms / wide_ms if wide_ms else None,
            "window_cpu_ms_per_frame": d.get("window_cpu_ms", 0.0) / frames,
            "planning_cpu_ms_per_frame": d.get("planning_cpu_ms", 0.0) / frames}


def summarise(rows: list[dict]) -> list[dict]:
    """Per scale and distance: shares of scenes, median distance errors."""
    out = []
    for scale in SCALES:
        for d in sorted({r["distance_m"] for r in rows}):
            cell = [r for r in rows if r["scale"] == scale and r["distance_m"] == d]
            if not cell:
                continue
            errs = [r["distance_err"] for r in cell if r["distance_err"] is not None]
            nears = [r["near_err"] for r in cell if r["near_err"] is not None]
            out.append({"scale": scale, "distance_m": d, "scenes": len(cell),
                        **{k: float(np.mean([r[k] for r in cell])) for k in
                           ("tracked", "bump", "face", "named", "known", "wrong")},
                        "distance_err_median": float(np.median(errs)) if errs else None,
                        "near_err_median": float(np.median(nears)) if nears else None})
    return out


def _pct(v: float | None) -> str:
    return "   -" if v is None else f"{100 * v:4.0f}"


def goals(bands: list[dict], rows: list[dict], windows: dict) -> dict:
    """The issue's goals for one arm (module docstring); None where the run has no scenes for a goal."""
    def share(scale: str, key: str, near: bool) -> float | None:
        cell = [r for r in rows if r["scale"] == scale and (r["distance_m"] <= 4.0 if near else r["distance_m"] == 10)]
        return float(np.mean([r[key] for r in cell])) if cell else None

    named_adult, named_child = share("adult", "named", True), share("child", "named", True)
    bumps = [b for scale in SCALES if (b := share(scale, "bump", False)) is not None]
    cpu_share = windows.get("cpu_share")
    return {"named_within_4m_adult": named_adult, "named_within_4m_child": named_child,
            "bumped_at_10m": min(bumps) if bumps else None, "wrong_name_scenes": sum(bool(r["wrong"]) for r in rows),
            "met": {"named_adult_95": named_adult is not None and named_adult >= 0.95,
                    "named_child_90": named_child is not None and named_child >= 0.90,
                    "no_wrong_name": not any(r["wrong"] for r in rows),
                    "bumped_at_10m_90": bool(bumps) and min(bumps) >= 0.90,
                    "windows_at_most_30pct": cpu_share is None or cpu_share <= 0.30}}


def print_table(report: dict, echo=print) -> None:
    """The per-distance table, arms side by side (two arms fit 80 columns), then the clip and the goals."""
    arms = list(report["arms"])
    if not arms:
        return
    bands = {a: report["arms"][a]["bands"] for a in arms}
    machine = report.get("machine", {})
    if machine:
        echo(f"on {machine['cpu']} ({machine['cpu_count']} CPUs), onnxruntime {machine['onnxruntime']}, load average "
             f"{machine['load_avg_1m_start']} -> {machine.get('load_avg_1m_end', '?')}")
    cols = ("tracked", "bump", "face", "named", "wrong", "distance_err_median")
    echo("% of scenes tracked (trk), bumped, faces found (% of frames), named (spoken), with a wrong")
    echo("name (wrng), and the median distance error (derr %), per distance (m) and scale")
    echo("         |" + "|".join(f" {a[:28]:28} " for a in arms))
    echo("scale  m |" + "|".join("  trk bump face name wrng derr " for _ in arms))
    for i, row in enumerate(bands[arms[0]]):
        cells = ["  " + " ".join(_pct(bands[a][i][c]) for c in cols) + " " for a in arms]
        echo(f"{row['scale'][:5]:5} {row['distance_m']:2g} |" + "|".join(cells))
    fidelity = report.get("composite_fidelity")
    if fidelity:
        worst = min(fidelity, key=fidelity.get)
        echo(f"composites keep their photo's identity: cosine to the photo itself at 1 m, mean "
             f"{np.mean(list(fidelity.values())):.2f}, lowest {fidelity[worst]:.2f} ({worst}), {len(fidelity)} photos")
    for a in arms:
        entry = report["arms"][a]
        w, g = entry["windows"], entry["goals"]
        share = "-" if w["cpu_share"] is None else f"{100 * w['cpu_share']:.0f} % CPU"
        stage = "" if w["stage_time_share"] is None else f", {100 * w['stage_time_share']:.0f} % stage time"
        echo(f"{a}: scenes {entry['ms_per_frame_scenes']:.0f} ms/frame (median), CPU "
             f"{entry['cpu_ms_per_frame_scenes']:.0f} ms/frame; windows {w['windows_per_frame']:.1f}/frame, "
             f"{share}{stage} of the wide face pass")
        echo(f"  goals: named within 4 m adult {_pct(g['named_within_4m_adult']).strip()} % (>= 95), child "
             f"{_pct(g['named_within_4m_child']).strip()} % (>= 90); bumped at 10 m {_pct(g['bumped_at_10m']).strip()}"
             f" % (>= 90); scenes with a wrong name {g['wrong_name_scenes']} (0)")
        c = entry.get("clip")
        if c:
            cw = c["windows"]
            echo(f"  pedestrian clip: face recall {_pct(c['face_recall']).strip()} % of {c['faces']}, "
                 f"{c['ms_per_frame']:.0f} ms/frame median, p95 {c['p95_ms_per_frame']:.0f} ({c['fps']:.1f} fps, "
                 f"{c['fps_with_decode']:.1f} with decode), CPU {c['cpu_ms_per_frame']:.0f} ms/frame; windows "
                 f"{cw['windows_per_frame']:.1f}/frame, {_pct(cw['cpu_share']).strip()} % CPU, "
                 f"{_pct(cw['stage_time_share']).strip()} % stage time of the wide face pass")
            cs = c["cpu_by_stage"]
            top = sorted(cs["cpu_ms_per_frame"].items(), key=lambda kv: -kv[1])[:6]
            echo(f"  clip CPU by stage (serial, {cs['frames']} frames): {cs['total_cpu_ms_per_frame']:.1f} ms/frame; "
                 + ", ".join(f"{k} {v:.1f}" for k, v in top) + "; windows / wide face pass "
                 + f"{_pct(cs['windows_over_wide_face_pass']).strip()} % of CPU")
