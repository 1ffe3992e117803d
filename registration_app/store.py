"""The people store: enrolled names with protected face vectors and name audio, encrypted at rest in SQLite.

Layout (one SQLite file, plus the installation secret ``<store>.key`` next to it, mode 0600):

* ``people(id, nonce, payload)``: ``payload`` is AES-256-GCM of a msgpack record (name, created, protected
  float32 vectors, optional int16 name audio) with associated data ``peoplelens/people/v1/<id>``, so a payload
  edited, truncated or moved to another row fails authentication.
* ``meta``: the format version, a key-check value (tells "wrong secret" from "tampered"), and the sealed
  manifest: every row id with the SHA-256 of its nonce+payload. A row deleted, added, or rolled back to an
  older payload no longer matches the manifest.

Every operation first verifies the whole store (ids, digests, tags) and refuses with
:class:`StoreTamperedError` before changing anything. Writes are single SQLite transactions. ``forget`` and
``rename`` run with ``secure_delete`` and end with ``VACUUM`` so no free page keeps the old ciphertext.
Not detected: replacing the whole file (db + manifest) with an older copy of itself.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
import unicodedata
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack
import numpy as np

from peoplelens.registration_app.crypto import (
    NONCE_BYTES,
    SALT_BYTES,
    SCRYPT_N,
    SCRYPT_P,
    SCRYPT_R,
    AuthenticationFailedError,
    open_sealed,
    passphrase_key,
    seal,
)
from peoplelens.registration_app.errors import (
    ExportError,
    PersonNotFoundError,
    StoreError,
    StoreTamperedError,
    WrongSecretError,
)
from peoplelens.registration_app.protect import EMBEDDING_DIM, Protector, check_embeddings
from peoplelens.registration_app.secret import DerivedKeys, load_or_create_secret

FORMAT = b"1"
MAX_NAME_CHARS = 80
MAX_AUDIO_SECONDS = 10.0
MIN_PASSPHRASE_CHARS = 8
EXPORT_MAGIC = b"PLENSX1\n"
_MANIFEST_AAD = b"peoplelens/manifest/v1"


def default_store_path() -> Path:
    """``$PEOPLELENS_STORE``, else ``people.db`` in the per-user data dir (e.g. ``~/.local/share/peoplelens``)."""
    env = os.environ.get("PEOPLELENS_STORE")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("peoplelens")) / "people.db"


def secret_path_for(store_path: Path) -> Path:
    """The installation secret sits next to its store: ``people.db`` -> ``people.db.key``."""
    return store_path.with_name(store_path.name + ".key")


def normalise_name(name: str) -> str:
    """A display name with whitespace collapsed; rejects empty, over-long or control-character names."""
    if not isinstance(name, str):
        raise StoreError("a name must be text")
    clean = " ".join(unicodedata.normalize("NFC", name).split())
    if not clean:
        raise StoreError("a name cannot be empty")
    if len(clean) > MAX_NAME_CHARS:
        raise StoreError(f"a name can have at most {MAX_NAME_CHARS} characters")
    if any(unicodedata.category(c).startswith("C") for c in clean):
        raise StoreError("a name cannot contain control characters")
    return clean


def _name_key(name: str) -> str:
    return normalise_name(name).casefold()


@dataclass(frozen=True)
class PersonRecord:
    """One enrolled person as listed by :meth:`PeopleStore.people`."""

    person_id: int
    name: str
    n_vectors: int
    created: float  # unix time of first enrolment
    has_name_audio: bool = False


@dataclass
class Gallery:
    """Protected unit vectors of every enrolled person: ``vectors[i]`` belongs to ``names[owner[i]]``."""

    names: list[str]
    vectors: np.ndarray  # (M, 128) float32, protected, unit length
    owner: np.ndarray  # (M,) int index into names

    def best_match(self, protected: np.ndarray, threshold: float = 0.35) -> list[tuple[str | None, float]]:
        """For each protected query vector: (name of the most similar vector, its cosine), name None below
        ``threshold`` or when the gallery is empty."""
        q = np.atleast_2d(np.asarray(protected, dtype=np.float32))
        if len(self.vectors) == 0:
            return [(None, 0.0) for _ in range(len(q))]
        sims = q @ self.vectors.T
        best = np.argmax(sims, axis=1)
        out: list[tuple[str | None, float]] = []
        for row, j in enumerate(best):
            score = float(sims[row, j])
            out.append((self.names[int(self.owner[j])] if score >= threshold else None, score))
        return out


@dataclass
class _Person:
    """A decrypted row (in memory only)."""

    person_id: int
    name: str
    created: float
    vectors: np.ndarray  # protected float32 (n, D)
    audio: bytes | None = None  # int16 little-endian mono PCM
    sample_rate: int | None = None
    dirty: bool = field(default=False, compare=False)

    def record(self) -> PersonRecord:
        return PersonRecord(self.person_id, self.name, len(self.vectors), self.created, self.audio is not None)

    def pack(self) -> bytes:
        return msgpack.packb({
            "name": self.name, "created": self.created, "dim": int(self.vectors.shape[1]),
            "vectors": np.ascontiguousarray(self.vectors, dtype="<f4").tobytes(),
            "audio": self.audio, "sr": self.sample_rate,
        })

    @classmethod
    def unpack(cls, person_id: int, data: bytes) -> _Person:
        d = msgpack.unpackb(data)
        vectors = np.frombuffer(d["vectors"], dtype="<f4").reshape(-1, int(d["dim"])).astype(np.float32)
        return cls(person_id, d["name"], float(d["created"]), vectors, d.get("audio"), d.get("sr"))


def _row_aad(person_id: int) -> bytes:
    return b"peoplelens/people/v1/%d" % person_id


def _digest(nonce: bytes, payload: bytes) -> bytes:
    return hashlib.sha256(bytes(nonce) + bytes(payload)).digest()


class PeopleStore:
    """Encrypted, tamper-evident store of enrolled people. Safe to share between threads."""

    def __init__(self, path: Path, keys: DerivedKeys) -> None:
        self.path = path
        self._keys = keys
        self._protector = Protector(keys.protect_seed)
        self._lock = threading.RLock()

    # ---- opening -------------------------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path | None = None, secret_path: str | Path | None = None) -> PeopleStore:
        """Open the store at ``path`` (default :func:`default_store_path`), creating it and its secret if missing."""
        path = Path(path).expanduser() if path else default_store_path()
        if path.is_dir():
            path = path / "people.db"
        secret_file = Path(secret_path) if secret_path else secret_path_for(path)
        exists = path.exists() and path.stat().st_size > 0
        if not path.parent.exists():
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the store folder {path.parent}: {exc}") from exc
        keys = DerivedKeys.from_secret(load_or_create_secret(secret_file, create=not exists))
        store = cls(path, keys)
        store._initialise(exists)
        return store

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
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

    def _initialise(self, exists: bool) -> None:
        with self._lock, closing(self._connect()) as conn:
            try:
                if not exists:
                    os.chmod(self.path, 0o600)
                    conn.execute("BEGIN IMMEDIATE")
                    conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL)")
                    conn.execute("CREATE TABLE IF NOT EXISTS people "
                                 "(id INTEGER PRIMARY KEY, nonce BLOB NOT NULL, payload BLOB NOT NULL)")
                    conn.execute("INSERT INTO meta VALUES ('format', ?), ('key_check', ?)",
                                 (FORMAT, self._keys.key_check))
                    self._write_manifest(conn, {})
                    conn.execute("COMMIT")
                self._read_all(conn)  # verifies format, secret, manifest and every row
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"{self.path} is not a PeopleLens store (SQLite says: {exc})") from exc

    # ---- verified reading and writing ------------------------------------------------------------------------
    def _meta(self, conn: sqlite3.Connection) -> dict[str, bytes]:
        try:
            return {k: bytes(v) for k, v in conn.execute("SELECT key, value FROM meta")}
        except sqlite3.OperationalError as exc:
            raise StoreError(f"{self.path} is not a PeopleLens store ({exc})") from exc

    def _read_all(self, conn: sqlite3.Connection) -> dict[int, _Person]:
        """Every person, after checking secret, manifest, row set, row digests and row tags."""
        meta = self._meta(conn)
        if meta.get("format") != FORMAT:
            raise StoreTamperedError(f"{self.path}: unknown or missing store format {meta.get('format')!r}")
        if "key_check" not in meta or not self._keys.matches_check(meta["key_check"]):
            raise WrongSecretError(f"{self.path} was created with another installation secret; the secret file "
                                   f"{secret_path_for(self.path)} does not belong to it")
        try:
            manifest = msgpack.unpackb(open_sealed(self._keys.store_key, meta.get("manifest_nonce", b""),
                                                   meta.get("manifest", b""), _MANIFEST_AAD), strict_map_key=False)
        except (AuthenticationFailedError, ValueError, msgpack.UnpackException) as exc:
            raise StoreTamperedError(f"{self.path}: the store manifest fails authentication; the store was "
                                     "modified outside PeopleLens and is refused") from exc
        expected: dict[int, bytes] = {int(k): bytes(v) for k, v in manifest["rows"].items()}
        rows = conn.execute("SELECT id, nonce, payload FROM people").fetchall()
        found = {int(r[0]) for r in rows}
        if found != set(expected):
            missing, extra = sorted(set(expected) - found), sorted(found - set(expected))
            raise StoreTamperedError(f"{self.path}: rows were deleted {missing} or added {extra} outside "
                                     "PeopleLens; the store is refused")
        people: dict[int, _Person] = {}
        for pid, nonce, payload in rows:
            pid = int(pid)
            if not isinstance(nonce, bytes) or not isinstance(payload, bytes) or \
                    _digest(nonce, payload) != expected[pid]:
                raise StoreTamperedError(f"{self.path}: row {pid} was changed outside PeopleLens; store refused")
            try:
                people[pid] = _Person.unpack(pid, open_sealed(self._keys.store_key, nonce, payload, _row_aad(pid)))
            except (AuthenticationFailedError, ValueError, KeyError, msgpack.UnpackException) as exc:
                raise StoreTamperedError(f"{self.path}: row {pid} fails authentication; store refused") from exc
        return people

    def _write_manifest(self, conn: sqlite3.Connection, digests: dict[int, bytes]) -> None:
        nonce, sealed = seal(self._keys.store_key, msgpack.packb({"rows": digests}), _MANIFEST_AAD)
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('manifest_nonce', ?), ('manifest', ?)", (nonce, sealed))

    def _read(self) -> dict[int, _Person]:
        with self._lock, closing(self._connect()) as conn:
            conn.execute("BEGIN")
            try:
                return self._read_all(conn)
            finally:
                conn.execute("COMMIT")

    def _transaction(self, change: Callable[[dict[int, _Person], Callable[[], int]], Any], vacuum: bool = False) -> Any:
        """Verify, apply ``change(people, new_id)`` to the decrypted rows, re-seal what changed, commit atomically."""
        with self._lock, closing(self._connect()) as conn:
            try:
                conn.execute("BEGIN IMMEDIATE")
                people = self._read_all(conn)
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
                self._write_manifest(conn, digests)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            if vacuum:
                conn.execute("VACUUM")
            return result

    @staticmethod
    def _find(people: dict[int, _Person], name: str) -> _Person:
        key = _name_key(name)
        for person in people.values():
            if person.name.casefold() == key:
                return person
        raise PersonNotFoundError(f"nobody named {normalise_name(name)!r} is enrolled")

    # ---- public API ------------------------------------------------------------------------------------------
    def protect(self, embeddings: np.ndarray) -> np.ndarray:
        """Raw (N, 128) embeddings -> protected (N, 128) unit vectors, comparable with :meth:`gallery`."""
        return self._protector.protect(embeddings)

    def enroll(self, name: str, embeddings: np.ndarray) -> PersonRecord:
        """Protect raw unit embeddings (N, 128) and store them under ``name`` (added to an existing person)."""
        clean = normalise_name(name)
        raw = check_embeddings(embeddings, EMBEDDING_DIM)
        if len(raw) == 0:
            raise StoreError("nothing to enrol: no embedding given")
        protected = self.protect(raw)

        def change(people: dict[int, _Person], new_id: Callable[[], int]) -> PersonRecord:
            try:
                person = self._find(people, clean)
                person.vectors = np.concatenate([person.vectors, protected])
            except PersonNotFoundError:
                pid = new_id()
                person = people[pid] = _Person(pid, clean, time.time(), protected)
            person.dirty = True
            return person.record()

        return self._transaction(change)

    def people(self) -> list[PersonRecord]:
        """Everyone enrolled, in enrolment order."""
        return [p.record() for _, p in sorted(self._read().items())]

    def rename(self, old: str, new: str) -> PersonRecord:
        """Give an enrolled person another name (refused if ``new`` belongs to someone else)."""
        clean = normalise_name(new)

        def change(people: dict[int, _Person], _new_id: Callable[[], int]) -> PersonRecord:
            person = self._find(people, old)
            other = next((p for p in people.values() if p.name.casefold() == clean.casefold()), None)
            if other is not None and other is not person:
                raise StoreError(f"{clean!r} is already enrolled; forget one of them or choose another name")
            person.name, person.dirty = clean, True
            return person.record()

        return self._transaction(change, vacuum=True)

    def forget(self, name: str) -> None:
        """Delete a person and every trace of them (row, vectors, audio; then VACUUM)."""

        def change(people: dict[int, _Person], _new_id: Callable[[], int]) -> None:
            del people[self._find(people, name).person_id]

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
        x = np.asarray(pcm)
        if x.ndim == 2:
            x = x.mean(axis=1) if x.dtype.kind == "f" else x.astype(np.float32).mean(axis=1) / 32768.0
        if x.ndim != 1 or x.size == 0:
            raise StoreError(f"name audio must be mono samples, got shape {np.asarray(pcm).shape}")
        if not (4000 <= int(sample_rate) <= 192_000):
            raise StoreError(f"name audio sample rate {sample_rate} Hz is not plausible")
        if x.size > MAX_AUDIO_SECONDS * sample_rate:
            raise StoreError(f"name audio is {x.size / sample_rate:.1f} s; at most {MAX_AUDIO_SECONDS:.0f} s allowed")
        if x.dtype != np.int16:
            xf = np.asarray(x, dtype=np.float32)
            if not np.all(np.isfinite(xf)):
                raise StoreError("name audio contains NaN or infinity")
            x = (np.clip(xf, -1.0, 1.0) * 32767.0).round().astype(np.int16)
        data = x.astype("<i2").tobytes()

        def change(people: dict[int, _Person], _new_id: Callable[[], int]) -> None:
            person = self._find(people, name)
            person.audio, person.sample_rate, person.dirty = data, int(sample_rate), True

        self._transaction(change, vacuum=True)

    def name_audio(self, name: str) -> tuple[np.ndarray, int] | None:
        """The stored spoken name as (float32 mono samples, sample rate), or None if there is none."""
        person = self._find(self._read(), name)
        if person.audio is None or person.sample_rate is None:
            return None
        return np.frombuffer(person.audio, dtype="<i2").astype(np.float32) / 32768.0, int(person.sample_rate)

    # ---- moving people between installations ----------------------------------------------------------------
    def export_encrypted(self, path: str | Path, passphrase: str) -> int:
        """Write everyone to ``path`` encrypted under a passphrase (scrypt + AES-256-GCM); returns the count.

        Vectors are mapped back from this installation's protected space in memory (so another installation
        can apply its own transform) and only ever written encrypted."""
        if not isinstance(passphrase, str) or len(passphrase) < MIN_PASSPHRASE_CHARS:
            raise ExportError(f"the passphrase needs at least {MIN_PASSPHRASE_CHARS} characters")
        people = [p for _, p in sorted(self._read().items())]
        records = [{"name": p.name, "created": p.created, "vectors": self._protector.unprotect(p.vectors)
                    .astype("<f4").tobytes(), "audio": p.audio, "sr": p.sample_rate} for p in people]
        salt = os.urandom(SALT_BYTES)
        header = msgpack.packb({"format": 1, "kdf": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P,
                                "salt": salt, "dim": EMBEDDING_DIM})
        aad = EXPORT_MAGIC + header
        nonce, sealed = seal(passphrase_key(passphrase, salt), msgpack.packb({"people": records}), aad)
        blob = EXPORT_MAGIC + len(header).to_bytes(4, "big") + header + nonce + sealed
        path = Path(path)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(blob)
            os.replace(tmp, path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise ExportError(f"cannot write export file {path}: {exc}") from exc
        return len(records)

    def import_encrypted(self, path: str | Path, passphrase: str) -> list[PersonRecord]:
        """Add everyone from an export file (people with the same name get the vectors added); all or nothing."""
        try:
            blob = Path(path).read_bytes()
        except OSError as exc:
            raise ExportError(f"cannot read export file {path}: {exc}") from exc
        if not blob.startswith(EXPORT_MAGIC) or len(blob) < len(EXPORT_MAGIC) + 4:
            raise ExportError(f"{path} is not a PeopleLens export file")
        pos = len(EXPORT_MAGIC)
        hlen = int.from_bytes(blob[pos : pos + 4], "big")
        header_bytes = blob[pos + 4 : pos + 4 + hlen]
        body = blob[pos + 4 + hlen :]
        try:
            header = msgpack.unpackb(header_bytes)
            if header.get("format") != 1 or header.get("kdf") != "scrypt" or header.get("dim") != EMBEDDING_DIM:
                raise ExportError(f"{path}: unsupported export format")
            key = passphrase_key(passphrase, header["salt"], header["n"], header["r"], header["p"])
            content = msgpack.unpackb(open_sealed(key, body[:NONCE_BYTES], body[NONCE_BYTES:],
                                                  EXPORT_MAGIC + header_bytes))
        except AuthenticationFailedError:
            raise ExportError(f"{path}: wrong passphrase, or the file is damaged") from None
        except (ValueError, KeyError, TypeError, msgpack.UnpackException) as exc:
            raise ExportError(f"{path} is damaged: {exc}") from exc
        incoming = []
        for rec in content["people"]:
            raw = np.frombuffer(rec["vectors"], dtype="<f4").reshape(-1, EMBEDDING_DIM)
            incoming.append((normalise_name(rec["name"]), float(rec["created"]), self.protect(raw),
                             rec.get("audio"), rec.get("sr")))

        def change(people: dict[int, _Person], new_id: Callable[[], int]) -> list[PersonRecord]:
            out = []
            for name, created, vectors, audio, sr in incoming:
                try:
                    person = self._find(people, name)
                    person.vectors = np.concatenate([person.vectors, vectors])
                except PersonNotFoundError:
                    pid = new_id()
                    person = people[pid] = _Person(pid, name, created, vectors)
                if audio is not None and person.audio is None:
                    person.audio, person.sample_rate = audio, sr
                person.dirty = True
                out.append(person.record())
            return out

        return self._transaction(change)
