"""WAV I/O, the ``peoplelens audio`` commands and the real-time output's behaviour without a sound card."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from peoplelens.audio.analysis import estimate_direction
from peoplelens.audio.cli import audio
from peoplelens.audio.errors import AudioError, NoOutputDeviceError
from peoplelens.audio.mixer import Mixer
from peoplelens.audio.output import RealtimeOutput, check_output_device, list_output_devices
from peoplelens.audio.render_numpy import SphericalHeadRenderer
from peoplelens.audio.wavio import read_wav, resample, write_wav

FS = 48_000
REPO = Path(__file__).resolve().parents[1]


def test_wav_round_trip_pcm16_and_float(tmp_path: Path) -> None:
    x = (0.5 * np.random.default_rng(1).uniform(-1, 1, size=(1000, 2))).astype(np.float32)
    y, fs = read_wav(write_wav(tmp_path / "a.wav", x, FS))
    assert fs == FS and y.shape == x.shape
    assert np.max(np.abs(y - x)) < 1.0 / 32767 + 1e-6
    z, _ = read_wav(write_wav(tmp_path / "b.wav", x, FS, float32=True))
    np.testing.assert_array_equal(z, x)
    with pytest.raises(AudioError, match="NaN"):
        write_wav(tmp_path / "c.wav", np.array([np.nan, 0.0]), FS)
    with pytest.raises(AudioError, match="not found"):
        read_wav(tmp_path / "missing.wav")
    assert len(resample(np.zeros(22050, np.float32), 22050, FS)) == FS


@pytest.mark.parametrize("backend", ["numpy", "openal"])
def test_cli_render_writes_a_stereo_wav_from_the_right_side(tmp_path: Path, backend: str) -> None:
    out = tmp_path / "cue.wav"
    cue = ["--sound", "woodblock", "--pitch", "2", "--azimuth", "70"]
    args = ["render", *cue, "--backend", backend, "--out", str(out)]
    result = CliRunner().invoke(audio, args)
    assert result.exit_code == 0, result.output
    assert backend in result.output
    x, fs = read_wav(out)
    assert fs == FS and x.ndim == 2 and x.shape[1] == 2 and len(x) > 0.1 * FS
    est = estimate_direction(x, fs)
    assert est.azimuth_deg == pytest.approx(70, abs=15) and est.ild_db > 0


def test_cli_render_name(tmp_path: Path) -> None:
    out = tmp_path / "name.wav"
    result = CliRunner().invoke(audio, ["render", "--sound", "name:Alice", "--azimuth", "-40", "--out", str(out)])
    assert result.exit_code == 0, result.output
    x, fs = read_wav(out)
    assert 0.25 < len(x) / fs < 1.5 and estimate_direction(x, fs).azimuth_deg < -20


def test_cli_errors_are_clear_without_traceback(tmp_path: Path) -> None:
    exe = [sys.executable, "-c", "from peoplelens.cli import main; main()"]
    bad = subprocess.run(
        [*exe, "audio", "render", "--sound", "trumpet", "--azimuth", "0", "--out", str(tmp_path / "x.wav")],
        capture_output=True, text=True, cwd=REPO, timeout=60,
    )  # fmt: skip
    assert bad.returncode == 2 and "unknown sound 'trumpet'" in bad.stderr and "Traceback" not in bad.stderr
    result = CliRunner().invoke(audio, ["render", "--sound", "name:", "--azimuth", "0", "--out", "x.wav"])
    assert isinstance(result.exception, AudioError)


def _has_output_device() -> bool:
    return bool(list_output_devices())


def test_realtime_output_without_device_is_a_clear_error() -> None:
    with pytest.raises(NoOutputDeviceError, match="no sound output"):
        check_output_device("no-such-device-xyz")
    mixer = Mixer(SphericalHeadRenderer())
    if _has_output_device():  # a machine with a sound card: the stream must open and run
        with RealtimeOutput(mixer) as out:
            out.wait_idle(0.1)
    else:  # this CI machine: no sound card
        with pytest.raises(NoOutputDeviceError, match="no sound output"):
            RealtimeOutput(mixer).start()
        result = CliRunner().invoke(audio, ["play", "--sound", "click", "--azimuth", "0"])
        assert isinstance(result.exception, NoOutputDeviceError)
        assert CliRunner().invoke(audio, ["devices"]).output.strip() == "no output devices found"


def test_config_section_overrides_and_rejects_unknown_keys(tmp_path: Path) -> None:
    from peoplelens.audio.config import load_audio_config
    from peoplelens.core.config import ConfigError

    cfg = tmp_path / "peoplelens.toml"
    cfg.write_text('[audio]\nbackend = "numpy"\nmaster_gain = 0.5\n')
    assert load_audio_config(cfg).backend == "numpy"
    out = tmp_path / "c.wav"
    result = CliRunner().invoke(audio, ["render", "--sound", "click", "--azimuth", "0", "--config", str(cfg),
                                        "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0 and "numpy spherical head" in result.output
    cfg.write_text("[audio]\nhead_size = 3\n")
    with pytest.raises(ConfigError, match="head_size"):
        load_audio_config(cfg)


def test_measure_reports_every_backend() -> None:
    from peoplelens.audio.measure import AZIMUTHS, measure

    report = measure(repeats=1)
    assert set(report["backends"]) == {"numpy", "openal"}
    for r in report["backends"].values():
        assert set(r["direction_error_deg"]) == {str(az) for az in AZIMUTHS}
        assert all(e["max"] <= 15.0 for e in r["direction_error_deg"].values())
        assert all(0 < ms < 1000 for ms in r["render_ms"].values())
