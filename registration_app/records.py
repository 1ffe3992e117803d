"""What the people store holds about one person, and the checks every name, record and audio clip passes.

A person's record is a msgpack map (name, created, protected float32 vectors, optional int16 name audio) that the
store seals with AES-256-GCM. Records are parsed with a typed msgspec schema, so a record (or an imported one)
with a wrong type, an impossible time, vectors that are not whole 128-float rows, or audio without its rate is
refused with a :class:`StoreError` instead of failing somewhere later.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Annotated

import msgpack
import msgspec
import numpy as np

from peoplelens.registration_app.errors import PersonNotFoundError, StoreError
from peoplelens.registration_app.protect import EMBEDDING_DIM, check_embeddings

MAX_NAME_CHARS = 80
MAX_AUDIO_SECONDS = 10.0
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 4000, 192_000
MAX_VECTORS_PER_PERSON = 1000
VECTOR_BYTES = EMBEDDING_DIM * 4
MAX_AUDIO_BYTES = int(MAX_AUDIO_SECONDS * MAX_SAMPLE_RATE) * 2


class RecordWire(msgspec.Struct, kw_only=True, frozen=True):
    """A person's record as sealed in the store and in export files (field names are the file format)."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=4 * MAX_NAME_CHARS)]
    created: Annotated[float, msgspec.Meta(ge=0.0, le=1e10)]  # unix time of first enrolment
    vectors: Annotated[bytes, msgspec.Meta(min_length=VECTOR_BYTES,
                                           max_length=VECTOR_BYTES * MAX_VECTORS_PER_PERSON)]
    audio: Annotated[bytes, msgspec.Meta(min_length=2, max_length=MAX_AUDIO_BYTES)] | None = None
    sr: Annotated[int, msgspec.Meta(ge=MIN_SAMPLE_RATE, le=MAX_SAMPLE_RATE)] | None = None
    dim: int = EMBEDDING_DIM


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


def name_key(name: str) -> str:
    """The case-insensitive key two names are compared by."""
    return normalise_name(name).casefold()


def check_record(rec: RecordWire) -> tuple[str, float, np.ndarray, bytes | None, int | None]:
    """(clean name, created, (N, 128) float32 vectors, audio, rate) of a parsed record, or :class:`StoreError`."""
    name = normalise_name(rec.name)
    if rec.dim != EMBEDDING_DIM:
        raise StoreError(f"record of {name!r} has {rec.dim}-dimensional vectors, expected {EMBEDDING_DIM}")
    if len(rec.vectors) % VECTOR_BYTES:
        raise StoreError(f"record of {name!r}: {len(rec.vectors)} vector bytes are not whole "
                         f"{EMBEDDING_DIM}-float rows")
    vectors = np.frombuffer(rec.vectors, dtype="<f4").reshape(-1, EMBEDDING_DIM).astype(np.float32)
    check_embeddings(vectors)  # finite, non-zero
    if (rec.audio is None) != (rec.sr is None):
        raise StoreError(f"record of {name!r}: name audio and its sample rate come together")
    if rec.audio is not None and rec.sr is not None:
        if len(rec.audio) % 2:
            raise StoreError(f"record of {name!r}: name audio is not 16-bit samples")
        if len(rec.audio) / 2 > MAX_AUDIO_SECONDS * rec.sr:
            raise StoreError(f"record of {name!r}: name audio is longer than {MAX_AUDIO_SECONDS:g} s")
    return name, float(rec.created), vectors, rec.audio, rec.sr


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
class StoredPerson:
    """A decrypted row (in memory only)."""

    person_id: int
    name: str
    created: float
    vectors: np.ndarray  # protected float32 (n, D)
    audio: bytes | None = None  # int16 little-endian mono PCM
    sample_rate: int | None = None
    dirty: bool = field(default=False, compare=False)

    def record(self) -> PersonRecord:
        """The public view."""
        return PersonRecord(self.person_id, self.name, len(self.vectors), self.created, self.audio is not None)

    def pack(self) -> bytes:
        """The msgpack record sealed into the store."""
        return msgpack.packb({
            "name": self.name, "created": self.created, "dim": int(self.vectors.shape[1]),
            "vectors": np.ascontiguousarray(self.vectors, dtype="<f4").tobytes(),
            "audio": self.audio, "sr": self.sample_rate,
        })

    @classmethod
    def unpack(cls, person_id: int, data: bytes) -> StoredPerson:
        """Parse and check a decrypted record (:class:`StoreError` or ``msgspec`` errors on a bad one)."""
        name, created, vectors, audio, sr = check_record(msgspec.msgpack.decode(data, type=RecordWire))
        return cls(person_id, name, created, vectors, audio, sr)


def pcm16_bytes(pcm: np.ndarray, sample_rate: int) -> bytes:
    """A spoken name (mono float in [-1, 1] or int16; stereo is mixed down) as little-endian int16 bytes, checked
    for shape, rate, length and finite samples."""
    x = np.asarray(pcm)
    if x.ndim == 2:
        x = x.mean(axis=1) if x.dtype.kind == "f" else x.astype(np.float32).mean(axis=1) / 32768.0
    if x.ndim != 1 or x.size == 0:
        raise StoreError(f"name audio must be mono samples, got shape {np.asarray(pcm).shape}")
    if not (MIN_SAMPLE_RATE <= int(sample_rate) <= MAX_SAMPLE_RATE):
        raise StoreError(f"name audio sample rate {sample_rate} Hz is not plausible")
    if x.size > MAX_AUDIO_SECONDS * sample_rate:
        raise StoreError(f"name audio is {x.size / sample_rate:.1f} s; at most {MAX_AUDIO_SECONDS:.0f} s allowed")
    if x.dtype != np.int16:
        xf = np.asarray(x, dtype=np.float32)
        if not np.all(np.isfinite(xf)):
            raise StoreError("name audio contains NaN or infinity")
        x = (np.clip(xf, -1.0, 1.0) * 32767.0).round().astype(np.int16)
    return x.astype("<i2").tobytes()


def find_person(people: dict[int, StoredPerson], name: str) -> StoredPerson:
    """The person called ``name`` (case-insensitive), or :class:`PersonNotFoundError`."""
    key = name_key(name)
    for person in people.values():
        if person.name.casefold() == key:
            return person
    raise PersonNotFoundError(f"nobody named {normalise_name(name)!r} is enrolled")
