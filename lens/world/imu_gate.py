"""Live IMU samples are untrusted: each is checked before it enters the world frame, and what the IMU did is counted.

A sample is refused (and counted by reason) when a value is not finite, out of range (pitch beyond +-90 deg, an
angle beyond +-3600 deg), out of order (not later than the previous sample), or too far from the time of the frame
it came with (``max_skew_s``: a clock that jumped or a stale reading). The same sample sent again is a repeat, not
an error. A sample that turns the head faster than a head can turn (``max_rate_dps``) is a **jump** of the IMU's
own reference (a re-zeroed or re-started IMU): it starts a new segment, and the world frame re-anchors its heading
there so the world does not jump with it.

The ``[imu]`` configuration section is :class:`ImuConfig`; what happened is :class:`WorldHealth` (the runtime's
``world.*`` counters).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Annotated

from msgspec import Meta

from peoplelens.core.state import HeadOrientation, wrap_deg

MAX_ANGLE_DEG = 3600.0  # an unwrapped yaw or roll may exceed +-180, not this


@dataclass(frozen=True)
class ImuConfig:
    """``[imu]`` config section: how live IMU samples are checked and when the video's rotation takes over."""

    #: a frame farther than this from the IMU's samples is not covered by the IMU: the video's own rotation takes
    #: over (a stalled or slow IMU) until samples cover the frames again. It allows a live sample some latency
    #: behind its frame; holding a sample longer would freeze the world while the head turns (1.5 deg at 30 deg/s)
    stale_s: Annotated[float, Meta(gt=0.0, le=5.0)] = 0.05
    #: a live sample stamped farther than this from its frame's time is refused (a jumped clock, a stale reading)
    max_skew_s: Annotated[float, Meta(gt=0.0, le=60.0)] = 1.0
    #: faster than this (deg/s, plus ``jump_slack_deg``) is no head turn but a jump of the IMU's reference
    max_rate_dps: Annotated[float, Meta(gt=0.0, le=1e5)] = 1500.0
    jump_slack_deg: Annotated[float, Meta(ge=0.0, le=180.0)] = 5.0
    #: after the IMU takes over again from the video's rotation, the world frame continues where the video left it
    #: and then returns to the IMU's own heading at most this fast (deg/s): no jump, and the video's drift is undone
    handover_dps: Annotated[float, Meta(gt=0.0, le=360.0)] = 5.0
    max_samples: Annotated[int, Meta(ge=2, le=1_000_000)] = 2000  # live samples kept for interpolation


class Verdict(StrEnum):
    """What became of one live sample."""

    ACCEPTED = "accepted"
    REPEAT = "repeat"  # the previous sample again: ignored
    JUMP = "jump"  # accepted as the first sample of a new segment (the IMU's reference jumped)
    NON_FINITE = "non_finite"
    OUT_OF_RANGE = "out_of_range"
    OUT_OF_ORDER = "out_of_order"
    SKEW = "skew"

    @property
    def rejected(self) -> bool:
        """Whether the sample was refused."""
        return self not in (Verdict.ACCEPTED, Verdict.REPEAT, Verdict.JUMP)


@dataclass
class WorldHealth:
    """Counters of the world frame: the IMU's samples, its fall-backs to the video's rotation, time on each."""

    imu_samples: int = 0  # accepted live samples
    imu_repeats: int = 0
    imu_rejected: int = 0  # every refused sample (the reasons below add up to it)
    imu_rejected_non_finite: int = 0
    imu_rejected_out_of_range: int = 0
    imu_rejected_out_of_order: int = 0
    imu_rejected_skew: int = 0
    imu_jumps: int = 0  # the IMU's reference jumped: a new segment, the heading re-anchored
    imu_fallbacks: int = 0  # frames stopped being covered by the IMU: the video's rotation took over
    imu_resumes: int = 0  # the IMU covered frames again (heading handed over without a jump)
    epochs: int = 0  # frame clock jumps seen by the world frame (live IMU samples of the old clock dropped)
    visual_s: float = 0.0  # frame time spent on the video's own rotation
    imu_s: float = 0.0  # frame time spent on the IMU
    on_imu: int = 0  # 1 while the latest frame used the IMU

    def count(self, verdict: Verdict) -> None:
        """Count one sample's verdict."""
        if verdict is Verdict.ACCEPTED:
            self.imu_samples += 1
        elif verdict is Verdict.REPEAT:
            self.imu_repeats += 1
        elif verdict is Verdict.JUMP:
            self.imu_samples += 1
            self.imu_jumps += 1
        else:
            self.imu_rejected += 1
            name = f"imu_rejected_{verdict.value}"
            setattr(self, name, getattr(self, name) + 1)

    def as_counters(self) -> dict[str, float]:
        """The counters as a flat dict (times rounded to 0.01 s)."""
        out = asdict(self)
        out["visual_s"], out["imu_s"] = round(self.visual_s, 2), round(self.imu_s, 2)
        return out


def angular_step_deg(a: HeadOrientation, b: HeadOrientation) -> float:
    """The largest change of yaw, pitch or roll from ``a`` to ``b`` (yaw and roll the short way round)."""
    return max(abs(wrap_deg(b.yaw_deg - a.yaw_deg)), abs(b.pitch_deg - a.pitch_deg),
               abs(wrap_deg(b.roll_deg - a.roll_deg)))


def judge_sample(sample: HeadOrientation, last: HeadOrientation | None, frame_t: float | None,
                 config: ImuConfig) -> Verdict:
    """The verdict on a live ``sample`` after ``last`` (the previous accepted one), given with a frame at ``frame_t``
    (None: not checked against a frame)."""
    values = (sample.timestamp, sample.yaw_deg, sample.pitch_deg, sample.roll_deg)
    try:
        finite = all(math.isfinite(float(v)) for v in values)
    except (TypeError, ValueError):
        return Verdict.NON_FINITE
    if not finite:
        return Verdict.NON_FINITE
    if abs(sample.pitch_deg) > 90.0 or abs(sample.yaw_deg) > MAX_ANGLE_DEG or abs(sample.roll_deg) > MAX_ANGLE_DEG:
        return Verdict.OUT_OF_RANGE
    if frame_t is not None and abs(sample.timestamp - frame_t) > config.max_skew_s:
        return Verdict.SKEW
    if last is None:
        return Verdict.ACCEPTED
    if sample.timestamp == last.timestamp and angular_step_deg(last, sample) < 1e-9:
        return Verdict.REPEAT
    if sample.timestamp <= last.timestamp:
        return Verdict.OUT_OF_ORDER
    allowed = config.max_rate_dps * (sample.timestamp - last.timestamp) + config.jump_slack_deg
    return Verdict.JUMP if angular_step_deg(last, sample) > allowed else Verdict.ACCEPTED
