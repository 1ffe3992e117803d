"""Configuration validated at load: wrong types, values out of range, unknown keys and sections give one clear
error naming the file, section, key, value and the expected type and range; ``peoplelens config show`` prints
the effective configuration as TOML that loads back to the same settings; ``config check`` lists every problem."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from peoplelens.cli import cli
from peoplelens.config_cli import SECTIONS, check_file, effective_toml, read_section, section_class
from peoplelens.core.config import ConfigData, ConfigError, load_config


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "peoplelens.toml"
    path.write_text(text)
    return path


def test_the_issue_example_fails_at_load_naming_everything(tmp_path: Path) -> None:
    path = _write(tmp_path, '[pipeline]\nfaces_every = "two"\n')
    with pytest.raises(ConfigError) as err:
        check_file(path)
    assert str(err.value) == f"config file {path}: [pipeline] faces_every = 'two': expected int, value >= 1 and <= 10"


@pytest.mark.parametrize("text,message", [
    ("[audio]\nsample_rate = 1000\n", "[audio] sample_rate = 1000: expected int, value >= 8000 and <= 192000"),
    ("[audio]\nsample_rate = 48000.0\n", "[audio] sample_rate = 48000.0: expected int, value >= 8000"),
    ("[audio]\nbackend = \"alsa\"\n", "[audio] backend = 'alsa': expected 'auto' or 'openal' or 'numpy'"),
    ("[audio]\nmaster_gain = true\n", "[audio] master_gain = True: expected float, value >= 0.0 and <= 2.0"),
    ("[visual_rotation]\ncorner_quality = 1.5\n", "corner_quality = 1.5: expected float, value > 0.0 and < 1.0"),
    ("[camera]\nhfov_deg = 200\n", "[camera] hfov_deg = 200: expected float, value > 0.0 and < 180.0"),
    ("[camera]\nwidth = 8\n", "[camera] width = 8: expected int, value >= 16"),
    ("[identity]\nconsistency = 3\n", "[identity] consistency = 3: expected float, value >= 0.0 and <= 1.0"),
    ("[face_quality]\nscore_min = -0.5\n", "[face_quality] score_min = -0.5: expected float, value >= 0.0"),
    ("[distance]\nchild_prior = 2\n", "[distance] child_prior = 2: expected float, value >= 0.0 and <= 1.0"),
    ("[experiences]\ngaze_cooldown_s = -1\n", "gaze_cooldown_s = -1: expected float, value >= 0.0 and <= 3600.0"),
    ("[experiences]\ncue_durations_s = [[\"bump\", \"long\"]]\n", "cue_durations_s"),
    ("[models]\nset = \"fast\"\n", "[models] set = 'fast': expected 'research' or 'permissive'"),
    ("[audio]\nvolume = 3\n", "[audio]: unknown setting(s) volume; the settings of [audio] are: sample_rate"),
    ("[pipline]\nfaces_every = 2\n", "unknown section [pipline]; sections are: models, pipeline"),
    ("faces_every = 2\n", "is outside any section"),
])
def test_each_kind_of_mistake_is_named(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=str(path)) as err:
        check_file(path)
    assert message in str(err.value)


def test_numbers_are_never_coerced_from_strings_but_ints_are_floats(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="expected float"):
        read_section(ConfigData({"people_map": {"fade_half_life_s": "10"}}), "people_map")
    assert read_section(ConfigData({"people_map": {"fade_half_life_s": 10}}), "people_map").fade_half_life_s == 10.0


def test_show_prints_toml_that_loads_back_to_the_same_configuration(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("PEOPLELENS_CONFIG", raising=False)  # `peoplelens --config` sets it for the process
    path = _write(tmp_path, '[models]\nset = "permissive"\n[experiences]\nname_cooldown_s = 12.5\n'
                            '[pipeline]\npeople_tiles = "auto"\n')
    config = check_file(path)
    shown = effective_toml(config)
    assert "name_cooldown_s = 12.5  # float, value >= 0.0 and <= 3600.0; set in the file" in shown
    reloaded = ConfigData(tomllib.loads(shown), "shown.toml")
    for name in SECTIONS:
        assert read_section(reloaded, name) == read_section(config, name), name
    result = CliRunner().invoke(cli, ["--config", str(path), "config", "show"])
    assert result.exit_code == 0 and 'set = "permissive"' in result.output, result.output


def test_check_command_lists_every_problem(tmp_path: Path) -> None:
    path = _write(tmp_path, '[pipeline]\nfaces_every = "two"\n[audio]\nsample_rate = 1\n')
    result = subprocess.run([sys.executable, "-c", "from peoplelens.cli import main; main()", "config", "check",
                             str(path)], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 2, result.stderr
    assert "2 problems" in result.stderr and "faces_every" in result.stderr and "sample_rate" in result.stderr
    good = _write(tmp_path, "[identity]\naccept_threshold = 0.45\n")
    ok = CliRunner().invoke(cli, ["config", "check", str(good)])
    assert ok.exit_code == 0 and "valid ([identity])" in ok.output


def test_every_section_has_defaults_that_validate(monkeypatch) -> None:
    monkeypatch.delenv("PEOPLELENS_CONFIG", raising=False)
    for name in SECTIONS:
        assert read_section(ConfigData(), name) == section_class(name)() or name == "experiences"
    assert load_config(None) == {}
