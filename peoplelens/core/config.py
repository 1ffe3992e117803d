"""Configuration: every threshold lives in a dataclass with a documented default, and a TOML file
(``peoplelens --config FILE`` / ``PEOPLELENS_CONFIG``) may override any of them by section.

Example ``peoplelens.toml``::

    [experiences]
    bump_max_distance_m = 10.0
    name_max_distance_m = 4.0
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from pathlib import Path
from typing import Any, TypeVar

from peoplelens.core.errors import PeopleLensError

T = TypeVar("T")


class ConfigError(PeopleLensError):
    """The configuration file is unreadable or names a setting that does not exist."""


def load_config(path: str | Path | None = None) -> dict[str, Any]:
    """Read a TOML configuration file (``path`` or ``$PEOPLELENS_CONFIG``); no file means all defaults."""
    path = path or os.environ.get("PEOPLELENS_CONFIG")
    if not path:
        return {}
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc


def section(config: dict[str, Any], name: str, cls: type[T]) -> T:
    """Build the dataclass ``cls`` from ``config[name]``, rejecting unknown keys with a clear message."""
    values = dict(config.get(name, {}))
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown setting(s) in [{name}]: {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in values and isinstance(values[f.name], list):
            values[f.name] = tuple(values[f.name])
    return cls(**values)


def as_dict(obj: Any) -> dict[str, Any]:
    """A dataclass config as a plain dict (for JSON stats and ``config show``)."""
    return dataclasses.asdict(obj)
