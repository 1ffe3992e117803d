"""The sealed SQLite file under the people store: encrypted rows, the sealed manifest, the generation check.

Layout (one SQLite file, plus beside it the installation secret ``<store>.key`` (mode 0600), the generation
record ``<store>.generation`` and the lock ``<store>.lock``, see :mod:`~peoplelens.registration_app.sidecar`):

* ``people(id, nonce, payload)``: ``payload`` is AES-256-GCM of a msgpack record (see
  :mod:`~peoplelens.registration_app.records`) with associated data ``peoplelens/people/v1/<id>``, so a payload
  edited, truncated or moved to another row fails authentication.
* ``meta``: the format version, a key-check value (tells "wrong secret" from "tampered"), and the sealed
  manifest: the store's generation, the face embedder of the vectors, and every row id with the SHA-256 of its
  nonce+payload. A row deleted, added, or rolled back to an older payload no longer matches the manifest.

:class:`SealedDB` knows nothing of what a person is beyond :class:`~peoplelens.registration_app.records.StoredPerson`:
it reads every row after verifying the whole file, and applies a change to the decrypted rows as one SQLite
transaction followed by the new generation. :class:`~peoplelens.registration_app.store.PeopleStore` builds the
people API on it.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import msgpack
import msgspec

from peoplelens.registration_app.crypto import AuthenticationFailedError, open_sealed, seal
from peoplelens.registration_app.errors import (
    StoreError,
    StoreRolledBackError,
    StoreTamperedError,
    WrongSecretError,
)
from peoplelens.registration_app.opening import secret_path_for
from peoplelens.registration_app.records import StoredPerson
from peoplelens.registration_app.secret import DerivedKeys
from peoplelens.registration_app.sidecar import CREATED_GENERATION, GenerationFile, store_lock

__all__ = ["FORMAT", "SealedDB"]

FORMAT = b"1"
_MANIFEST_AAD = b"peoplelens/manifest/v1"


def _row_aad(person_id: int) -> bytes:
    return b"peoplelens/people/v1/%d" % person_id


def _digest(nonce: bytes, payload: bytes) -> bytes:
    return hashlib.sha256(bytes(nonce) + bytes(payload)).digest()


class SealedDB:
    """The verified, sealed SQLite file of one store. Safe to share between threads; the process lock
    (:func:`~peoplelens.registration_app.sidecar.store_lock`) makes writes safe between processes."""

    def __init__(self, path: Path, keys: DerivedKeys) -> None:
        self.path = path
        self._keys = keys
        self._lock = threading.RLock()
        self.generations = GenerationFile(path)
        self._flock_depth = 0
        self.sealed_embedder: str | None = None  # the embedder the vectors come from (sealed in the manifest)

    @contextmanager
    def lock_held_by_caller(self) -> Iterator[None]:
        """The calling thread already holds the process lock of this store: operations inside do not take it."""
        self._flock_depth = 1
        try:
            yield
        finally:
            self._flock_depth = 0

    def connect(self) -> sqlite3.Connection:
        """A new connection (autocommit; transactions are explicit), with ``secure_delete`` on."""
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

    def initialise(self, fresh: bool) -> None:
        """Create the tables when ``fresh``, then verify the whole file and bring the generation record up to
        date (a store from before generations gets one sealed). Call with the process lock held."""
        with self._lock, closing(self.connect()) as conn:
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
                    self.generations.write(CREATED_GENERATION)
                _people, generation = self.read_all(conn)  # verifies format, secret, generation, rows
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"{self.path} is not a PeopleLens store (SQLite says: {exc})") from exc
        recorded = self.generations.read()
        if generation is None:  # a store from before generations existed: seal one now, past "just created"
            self.transaction(lambda _people, _new_id: None)
        elif recorded is None or generation > recorded:  # a crash between a commit and its counter update
            self.generations.write(generation)

    def accept_own_generation(self) -> None:
        """Record the file's own sealed generation as the newest (everything else still verified); a store from
        before generations gets one sealed. Call with the process lock held."""
        with closing(self.connect()) as conn:
            _people, generation = self.read_all(conn, check_generation=False)
        self.generations.write(generation or CREATED_GENERATION)
        if generation is None:
            self.transaction(lambda _people, _new_id: None)

    # ---- verified reading and writing ------------------------------------------------------------------------
    @contextmanager
    def exclusive(self) -> Iterator[None]:
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

    def read_all(self, conn: sqlite3.Connection, check_generation: bool = True
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
            self.sealed_embedder = embedder
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
        recorded = self.generations.read()
        if recorded is None:
            if generation is not None and generation > CREATED_GENERATION:
                raise StoreRolledBackError(
                    f"{self.path}: its generation record {self.generations.path} is missing, so an older copy "
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
        if self.sealed_embedder is not None:
            manifest["embedder"] = self.sealed_embedder
        nonce, sealed = seal(self._keys.store_key, msgpack.packb(manifest), _MANIFEST_AAD)
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('manifest_nonce', ?), ('manifest', ?)", (nonce, sealed))

    def read(self) -> dict[int, StoredPerson]:
        """Every person, verified (one read transaction)."""
        with self._lock, closing(self.connect()) as conn:
            conn.execute("BEGIN")
            try:
                return self.read_all(conn)[0]
            finally:
                conn.execute("COMMIT")

    def transaction(self, change: Callable[[dict[int, StoredPerson], Callable[[], int]], Any],
                    vacuum: bool = False) -> Any:
        """Verify, apply ``change(people, new_id)`` to the decrypted rows, re-seal what changed, commit atomically,
        then record the new generation."""
        with self.exclusive(), closing(self.connect()) as conn:
            try:
                conn.execute("BEGIN IMMEDIATE")
                people, generation = self.read_all(conn)
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
                new_generation = max(generation or CREATED_GENERATION, self.generations.read() or 0) + 1
                self._write_manifest(conn, digests, new_generation)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            self.generations.write(new_generation)  # after the commit: a crash in between is caught up on open
            if vacuum:
                conn.execute("VACUUM")
            return result
