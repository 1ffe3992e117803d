"""The experiences: from the People Map, the wearer's head and the time, decide which cues to play.

Modules, one job each: ``config`` (every threshold), ``scheduler`` (channels, priorities, staleness),
``attention`` (bump, then name or click, and the seen signals), ``guidance`` (woodblock taps toward an
unidentified face), ``gaze_notify`` (someone starts looking at the wearer), ``follow``, ``orientation``
(the sweep) and ``engine`` (ties them together). Depends only on
:mod:`peoplelens.core.state` and :mod:`peoplelens.core.config`.
"""

from peoplelens.lens.experiences.config import ExperienceConfig, experience_config
from peoplelens.lens.experiences.engine import ExperienceEngine, ExperienceError, UpdateResult
from peoplelens.lens.experiences.follow import FollowError
from peoplelens.lens.experiences.guidance import guidance_pitch
from peoplelens.lens.experiences.scheduler import PRIORITY

__all__ = [
    "PRIORITY",
    "ExperienceConfig",
    "ExperienceEngine",
    "ExperienceError",
    "FollowError",
    "UpdateResult",
    "experience_config",
    "guidance_pitch",
]
