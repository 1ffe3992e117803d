"""Enrol the benchmark's people into a temporary, protected store: the replay harness's enrolment
(:func:`peoplelens.sim_harness.enrollment.enroll_folder`), with its errors reported as benchmark errors."""

from __future__ import annotations

from pathlib import Path

from peoplelens.bench.errors import BenchError
from peoplelens.sim_harness.enrollment import EnrolledPeople, enroll_folder
from peoplelens.sim_harness.errors import ReplayError


def enroll_people(folder: Path) -> EnrolledPeople:
    """Enrol every ``folder/<person>/*.jpg`` (photos decoded in memory only; just protected vectors are kept)."""
    if not Path(folder).is_dir():
        raise BenchError(f"enrolment folder {folder} does not exist")
    try:
        return enroll_folder(folder)
    except ReplayError as exc:
        raise BenchError(str(exc)) from None
