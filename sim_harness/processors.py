"""Building the processor a replay runs: the live runtime's own (the composition root,
``peoplelens.lens.pipeline:build_system``) unless ``--processor`` names another factory.

A factory is named ``"module:attr"`` (as for ``peoplelens run --processor``) and called with the config and the
enrolled people store (or None).
"""

from __future__ import annotations

from typing import Any

from peoplelens.lens.runtime.protocol import DEFAULT_FACTORY, Processor, build_processor

__all__ = ["DEFAULT_FACTORY", "build_replay_processor"]


def build_replay_processor(factory: str = DEFAULT_FACTORY, config: dict[str, Any] | None = None,
                           store: Any = None) -> Processor:
    """The processor named by ``factory`` built with ``config`` and the enrolled people ``store``."""
    return build_processor(factory, config, people=store)
