"""The experiences: from the People Map, the wearer's head and the time, decide which cues to play.

Modules, one job each: ``config`` (every threshold), ``scheduler`` (channels, priorities, staleness),
``attention`` (bump, then name or click, and the seen signals), ``guidance`` (woodblock taps toward an
unidentified face), ``gaze_notify`` (someone starts looking at the wearer), ``follow``, ``orientation``
(the sweep) and ``engine`` (ties them together). Depends only on :mod:`lens.state` and :mod:`lens.config`.
"""

from lens.experiences.config import ExperienceConfig, experience_config
from lens.experiences.engine import ExperienceEngine, ExperienceError, UpdateResult
from lens.experiences.follow import FollowError
from lens.experiences.guidance import guidance_pitch
from lens.experiences.scheduler import PRIORITY

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
