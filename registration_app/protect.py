"""Keyed random orthogonal transform of face embeddings ("protected" vectors).

Q (D x D) comes from the QR decomposition of a Gaussian matrix seeded by the installation secret, with the
sign fix ``Q *= sign(diag(R))`` so Q is Haar-distributed. Q preserves dot products, so cosine similarity
between protected vectors equals that between the raw ones (recognition thresholds stay valid), while a
protected vector is unrelated to its raw embedding (cos ~ N(0, 1/D)) and to another installation's.
"""

from __future__ import annotations

import numpy as np

from peoplelens.models.face_embedder import l2_normalise
from peoplelens.registration_app.errors import StoreError

EMBEDDING_DIM = 128


def orthogonal_from_seed(seed: bytes, dim: int = EMBEDDING_DIM) -> np.ndarray:
    """The (dim, dim) float64 orthogonal matrix for a seed (deterministic across platforms: PCG64 + QR)."""
    rng = np.random.Generator(np.random.PCG64(int.from_bytes(seed, "big")))
    q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
    return q * np.sign(np.diag(r))[None, :]


def check_embeddings(embeddings: np.ndarray, dim: int = EMBEDDING_DIM) -> np.ndarray:
    """Validate (N, dim) finite non-zero vectors (one (dim,) vector is accepted) and return them as float64."""
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2 or x.shape[1] != dim:
        raise StoreError(f"expected embeddings of shape (N, {dim}), got {np.asarray(embeddings).shape}")
    if not np.all(np.isfinite(x)):
        raise StoreError("embeddings contain NaN or infinity")
    if len(x) and np.min(np.linalg.norm(x, axis=1)) < 1e-6:
        raise StoreError("embeddings contain an all-zero vector")
    return x


class Protector:
    """Applies and (in memory only, for export) inverts the installation's transform."""

    def __init__(self, seed: bytes, dim: int = EMBEDDING_DIM) -> None:
        self.dim = dim
        self._q = orthogonal_from_seed(seed, dim)

    def protect(self, embeddings: np.ndarray) -> np.ndarray:
        """Raw (N, D) embeddings -> L2-normalised, transformed (N, D) float32 protected vectors."""
        x = check_embeddings(embeddings, self.dim)
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
        return l2_normalise(x @ self._q.T)

    def unprotect(self, protected: np.ndarray) -> np.ndarray:
        """Protected (N, D) -> raw-space unit vectors (Q^T). Only for re-encrypting an export in memory."""
        x = check_embeddings(protected, self.dim)
        return l2_normalise(x @ self._q)
