"""The per-installation secret (32 random bytes, file mode 0600) and the keys derived from it with HKDF.

One secret per installation: the protect transform and the at-rest encryption key both come from it, so two
installations' protected vectors never match and one installation cannot read another's store.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from peoplelens.registration_app.errors import DamagedSecretError, StoreError, WrongSecretError
from peoplelens.registration_app.sidecar import fsync_dir

SECRET_BYTES = 32
_INFO_PROTECT = b"peoplelens/protect-seed/v1"
_INFO_STORE_KEY = b"peoplelens/store-key/aes-256-gcm/v1"
_INFO_KEY_CHECK = b"peoplelens/key-check/v1"


def _hkdf(secret: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret)


@dataclass(frozen=True)
class DerivedKeys:
    """Keys derived from one installation secret."""

    protect_seed: bytes  # seeds the keyed orthogonal transform
    store_key: bytes  # AES-256-GCM key for rows and manifest
    key_check: bytes  # stored in the clear to tell "wrong secret" from "tampered store"

    @classmethod
    def from_secret(cls, secret: bytes) -> DerivedKeys:
        """Derive all keys from a 32-byte installation secret."""
        if len(secret) != SECRET_BYTES:
            raise WrongSecretError(f"installation secret must be {SECRET_BYTES} bytes, got {len(secret)}")
        return cls(_hkdf(secret, _INFO_PROTECT), _hkdf(secret, _INFO_STORE_KEY), _hkdf(secret, _INFO_KEY_CHECK))

    def matches_check(self, stored_check: bytes) -> bool:
        """Constant-time comparison with a stored key-check value."""
        return hmac.compare_digest(self.key_check, stored_check)

    def fingerprint(self) -> str:
        """A short non-secret id of this installation (for display)."""
        return hashlib.sha256(self.key_check).hexdigest()[:12]


def write_secret(path: str | Path, value: bytes | None = None) -> bytes:
    """Create the secret file (0600, never overwritten); ``value`` defaults to 32 bytes from ``secrets``.

    Atomic: the bytes go to a temporary file that is fsynced and then hard-linked to ``path`` (which fails if
    ``path`` exists), so a crash never leaves an empty or partial key, and two creators never both win."""
    path = Path(path)
    value = secrets.token_bytes(SECRET_BYTES) if value is None else bytes(value)
    if len(value) != SECRET_BYTES:
        raise StoreError(f"installation secret must be {SECRET_BYTES} bytes")
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(value)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.link(tmp, path)
    except FileExistsError:
        raise StoreError(f"secret file {path} already exists; refusing to overwrite it") from None
    except OSError as exc:
        raise StoreError(f"cannot create secret file {path}: {exc.strerror or exc}") from exc
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    fsync_dir(path.parent)
    return value


def read_secret(path: str | Path) -> bytes:
    """Read the secret file, insisting on 32 bytes and no group/other permissions."""
    path = Path(path)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        value = path.read_bytes()
    except OSError as exc:
        raise StoreError(f"cannot read secret file {path}: {exc}") from exc
    if mode & 0o077:
        raise StoreError(f"secret file {path} is readable by others (mode {mode:o}); run: chmod 600 {path}")
    if len(value) != SECRET_BYTES:
        raise DamagedSecretError(f"secret file {path} holds {len(value)} bytes, expected {SECRET_BYTES}; it is damaged")
    return value


def load_or_create_secret(path: str | Path, create: bool = True) -> bytes:
    """The installation secret at ``path``, created on first use when ``create``."""
    path = Path(path)
    if path.exists():
        return read_secret(path)
    if not create:
        raise WrongSecretError(f"the store exists but its secret file {path} is missing; it cannot be read")
    return write_secret(path)
