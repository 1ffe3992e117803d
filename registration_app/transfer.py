"""Export files: everyone in a store, encrypted under a passphrase, to move people from the phone to the device.

Layout::

    b"PLENSX1\\n" | uint32 big-endian header length | msgpack header | 12-byte nonce | AES-256-GCM(content)

The header (``format``, ``kdf`` = "scrypt", ``n``, ``r``, ``p``, ``salt``, ``dim``) is bound to the ciphertext as
associated data. The content is msgpack ``{"people": [record, ...]}`` with the store's record fields
(:class:`~peoplelens.registration_app.records.RecordWire`), vectors in raw (unprotected) space.

An import file is untrusted until its tag checks, and its header decides how much work the key derivation is, so
the header is parsed with a typed schema and its scrypt cost is bounded (memory and time) *before* anything is
derived; after decryption every record is validated before the store is touched. An export passphrase must be
strong enough against an offline guessing attack on the file: zxcvbn (Dropbox's estimator, a well-kept library)
must rate it at least 3 of 4 ("safely unguessable").
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Literal

import msgpack
import msgspec
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
from peoplelens.registration_app.errors import ExportError, StoreError
from peoplelens.registration_app.protect import EMBEDDING_DIM
from peoplelens.registration_app.records import RecordWire, check_record
from peoplelens.registration_app.sidecar import write_durably

EXPORT_MAGIC = b"PLENSX1\n"
MIN_PASSPHRASE_CHARS = 8
MAX_PASSPHRASE_CHARS = 1024
MIN_PASSPHRASE_SCORE = 3  # zxcvbn 0-4; 3 = "safely unguessable: moderate protection from an offline slow-hash attack"
MAX_EXPORT_BYTES = 256 * 1024 * 1024
MAX_HEADER_BYTES = 4096
MAX_PEOPLE = 10_000
# scrypt needs 128 * n * r bytes and time ~ n * r * p: at most 256 MiB and 8x this build's own cost.
MIN_SCRYPT_N, MAX_SCRYPT_N = 2**14, 2**20
MAX_SCRYPT_WORK = 8 * SCRYPT_N * SCRYPT_R * SCRYPT_P
MAX_SCRYPT_MEMORY = 256 * 1024 * 1024

Record = tuple[str, float, np.ndarray, bytes | None, int | None]  # name, created, raw (N, 128) vectors, audio, rate


class ExportHeader(msgspec.Struct, kw_only=True, frozen=True):
    """The clear-text header of an export file."""

    format: Literal[1]
    kdf: Literal["scrypt"]
    n: Annotated[int, msgspec.Meta(ge=MIN_SCRYPT_N, le=MAX_SCRYPT_N)]
    r: Annotated[int, msgspec.Meta(ge=1, le=32)]
    p: Annotated[int, msgspec.Meta(ge=1, le=16)]
    salt: Annotated[bytes, msgspec.Meta(min_length=16, max_length=64)]
    dim: Literal[128]


class ExportContent(msgspec.Struct, frozen=True):
    """The decrypted content of an export file."""

    people: Annotated[list[RecordWire], msgspec.Meta(max_length=MAX_PEOPLE)]


def check_export_passphrase(passphrase: str, user_inputs: Iterable[str] = ()) -> None:
    """Refuse (:class:`ExportError`) a passphrase that is too short or that zxcvbn rates below 3 of 4."""
    if not isinstance(passphrase, str) or len(passphrase) < MIN_PASSPHRASE_CHARS:
        raise ExportError(f"the passphrase needs at least {MIN_PASSPHRASE_CHARS} characters")
    if len(passphrase) > MAX_PASSPHRASE_CHARS:
        raise ExportError(f"the passphrase can have at most {MAX_PASSPHRASE_CHARS} characters")
    from zxcvbn import zxcvbn

    # zxcvbn refuses inputs over 72 characters; their strength is judged by the first 72 (the rest only adds)
    verdict = zxcvbn(passphrase[:72], user_inputs=["peoplelens", "people", "lens", *user_inputs][:100])
    if verdict["score"] < MIN_PASSPHRASE_SCORE:
        feedback = verdict.get("feedback") or {}
        hints = " ".join(x for x in [feedback.get("warning") or "", *(feedback.get("suggestions") or [])] if x)
        raise ExportError("the passphrase is too easy to guess for a file that may leave this device "
                          f"(strength {verdict['score']}/4, need {MIN_PASSPHRASE_SCORE}). "
                          f"{hints or 'Use four or more uncommon words.'}".strip())


def build_export(records: Iterable[Record], passphrase: str) -> bytes:
    """The bytes of an export file holding ``records`` (raw vectors) under ``passphrase`` (checked by the caller)."""
    people = [{"name": name, "created": created, "dim": EMBEDDING_DIM,
               "vectors": np.ascontiguousarray(vectors, dtype="<f4").tobytes(), "audio": audio, "sr": sr}
              for name, created, vectors, audio, sr in records]
    salt = os.urandom(SALT_BYTES)
    header = msgpack.packb({"format": 1, "kdf": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P,
                            "salt": salt, "dim": EMBEDDING_DIM})
    nonce, sealed = seal(passphrase_key(passphrase, salt), msgpack.packb({"people": people}), EXPORT_MAGIC + header)
    return EXPORT_MAGIC + len(header).to_bytes(4, "big") + header + nonce + sealed


def parse_header(blob: bytes, what: str = "the file") -> tuple[ExportHeader, bytes, bytes]:
    """(header, header bytes, body) of an export file's bytes; :class:`ExportError` unless the header is valid and
    its key derivation bounded."""
    if not blob.startswith(EXPORT_MAGIC) or len(blob) < len(EXPORT_MAGIC) + 4:
        raise ExportError(f"{what} is not a PeopleLens export file")
    pos = len(EXPORT_MAGIC)
    hlen = int.from_bytes(blob[pos : pos + 4], "big")
    if hlen > MAX_HEADER_BYTES or pos + 4 + hlen > len(blob):
        raise ExportError(f"{what} is damaged: header length {hlen} does not fit")
    header_bytes = blob[pos + 4 : pos + 4 + hlen]
    body = blob[pos + 4 + hlen :]
    try:
        header = msgspec.msgpack.decode(header_bytes, type=ExportHeader)
    except msgspec.MsgspecError as exc:
        raise ExportError(f"{what} has an unsupported or damaged header ({exc})") from None
    if header.n & (header.n - 1):
        raise ExportError(f"{what}: scrypt n={header.n} is not a power of two")
    if header.n * header.r * header.p > MAX_SCRYPT_WORK or 128 * header.n * header.r > MAX_SCRYPT_MEMORY:
        raise ExportError(f"{what} asks for a key derivation of n={header.n}, r={header.r}, p={header.p}: more "
                          f"work or memory than any PeopleLens export uses; refused")
    if len(body) < NONCE_BYTES + 16:
        raise ExportError(f"{what} is damaged: too short to hold encrypted content")
    return header, header_bytes, body


def parse_content(data: bytes, what: str = "the file") -> list[Record]:
    """Every record of decrypted export content, validated (types, sizes, finite non-zero vectors, names)."""
    try:
        content = msgspec.msgpack.decode(data, type=ExportContent)
    except msgspec.MsgspecError as exc:
        raise ExportError(f"{what} is damaged: {exc}") from None
    out = []
    for i, rec in enumerate(content.people):
        try:
            out.append(check_record(rec))
        except StoreError as exc:
            raise ExportError(f"{what}: person {i + 1} is refused: {exc}") from None
    return out


def read_export(path: str | Path, passphrase: str) -> list[Record]:
    """The validated records of the export file at ``path``; :class:`ExportError` on any problem."""
    if not isinstance(passphrase, str) or not passphrase or len(passphrase) > MAX_PASSPHRASE_CHARS:
        raise ExportError("give the passphrase the file was exported with")
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_EXPORT_BYTES:
            raise ExportError(f"{path} is {size // 2**20} MiB; an export file is at most "
                              f"{MAX_EXPORT_BYTES // 2**20} MiB")
        blob = path.read_bytes()
    except OSError as exc:
        raise ExportError(f"cannot read export file {path}: {exc.strerror or exc}") from None
    header, header_bytes, body = parse_header(blob, str(path))
    try:
        key = passphrase_key(passphrase, header.salt, header.n, header.r, header.p)
        data = open_sealed(key, body[:NONCE_BYTES], body[NONCE_BYTES:], EXPORT_MAGIC + header_bytes)
    except AuthenticationFailedError:
        raise ExportError(f"{path}: wrong passphrase, or the file is damaged") from None
    except (ValueError, MemoryError) as exc:
        raise ExportError(f"{path}: cannot derive the key ({exc})") from None
    return parse_content(data, str(path))


def write_export(path: str | Path, blob: bytes) -> None:
    """Write an export file atomically (0600; temporary file, fsync, rename)."""
    write_durably(Path(path), blob, 0o600, ExportError, "export file")
