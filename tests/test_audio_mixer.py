"""Head-tracked mixing: playing cues stay fixed in the world while the head turns."""

from __future__ import annotations

import numpy as np
import pytest

from peoplelens.audio.analysis import estimate_direction
from peoplelens.audio.bank import SoundBank
from peoplelens.audio.config import AudioConfig
from peoplelens.audio.errors import AudioError
from peoplelens.audio.mixer import Cue, Mixer, render_timeline
from peoplelens.audio.render_numpy import SphericalHeadRenderer
from peoplelens.audio.render_openal import OpenALRenderer
from peoplelens.audio.sounds import synthesize
from peoplelens.core.state import AudioEvent, HeadOrientation, Sound

FS = 48_000


def _noise(seconds: float) -> np.ndarray:
    return (0.2 * np.random.default_rng(7).standard_normal(int(seconds * FS))).astype(np.float32)


@pytest.fixture(scope="module", params=["numpy", "openal"])
def renderer(request: pytest.FixtureRequest) -> object:
    return SphericalHeadRenderer() if request.param == "numpy" else OpenALRenderer()


def test_world_fixed_source_centres_when_head_turns_to_it(renderer: object) -> None:
    # a sound fixed at world +60 deg; the head turns 0 -> +60 deg during the first 0.8 s
    out = render_timeline([(0.0, Cue(_noise(1.0), 60.0))], lambda t: 60.0 * min(1.0, t / 0.8), 1.0, renderer)
    first = estimate_direction(out[: FS // 20], FS)
    last = estimate_direction(out[-FS // 10 :], FS)
    assert first.azimuth_deg == pytest.approx(60.0, abs=15.0) and first.itd_s > 0
    assert abs(last.itd_s) < 1.0 / FS and abs(last.azimuth_deg) < 5.0


def test_head_turn_moves_source_to_the_other_side(renderer: object) -> None:
    out = render_timeline([(0.0, Cue(_noise(1.0), 0.0))], lambda t: (-45.0 if t < 0.5 else 45.0, 0.0), 1.0, renderer)
    assert estimate_direction(out[FS // 10 : FS // 2], FS).azimuth_deg > 30  # head left -> source right
    assert estimate_direction(out[FS // 2 + 960 :], FS).azimuth_deg < -30


def test_direction_changes_are_crossfaded() -> None:
    # a low tone jumping 0 -> 90 deg: without the crossfade the ITD step would leave a discontinuity
    tone = (0.5 * np.sin(2 * np.pi * 300 * np.arange(FS // 2) / FS)).astype(np.float32)
    r = SphericalHeadRenderer()
    jump = 0.2505  # not on a block boundary: the block starting at 0.25 s carries the change

    def steps(cfg: AudioConfig) -> float:
        out = render_timeline([(0.0, Cue(tone, 0.0))], lambda t: 0.0 if t < jump else -90.0, 0.45, r, config=cfg)
        d = np.abs(np.diff(out[:, 0]))
        steady = d[int(0.05 * FS) : int(0.2 * FS)].max()
        return float(d[int(0.2 * FS) : int(0.4 * FS)].max() / steady)

    assert steps(AudioConfig()) < 1.3
    assert steps(AudioConfig(crossfade_ms=0.0)) > 2.0  # the test can tell the difference


def test_audio_events_start_on_time_and_voices_end() -> None:
    bank = SoundBank()
    events = [
        AudioEvent(t=0.5, sound=Sound.BUMP, track_id=1, azimuth_deg=-30, elevation_deg=0, distance_m=1.5, reason="t"),
        AudioEvent(t=0.7, sound=Sound.WOODBLOCK, track_id=2, azimuth_deg=40, elevation_deg=0, distance_m=2.0,
                   reason="t", pitch_semitones=5.0),
    ]  # fmt: skip
    out = render_timeline(events, lambda t: HeadOrientation(yaw_deg=0.0), 1.0, SphericalHeadRenderer(), bank)
    assert out.shape == (FS, 2) and out.dtype == np.float32
    env = np.abs(out).max(axis=1)
    onset = int(np.argmax(env > 1e-3))
    assert onset == pytest.approx(0.5 * FS, abs=48)
    assert estimate_direction(out[int(0.5 * FS) : int(0.6 * FS)], FS).azimuth_deg < -15
    assert estimate_direction(out[int(0.7 * FS) : int(0.82 * FS)], FS).azimuth_deg > 20


def test_mixer_block_api_move_and_stop() -> None:
    mixer = Mixer(SphericalHeadRenderer())
    assert mixer.block_size == 480
    vid = mixer.play(Cue(_noise(0.2), -60.0))
    left = np.concatenate([mixer.render_block() for _ in range(5)])
    assert estimate_direction(left, FS).azimuth_deg < -40
    mixer.move(vid, 60.0)
    mixer.render_block()
    right = np.concatenate([mixer.render_block() for _ in range(5)])
    assert estimate_direction(right, FS).azimuth_deg > 40
    for _ in range(20):
        mixer.render_block()
    assert mixer.active == 0  # finished voices are dropped
    mixer.play(Cue(synthesize("click"), 0.0))
    mixer.stop()
    assert mixer.active == 0 and not mixer.render_block().any()


def test_mixer_rejects_bad_input() -> None:
    mixer = Mixer(SphericalHeadRenderer())
    with pytest.raises(AudioError):
        mixer.play(Cue(np.zeros((10, 2), np.float32), 0.0))
    with pytest.raises(AudioError):
        mixer.set_head(float("nan"))
    with pytest.raises(AudioError, match="duration"):
        render_timeline([], None, 0.0, SphericalHeadRenderer())
