"""Model variants: the registry's float32 file, or an int8 (QDQ) file made on this machine by
``peoplelens assets quantize`` and kept in the asset cache, never in the repository.

An int8 variant lives in ``<cache>/models/int8/<name>.int8.onnx`` beside a manifest ``<name>.int8.json`` that
records the int8 file's sha256 and size, the float source's sha256, the ONNX Runtime version that made it, the
recipe and the calibration set. Loading checks all of that: a missing, changed or stale file gives an
:class:`AssetError` that says how to make it again. Nothing here needs the ``onnx`` package.

Which variant a wrapper loads: its options' ``precision`` ("fp32" or "int8"); ``None`` (the default) means
``$PEOPLELENS_PRECISION`` -- ``int8`` for every model that has an int8 recipe, or per model
``det_500m=int8,arcface_mobileface128=fp32`` -- and ``fp32`` when that is not set.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from peoplelens.models.assets import AssetManager, default_manager, sha256_file
from peoplelens.models.errors import AssetError
from peoplelens.models.registry import get_spec

PRECISIONS = ("fp32", "int8")
ENV_PRECISION = "PEOPLELENS_PRECISION"
#: models that have an int8 recipe (see ``models/quantize.py``)
INT8_MODELS = ("det_500m", "det_2.5g", "arcface_mobileface128", "yolox_nano")
MANIFEST_SCHEMA = "peoplelens-int8/1"


@dataclass(frozen=True)
class VariantManifest:
    """What the sidecar of an int8 file records."""

    name: str
    precision: str
    file: str  # file name, next to the manifest
    sha256: str
    size: int
    source_sha256: str  # the float model it was made from (the registry's sha256)
    onnxruntime: str  # ONNX Runtime version that quantized it
    recipe: dict = field(default_factory=dict)
    calibration: dict = field(default_factory=dict)
    schema: str = MANIFEST_SCHEMA

    def to_json(self) -> str:
        """The manifest as indented JSON."""
        return json.dumps(asdict(self), indent=2) + "\n"


def variant_dir(manager: AssetManager | None = None) -> Path:
    """The folder holding int8 variants and their manifests."""
    return (manager or default_manager()).cache_dir / "models" / "int8"


def variant_files(name: str, manager: AssetManager | None = None) -> tuple[Path, Path]:
    """(int8 model path, manifest path) of a registry model."""
    spec = get_spec(name)
    folder = variant_dir(manager)
    return folder / f"{spec.name}.int8.onnx", folder / f"{spec.name}.int8.json"


def precision_from_env(name: str) -> str:
    """The precision ``$PEOPLELENS_PRECISION`` asks for a model: ``int8``/``fp32`` for all, or ``name=int8,...``."""
    text = os.environ.get(ENV_PRECISION, "").strip()
    if not text:
        return "fp32"
    if "=" not in text:
        if text not in PRECISIONS:
            raise AssetError(f"{ENV_PRECISION}={text!r}: use one of {', '.join(PRECISIONS)} or 'model=int8,...'")
        return text if (text == "fp32" or name in INT8_MODELS) else "fp32"
    for item in text.split(","):
        key, _, value = item.partition("=")
        if key.strip() == name:
            value = value.strip()
            if value not in PRECISIONS:
                raise AssetError(f"{ENV_PRECISION}: {key.strip()}={value!r}; use one of {', '.join(PRECISIONS)}")
            return value
    return "fp32"


def resolve_precision(name: str, precision: str | None) -> str:
    """An explicit precision, checked; ``None`` reads ``$PEOPLELENS_PRECISION``."""
    if precision is None:
        return precision_from_env(name)
    if precision not in PRECISIONS:
        raise AssetError(f"precision {precision!r} for {name}: use one of {', '.join(PRECISIONS)}")
    return precision


def read_manifest(name: str, manager: AssetManager | None = None) -> VariantManifest:
    """The manifest of a model's int8 variant (an AssetError when it is missing or unreadable)."""
    model_file, manifest_file = variant_files(name, manager)
    how = f"make it with `peoplelens assets quantize {get_spec(name).name}`"
    if not manifest_file.is_file():
        raise AssetError(f"the int8 variant of {name} is not in the asset cache ({manifest_file} is missing); {how}")
    try:
        data = json.loads(manifest_file.read_text())
        manifest = VariantManifest(**data)
    except (OSError, ValueError, TypeError) as exc:
        raise AssetError(f"{manifest_file} is not a readable int8 manifest ({exc}); {how}") from None
    if manifest.schema != MANIFEST_SCHEMA:
        raise AssetError(f"{manifest_file} has schema {manifest.schema!r}, expected {MANIFEST_SCHEMA}; {how}")
    return manifest


def int8_path(name: str, manager: AssetManager | None = None) -> Path:
    """The verified path of a model's int8 variant, or an AssetError that says what is wrong and how to fix it."""
    spec = get_spec(name)
    manager = manager or default_manager()
    manifest = read_manifest(spec.name, manager)
    model_file, manifest_file = variant_files(spec.name, manager)
    how = f"make it again with `peoplelens assets quantize {spec.name}`"
    if manifest.source_sha256 != spec.sha256:
        raise AssetError(f"the int8 variant of {spec.name} was made from a different float model (sha256 "
                         f"{manifest.source_sha256}, the registry's is {spec.sha256}); {how}")
    if not model_file.is_file():
        raise AssetError(f"the int8 variant of {spec.name} is missing: {model_file} (its manifest {manifest_file} "
                         f"exists); {how}")
    size = model_file.stat().st_size
    digest = sha256_file(model_file) if size == manifest.size else ""
    if size != manifest.size or digest != manifest.sha256:
        raise AssetError(f"the int8 variant {model_file} has changed since it was made: sha256 {digest or '-'} "
                         f"({size} bytes), its manifest records {manifest.sha256} ({manifest.size} bytes); {how}")
    return model_file


def model_path(name: str, precision: str | None = None, manager: AssetManager | None = None) -> Path:
    """The verified file of a registry model in the asked precision (``None``: ``$PEOPLELENS_PRECISION``)."""
    manager = manager or default_manager()
    if resolve_precision(name, precision) == "int8":
        if get_spec(name).name not in INT8_MODELS:
            raise AssetError(f"{name} has no int8 recipe (models with one: {', '.join(INT8_MODELS)})")
        return int8_path(name, manager)
    return manager.path(name)
