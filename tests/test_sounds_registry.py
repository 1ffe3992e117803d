"""One table of sounds: every sound has its scheduling terms and colour, every non-speech sound a synthesiser whose
cue is real audio, and the scheduler, the overlay, the report and the CLI read the same table."""

from __future__ import annotations

import numpy as np

from peoplelens.audio.cli import SOUND_HELP
from peoplelens.audio.sounds import SYNTHESIZERS, synthesize
from peoplelens.core.sounds import SOUNDS, Sound, colour_bgr
from peoplelens.lens.experiences.scheduler import BACKGROUND_SOUNDS, PRIORITY, SPEECH_SOUNDS
from peoplelens.sim_harness.report import SOUND_COLOURS


def test_every_sound_is_specified_and_playable() -> None:
    assert set(SOUNDS) == set(Sound)
    assert len({spec.priority for spec in SOUNDS.values()}) == len(SOUNDS)  # no ties between sounds
    for sound, spec in SOUNDS.items():
        if spec.speech:
            assert str(sound) not in SYNTHESIZERS
            continue
        x = synthesize(str(sound), fs=48_000)
        assert x.dtype == np.float32 and 0.005 < len(x) / 48_000 < 1.0 and 0.1 < np.abs(x).max() <= 1.0, sound
        assert str(sound) in SOUND_HELP


def test_the_layers_read_the_one_table() -> None:
    assert {s: spec.priority for s, spec in SOUNDS.items()} == PRIORITY
    assert {Sound.NAME} == SPEECH_SOUNDS and {Sound.WOODBLOCK, Sound.FOLLOW} == BACKGROUND_SOUNDS
    assert SOUND_COLOURS["name"] == SOUNDS[Sound.NAME].colour
    assert colour_bgr("click") == (0x28, 0x27, 0xD6) and colour_bgr("no such sound") == (255, 255, 255)
