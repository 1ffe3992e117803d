"""People for a replay: an existing store (``--people``) or a temporary one enrolled from ``DIR/<person>/*.jpg``.

The temporary store (and its per-installation secret) lives in a temporary folder that is deleted when the
replay ends; only protected embedding vectors are stored, photos are decoded in memory and dropped.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from peoplelens.registration_app.store import PeopleStore
from peoplelens.sim_harness.errors import ReplayError

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass
class EnrolledPeople:
    """A store plus what enrolling it said (names enrolled, names skipped with why)."""

    store: PeopleStore | None
    enrolled: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    name_map: dict[str, str] = field(default_factory=dict)  # stored (normalised) name -> folder name
    seconds: float = 0.0  # how long enrolling took
    description: str = ""  # one line for the start of a run (how many, where)
    photos: int = 0  # photos looked at
    photos_with_face: int = 0  # ... in which enrolment found a face (its detector retries padded photos)
    photos_used: int = 0  # ... that passed every enrolment check and went into a gallery
    _tmp: tempfile.TemporaryDirectory | None = None

    def close(self) -> None:
        """Delete a temporary store."""
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> EnrolledPeople:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_people(path: str | Path | None = None) -> EnrolledPeople:
    """The people store ``peoplelens enroll`` writes (``path``, else ``$PEOPLELENS_STORE``, else the per-user data
    dir); an empty result (``store`` None) when nobody has been enrolled there yet. A tampered store raises."""
    from peoplelens.registration_app.people import open_run_people

    run_people = open_run_people(path)
    store = run_people.store
    people = EnrolledPeople(store, [p.name for p in store.people()] if store is not None else [])
    people.description = run_people.describe()
    return people


def enroll_folder(folder: str | Path) -> EnrolledPeople:
    """Enrol every ``folder/<person>/*.jpg`` into a temporary store (the registration module's enrolment)."""
    from peoplelens.registration_app.enroll import default_analyzer, enroll_photos

    folder = Path(folder)
    if not folder.is_dir():
        raise ReplayError(f"--enroll-dir {folder} is not a folder")
    people = sorted(p for p in folder.iterdir() if p.is_dir())
    if not people:
        raise ReplayError(f"--enroll-dir {folder} has no <person>/ sub-folders")
    tmp = tempfile.TemporaryDirectory(prefix="peoplelens-replay-")
    result = EnrolledPeople(PeopleStore.open(Path(tmp.name) / "people.db"), _tmp=tmp)
    t0 = time.perf_counter()
    store = result.store
    assert store is not None
    try:
        analyzer = default_analyzer()
        for person in people:
            photos = sorted(p for p in person.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
            if not photos:
                result.skipped[person.name] = "no photos"
                continue
            report = enroll_photos(store, person.name, photos, analyzer=analyzer, speak=False)
            result.photos += report.n_photos
            result.photos_used += report.n_used
            result.photos_with_face += report.n_photos - sum(
                any(r.startswith(("no face found", "not a usable image")) for r in reasons)
                for _, reasons in report.rejected)
            if report.enrolled:
                result.enrolled.append(person.name)
                result.name_map[report.record.name if report.record else person.name] = person.name
            else:
                result.skipped[person.name] = report.message
    except BaseException:
        result.close()
        raise
    result.seconds = time.perf_counter() - t0
    result.description = (f"people: {len(result.enrolled)} enrolled from {folder} into a temporary store"
                          + (f" (skipped: {', '.join(result.skipped)})" if result.skipped else ""))
    if not result.enrolled:
        result.close()
        raise ReplayError(f"nobody could be enrolled from {folder}: {result.skipped}")
    return result
