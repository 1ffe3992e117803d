"""A fast CLI: ``peoplelens --help`` imports no sub-command, and ``peoplelens SUBCOMMAND --help`` imports no
heavy library (they are imported inside the command functions). Checked on the modules each run loaded,
not on a clock (timings live in the README: ``python scripts/cli_startup.py``)."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import click
import pytest

from peoplelens.cli import SUBCOMMANDS

#: libraries that cost tens to hundreds of milliseconds to import; none is needed to print help
HEAVY = ("numpy", "cv2", "onnxruntime", "onnx", "scipy", "zmq", "msgpack", "fastapi", "starlette", "uvicorn",
         "cryptography", "matplotlib", "motmetrics", "pandas", "ray", "insightface", "requests",
         "sounddevice", "openal", "tqdm", "ai_edge_litert", "PIL", "sklearn", "skimage")

_PROBE = """
import json, sys
from peoplelens.cli import main
sys.argv = ["peoplelens", *json.loads(sys.argv[1])]
try:
    main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
print("\\n" + json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def _run_help(args: list[str], env: dict[str, str] | None = None) -> tuple[int, set[str], str]:
    """Run ``peoplelens ARGS`` in a fresh interpreter; its exit code, the modules it loaded, its output."""
    import os

    proc = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(args)], capture_output=True, text=True,
                          timeout=120, check=False, env={**os.environ, **(env or {})})
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    return report["code"], set(report["modules"]), proc.stdout + proc.stderr


def _heavy(modules: set[str]) -> list[str]:
    return sorted({m.split(".")[0] for m in modules} & set(HEAVY))


def test_top_level_help_imports_no_subcommand() -> None:
    code, modules, out = _run_help(["--help"])
    assert code in (0, None)
    assert all(name in out for name in SUBCOMMANDS)
    own = sorted(m for m in modules if m.startswith("peoplelens."))
    assert own == ["peoplelens.cli", "peoplelens.core", "peoplelens.core.errors"], own
    assert not _heavy(modules), _heavy(modules)


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_subcommand_help_imports_nothing_heavy(name: str) -> None:
    code, modules, out = _run_help([name, "--help"])
    assert code in (0, None), out
    assert f"peoplelens {name}" in out
    assert not _heavy(modules), f"`peoplelens {name} --help` imported {_heavy(modules)}"


def test_static_help_table_matches_the_commands() -> None:
    for name, (target, short_help) in SUBCOMMANDS.items():
        module_name, attr = target.split(":")
        command = getattr(importlib.import_module(module_name), attr)
        assert isinstance(command, click.Command), target
        assert command.name == name, (name, command.name)
        assert command.get_short_help_str(limit=10_000) == short_help, name


def test_completion_lists_subcommands_without_importing_them() -> None:
    code, modules, out = _run_help([], env={"_PEOPLELENS_COMPLETE": "bash_complete", "COMP_WORDS": "peoplelens re",
                                            "COMP_CWORD": "1"})
    assert code in (0, None), out
    completions = [line.split(",", 1)[1] for line in out.splitlines() if line.startswith("plain,")]
    assert completions == ["register-app", "replay"], out
    assert not [m for m in modules if m.startswith("peoplelens.") and m not in (
        "peoplelens.cli", "peoplelens.core", "peoplelens.core.errors")]
