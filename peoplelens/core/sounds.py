"""Every cue the product can play, and what each layer needs to know about it, in one table.

Adding a sound: a member of :class:`Sound` and its :class:`SoundSpec` here, its synthesiser in
``peoplelens.audio.sounds.SYNTHESIZERS`` (spoken sounds need none), and the experience that asks for it. The
scheduler's priorities and channels, the overlay's and the report's colours and the CLI's help read this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Sound(StrEnum):
    """Every cue the experiences can ask the audio renderer to play."""

    BUMP = "bump"
    NAME = "name"
    WOODBLOCK = "woodblock"
    CLICK = "click"
    GAZE = "gaze"
    FOLLOW = "follow"
    ORIENTATION = "orientation"


@dataclass(frozen=True)
class SoundSpec:
    """How a sound is scheduled and shown."""

    priority: int  # higher wins when cues compete
    speech: bool  # on the speech channel (one utterance at a time) rather than the short-cue channel
    background: bool  # dropped while speech plays (a name beats a woodblock)
    colour: str  # #rrggbb, for the overlay video and the HTML report
    meaning: str  # what the wearer learns from it


SOUNDS: dict[Sound, SoundSpec] = {
    Sound.NAME: SoundSpec(60, True, False, "#2ca02c", "an enrolled person within 4 m whose ears are both visible"),
    Sound.ORIENTATION: SoundSpec(55, False, False, "#7f7f7f", "the orientation sweep the wearer asked for"),
    Sound.GAZE: SoundSpec(50, False, False, "#e377c2", "someone started looking at the wearer"),
    Sound.CLICK: SoundSpec(40, False, False, "#d62728", "a person who is not enrolled"),
    Sound.BUMP: SoundSpec(30, False, False, "#1f77b4", "the head direction crossed a person up to 10 m away"),
    Sound.WOODBLOCK: SoundSpec(20, False, True, "#ff7f0e", "guidance toward a face seen 1 s but not identified"),
    Sound.FOLLOW: SoundSpec(10, False, True, "#17becf", "where the followed person is"),
}


def colour_bgr(sound: str) -> tuple[int, int, int]:
    """The sound's colour as an OpenCV BGR triple (white for an unknown sound)."""
    spec = SOUNDS.get(Sound(sound)) if sound in Sound.__members__.values() else None
    if spec is None:
        return (255, 255, 255)
    r, g, b = (int(spec.colour[i:i + 2], 16) for i in (1, 3, 5))
    return (b, g, r)
