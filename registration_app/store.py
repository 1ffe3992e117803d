"""The people store: enrolled names with protected face vectors and name audio, encrypted at rest in SQLite.

The sealed file itself (layout, manifest, generation check, transactions) is
:mod:`~peoplelens.registration_app.sealed_db`; this module is the people API on it: enrol, list, rename, forget,
the matching gallery, spoken names, and moving people between installations.

What the store promises:

* Every operation first verifies the whole store (ids, digests, tags) and refuses with
  :class:`StoreTamperedError` before changing anything. Writes are single SQLite transactions.
* A whole ``people.db`` put back from an older copy is refused (:class:`StoreRolledBackError`): its sealed
  generation is behind the generation record kept outside it, so a forgotten person cannot come back.
* A ``people.db`` that is missing or empty while its key and generation record say people were written is refused
  (:class:`StoreLostError`), never taken for a new empty store.
* Opening is safe when several processes do it at once: the lock is taken, then the files are looked at and the
  store created at most once. The key is created atomically, so a crash never leaves a half-written key.
* ``forget`` and ``rename`` run with ``secure_delete`` and end with ``VACUUM`` so no free page keeps the old
  ciphertext.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from peoplelens.registration_app.errors import EmbedderMismatchError, PersonNotFoundError, StoreError
from peoplelens.registration_app.opening import default_store_path, has_data, resolve_keys, secret_path_for
from peoplelens.registration_app.protect import EMBEDDING_DIM, Protector, check_embeddings
from peoplelens.registration_app.records import (
    MAX_AUDIO_SECONDS,
    MAX_NAME_CHARS,
    Gallery,
    PersonRecord,
    StoredPerson,
    find_person,
    normalise_name,
    pcm16_bytes,
)
from peoplelens.registration_app.sealed_db import SealedDB
from peoplelens.registration_app.secret import DerivedKeys, read_secret
from peoplelens.registration_app.sidecar import CREATED_GENERATION, remove_stale_temporaries, store_lock
from peoplelens.registration_app.transfer import (
    MIN_PASSPHRASE_CHARS,
    build_export,
    check_export_passphrase,
    read_export,
    write_export,
)

__all__ = ["MAX_AUDIO_SECONDS", "MAX_NAME_CHARS", "MIN_PASSPHRASE_CHARS", "Gallery", "PeopleStore",
           "PersonNotFoundError", "PersonRecord", "default_store_path", "normalise_name", "secret_path_for"]

LEGACY_EMBEDDER = "arcface_mobileface128"  # the embedder of stores written before the embedder was recorded


class PeopleStore:
    """Encrypted, tamper-evident, rollback-evident store of enrolled people. Safe to share between threads and
    between processes."""

    def __init__(self, path: Path, keys: DerivedKeys) -> None:
        self.path = path
        self._protector = Protector(keys.protect_seed)
        self._db = SealedDB(path, keys)

    # ---- opening -------------------------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path | None = None, secret_path: str | Path | None = None, *,
             create: bool = True) -> PeopleStore:
        """Open the store at ``path`` (default :func:`default_store_path`; a folder means ``folder/people.db``),
        creating it and its secret when there is none and ``create``."""
        path = Path(path).expanduser() if path else default_store_path()
        if path.is_dir():
            path = path / "people.db"
        secret_file = Path(secret_path) if secret_path else secret_path_for(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the store folder {path.parent}: {exc}") from exc
        with store_lock(path):  # lock, then decide: concurrent first opens create the store once
            remove_stale_temporaries(path.parent, path.name)
            keys, fresh = resolve_keys(path, secret_file, create)
            store = cls(path, keys)
            with store._db.lock_held_by_caller():  # this thread holds the lock while initialising
                store._db.initialise(fresh)
        return store

    @classmethod
    def accept_copy(cls, path: str | Path | None = None, secret_path: str | Path | None = None) -> int:
        """Record the store file's own generation as the newest, after an older copy was restored on purpose or
        the generation record was lost; returns it. Everything else (key, manifest, rows) is still verified."""
        path = Path(path).expanduser() if path else default_store_path()
        if path.is_dir():
            path = path / "people.db"
        secret_file = Path(secret_path) if secret_path else secret_path_for(path)
        if not has_data(path):
            raise StoreError(f"there is no people store at {path}")
        with store_lock(path):
            db = SealedDB(path, DerivedKeys.from_secret(read_secret(secret_file)))
            with db.lock_held_by_caller():
                db.accept_own_generation()
        return int(db.generations.read() or CREATED_GENERATION)

    # ---- public API ------------------------------------------------------------------------------------------
    def protect(self, embeddings: np.ndarray) -> np.ndarray:
        """Raw (N, 128) embeddings -> protected (N, 128) unit vectors, comparable with :meth:`gallery`."""
        return self._protector.protect(embeddings)

    def embedder(self) -> str | None:
        """The face embedder (registry name) every vector of this store comes from; None while nobody is enrolled.
        Stores written before the embedder was recorded hold ArcFace-128 vectors (the only embedder then)."""
        people = self._db.read()
        return self._db.sealed_embedder or (LEGACY_EMBEDDER if people else None)

    def enroll(self, name: str, embeddings: np.ndarray, embedder: str = LEGACY_EMBEDDER) -> PersonRecord:
        """Protect raw unit embeddings (N, 128) of the face embedder ``embedder`` and store them under ``name``
        (added to an existing person). Vectors of two embedders never mix in one store."""
        clean = normalise_name(name)
        raw = check_embeddings(embeddings, EMBEDDING_DIM)
        if len(raw) == 0:
            raise StoreError("nothing to enrol: no embedding given")
        current = self.embedder()
        if current is not None and current != embedder:
            raise EmbedderMismatchError(
                f"{self.path} holds {current} vectors; enrolling with {embedder} would mix two embedders whose "
                "similarities are not comparable. Use the model set the store was enrolled with ([models] set), "
                "or enrol everyone again into a new store (--store / $PEOPLELENS_STORE)")
        protected = self.protect(raw)

        def change(people: dict[int, StoredPerson], new_id: Callable[[], int]) -> PersonRecord:
            self._db.sealed_embedder = embedder
            try:
                person = find_person(people, clean)
                person.vectors = np.concatenate([person.vectors, protected])
            except PersonNotFoundError:
                pid = new_id()
                person = people[pid] = StoredPerson(pid, clean, time.time(), protected)
            person.dirty = True
            return person.record()

        return self._db.transaction(change)

    def people(self) -> list[PersonRecord]:
        """Everyone enrolled, in enrolment order."""
        return [p.record() for _, p in sorted(self._db.read().items())]

    def rename(self, old: str, new: str) -> PersonRecord:
        """Give an enrolled person another name (refused if ``new`` belongs to someone else)."""
        clean = normalise_name(new)

        def change(people: dict[int, StoredPerson], _new_id: Callable[[], int]) -> PersonRecord:
            person = find_person(people, old)
            other = next((p for p in people.values() if p.name.casefold() == clean.casefold()), None)
            if other is not None and other is not person:
                raise StoreError(f"{clean!r} is already enrolled; forget one of them or choose another name")
            person.name, person.dirty = clean, True
            return person.record()

        return self._db.transaction(change, vacuum=True)

    def forget(self, name: str) -> None:
        """Delete a person and every trace of them (row, vectors, audio; then VACUUM)."""

        def change(people: dict[int, StoredPerson], _new_id: Callable[[], int]) -> None:
            del people[find_person(people, name).person_id]

        self._db.transaction(change, vacuum=True)

    def gallery(self) -> Gallery:
        """All protected vectors with their owners, for matching protected live embeddings."""
        people = [p for _, p in sorted(self._db.read().items())]
        if not people:
            return Gallery([], np.zeros((0, EMBEDDING_DIM), np.float32), np.zeros(0, np.int64))
        return Gallery([p.name for p in people], np.concatenate([p.vectors for p in people]).astype(np.float32),
                       np.concatenate([np.full(len(p.vectors), i, np.int64) for i, p in enumerate(people)]))

    def set_name_audio(self, name: str, pcm: np.ndarray, sample_rate: int) -> None:
        """Store the spoken name (mono float in [-1, 1] or int16) encrypted with the person."""
        data = pcm16_bytes(pcm, sample_rate)

        def change(people: dict[int, StoredPerson], _new_id: Callable[[], int]) -> None:
            person = find_person(people, name)
            person.audio, person.sample_rate, person.dirty = data, int(sample_rate), True

        self._db.transaction(change, vacuum=True)

    def name_audio(self, name: str) -> tuple[np.ndarray, int] | None:
        """The stored spoken name as (float32 mono samples, sample rate), or None if there is none."""
        person = find_person(self._db.read(), name)
        if person.audio is None or person.sample_rate is None:
            return None
        return np.frombuffer(person.audio, dtype="<i2").astype(np.float32) / 32768.0, int(person.sample_rate)

    # ---- moving people between installations ----------------------------------------------------------------
    def export_encrypted(self, path: str | Path, passphrase: str) -> int:
        """Write everyone to ``path`` encrypted under a passphrase (scrypt + AES-256-GCM); returns the count.

        The passphrase must be strong (see :func:`~peoplelens.registration_app.transfer.check_export_passphrase`).
        Vectors are mapped back from this installation's protected space in memory (so another installation
        can apply its own transform) and only ever written encrypted."""
        people = [p for _, p in sorted(self._db.read().items())]
        check_export_passphrase(passphrase, [p.name for p in people])
        records = [(p.name, p.created, self._protector.unprotect(p.vectors), p.audio, p.sample_rate) for p in people]
        write_export(path, build_export(records, passphrase))
        return len(records)

    def import_encrypted(self, path: str | Path, passphrase: str) -> list[PersonRecord]:
        """Add everyone from an export file (people with the same name get the vectors added); all or nothing:
        the file is decrypted and every record validated before the store is changed."""
        incoming = [(name, created, self.protect(raw), audio, sr)
                    for name, created, raw, audio, sr in read_export(path, passphrase)]

        def change(people: dict[int, StoredPerson], new_id: Callable[[], int]) -> list[PersonRecord]:
            out = []
            for name, created, vectors, audio, sr in incoming:
                try:
                    person = find_person(people, name)
                    person.vectors = np.concatenate([person.vectors, vectors])
                except PersonNotFoundError:
                    pid = new_id()
                    person = people[pid] = StoredPerson(pid, name, created, vectors)
                if audio is not None and person.audio is None:
                    person.audio, person.sample_rate = audio, sr
                person.dirty = True
                out.append(person.record())
            return out

        return self._db.transaction(change)
