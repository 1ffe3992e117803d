"""The enrolled people for a run: the same store ``peoplelens enroll`` writes, opened by every command that names.

``run``, ``phone``, ``replay``, ``bench`` and ``demo`` open the store at ``--people PATH``, else
``$PEOPLELENS_STORE``, else ``people.db`` in the per-user data dir (:func:`default_store_path`), and say at start how
many people are enrolled and where the store is, or that nobody is enrolled (everyone will get a click). A store
that does not exist yet is not created by them (only enrolment creates one). A corrupt or tampered store is a clear
error (:class:`~peoplelens.registration_app.errors.StoreError` and its subclasses), never a silent empty gallery.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from peoplelens.registration_app.store import PeopleStore, default_store_path, secret_path_for


@dataclass
class RunPeople:
    """The people store a run names against (``store`` is None when nobody has been enrolled there yet)."""

    path: Path
    store: PeopleStore | None
    count: int

    def describe(self) -> str:
        """One line for the start of a run (the number of people and the store's place, never the names)."""
        if self.store is None:
            return (f"people: nobody is enrolled ({self.path} does not exist yet), so everyone gets a click; "
                    "enrol with `peoplelens enroll NAME PHOTO...`")
        if self.count == 0:
            return f"people: nobody is enrolled in {self.path}, so everyone gets a click"
        return f"people: {self.count} enrolled in {self.path}"


def resolve_store_path(path: str | Path | None = None) -> Path:
    """``path`` (a store file, or a folder holding ``people.db``), else the default store."""
    resolved = Path(path).expanduser() if path else default_store_path()
    return resolved / "people.db" if resolved.is_dir() else resolved


def open_run_people(path: str | Path | None = None) -> RunPeople:
    """Open the store for a run (verified: a tampered, rolled-back or unreadable store raises); nothing is created.
    No store file and no installation key means nobody was enrolled yet; a key without its store is refused (the
    store was lost, see :mod:`peoplelens.registration_app.opening`)."""
    resolved = resolve_store_path(path)
    if not resolved.exists() and not secret_path_for(resolved).exists():
        return RunPeople(resolved, None, 0)
    store = PeopleStore.open(resolved, create=False)
    return RunPeople(resolved, store, len(store.people()))
