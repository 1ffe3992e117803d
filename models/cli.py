"""``peoplelens assets list|fetch|verify|import`` and ``peoplelens doctor``."""

from __future__ import annotations

import importlib.metadata
import platform
import sys
from functools import cache
from typing import Any

import click

from peoplelens.models.assets import AssetManager, AssetStatus, default_manager
from peoplelens.models.errors import AssetError
from peoplelens.models.registry import MODELS, AssetSpec, all_assets, data_assets, get_spec

# rich is imported when something is printed, so `--help` stays fast


@cache
def _console() -> Any:
    from rich.console import Console

    return Console()


def _table(title: str) -> Any:
    from rich.table import Table

    return Table(title=title)


def _select(names: tuple[str, ...], include_data: bool) -> list[AssetSpec]:
    if names:
        try:
            return [get_spec(n) for n in names]
        except KeyError as exc:
            raise AssetError(str(exc.args[0])) from None
    return list(all_assets() if include_data else MODELS)


def _status_table(results: list[AssetStatus], title: str) -> Any:
    table = _table(title)
    for col in ("asset", "status", "where / problem"):
        table.add_column(col, overflow="fold")
    for r in results:
        mark = "[green]ok[/green]" if r.ok else "[red]MISSING/BAD[/red]"
        table.add_row(r.spec.name, mark, str(r.path) if r.ok else r.problem)
    return table


@click.group()
def assets() -> None:
    """Model and sample-data assets: list, fetch (download + verify), verify, import."""


@assets.command("list")
@click.option("--data/--no-data", default=False, help="Also list the sample recordings and photos.")
def list_assets(data: bool) -> None:
    """Every asset with its role, licence, size, sha256, official source and whether it is present."""
    manager = default_manager()
    table = _table("PeopleLens assets")
    for col in ("name", "size", "present", "licence", "role"):
        table.add_column(col, overflow="fold")
    specs = list(MODELS) + (list(data_assets()) if data else [])
    for spec in specs:
        ok = manager.check(spec).ok
        table.add_row(spec.name, f"{spec.size:,}", "[green]yes[/green]" if ok else "[red]no[/red]", spec.licence,
                      spec.role)
    _console().print(table)
    _console().print("[bold]sources and checksums[/bold]")
    for spec in specs:
        source = spec.url or (f"{spec.archive.url} (member {spec.archive.member})" if spec.archive else
                              "PeopleLens sample bundle only")
        _console().print(f"  {spec.name}: sha256 {spec.sha256}\n    {source}", soft_wrap=True)
    _console().print(
        "[yellow]Note:[/yellow] InsightFace-derived weights (det_2.5g, det_500m, arcface_mobileface128) are for "
        "non-commercial research only. Use yunet for a permissive face detector."
    )


@assets.command()
@click.argument("names", nargs=-1)
@click.option("--data/--no-data", default=False, help="Also fetch the sample recordings and photos.")
def fetch(names: tuple[str, ...], data: bool) -> None:
    """Make assets available: keep verified copies, download and verify the rest (resumable, atomic)."""
    manager = default_manager()
    specs = _select(names, data)
    from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn, TransferSpeedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  console=_console(), transient=True) as progress:
        tasks: dict[str, TaskID] = {}

        def report(name: str, done: int, total: int) -> None:
            if name not in tasks:
                tasks[name] = progress.add_task(f"downloading {name}", total=total or None)
            progress.update(tasks[name], completed=done, total=total or None)

        results = manager.fetch(specs, progress=report)
    bad = [r for r in results if not r.ok]
    where = manager.offline_dir or manager.cache_dir
    _console().print(f"{len(results) - len(bad)}/{len(results)} assets present and verified (looked in {where}"
                  f"{' and ' + str(manager.cache_dir) if manager.offline_dir else ''})")
    if bad:
        _console().print(_status_table(bad, "Assets that could not be obtained"))
        raise AssetError(f"{len(bad)} asset(s) missing or bad; see the table above")


@assets.command()
@click.argument("names", nargs=-1)
@click.option("--data/--no-data", default=True, help="Also verify the sample recordings and photos.")
def verify(names: tuple[str, ...], data: bool) -> None:
    """Check every asset's size and sha256 where it is found; exit 2 when any is missing or bad."""
    manager = default_manager()
    results = [manager.check(s) for s in _select(names, data)]
    bad = [r for r in results if not r.ok]
    _console().print(_status_table(bad or results[:0], "Problems") if bad else
                  f"[green]all {len(results)} assets verified[/green]")
    if bad:
        raise AssetError(f"{len(bad)} of {len(results)} assets missing or bad")


@assets.command("import")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
def import_(directory: str) -> None:
    """Copy verified assets from DIRECTORY (bundle layout or loose files) into the user cache."""
    manager: AssetManager = default_manager()
    results = manager.import_dir(directory)
    got = [r for r in results if r.ok]
    _console().print(f"imported {len(got)} of {len(results)} registry assets into {manager.cache_dir}")
    wrong = [r for r in results if not r.ok and "not in" not in r.problem]
    if wrong:
        _console().print(_status_table(wrong, "Files found but rejected (checksum mismatch)"))


#: extra -> the modules it installs (for `doctor`)
EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "audio": ("sounddevice", "openal"), "web": ("fastapi", "uvicorn", "segno"),
    "report": ("matplotlib", "motmetrics"), "ray": ("ray",), "baseline": ("insightface",),
    "eval": ("trackers", "motmetrics"), "gpu": (),
}


