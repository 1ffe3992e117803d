"""``peoplelens config show | check``: every configuration section, its effective values, and validation.

The registry of sections lives here, at the CLI layer, because it names a dataclass in every package; each
is imported only when a command needs it (``peoplelens config --help`` imports none).
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
from pathlib import Path
from typing import Any

import click

from peoplelens.core.config import ConfigData, ConfigError, describe_type, field_types, load_config, section

#: section -> ("module:Dataclass", "module:loader" or "" to use core.config.section)
SECTIONS: dict[str, tuple[str, str]] = {
    "models": ("peoplelens.models.model_sets:ModelsConfig", ""),
    "pipeline": ("peoplelens.lens.pipeline.config:PipelineConfig", ""),
    "camera": ("peoplelens.lens.perception.geometry:CameraConfig", ""),
    "tracking": ("peoplelens.lens.perception.tracking:TrackerConfig", ""),
    "identity": ("peoplelens.lens.perception.identity:IdentityConfig", ""),
    "face_quality": ("peoplelens.lens.perception.face_quality:FaceQualityConfig", ""),
    "foveation": ("peoplelens.lens.perception.foveation:FoveationConfig", ""),
    "distance": ("peoplelens.lens.perception.distance:DistancePriors", ""),
    "face_attributes": ("peoplelens.lens.perception.face_attributes:FaceAttributeOptions", ""),
    "people_map": ("peoplelens.lens.world.people_map:PeopleMapConfig", ""),
    "visual_rotation": ("peoplelens.lens.world.visual:VisualRotationConfig", ""),
    "imu": ("peoplelens.lens.world.imu_gate:ImuConfig", ""),
    "experiences": ("peoplelens.lens.experiences.config:ExperienceConfig",
                    "peoplelens.lens.experiences.config:experience_config"),
    "audio": ("peoplelens.audio.config:AudioConfig", ""),
    "registration": ("peoplelens.registration_app.enroll:EnrolmentOptions", ""),
    "face_processor": ("peoplelens.lens.runtime.face_processor:FaceProcessorConfig", ""),
}


def _import(target: str) -> Any:
    module_name, attr = target.split(":")
    return getattr(importlib.import_module(module_name), attr)


def section_class(name: str) -> type:
    """The dataclass of a configuration section."""
    return _import(SECTIONS[name][0])


def read_section(config: dict[str, Any], name: str) -> Any:
    """The validated dataclass of section ``name`` (defaults for what ``config`` does not set)."""
    cls_target, loader = SECTIONS[name]
    if loader:
        return _import(loader)(config)
    return section(config, name, _import(cls_target))


def validate(config: ConfigData) -> list[str]:
    """Every problem of a loaded configuration, one message each (empty: valid)."""
    where = f"config file {config.source}" if config.source else "configuration"
    problems = [f"{where}: unknown section [{name}]; sections are: {', '.join(SECTIONS)}"
                for name in config if name not in SECTIONS]
    for name in SECTIONS:
        if name in config:
            try:
                read_section(config, name)
            except ConfigError as exc:
                problems.append(str(exc))
    return problems


def check_file(path: str | Path | None = None) -> ConfigData:
    """Load and validate a whole configuration file; one ``ConfigError`` listing every problem."""
    config = load_config(path)
    problems = validate(config)
    if problems:
        raise ConfigError("\n".join(problems) if len(problems) == 1 else
                          f"{len(problems)} problems:\n  " + "\n  ".join(problems))
    return config


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return ("inf" if value > 0 else "-inf") if math.isinf(value) else "nan" if math.isnan(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def effective_toml(config: ConfigData) -> str:
    """The effective configuration (defaults + the file's values) as TOML, each value with its type/range,
    values set by the file marked."""
    lines = [f"# effective PeopleLens configuration ({'defaults + ' + config.source if config.source else 'defaults'})"]
    for name in SECTIONS:
        obj = read_section(config, name)
        types = field_types(type(obj))
        set_here = config.get(name, {})
        lines.append(f"\n[{name}]")
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            note = describe_type(types[f.name]) + ("; set in the file" if f.name in set_here else "")
            if value is None:
                lines.append(f"# {f.name} = (not set)  # {note}")
            else:
                lines.append(f"{f.name} = {_toml_value(value)}  # {note}")
    return "\n".join(lines) + "\n"


@click.group("config")
def config() -> None:
    """Show the effective configuration, or check a configuration file, section by section."""


@config.command("show")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="TOML file (default: --config of peoplelens, or $PEOPLELENS_CONFIG; none = defaults).")
def show(config_file: str | None) -> None:
    """Print the effective configuration as TOML (every setting, its type and range, what the file set)."""
    data = check_file(config_file)
    click.echo(effective_toml(data), nl=False)


@config.command("check")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
def check(file: str) -> None:
    """Validate FILE: sections, keys, types and ranges; exit status 2 with every problem listed."""
    data = check_file(file)
    click.echo(f"{file}: valid ({', '.join(f'[{s}]' for s in data) or 'no sections: all defaults'})")
