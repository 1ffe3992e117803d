"""Errors that explain to a user what is wrong and how to fix it."""

from __future__ import annotations

from peoplelens.core.errors import PeopleLensError

__all__ = ["AssetError", "ImageDecodeError", "ModelLoadError", "PeopleLensError"]


class AssetError(PeopleLensError):
    """A model or data asset is missing, truncated, corrupt or not what the registry expects."""


class ModelLoadError(PeopleLensError):
    """A model file exists but ONNX Runtime / the TFLite interpreter cannot load it, or its signature is wrong."""


class ImageDecodeError(PeopleLensError):
    """Bytes or a file that should hold an image cannot be decoded as one."""
