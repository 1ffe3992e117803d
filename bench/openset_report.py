"""The open-set benchmark's report: rich tables on the terminal and a self-contained HTML page with FPIR/FNIR
curves (matplotlib, embedded as SVG). The same figures are in the ``--json`` file."""

from __future__ import annotations

import html
import io
from pathlib import Path

from rich.console import Console
from rich.table import Table


def _pct(rate: float | None, ci: tuple[float, float] | list[float] | None = None) -> str:
    if rate is None:
        return "-"
    text = f"{100 * rate:.2f}%"
    return text + (f" [{100 * ci[0]:.2f}, {100 * ci[1]:.2f}]" if ci is not None else "")


def _rows(groups: dict[str, dict]) -> list[list[str]]:
    return [[k, f"{v['false_positives']}/{v['stranger_trials']}", _pct(v["fpir"], v["fpir_ci95"]),
             f"{v['misses']}/{v['mated_trials']}", _pct(v["fnir"], v["fnir_ci95"]), str(v["wrong_names"]),
             "-" if v["time_to_name_s_median"] is None else f"{v['time_to_name_s_median']:.2f}"]
            for k, v in groups.items()]


COLUMNS = ("", "named strangers", "FPIR [95% CI]", "enrolled not named", "FNIR [95% CI]", "wrong names",
           "time to name s")


def _table(title: str, groups: dict[str, dict]) -> Table:
    t = Table(title=title)
    for col in COLUMNS:
        t.add_column(col)
    for row in _rows(groups):
        t.add_row(*row)
    return t


def print_report(report: dict, console: Console | None = None) -> None:
    """Print the report :func:`peoplelens.bench.openset.evaluate` returns."""
    c = console or Console(width=140)
    cfg, proto = report["config"], report["protocol"]
    c.print(f"[bold]Open-set identification[/] (NIST FRTE 1:N terms): {proto['splits']} galleries per size "
            f"{proto['gallery_sizes']} from {len(proto['identities'])} identities, {proto['scenes']} scenes; "
            f"accept {cfg['accept_threshold']}, cohort margin {cfg['cohort_margin']}, margin {cfg['margin']}")
    for mode, key in (("first sight (nobody seen before)", "operating_point"),
                      ("over a day (strangers seen before are in the cohort)", "operating_point_day")):
        groups = {"all scenes": report[key]}
        if key == "operating_point":
            groups["faces >= 48 px"] = report["faces_48px_and_more"]
        c.print(_table(f"operating point, {mode}", groups))
    op = report["operating_point"]
    c.print(f"stranger trials {op['stranger_trials']} over {op['distinct_stranger_faces']} distinct stranger faces "
            f"(trials share faces: a 0.1 % FPIR claim rests on the distinct faces, 95 % upper bound with none named "
            f"~{300 / max(op['distinct_stranger_faces'], 1):.2f} %)")
    c.print(_table("by gallery size", report["by_gallery_size"]))
    c.print(_table("by face size / scene", report["by_stratum"]))
    c.print(_table("look-alike strangers (their cast or first-name group has enrolled members)",
                   {"look-alikes": report["lookalike_strangers"]}))
    t = Table(title="accept threshold sweep, first sight (FPIR / FNIR curves)")
    for col in ("accept", *(f"{label}: {m}" for label in report["sweep"] for m in ("FPIR", "FNIR", "FNIR >=48px"))):
        t.add_column(col)
    curves = list(report["sweep"].values())
    for i, p in enumerate(curves[0]):
        cells = [f"{p['accept_threshold']:.2f}"]
        for curve in curves:
            q = curve[i]
            cells += [f"{q['false_positives']}/{q['stranger_trials']} " + _pct(q["fpir"]), _pct(q["fnir"]),
                      _pct(q["faces_48px_and_more"]["fnir"])]
        t.add_row(*cells)
    c.print(t)
    for fold in report["cross_validation"]:
        chk = fold["other_half_operating_point"]
        c.print(f"cross-validation: strangers of {len(fold['measured_on'])} identities reach cosine "
                f"{fold['max_stranger_cosine']:.3f} / normalised {fold['max_stranger_normalised']:.3f}; of the other "
                f"half's {fold['other_half_strangers']} stranger tracks {fold['other_half_beyond_cosine']} / "
                f"{fold['other_half_beyond_normalised']} go beyond (their max {fold['other_half_max_cosine']:.3f} / "
                f"{fold['other_half_max_normalised']:.3f}); operating point there: FPIR "
                f"{_pct(chk['fpir'], chk['fpir_ci95'])}, FNIR {_pct(chk['fnir'], chk['fnir_ci95'])}")
    for label, key in (("strangers named", "named_strangers"), ("enrolled people named wrongly",
                                                                 "wrong_names_to_enrolled")):
        if report[key]:
            c.print(f"[red]{label}:[/] " + "; ".join(report[key][:20]))


