"""Identity scores: the enrolled gallery, cohort normalisation of cosines, and one name per face in a frame.

**Cohort normalisation** (the additive form of adaptive score normalisation, AS-norm). A cosine of 0.45 means
little by itself: in a crowd of look-alikes, or for an enrolled photo that resembles many faces (a "hub"), such
scores are common between *different* people. For a face ``p`` and an enrolled name ``k`` the cohort level is

    level_k = max( top-mean of p's cosines to the cohort,  top-mean of k's cosines to the cohort )

where the cohort is every face known to be someone other than both: the other enrolled people's vectors, the other
faces in view (the crowd of the same frame: different people by construction) and faces seen earlier and decided
not enrolled (kept in memory only, protected vectors, a few minutes). "Top-mean" is the mean of the highest
``top_fraction`` (at least ``min_top``, at most ``max_top``) of those cosines: how well the face, or the enrolled
person, matches the faces that resemble it most *among people it is not*. The normalised score is
``cosine - level_k``; the identity decision requires it to be large (``IdentityConfig.cohort_margin``) as well as
the raw cosine (``accept_threshold``), so the bar for a name rises exactly where faces resemble many others.

Only the additive form is used: dividing by the cohort's standard deviation (full AS-norm) made the scores less
comparable across face sizes and crowds on the benchmark (``python -m peoplelens.bench.openset``), because the
deviation of a small cohort's top scores is too noisy.

**One name per face**: :func:`exclusive_names` gives each name to at most one face in a frame
(``scipy.optimize.linear_sum_assignment``), and to none when another face in view has nearly as much evidence for
it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from peoplelens.core.errors import PeopleLensError


class IdentityError(PeopleLensError):
    """Malformed gallery or embedding."""


@dataclass
class IdentityGallery:
    """Enrolled people: ``names`` (K,), unit ``vectors`` (M, D) and ``owner`` (M,) index into ``names``.

    Any object with those three attributes (the registration store's ``Gallery``) can be converted with
    :meth:`from_any`."""

    names: list[str]
    vectors: np.ndarray
    owner: np.ndarray

    def __post_init__(self) -> None:
        self.names = list(self.names)
        self.vectors = np.asarray(self.vectors, np.float32).reshape(len(self.vectors), -1) if len(self.vectors) \
            else np.zeros((0, 0), np.float32)
        self.owner = np.asarray(self.owner, np.int64).reshape(-1)
        if len(self.owner) != len(self.vectors):
            raise IdentityError(f"gallery has {len(self.vectors)} vectors but {len(self.owner)} owners")
        if len(self.owner) and (self.owner.min() < 0 or self.owner.max() >= len(self.names)):
            raise IdentityError("gallery owner indices must index into names")
        if len(self.vectors) and not np.allclose(np.linalg.norm(self.vectors, axis=1), 1.0, atol=1e-3):
            raise IdentityError("gallery vectors must be unit length")

    @classmethod
    def empty(cls) -> IdentityGallery:
        """Nobody enrolled."""
        return cls([], np.zeros((0, 0), np.float32), np.zeros(0, np.int64))

    @classmethod
    def from_any(cls, gallery: Any) -> IdentityGallery:
        """From ``None``, an ``IdentityGallery`` or anything with ``names``, ``vectors`` and ``owner``."""
        if gallery is None:
            return cls.empty()
        if isinstance(gallery, IdentityGallery):
            return gallery
        try:
            return cls(list(gallery.names), gallery.vectors, gallery.owner)
        except AttributeError as exc:
            raise IdentityError(f"a gallery needs names, vectors and owner: {exc}") from exc

    def without(self, names: set[str] | list[str]) -> IdentityGallery:
        """A copy with the given people removed."""
        keep_names = [n for n in self.names if n not in set(names)]
        new_index = {n: i for i, n in enumerate(keep_names)}
        rows = [i for i, o in enumerate(self.owner) if self.names[o] in new_index]
        owner = np.array([new_index[self.names[self.owner[i]]] for i in rows], np.int64)
        vectors = self.vectors[rows] if rows else np.zeros((0, 0), np.float32)
        return IdentityGallery(keep_names, vectors, owner)

    @property
    def dim(self) -> int:
        """Embedding dimension (0 when nobody is enrolled)."""
        return int(self.vectors.shape[1]) if len(self.vectors) else 0

    def check(self, embedding: np.ndarray) -> np.ndarray:
        """``embedding`` as a float32 (D,) vector; :class:`IdentityError` when its size does not fit."""
        e = np.asarray(embedding, np.float32).reshape(-1)
        if len(self.vectors) and e.shape[0] != self.dim:
            raise IdentityError(f"embedding has {e.shape[0]} dims, gallery {self.dim}")
        return e

    def per_name(self, cosines: np.ndarray) -> np.ndarray:
        """Best of each name's columns: cosines (..., M) against every vector -> (..., K)."""
        out = np.full(cosines.shape[:-1] + (len(self.names),), -1.0, np.float32)
        if cosines.shape[-1] == 0:
            return out
        for k in range(len(self.names)):
            cols = self.owner == k
            if cols.any():
                out[..., k] = cosines[..., cols].max(-1)
        return out

    def scores(self, embedding: np.ndarray) -> np.ndarray:
        """Best cosine per name (K,) for one unit embedding (D,); -1 for a name with no vectors."""
        if len(self.vectors) == 0:
            return np.full(len(self.names), -1.0, np.float32)
        return self.per_name(self.vectors @ self.check(embedding))


@dataclass(frozen=True)
class CohortConfig:
    """How the cohort is made and summarised (the ``[identity]`` section's ``cohort_*`` keys)."""

    top_fraction: float = 0.02  # the top 2 % of a face's cosines to the cohort make its level ...
    min_top: int = 3  # ... but at least this many ...
    max_top: int = 20  # ... and at most this many
    seen_size: int = 300  # faces seen and decided not enrolled kept in the cohort (memory only)
    seen_memory_s: float = 600.0  # ... for at most this long
    seen_max_score: float = 0.30  # only faces that match no enrolled person this well enter (clear strangers)
    seen_per_track: int = 3  # at most this many faces of one not-enrolled track


def _top_mean(values: np.ndarray, n: int) -> np.ndarray:
    """Mean of the ``n`` largest values along the last axis (-inf entries are ignored)."""
    if values.shape[-1] == 0 or n <= 0:
        return np.zeros(values.shape[:-1], np.float32)
    n = min(n, values.shape[-1])
    top = -np.partition(-values, n - 1, axis=-1)[..., :n]
    finite = np.isfinite(top)
    return np.where(finite, top, 0.0).sum(-1) / np.maximum(finite.sum(-1), 1)


class Cohort:
    """The faces a face is compared with to normalise its scores: the gallery's other people, faces seen and not
    enrolled (added with :meth:`add_seen`), and the crowd of the moment (passed to :meth:`levels`).

    Seen faces are protected vectors held in memory only, at most ``seen_size`` of them for ``seen_memory_s``."""

    def __init__(self, gallery: IdentityGallery, config: CohortConfig | None = None) -> None:
        self.config = config or CohortConfig()
        self.set_gallery(gallery)
        dim = max(gallery.dim, 1)
        self.seen_vectors = np.zeros((0, dim), np.float32)
        self.seen_t = np.zeros(0)
        self.seen_track = np.zeros(0, np.int64)
        self._template_seen = np.zeros((len(gallery.names), 0), np.float32)  # (K, S) names vs seen faces
        self._template_top: np.ndarray | None = None

    def set_gallery(self, gallery: IdentityGallery) -> None:
        """New enrolled people (the seen faces stay)."""
        self.gallery = gallery
        k, m = len(gallery.names), len(gallery.vectors)
        self._mine = gallery.owner[None, :] == np.arange(k)[:, None]  # (K, M)
        if m:
            cos = gallery.per_name(gallery.vectors @ gallery.vectors.T).T  # (K, M) names vs each vector
            self._template_gallery = np.where(self._mine, -np.inf, cos).astype(np.float32)
        else:
            self._template_gallery = np.zeros((k, 0), np.float32)
        if hasattr(self, "seen_vectors"):
            self._template_seen = self._names_vs(self.seen_vectors)
        self._template_top = None

    def _names_vs(self, faces: np.ndarray) -> np.ndarray:
        """(K, N): each name's best cosine (over its vectors) to each of N faces."""
        g = self.gallery
        if len(faces) == 0 or len(g.vectors) == 0:
            return np.zeros((len(g.names), len(faces)), np.float32)
        return g.per_name(faces @ g.vectors.T).T.astype(np.float32)

    def add_seen(self, vectors: np.ndarray, t: float, track_id: int) -> None:
        """Faces of a track decided not enrolled; only those that match no enrolled person well enter."""
        cfg = self.config
        g = self.gallery
        vectors = np.asarray(vectors, np.float32)
        vectors = vectors.reshape(-1, vectors.shape[-1])[-cfg.seen_per_track:]
        if len(g.vectors):
            if vectors.shape[1] != g.dim:
                raise IdentityError(f"embedding has {vectors.shape[1]} dims, gallery {g.dim}")
            vectors = vectors[(vectors @ g.vectors.T).max(1) < cfg.seen_max_score]
        if len(vectors) == 0:
            return
        if self.seen_vectors.shape[1] != vectors.shape[1]:
            self.seen_vectors = np.zeros((0, vectors.shape[1]), np.float32)
        self.seen_vectors = np.concatenate([self.seen_vectors, vectors])
        self.seen_t = np.concatenate([self.seen_t, np.full(len(vectors), t)])
        self.seen_track = np.concatenate([self.seen_track, np.full(len(vectors), track_id)])
        self._template_seen = np.concatenate([self._template_seen, self._names_vs(vectors)], axis=1)
        self._template_top = None
        self.expire(t)

    def expire(self, t: float) -> None:
        """Drop seen faces older than ``seen_memory_s`` and the oldest beyond ``seen_size``."""
        cfg = self.config
        keep = self.seen_t >= t - cfg.seen_memory_s
        keep &= np.arange(len(keep)) >= len(keep) - cfg.seen_size
        if not keep.all():
            self.seen_vectors, self.seen_t = self.seen_vectors[keep], self.seen_t[keep]
            self.seen_track, self._template_seen = self.seen_track[keep], self._template_seen[:, keep]
            self._template_top = None

    def forget_tracks(self, track_ids: set[int] | list[int]) -> None:
        """Drop the seen faces of these tracks (e.g. a person's earlier sightings)."""
        keep = ~np.isin(self.seen_track, list(track_ids))
        if not keep.all():
            self.seen_vectors, self.seen_t = self.seen_vectors[keep], self.seen_t[keep]
            self.seen_track, self._template_seen = self.seen_track[keep], self._template_seen[:, keep]
            self._template_top = None

    def _templates(self) -> np.ndarray:
        """(K, <= max_top): each name's highest cosines to the other names' vectors and the seen faces (-inf
        where there are fewer). Cached until the gallery or the seen faces change."""
        if self._template_top is None:
            both = np.concatenate([self._template_gallery, self._template_seen], axis=1)
            n = min(self.config.max_top, both.shape[1])
            self._template_top = -np.partition(-both, n - 1, axis=1)[:, :n] if n else both
        return self._template_top

    def size(self, crowd: int = 0) -> int:
        """How many faces a name's level is computed over (the other people's vectors, seen faces, crowd)."""
        return max(0, len(self.gallery.vectors) - 1) + len(self.seen_t) + crowd

    def _n_top(self, size: int) -> int:
        c = self.config
        return int(np.clip(round(c.top_fraction * size), c.min_top, c.max_top))

    def levels(self, probe: np.ndarray, crowd: np.ndarray | None = None, exclude_track: int | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """(raw cosine per name, cohort level per name) for one unit ``probe``; ``crowd`` (N, D) are the other
        faces in view now (different people from the probe). ``exclude_track``'s own seen faces are left out."""
        g = self.gallery
        k = len(g.names)
        if k == 0:
            return np.zeros(0, np.float32), np.zeros(0, np.float32)
        p = g.check(probe)
        crowd = np.zeros((0, g.dim), np.float32) if crowd is None else np.asarray(crowd, np.float32).reshape(-1, g.dim)
        to_vectors = g.vectors @ p
        raw = np.where(self._mine, to_vectors[None, :], -np.inf).max(1).astype(np.float32)
        n_top = self._n_top(self.size(len(crowd)))
        # the face's side: its cosines to the other people's vectors, the seen faces and the crowd
        seen = self.seen_vectors @ p if len(self.seen_t) else np.zeros(0, np.float32)
        if exclude_track is not None and len(seen):
            seen = seen[self.seen_track != exclude_track]
        others = np.concatenate([seen, crowd @ p])
        probe_side = np.concatenate([np.where(self._mine, -np.inf, to_vectors[None, :]),
                                     np.broadcast_to(others, (k, len(others)))], axis=1)
        # the enrolled person's side: their best cosines to gallery + seen (cached) and to the crowd
        template_side = np.concatenate([self._templates(), self._names_vs(crowd)], axis=1)
        level = np.maximum(_top_mean(probe_side, n_top), _top_mean(template_side, n_top))
        return raw, level.astype(np.float32)


def exclusive_names(evidence: np.ndarray, claims: np.ndarray, column_margin: float) -> np.ndarray:
    """Which faces of one frame may carry the name they claim.

    ``evidence`` (T, K): each visible track's recent mean cosine per name (NaN where it has none); ``claims`` (T,):
    the name index each track's decision carries (-1 for none). Each name goes to at most one track, the one with
    the most evidence for it (``linear_sum_assignment`` over the claimed pairs), and only when every other visible
    track's evidence for that name is at least ``column_margin`` lower: in a crowd where two faces resemble an
    enrolled person about equally, neither is named. Returns (T,) bool."""
    evidence = np.asarray(evidence, np.float64)
    claims = np.asarray(claims, np.int64)
    kept = np.zeros(len(claims), bool)
    if len(claims) == 0 or (claims < 0).all():
        return kept
    filled = np.nan_to_num(evidence, nan=-1.0)
    profit = np.full(filled.shape, -1e6)
    rows = np.flatnonzero(claims >= 0)
    profit[rows, claims[rows]] = filled[rows, claims[rows]] + 2.0  # claimed pairs only, all positive
    r, c = linear_sum_assignment(-profit)
    for track, name in zip(r, c, strict=True):
        if profit[track, name] <= 0:
            continue
        rivals = np.delete(filled[:, name], track)
        if len(rivals) == 0 or filled[track, name] - rivals.max() >= column_margin:
            kept[track] = True
    return kept
