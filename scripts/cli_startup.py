"""Time ``peoplelens --help`` and every ``peoplelens SUBCOMMAND --help``: the median wall and CPU time of
fresh processes (the figure a user feels; the README quotes it). Usage:
``python scripts/cli_startup.py [--runs 7] [--peoplelens PATH]``."""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time

from peoplelens.cli import SUBCOMMANDS


def time_command(args: list[str], runs: int) -> tuple[float, float]:
    """Median wall seconds and median CPU seconds (user + system of the child) of ``args`` over ``runs``."""
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        walls.append(time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    """Print one line per command: median wall and CPU milliseconds."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--peoplelens", default=shutil.which("peoplelens", path=os.path.dirname(sys.executable)))
    args = parser.parse_args()
    exe = args.peoplelens or "peoplelens"
    rows = [("peoplelens --help", [exe, "--help"])]
    rows += [(f"peoplelens {name} --help", [exe, name, "--help"]) for name in sorted(SUBCOMMANDS)]
    print(f"| command | median wall ms ({args.runs} runs) | median CPU ms |")
    print("|---|---|---|")
    worst = 0.0
    for label, command in rows:
        wall, cpu = time_command(command, args.runs)
        worst = max(worst, wall)
        print(f"| `{label}` | {wall * 1000:.0f} | {cpu * 1000:.0f} |")
    print(f"slowest: {worst * 1000:.0f} ms")


if __name__ == "__main__":
    main()