def _svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    return buf.getvalue()[buf.getvalue().index("<svg"):]


def figures(report: dict) -> list[tuple[str, str]]:
    """(caption, inline SVG) for the curves."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = []
    chosen = report["config"]["accept_threshold"]
    fig, ax = plt.subplots(figsize=(6, 4))
    for (label, curve), marker in zip(report["sweep"].items(), ("o", "^"), strict=False):
        thr = [p["accept_threshold"] for p in curve]
        ax.plot(thr, [100 * p["fpir"] for p in curve], marker + "-", label=f"FPIR, {label}")
        ax.plot(thr, [100 * p["faces_48px_and_more"]["fnir"] for p in curve], marker + "--",
                label=f"FNIR (faces >= 48 px), {label}")
    ax.axvline(chosen, color="grey", ls=":", label=f"chosen {chosen:.2f}")
    ax.set_xlabel("accept threshold (track's mean cosine)")
    ax.set_ylabel("%")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    out.append(("FPIR and FNIR against the accept threshold, with and without the cohort rule", _svg(fig)))
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 4))
    curve = report["sweep"]["cohort"]
    sizes = sorted({int(k) for p in curve for k in p["by_gallery_size"]})
    for size in sizes:
        pts = [p["by_gallery_size"].get(str(size)) for p in curve]
        ax.plot([max(100 * q["fpir"], 1e-3) for q in pts if q], [100 * q["fnir"] for q in pts if q], "o-",
                label=f"{size} enrolled")
    op = report["faces_48px_and_more"]
    ax.plot([max(100 * op["fpir"], 1e-3)], [100 * op["fnir"]], "k*", ms=14, label="operating point")
    ax.set_xscale("log")
    ax.set_xlabel("FPIR % (log; 0 drawn at 0.001 %)")
    ax.set_ylabel("FNIR % (faces >= 48 px)")
    ax.axvline(0.1, color="red", ls=":", label="FPIR 0.1 %")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    out.append(("FNIR against FPIR per gallery size, faces of 48 px and more (the accept threshold swept)",
                _svg(fig)))
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 4))
    strata = report["by_stratum"]
    names = list(strata)
    ax.bar(range(len(names)), [100 * (strata[n]["fnir"] or 0) for n in names], color="tab:orange")
    ax.set_xticks(range(len(names)), names, rotation=40, ha="right")
    ax.set_ylabel("FNIR % at the operating point")
    ax.grid(alpha=0.3, axis="y")
    out.append(("FNIR by face size and scene at the operating point", _svg(fig)))
    plt.close(fig)
    return out


def write_html(report: dict, path: Path) -> None:
    """A self-contained HTML page: the tables and the curves."""
    def table(title: str, groups: dict[str, dict]) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(x)}</td>" for x in row) + "</tr>" for row in _rows(groups))
        return f"<h3>{html.escape(title)}</h3><table><tr>{head}</tr>{body}</table>"

    cfg = report["config"]
    parts = [f"<h1>Open-set identification</h1><p>accept threshold {cfg['accept_threshold']}, cohort margin "
             f"{cfg['cohort_margin']}, margin {cfg['margin']}; protocol {html.escape(str(report['protocol']))}</p>"]
    parts.append(table("operating point", {"first sight": report["operating_point"],
                                           "first sight, faces >= 48 px": report["faces_48px_and_more"],
                                           "over a day": report["operating_point_day"]}))
    parts.append(table("by gallery size", report["by_gallery_size"]))
    parts.append(table("by face size / scene", report["by_stratum"]))
    parts.append(table("look-alike strangers", {"look-alikes": report["lookalike_strangers"]}))
    for caption, svg in figures(report):
        parts.append(f"<figure>{svg}<figcaption>{html.escape(caption)}</figcaption></figure>")
    cv = "".join(f"<li>strangers of {len(f['measured_on'])} identities reach cosine {f['max_stranger_cosine']:.3f} "
                 f"(normalised {f['max_stranger_normalised']:.3f}); {f['other_half_beyond_cosine']} / "
                 f"{f['other_half_beyond_normalised']} of the other half's {f['other_half_strangers']} go beyond; "
                 f"operating point there FPIR {_pct(f['other_half_operating_point']['fpir'])}, FNIR "
                 f"{_pct(f['other_half_operating_point']['fnir'])}</li>" for f in report["cross_validation"])
    parts.append(f"<h3>cross-validation over identities</h3><ul>{cv}</ul>")
    style = ("body{font-family:sans-serif;max-width:1000px;margin:auto}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}figure{display:inline-block}")
    path.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>PeopleLens open-set</title>"
                    f"<style>{style}</style></head><body>{''.join(parts)}</body></html>")