@assets.command()
@click.argument("names", nargs=-1)
@click.option("--method", type=click.Choice(["minmax", "average", "entropy", "percentile"]), default=None,
              help="Calibration method (default: each model's recipe, see models/quantize.py).")
@click.option("--frames-per-video", type=click.IntRange(min=1, max=100), default=6, show_default=True,
              help="Calibration frames taken from each sample video (detectors).")
def quantize(names: tuple[str, ...], method: str | None, frames_per_video: int) -> None:
    """Make int8 (QDQ) variants of the face detectors, the embedder and the person detector in the asset cache,
    calibrated on the sample videos and enrolment photos (needs the sample data: --data assets)."""
    from peoplelens.models.quantize import quantize_all

    console = _console()
    results = quantize_all(list(names) or None, frames_per_video=frames_per_video, method=method,
                           say=lambda text: console.print(f"[dim]{text}[/dim]"))
    for r in results:
        m = r.manifest
        console.print(f"{r.name}: {r.path}\n  sha256 {m.sha256} ({m.size:,} bytes), {len(r.float_nodes)} nodes kept "
                      f"float, {m.recipe['method']} calibration on {m.calibration['inputs']} inputs from "
                      f"{len(m.calibration['assets'])} assets; manifest beside it", soft_wrap=True)
    console.print("Use them with PEOPLELENS_PRECISION=int8 (or per model: det_500m=int8,...), or precision=\"int8\" "
                  "in the detector/embedder options.")


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


@click.command()
def doctor() -> None:
    """Versions, extras, the model set and its licences, ONNX Runtime providers (and whether CUDA really comes up),
    and which assets are usable."""
    import onnxruntime as ort
    from rich.markup import escape

    from peoplelens.core.config import load_config
    from peoplelens.core.extras import EXTRAS, available, install_hint
    from peoplelens.models.model_sets import configured_model_set
    from peoplelens.models.sessions import SessionConfig, resolve_providers

    _console().print(f"python {sys.version.split()[0]} on {platform.platform()}")
    table = _table("packages")
    table.add_column("package")
    table.add_column("version")
    for dist in ("peoplelens", "onnxruntime", "onnxruntime-gpu", "opencv-python", "numpy", "onnx", "msgspec",
                 "cryptography", "ai-edge-litert", "pyzmq"):
        table.add_row(dist, _version(dist))
    _console().print(table)
    extras = _table(escape("extras (pip install 'peoplelens[NAME]')"))
    for column in ("extra", "installed", "adds"):
        extras.add_column(column)
    for extra, adds in EXTRAS.items():
        installed = (all(available(m) for m in EXTRA_MODULES[extra]) if EXTRA_MODULES[extra]
                     else _version("onnxruntime-gpu") != "not installed")
        extras.add_row(extra, "yes" if installed else escape(f"no: {install_hint(extra)}"), adds)
    _console().print(extras)
    both = _version("onnxruntime") != "not installed" and _version("onnxruntime-gpu") != "not installed"
    if both:
        _console().print("[red]both onnxruntime and onnxruntime-gpu are installed; they shadow each other. "
                      "Run `bash scripts/setup.sh --gpu` to keep only the GPU build.[/red]")
    providers = ort.get_available_providers()
    _console().print(f"onnxruntime {ort.__version__} providers available: {', '.join(providers)}")
    usable, reasons = resolve_providers(SessionConfig.from_env().providers)
    _console().print(f"providers that will be used, in order: {', '.join(usable)}")
    for r in reasons:
        _console().print(f"  [dim]{r}[/dim]")
    manager = default_manager()
    _console().print(f"offline asset dir ($PEOPLELENS_ASSETS): {manager.offline_dir or 'not set'}")
    _console().print(f"asset cache: {manager.cache_dir}")
    results = [manager.check(s) for s in MODELS]
    _console().print(_status_table(results, "model assets"))
    chosen = configured_model_set(load_config())
    _console().print(f"model set: [bold]{chosen.name}[/bold] (\\[models] set = 'research' or 'permissive'): "
                  f"faces {chosen.face_detector}, embedder {chosen.embedder}, bodies {chosen.person_detector}, "
                  f"head pose {chosen.head_pose}; identity accept {chosen.thresholds.accept}, "
                  f"reject {chosen.thresholds.reject}")
    colour = "green" if chosen.commercial_use else "yellow"
    _console().print(f"  [{colour}]licence: {chosen.licence}[/{colour}]")
    missing = [name for name in chosen.assets if not manager.check(get_spec(name)).ok]
    if missing:
        _console().print(f"  [red]missing: {', '.join(missing)}: "
                         f"run `peoplelens assets fetch {' '.join(missing)}`[/red]")
    data_ok = sum(manager.check(s).ok for s in data_assets())
    _console().print(f"sample data assets present and verified: {data_ok}/{len(data_assets())}")
    spec = get_spec("det_500m")
    status = manager.check(spec)
    if status.ok and status.path is not None:  # what a session really runs on, not only what was asked for
        from peoplelens.models.sessions import create_session, provider_report

        report = provider_report(create_session(status.path, SessionConfig.from_env()))
        _console().print(f"session check: {report.describe()}", soft_wrap=True)
