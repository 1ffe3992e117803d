"""Enrol the benchmark's people into a temporary, protected store (the registration module's own enrolment)."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.errors import BenchError

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass
class BenchPeople:
    """A temporary :class:`registration_app.store.PeopleStore` and what enrolling it said."""

    store: object
    enrolled: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    name_map: dict[str, str] = field(default_factory=dict)  # stored (normalised) name -> folder name
    seconds: float = 0.0
    _tmp: tempfile.TemporaryDirectory | None = None

    def close(self) -> None:
        """Delete the temporary store and its secret."""
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def enroll_people(folder: Path) -> BenchPeople:
    """Enrol every ``folder/<person>/*.jpg`` (photos decoded in memory only; just protected vectors are kept)."""
    from registration_app.enroll import default_analyzer, enroll_photos
    from registration_app.store import PeopleStore

    if not folder.is_dir():
        raise BenchError(f"enrolment folder {folder} does not exist")
    persons = sorted(p for p in folder.iterdir() if p.is_dir())
    if not persons:
        raise BenchError(f"enrolment folder {folder} has no <person>/ sub-folders")
    tmp = tempfile.TemporaryDirectory(prefix="peoplelens-bench-people-")
    people = BenchPeople(PeopleStore.open(Path(tmp.name) / "people.db"), _tmp=tmp)
    t0 = time.perf_counter()
    try:
        analyzer = default_analyzer()
        for person in persons:
            photos = sorted(p for p in person.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
            if not photos:
                people.skipped[person.name] = "no photos"
                continue
            report = enroll_photos(people.store, person.name, photos, analyzer=analyzer, speak=False)
            if report.enrolled:
                people.enrolled.append(person.name)
                people.name_map[report.record.name if report.record else person.name] = person.name
            else:
                people.skipped[person.name] = report.message
    except BaseException:
        people.close()
        raise
    people.seconds = time.perf_counter() - t0
    if not people.enrolled:
        people.close()
        raise BenchError(f"nobody could be enrolled from {folder}: {people.skipped}")
    return people
