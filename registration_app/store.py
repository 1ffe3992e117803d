"""The people store: enrolled names with protected face vectors and name audio, encrypted at rest in SQLite.

Layout (one SQLite file, plus beside it the installation secret ``<store>.key`` (mode 0600), the generation
record ``<store>.generation`` and the lock ``<store>.lock``, see :mod:`~peoplelens.registration_app.sidecar`):

* ``people(id, nonce, payload)``: ``payload`` is AES-256-GCM of a msgpack record (see
  :mod:`~peoplelens.registration_app.records`) with associated data ``peoplelens/people/v1/<id>``, so a payload
  edited, truncated or moved to another row fails authentication.
* ``meta``: the format version, a key-check value (tells "wrong secret" from "tampered"), and the sealed
  manifest: the store's generation and every row id with the SHA-256 of its nonce+payload. A row deleted, added,
  or rolled back to an older payload no longer matches the manifest.

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

import hashlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import msgpack
import msgspec
import numpy as np

from peoplelens.registration_app.crypto import AuthenticationFailedError, open_sealed, seal
from peoplelens.registration_app.errors import (
    EmbedderMismatchError,
    PersonNotFoundError,
    StoreError,
    StoreRolledBackError,
    StoreTamperedError,
    WrongSecretError,
)
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
from peoplelens.registration_app.secret import DerivedKeys, read_secret
from peoplelens.registration_app.sidecar import (
    CREATED_GENERATION,
    GenerationFile,
    remove_stale_temporaries,
    store_lock,
)
from peoplelens.registration_app.transfer import (
    MIN_PASSPHRASE_CHARS,
    build_export,
    check_export_passphrase,
    read_export,
    write_export,
)

__all__ = ["MAX_AUDIO_SECONDS", "MAX_NAME_CHARS", "MIN_PASSPHRASE_CHARS", "Gallery", "PeopleStore",
           "PersonNotFoundError", "PersonRecord", "default_store_path", "normalise_name", "secret_path_for"]

FORMAT = b"1"
_MANIFEST_AAD = b"peoplelens/manifest/v1"
LEGACY_EMBEDDER = "arcface_mobileface128"  # the embedder of stores written before the embedder was recorded


def _row_aad(person_id: int) -> bytes:
    return b"peoplelens/people/v1/%d" % person_id


def _digest(nonce: bytes, payload: bytes) -> bytes:
    return hashlib.sha256(bytes(nonce) + bytes(payload)).digest()


class PeopleStore:
    """Encrypted, tamper-evident, rollback-evident store of enrolled people. Safe to share between threads and
    between processes."""

    def __init__(self, path: Path, keys: DerivedKeys) -> None:
        self.path = path
        self._keys = keys
        self._protector = Protector(keys.protect_seed)
        self._lock = threading.RLock()
        self._generations = GenerationFile(path)
        self._flock_depth = 0
        self._sealed_embedder: str | None = None  # the embedder the vectors come from (sealed in the manifest)

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
            store._flock_depth = 1  # this thread holds the lock while initialising
            try:
                store._initialise(fresh)
            finally:
                store._flock_depth = 0
        return store

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            conn.execute("PRAGMA journal_mode=DELETE")
            conn.execute("PRAGMA secure_delete=ON")
            conn.execute("PRAGMA temp_store=MEMORY")
        except sqlite3.OperationalError as exc:
            raise StoreError(f"cannot open the people store {self.path}: {exc}") from exc
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path} is not a PeopleLens store (SQLite says: {exc})") from exc
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the people store {self.path}: {exc}") from exc
        return conn

    def _initialise(self, fresh: bool) -> None:
        with self._lock, closing(self._connect()) as conn:
            try:
                if fresh:
                    os.chmod(self.path, 0o600)
                    conn.execute("BEGIN IMMEDIATE")
                    conn.execute("DROP TABLE IF EXISTS meta")
                    conn.execute("DROP TABLE IF EXISTS people")
                    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL)")
                    conn.execute("CREATE TABLE people (id INTEGER PRIMARY KEY, nonce BLOB NOT NULL, "
                                 "payload BLOB NOT NULL)")
                    conn.execute("INSERT INTO meta VALUES ('format', ?), ('key_check', ?)",
                                 (FORMAT, self._keys.key_check))
                    self._write_manifest(conn, {}, CREATED_GENERATION)
                    conn.execute("COMMIT")
                    self._generations.write(CREATED_GENERATION)
                _people, generation = self._read_all(conn)  # verifies format, secret, generation, rows
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"{self.path} is not a PeopleLens store (SQLite says: {exc})") from exc
        recorded = self._generations.read()
        if generation is None:  # a store from before generations existed: seal one now, past "just created"
            self._transaction(lambda _people, _new_id: None)
        elif recorded is None or generation > recorded:  # a crash between a commit and its counter update
            self._generations.write(generation)

    # ---- verified reading and writing ------------------------------------------------------------------------
    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """This thread holds the store (thread lock, and the process lock once per nesting)."""
        with self._lock:
            if self._flock_depth:
                self._flock_depth += 1
                try:
                    yield
                finally:
                    self._flock_depth -= 1
                return
            with store_lock(self.path):
                self._flock_depth = 1
                try:
                    yield
                finally:
                    self._flock_depth = 0

    def _meta(self, conn: sqlite3.Connection) -> dict[str, bytes]:
        try:
            return {k: bytes(v) for k, v in conn.execute("SELECT key, value FROM meta")}
        except sqlite3.OperationalError as exc:
            raise StoreError(f"{self.path} is not a PeopleLens store ({exc})") from exc

    def _read_all(self, conn: sqlite3.Connection, check_generation: bool = True
                  ) -> tuple[dict[int, StoredPerson], int | None]:
        """Every person and the sealed generation, after checking secret, manifest, generation, rows and tags."""
        meta = self._meta(conn)
        if meta.get("format") != FORMAT:
            raise StoreTamperedError(f"{self.path}: unknown or missing store format {meta.get('format')!r}")
        if "key_check" not in meta or not self._keys.matches_check(meta["key_check"]):
            raise WrongSecretError(f"{self.path} was created with another installation secret; the secret file "
                                   f"{secret_path_for(self.path)} does not belong to it")
        try:
            manifest = msgpack.unpackb(open_sealed(self._keys.store_key, meta.get("manifest_nonce", b""),
                                                   meta.get("manifest", b""), _MANIFEST_AAD), strict_map_key=False)
            expected: dict[int, bytes] = {int(k): bytes(v) for k, v in manifest["rows"].items()}
            generation = manifest.get("generation")
            if generation is not None and (not isinstance(generation, int) or generation < CREATED_GENERATION):
                raise ValueError(generation)
            embedder = manifest.get("embedder")
            if embedder is not None and not isinstance(embedder, str):
                raise ValueError(embedder)
            self._sealed_embedder = embedder
        except (AuthenticationFailedError, ValueError, KeyError, TypeError, AttributeError,
                msgpack.UnpackException) as exc:
            raise StoreTamperedError(f"{self.path}: the store manifest fails authentication; the store was "
                                     "modified outside PeopleLens and is refused") from exc
        if check_generation:
            self._check_generation(generation)
        rows = conn.execute("SELECT id, nonce, payload FROM people").fetchall()
        found = {int(r[0]) for r in rows}
        if found != set(expected):
            missing, extra = sorted(set(expected) - found), sorted(found - set(expected))
            raise StoreTamperedError(f"{self.path}: rows were deleted {missing} or added {extra} outside "
                                     "PeopleLens; the store is refused")
        people: dict[int, StoredPerson] = {}
        for pid, nonce, payload in rows:
            pid = int(pid)
            if not isinstance(nonce, bytes) or not isinstance(payload, bytes) or \
                    _digest(nonce, payload) != expected[pid]:
                raise StoreTamperedError(f"{self.path}: row {pid} was changed outside PeopleLens; store refused")
            try:
                people[pid] = StoredPerson.unpack(pid, open_sealed(self._keys.store_key, nonce, payload,
                                                                   _row_aad(pid)))
            except (AuthenticationFailedError, StoreError, msgspec.MsgspecError) as exc:
                raise StoreTamperedError(f"{self.path}: row {pid} fails authentication; store refused") from exc
        return people, generation

    def _check_generation(self, generation: int | None) -> None:
        recorded = self._generations.read()
        if recorded is None:
            if generation is not None and generation > CREATED_GENERATION:
                raise StoreRolledBackError(
                    f"{self.path}: its generation record {self._generations.path} is missing, so an older copy "
                    "of the store cannot be told from the newest; refused. Put the record back, or if this store "
                    "is the newest copy, run `peoplelens people accept-copy`")
            return
        if (generation or 0) < recorded:
            raise StoreRolledBackError(
                f"{self.path} is an older copy of the store (generation {generation or 0}; the last one written was "
                f"{recorded}): it could bring back people who were forgotten, so it is refused. Put the newest "
                "copy back; if you restored this older copy on purpose, run `peoplelens people accept-copy`")

    def _write_manifest(self, conn: sqlite3.Connection, digests: dict[int, bytes], generation: int) -> None:
        manifest: dict[str, object] = {"rows": digests, "generation": generation}
        if self._sealed_embedder is not None:
            manifest["embedder"] = self._sealed_embedder
        nonce, sealed = seal(self._keys.store_key, msgpack.packb(manifest), _MANIFEST_AAD)
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('manifest_nonce', ?), ('manifest', ?)", (nonce, sealed))

    def _read(self) -> dict[int, StoredPerson]:
        with self._lock, closing(self._connect()) as conn:
            conn.execute("BEGIN")
            try:
                return self._read_all(conn)[0]
            finally:
                conn.execute("COMMIT")

    def _transaction(self, change: Callable[[dict[int, StoredPerson], Callable[[], int]], Any],
                     vacuum: bool = False) -> Any:
        """Verify, apply ``change(people, new_id)`` to the decrypted rows, re-seal what changed, commit atomically,
        then record the new generation."""
        with self._exclusive(), closing(self._connect()) as conn:
            try:
                conn.execute("BEGIN IMMEDIATE")
                people, generation = self._read_all(conn)
                before = set(people)
                counter = [max(before, default=0)]

                def new_id() -> int:
                    counter[0] += 1
                    return counter[0]

                result = change(people, new_id)
                for pid in before - set(people):
                    conn.execute("DELETE FROM people WHERE id = ?", (pid,))
                digests = {int(r[0]): _digest(r[1], r[2])
                           for r in conn.execute("SELECT id, nonce, payload FROM people")}
                for pid, person in people.items():
                    if person.dirty or pid not in before:
                        nonce, payload = seal(self._keys.store_key, person.pack(), _row_aad(pid))
                        conn.execute("INSERT OR REPLACE INTO people VALUES (?, ?, ?)", (pid, nonce, payload))
                        digests[pid] = _digest(nonce, payload)
                        person.dirty = False
                new_generation = max(generation or CREATED_GENERATION, self._generations.read() or 0) + 1
                self._write_manifest(conn, digests, new_generation)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            self._generations.write(new_generation)  # after the commit: a crash in between is caught up on open
            if vacuum:
                conn.execute("VACUUM")
            return result

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
            store = cls(path, DerivedKeys.from_secret(read_secret(secret_file)))
            store._flock_depth = 1
            try:
                with closing(store._connect()) as conn:
                    _people, generation = store._read_all(conn, check_generation=False)
                store._generations.write(generation or CREATED_GENERATION)
                if generation is None:
                    store._transaction(lambda _people, _new_id: None)
            finally:
                store._flock_depth = 0
        return int(store._generations.read() or CREATED_GENERATION)

    # ---- public API ------------------------------------------------------------------------------------------
    def protect(self, embeddings: np.ndarray) -> np.ndarray:
        """Raw (N, 128) embeddings -> protected (N, 128) unit vectors, comparable with :meth:`gallery`."""
        return self._protector.protect(embeddings)

    def embedder(self) -> str | None:
        """The face embedder (registry name) every vector of this store comes from; None while nobody is enrolled.
        Stores written before the embedder was recorded hold ArcFace-128 vectors (the only embedder then)."""
        people = self._read()
        return self._sealed_embedder or (LEGACY_EMBEDDER if people else None)

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
            self._sealed_embedder = embedder
            try:
                person = find_person(people, clean)
                person.vectors = np.concatenate([person.vectors, protected])
            except PersonNotFoundError:
                pid = new_id()
                person = people[pid] = StoredPerson(pid, clean, time.time(), protected)
            person.dirty = True
            return person.record()

        return self._transaction(change)

    def people(self) -> list[PersonRecord]:
        """Everyone enrolled, in enrolment order."""
        return [p.record() for _, p in sorted(self._read().items())]

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

        return self._transaction(change, vacuum=True)

    def forget(self, name: str) -> None:
        """Delete a person and every trace of them (row, vectors, audio; then VACUUM)."""

        def change(people: dict[int, StoredPerson], _new_id: Callable[[], int]) -> None:
            del people[find_person(people, name).person_id]

        self._transaction(change, vacuum=True)

    def gallery(self) -> Gallery:
        """All protected vectors with their owners, for matching protected live embeddings."""
        people = [p for _, p in sorted(self._read().items())]
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

        self._transaction(change, vacuum=True)

    def name_audio(self, name: str) -> tuple[np.ndarray, int] | None:
        """The stored spoken name as (float32 mono samples, sample rate), or None if there is none."""
        person = find_person(self._read(), name)
        if person.audio is None or person.sample_rate is None:
            return None
        return np.frombuffer(person.audio, dtype="<i2").astype(np.float32) / 32768.0, int(person.sample_rate)

    # ---- moving people between installations ----------------------------------------------------------------
    def export_encrypted(self, path: str | Path, passphrase: str) -> int:
        """Write everyone to ``path`` encrypted under a passphrase (scrypt + AES-256-GCM); returns the count.

        The passphrase must be strong (see :func:`~peoplelens.registration_app.transfer.check_export_passphrase`).
        Vectors are mapped back from this installation's protected space in memory (so another installation
        can apply its own transform) and only ever written encrypted."""
        people = [p for _, p in sorted(self._read().items())]
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

        return self._transaction(change)
