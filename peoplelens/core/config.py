"""Configuration: every setting lives in a dataclass with a documented default, and a TOML file
(``peoplelens --config FILE`` / ``PEOPLELENS_CONFIG``) may override any of them by section.

Example ``peoplelens.toml``::

    [experiences]
    bump_max_distance_m = 10.0
    name_max_distance_m = 4.0

Each section is validated when it is read (:func:`section`), with msgspec: strict types (``faces_every = "two"``
is an error, never coerced), ranges declared on the fields (``Annotated[float, msgspec.Meta(ge=0, le=1)]``) and
no unknown keys. A wrong value is one :class:`ConfigError` naming the file, the section, the key, the expected
type and range, and the value found. ``peoplelens config show`` prints the effective configuration and
``peoplelens config check FILE`` validates a file (``peoplelens.config_cli``).
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
import typing
from pathlib import Path
from typing import Any, TypeVar

from peoplelens.core.errors import PeopleLensError

T = TypeVar("T")


class ConfigError(PeopleLensError):
    """The configuration file is unreadable or a setting in it is unknown, of the wrong type or out of range."""


class ConfigData(dict[str, Any]):
    """A loaded configuration: ``{section: {key: value}}``, remembering the file it came from (``source``)."""

    def __init__(self, data: dict[str, Any] | None = None, source: str | None = None) -> None:
        super().__init__(data or {})
        self.source = source


def load_config(path: str | Path | None = None) -> ConfigData:
    """Read a TOML configuration file (``path`` or ``$PEOPLELENS_CONFIG``); no file means all defaults.

    Sections are validated when the code that uses them reads them (:func:`section`); ``peoplelens config
    check FILE`` validates every section at once."""
    path = path or os.environ.get("PEOPLELENS_CONFIG")
    if not path:
        return ConfigData()
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}") from exc
    except IsADirectoryError as exc:
        raise ConfigError(f"config file {path} is a directory, not a TOML file") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    for name, value in data.items():
        if not isinstance(value, dict):
            raise ConfigError(f"config file {path}: `{name} = {value!r}` is outside any section; settings go "
                              f"under a [section] header, e.g. [pipeline]")
    return ConfigData(data, str(path))


def _where(config: dict[str, Any], name: str) -> str:
    source = getattr(config, "source", None)
    return f"config file {source}: [{name}]" if source else f"configuration [{name}]"


def describe_type(hint: Any) -> str:
    """A readable expected type with its range, e.g. ``int, 1 <= value <= 10`` or ``"auto" or int >= 0``."""
    import msgspec

    origin = typing.get_origin(hint)
    if origin is typing.Annotated:
        base, *metas = typing.get_args(hint)
        bounds = []
        for meta in metas:
            if isinstance(meta, msgspec.Meta):
                bounds += [f"{op} {getattr(meta, key)}" for key, op in
                           (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")) if getattr(meta, key) is not None]
                if meta.min_length is not None:
                    bounds.append(f"at least {meta.min_length} long")
        text = describe_type(base)
        return f"{text}, value {' and '.join(bounds)}" if bounds else text
    if origin is typing.Literal:
        return " or ".join(repr(a) if isinstance(a, str) else str(a) for a in typing.get_args(hint))
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return " or ".join(describe_type(a) for a in typing.get_args(hint))
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"list of {describe_type(args[0])}"
        return "[" + "; ".join(describe_type(a) for a in args) + "]"
    if hint is type(None):
        return "none"
    return getattr(hint, "__name__", str(hint))


def field_types(cls: type) -> dict[str, Any]:
    """The dataclass's field name -> type hint, with ``Annotated`` ranges kept."""
    hints = typing.get_type_hints(cls, include_extras=True)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


_PATH = re.compile(r" - at `\$\.([A-Za-z0-9_]+)(.*)`$")


def section(config: dict[str, Any], name: str, cls: type[T]) -> T:
    """Build the dataclass ``cls`` from ``config[name]`` (defaults for anything not set), validating each
    value's type strictly, its range and that every key is a known setting: :class:`ConfigError` otherwise."""
    import msgspec

    where = _where(config, name)
    values = config.get(name, {})
    if not isinstance(values, dict):
        raise ConfigError(f"{where} must be a table of settings, got {values!r}")
    types = field_types(cls)
    unknown = sorted(set(values) - set(types))
    if unknown:
        raise ConfigError(f"{where}: unknown setting(s) {', '.join(unknown)}; the settings of [{name}] are: "
                          f"{', '.join(types)}")
    try:
        return msgspec.convert(dict(values), cls, strict=True)
    except msgspec.ValidationError as exc:
        message = str(exc)
        match = _PATH.search(message)
        if match is None:
            raise ConfigError(f"{where}: {message}") from None
        key, inner = match.group(1), match.group(2)
        found = values.get(key)
        expected = describe_type(types[key]) if key in types else "?"
        detail = f" (at {inner}: {message[: match.start()]})" if inner else ""
        raise ConfigError(f"{where} {key} = {found!r}: expected {expected}{detail}") from None
    except ConfigError as exc:  # a check across settings in the dataclass's own __post_init__
        text = str(exc).removeprefix(f"[{name}]").strip()
        raise ConfigError(f"{where}: {text}") from None


def as_dict(obj: Any) -> dict[str, Any]:
    """A dataclass config as a plain dict (for JSON stats and ``config show``)."""
    return dataclasses.asdict(obj)
