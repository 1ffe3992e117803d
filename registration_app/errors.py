"""Errors of the registration app: each says what is wrong and what to do about it."""

from __future__ import annotations

from peoplelens.core.errors import PeopleLensError


class StoreError(PeopleLensError):
    """The people store cannot be opened, read or written (missing folder, locked, bad argument)."""


class StoreTamperedError(StoreError):
    """The store's rows or manifest fail authentication: something edited, swapped, added or deleted rows."""


class WrongSecretError(StoreError):
    """The installation secret does not belong to this store (or the secret file is damaged)."""


class PersonNotFoundError(StoreError):
    """No enrolled person has that name."""


class ExportError(StoreError):
    """An export file is unreadable, damaged, or the passphrase is wrong."""


class EnrolmentError(PeopleLensError):
    """Enrolment was refused: no usable photo, or a bad name / name clip."""


class UploadError(PeopleLensError):
    """An uploaded photo is too large, empty, or not an image."""


class InsecureBindError(PeopleLensError):
    """The web app was asked to listen beyond this machine without a pairing token."""
