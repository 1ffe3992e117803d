"""Authenticated encryption helpers: AES-256-GCM with random 96-bit nonces, and scrypt passphrase keys."""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

NONCE_BYTES = 12
SALT_BYTES = 16
# scrypt cost: 2**15 x 8 x 1 needs 32 MiB and ~0.1-0.3 s, the OWASP-recommended minimum for passphrases.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1


class AuthenticationFailedError(Exception):
    """Ciphertext, nonce, associated data or key do not match (internal; callers raise a PeopleLensError)."""


def seal(key: bytes, plaintext: bytes, aad: bytes) -> tuple[bytes, bytes]:
    """Encrypt and authenticate: returns (nonce, ciphertext+tag). ``aad`` is bound but not stored."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce, AESGCM(key).encrypt(nonce, plaintext, aad)


def open_sealed(key: bytes, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes:
    """Decrypt what :func:`seal` produced, raising :class:`AuthenticationFailedError` on any mismatch."""
    if not isinstance(nonce, bytes | bytearray) or len(nonce) != NONCE_BYTES:
        raise AuthenticationFailedError("bad nonce")
    try:
        return AESGCM(key).decrypt(bytes(nonce), bytes(ciphertext), aad)
    except (InvalidTag, TypeError, ValueError) as exc:
        raise AuthenticationFailedError(str(exc) or "invalid tag") from exc


def passphrase_key(passphrase: str, salt: bytes, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> bytes:
    """A 32-byte key from a passphrase with scrypt."""
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))
