"""Measure the renderers: direction-recovery error per backend and azimuth, and render latency per cue.

Run ``python -m peoplelens.audio.measure`` (``--repeats N``, ``--json`` for machine-readable output).
Direction error is ``|estimated lateral angle - expected|`` over all synthesised cues, where the expected
lateral angle of 180 (behind) is 0 (ITD cannot tell front from back). Latency is the wall time of one
``render()`` call per cue (median over repeats), plus the mixer's cost per 10 ms block.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from typing import Any

import click
import numpy as np

from peoplelens.audio.analysis import estimate_direction
from peoplelens.audio.config import AudioConfig
from peoplelens.audio.mixer import Cue, Mixer
from peoplelens.audio.render import make_renderer
from peoplelens.audio.sounds import SYNTH_SOUNDS, synthesize
from peoplelens.audio.tts import SpeechSynth

AZIMUTHS = (-90, -45, 0, 45, 90, 180)


def _median_ms(fn: Any, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def _measure_backend(renderer: Any, cues: dict[str, np.ndarray], config: AudioConfig, repeats: int) -> dict:
    errors: dict[int, list[float]] = {az: [] for az in AZIMUTHS}
    for mono in cues.values():
        for az in AZIMUTHS:
            est = estimate_direction(renderer.render(mono, az), config.sample_rate, config.head_radius_m)
            expected = 0.0 if abs(az) == 180 else float(az)
            errors[az].append(abs(est.azimuth_deg - expected))
    latency = {s: _median_ms(lambda m=m: renderer.render(m, 37.0, 10.0, 1.5), repeats) for s, m in cues.items()}
    mixer = Mixer(renderer, config)
    for s in ("bump", "follow", "gaze", "name"):
        mixer.play(Cue(np.tile(cues[s], 20), 30.0))
    yaw = iter(np.linspace(0, 90, 10_000))
    def turn_and_render() -> None:
        mixer.set_head(next(yaw))
        mixer.render_block()

    block_ms = _median_ms(turn_and_render, repeats * 5)
    return {
        "describe": renderer.describe(),
        "direction_error_deg": {
            str(az): {"mean": float(np.mean(e)), "max": float(np.max(e))} for az, e in errors.items()
        },
        "render_ms": latency,
        "mixer_block_ms_4_voices_turning": block_ms,
    }


def measure(repeats: int = 20) -> dict[str, Any]:
    """Direction errors (degrees) and latencies (ms) for every backend that runs here."""
    config = AudioConfig()
    cues = {s: synthesize(s, fs=config.sample_rate) for s in SYNTH_SOUNDS}
    with tempfile.TemporaryDirectory() as tmp:
        tts = SpeechSynth(sample_rate=config.sample_rate, cache_dir=tmp)
        t0 = time.perf_counter()
        cues["name"] = tts.speak("Alice")
        tts_cold_ms = (time.perf_counter() - t0) * 1000
        tts_cached_ms = _median_ms(lambda: tts.speak("Alice"), repeats)
    report: dict[str, Any] = {"tts_ms": {"espeak_ng_first": tts_cold_ms, "cached": tts_cached_ms}, "backends": {}}
    for backend in ("numpy", "openal"):
        report["backends"][backend] = _measure_backend(make_renderer(backend, config), cues, config, repeats)
    return report


@click.command()
@click.option("--repeats", type=int, default=20, show_default=True, help="Timing repeats (median).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def main(repeats: int, as_json: bool) -> None:
    """Print direction errors per backend/azimuth and render latency per cue."""
    report = measure(repeats)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    tts = report["tts_ms"]
    click.echo(f"name TTS: espeak-ng first call {tts['espeak_ng_first']:.1f} ms, cached {tts['cached']:.3f} ms")
    for backend, r in report["backends"].items():
        click.echo(f"\n[{backend}] {r['describe']}")
        click.echo("direction error (deg, over all cues):  " + "  ".join(
            f"{az}: mean {e['mean']:.1f} max {e['max']:.1f}" for az, e in r["direction_error_deg"].items()
        ))  # fmt: skip
        click.echo("render latency (ms/cue, median):       " + "  ".join(
            f"{s} {ms:.2f}" for s, ms in r["render_ms"].items()
        ))  # fmt: skip
        click.echo(f"mixer: {r['mixer_block_ms_4_voices_turning']:.2f} ms per 10 ms block (4 voices, head turning)")


if __name__ == "__main__":
    main()
