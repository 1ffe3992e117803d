"""The install as a new user gets it: build the wheel, install it with no extras into a fresh virtual
environment, and use it: ``peoplelens --help`` and every sub-command's ``--help``, enrolment from photos,
a replay to events, and the message a command gives when it needs an extra that is not installed.

Slow (pip installs the base dependencies; pip's cache makes it ~1-2 minutes): run alone with
``pytest -m install``. Needs the package registry (or pip's cache) and the sample bundle.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from peoplelens.cli import SUBCOMMANDS

pytestmark = [pytest.mark.install, pytest.mark.real_assets]

REPO = Path(__file__).resolve().parents[1]
EXTRA_ONLY = ("insightface", "matplotlib", "motmetrics", "pandas", "ray", "fastapi", "uvicorn", "sounddevice",
              "openal", "pytest", "ruff")


def _run(args: list[str], env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def base_install(tmp_path_factory: pytest.TempPathFactory, assets_root: Path) -> tuple[Path, dict[str, str]]:
    """(the fresh venv's bin folder, the environment to run it in)."""
    root = tmp_path_factory.mktemp("install")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env.update(PEOPLELENS_ASSETS=str(assets_root), PEOPLELENS_CACHE=os.environ["PEOPLELENS_CACHE"],
               PEOPLELENS_STORE=str(root / "people.db"), HOME=env.get("HOME", str(root)))
    dist = root / "dist"
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist), str(REPO)], env)
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = dist.glob("peoplelens-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        metadata = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: MIT" in metadata
    assert any(n.endswith("peoplelens/py.typed") for n in names)
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert not any(n.startswith(("tests/", "scripts/")) for n in names)
    venv = root / "venv"
    made = _run([sys.executable, "-m", "venv", str(venv)], env)
    assert made.returncode == 0, made.stderr
    bin_dir = venv / "bin"
    # --no-compile: no .pyc files ahead of time (~15 s of the ~40 s install); imports compile what they use
    installed = _run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet", "--no-compile", str(wheel)], env,
                     timeout=1200)
    assert installed.returncode == 0, installed.stderr[-3000:]
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    return bin_dir, env


def test_no_extra_is_installed(base_install: tuple[Path, dict[str, str]]) -> None:
    bin_dir, env = base_install
    probe = _run([str(bin_dir / "python"), "-c",
                  "import importlib.util, json, sys; print(json.dumps([m for m in sys.argv[1:] "
                  "if importlib.util.find_spec(m)]))", *EXTRA_ONLY], env)
    assert json.loads(probe.stdout) == [], probe.stdout + probe.stderr


def test_every_help_works(base_install: tuple[Path, dict[str, str]]) -> None:
    bin_dir, env = base_install
    top = _run([str(bin_dir / "peoplelens"), "--help"], env)
    assert top.returncode == 0 and all(name in top.stdout for name in SUBCOMMANDS), top.stdout + top.stderr
    for name in SUBCOMMANDS:
        result = _run([str(bin_dir / "peoplelens"), name, "--help"], env)
        assert result.returncode == 0 and f"Usage: peoplelens {name}" in result.stdout, (name, result.stderr)


def test_enrol_then_replay_to_events(base_install: tuple[Path, dict[str, str]], data_dir: Path,
                                      tmp_path: Path) -> None:
    bin_dir, env = base_install
    photos = sorted(str(p) for p in (data_dir / "faces/enroll/lin_manuel_miranda").glob("*.jpg"))
    enrolled = _run([str(bin_dir / "peoplelens"), "enroll", "Lin-Manuel", *photos, "--no-speech"], env)
    assert enrolled.returncode == 0, enrolled.stdout + enrolled.stderr
    listed = _run([str(bin_dir / "peoplelens"), "people", "list"], env)
    assert listed.returncode == 0 and "Lin-Manuel" in listed.stdout, listed.stdout + listed.stderr
    out = tmp_path / "replay"
    replayed = _run([str(bin_dir / "peoplelens"), "replay", str(data_dir / "videos/hamilton_short_clip.mp4"),
                     "--people", env["PEOPLELENS_STORE"], "--out", str(out), "--quiet"], env)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    # the report needs the 'report' extra: skipped, with one line saying how to add it
    assert "report.html skipped" in replayed.stderr and "pip install 'peoplelens[report]'" in replayed.stderr
    assert {"events.jsonl", "frames.jsonl", "summary.json", "overlay.mp4", "audio.wav"} <= {
        p.name for p in out.iterdir()}
    assert not (out / "report.html").exists()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames"] == 275 and "report.html" in summary["skipped_outputs"]
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    assert any(e["sound"] == "name" and e["name"] == "Lin-Manuel" for e in events), events


def test_a_missing_extra_names_the_pip_command(base_install: tuple[Path, dict[str, str]], data_dir: Path,
                                               tmp_path: Path) -> None:
    bin_dir, env = base_install
    video = str(data_dir / "videos/hamilton_short_clip.mp4")
    report = _run([str(bin_dir / "peoplelens"), "replay", video, "--report", "--out", str(tmp_path / "r")], env)
    assert report.returncode == 2, report.stdout + report.stderr
    assert "needs the 'report' extra" in report.stderr and "pip install 'peoplelens[report]'" in report.stderr
    assert "Traceback" not in report.stderr and not (tmp_path / "r" / "events.jsonl").exists()
    bench = _run([str(bin_dir / "peoplelens"), "bench", "--max-frames", "1"], env)
    assert bench.returncode != 0 and "pip install 'peoplelens[baseline]'" in bench.stderr, bench.stderr
    assert "Traceback" not in bench.stderr


def test_doctor_knows_every_extra() -> None:
    """Every extra the package declares is one ``doctor`` reports and ``require`` can name."""
    import tomllib

    from peoplelens.core.extras import EXTRAS
    from peoplelens.models.cli import EXTRA_MODULES

    declared = set(tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]) - {"all", "dev"}
    assert declared == set(EXTRAS) == set(EXTRA_MODULES)
