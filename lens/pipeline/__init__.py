"""The per-frame pipeline: small stages behind one protocol (:mod:`.stage`), one per-frame state object
(:mod:`.frame_state`), the stages themselves (:mod:`.stages`) and the composition root every entry point uses
(:func:`build_system` in :mod:`.system`)."""

from peoplelens.lens.pipeline.config import PipelineConfig
from peoplelens.lens.pipeline.system import LensSystem, build_system, default_session_config

__all__ = ["LensSystem", "PipelineConfig", "build_system", "default_session_config"]
