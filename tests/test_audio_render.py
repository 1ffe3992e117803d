"""Binaural rendering: both backends put every cue on the correct side at the right lateral angle."""

from __future__ import annotations

import math

import numpy as np
import pytest

from peoplelens.audio.analysis import estimate_direction, inverse_woodworth
from peoplelens.audio.config import AudioConfig
from peoplelens.audio.errors import AudioError
from peoplelens.audio.render import make_renderer
from peoplelens.audio.render_numpy import SphericalHeadRenderer, woodworth_itd
from peoplelens.audio.render_openal import OpenALRenderer
from peoplelens.audio.sounds import SYNTH_SOUNDS, synthesize

FS = 48_000
AZIMUTHS = (-90, -45, 0, 45, 90, 180)


@pytest.fixture(scope="module")
def renderers() -> dict[str, object]:
    # OpenAL must really run here (libopenal1 + libopenal-data): no skip if it does not
    return {"numpy": SphericalHeadRenderer(), "openal": OpenALRenderer()}


@pytest.mark.parametrize("backend", ["numpy", "openal"])
@pytest.mark.parametrize("sound", SYNTH_SOUNDS)
def test_direction_is_recovered(renderers: dict, backend: str, sound: str) -> None:
    renderer = renderers[backend]
    mono = synthesize(sound)
    for az in AZIMUTHS:
        stereo = renderer.render(mono, az, 0.0, 1.0)
        assert stereo.shape == (len(mono) + renderer.tail_samples, 2) and stereo.dtype == np.float32
        est = estimate_direction(stereo, FS)
        if az in (0, 180):
            assert abs(est.itd_s) < 1.0 / FS, (backend, sound, az, est)
            assert abs(est.azimuth_deg) < 5.0, (backend, sound, az, est)
        else:
            assert abs(est.azimuth_deg - az) <= 15.0, (backend, sound, az, est)
            assert math.copysign(1, est.itd_s) == math.copysign(1, az)
            assert math.copysign(1, est.ild_db) == math.copysign(1, az)  # the near ear is louder


def test_openal_hrtf_is_active(renderers: dict) -> None:
    r = renderers["openal"]
    assert r.hrtf_status == "enabled"
    assert "HRTF enabled" in r.describe()


@pytest.mark.parametrize("backend", ["numpy", "openal"])
def test_elevation_overhead_is_centred(renderers: dict, backend: str) -> None:
    # the OpenAL mapping must send elevation to +Y: a source overhead has no interaural difference
    est = estimate_direction(renderers[backend].render(synthesize("click"), 90.0, 89.0), FS)
    assert abs(est.itd_s) < 2.0 / FS and abs(est.ild_db) < 1.5


def _level_db(x: np.ndarray) -> float:
    return 10 * math.log10(float(np.mean(x.astype(np.float64) ** 2)))


def test_numpy_distance_attenuation_is_inverse_distance(renderers: dict) -> None:
    r = renderers["numpy"]
    mono = synthesize("bump")
    l1, l2, l4 = (_level_db(r.render(mono, 30, 0, d)) for d in (1.0, 2.0, 4.0))
    assert l1 - l2 == pytest.approx(6.02, abs=0.1)
    assert l1 - l4 == pytest.approx(12.04, abs=0.1)
    assert _level_db(r.render(mono, 30, 0, 0.3)) == pytest.approx(l1, abs=0.01)  # clamped at 1 m


def test_openal_distance_attenuation(renderers: dict) -> None:
    r = renderers["openal"]
    mono = synthesize("bump")
    assert _level_db(r.render(mono, 30, 0, 1.0)) - _level_db(r.render(mono, 30, 0, 2.0)) == pytest.approx(6.0, abs=1.0)


def _high_fraction(x: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(x.sum(axis=1))) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / FS)
    return float(spec[freqs > 4000].sum() / spec.sum())


def _band_energy(x: np.ndarray, lo: float, hi: float) -> float:
    spec = np.abs(np.fft.rfft(x.sum(axis=1))) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / FS)
    return float(spec[(freqs >= lo) & (freqs < hi)].sum())


def test_numpy_rear_sources_are_duller(renderers: dict) -> None:
    mono = synthesize("orientation")
    front, back = (renderers["numpy"].render(mono, az) for az in (0, 180))
    assert _band_energy(back, 8000, 20000) < 0.4 * _band_energy(front, 8000, 20000)  # highs down ~6 dB
    assert _band_energy(back, 0, 1000) > 0.8 * _band_energy(front, 0, 1000)  # lows nearly untouched


def test_woodworth_round_trip() -> None:
    for az in (-80, -30, 0, 10, 60, 90):
        assert inverse_woodworth(woodworth_itd(az)) == pytest.approx(az, abs=0.01)
    assert woodworth_itd(90) == pytest.approx(0.0875 / 343 * (math.pi / 2 + 1))


def test_bad_requests_raise_clear_errors(renderers: dict) -> None:
    r = renderers["numpy"]
    with pytest.raises(AudioError, match="mono"):
        r.render(np.zeros((10, 2), np.float32), 0)
    with pytest.raises(AudioError, match="elevation"):
        r.render(np.zeros(10, np.float32), 0, 120)
    with pytest.raises(AudioError, match="azimuth"):
        r.render(np.zeros(10, np.float32), float("nan"))
    with pytest.raises(AudioError, match="unknown audio backend"):
        make_renderer("dolby")


def test_auto_backend_prefers_openal() -> None:
    assert make_renderer("auto", AudioConfig()).name == "openal"


def test_sounds_are_mono_float32_and_distinct() -> None:
    cues = {s: synthesize(s) for s in SYNTH_SOUNDS}
    for name, x in cues.items():
        assert x.ndim == 1 and x.dtype == np.float32 and 0.1 < np.max(np.abs(x)) <= 0.9, name
        assert _high_fraction(np.stack([x, x], axis=1)) > 0.005, f"{name} lacks broadband energy"
    assert 0.07 <= len(cues["bump"]) / FS <= 0.09
    assert len(cues["click"]) / FS < 0.02
    low, high = synthesize("woodblock", 0.0), synthesize("woodblock", 12.0)

    def peak_hz(x: np.ndarray) -> float:
        spec = np.abs(np.fft.rfft(x, 1 << 16))
        return float(np.argmax(spec) * FS / (1 << 16))

    assert peak_hz(high) == pytest.approx(2 * peak_hz(low), rel=0.03)  # +12 semitones = one octave up
    with pytest.raises(AudioError, match="unknown sound"):
        synthesize("trumpet")
