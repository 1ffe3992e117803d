"""Errors of the registration app: each says what is wrong and what to do about it."""

from __future__ import annotations

from peoplelens.core.errors import PeopleLensError


class StoreError(PeopleLensError):
    """The people store cannot be opened, read or written (missing folder, locked, bad argument)."""


class StoreTamperedError(StoreError):
    """The store's rows or manifest fail authentication: something edited, swapped, added or deleted rows."""


class WrongSecretError(StoreError):
    """The installation secret does not belong to this store (or the secret file is damaged)."""


class DamagedSecretError(WrongSecretError):
    """The secret file exists but holds no secret (e.g. left empty by a crash of an older version while written)."""


class StoreRolledBackError(StoreTamperedError):
    """The store file is an older copy than the last one written (its sealed generation is behind the counter)."""


class StoreLostError(StoreError):
    """The store file is missing or empty although its key and generation record say people were enrolled."""


class EmbedderMismatchError(StoreError):
    """The store's vectors come from another face embedder than the one asked for (model sets differ)."""


class PersonNotFoundError(StoreError):
    """No enrolled person has that name."""


class ExportError(StoreError):
    """An export file is unreadable, damaged, or the passphrase is wrong (or too weak to export with)."""


class EnrolmentError(PeopleLensError):
    """Enrolment was refused: no usable photo, or a bad name / name clip."""


class UploadError(PeopleLensError):
    """An uploaded photo is too large, empty, or not an image."""


class InsecureBindError(PeopleLensError):
    """The web app was asked to listen without a usable pairing token or allowed host names."""
