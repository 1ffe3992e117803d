"""``peoplelens audio``: render a cue to a binaural WAV, play it, list output devices."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from peoplelens.audio.errors import AudioError
from peoplelens.core.sounds import SOUNDS, Sound

SOUND_HELP = " | ".join(str(s) for s in SOUNDS if s is not Sound.NAME) + " | name:TEXT"


def _cue_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--sound", required=True, help=SOUND_HELP),
        click.option("--azimuth", type=float, required=True,
                     help="Degrees: 0 ahead, positive = right, -90 left, 180 behind."),
        click.option("--elevation", type=float, default=0.0, show_default=True, help="Degrees, positive = up."),
        click.option("--distance", type=float, default=1.0, show_default=True, help="Metres (1 m = reference)."),
        click.option("--backend", type=click.Choice(["auto", "openal", "numpy"]), default=None,
                     help="Binaural renderer (default: [audio] backend in the config, else auto)."),
        click.option("--pitch", type=float, default=0.0, show_default=True, help="Woodblock pitch in semitones."),
        click.option("--clip", "clip", type=click.Path(dir_okay=False), default=None,
                     help="A recorded WAV to use for name:TEXT instead of speech synthesis."),
        click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
                     help="TOML config file (default $PEOPLELENS_CONFIG)."),
    ]  # fmt: skip
    for opt in reversed(options):
        func = opt(func)
    return func


def _load_cue(sound: str, pitch: float, clip: str | None, config_path: str | None) -> tuple[Any, Any]:
    """The mono samples of ``--sound`` and the audio config."""
    from peoplelens.audio.bank import SoundBank
    from peoplelens.audio.config import load_audio_config

    config = load_audio_config(config_path)
    name = None
    if sound.startswith("name:"):
        sound, name = "name", sound[len("name:") :].strip()
        if not name:
            raise AudioError("--sound name:TEXT needs the text to speak, e.g. name:Alice")
    elif sound == "name":
        raise AudioError("give the text to speak as --sound name:TEXT")
    bank = SoundBank(config)
    if clip:
        if name is None:
            raise AudioError("--clip only applies to --sound name:TEXT")
        bank.speech.use_clip(name, clip)
    return bank.get(sound, pitch, name), config


@click.group()
def audio() -> None:
    """Binaural spatial audio: render and play cues, list output devices."""


@audio.command()
@_cue_options
@click.option("--out", "out", type=click.Path(dir_okay=False), required=True, help="Stereo WAV to write.")
@click.option("--float32", "as_float", is_flag=True, help="Write 32-bit float instead of 16-bit PCM.")
def render(
    sound: str,
    azimuth: float,
    elevation: float,
    distance: float,
    backend: str | None,
    pitch: float,
    clip: str | None,
    config_path: str | None,
    out: str,
    as_float: bool,
) -> None:
    """Render one cue from a direction to a stereo WAV file."""
    from peoplelens.audio.render import make_renderer
    from peoplelens.audio.wavio import write_wav

    mono, config = _load_cue(sound, pitch, clip, config_path)
    renderer = make_renderer(backend, config)
    stereo = renderer.render(mono, azimuth, elevation, distance) * config.master_gain
    path = write_wav(Path(out), stereo, config.sample_rate, float32=as_float)
    click.echo(
        f"{path}: {len(stereo) / config.sample_rate * 1000:.0f} ms stereo @ {config.sample_rate} Hz "
        f"[{renderer.describe()}]"
    )


@audio.command()
@_cue_options
@click.option("--device", default=None, help="Output device name or index (see `peoplelens audio devices`).")
def play(
    sound: str,
    azimuth: float,
    elevation: float,
    distance: float,
    backend: str | None,
    pitch: float,
    clip: str | None,
    config_path: str | None,
    device: str | None,
) -> None:
    """Play one cue from a direction on the sound card (headphones)."""
    from peoplelens.audio.config import load_audio_config
    from peoplelens.audio.mixer import Cue, Mixer
    from peoplelens.audio.output import RealtimeOutput, check_output_device
    from peoplelens.audio.render import make_renderer

    device = device or load_audio_config(config_path).output_device or None
    info = check_output_device(device)  # fail fast, before any synthesis, when there is no sound card
    mono, config = _load_cue(sound, pitch, clip, config_path)
    renderer = make_renderer(backend, config)
    mixer = Mixer(renderer, config)
    mixer.play(Cue(mono, azimuth, elevation, distance))
    with RealtimeOutput(mixer, device, config.output_latency) as output:
        output.wait_idle()
    click.echo(f"played on {info['name']} [{renderer.describe()}]")


@audio.command()
def devices() -> None:
    """List sound output devices (PortAudio)."""
    from peoplelens.audio.output import list_output_devices

    found = list_output_devices()
    if not found:
        click.echo("no output devices found")
        return
    for d in found:
        click.echo(
            f"{d['index']:3d}  {d['name']}  ({d['hostapi']}, {d['channels']} ch, {d['default_samplerate']:.0f} Hz)"
        )
