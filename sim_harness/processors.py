"""Building the processor a replay runs: by default the live runtime's (``peoplelens.lens.pipeline:build_pipeline``).

A factory is named ``"module:attr"`` (as for ``peoplelens run --processor``). Factories that accept a
``store`` keyword (the pipeline does) get the enrolled people; others get only the config.
"""

from __future__ import annotations

import inspect
from typing import Any

from peoplelens.lens.runtime.protocol import DEFAULT_FACTORY, Processor, load_factory
from peoplelens.sim_harness.errors import ReplayError

__all__ = ["DEFAULT_FACTORY", "build_replay_processor"]


def build_replay_processor(factory: str = DEFAULT_FACTORY, config: dict[str, Any] | None = None,
                           store: Any = None) -> Processor:
    """The processor named by ``factory`` built with ``config`` (and ``store`` when the factory takes one)."""
    build = load_factory(factory)
    config = dict(config or {})
    try:
        takes_store = "store" in inspect.signature(build).parameters
    except (TypeError, ValueError):
        takes_store = False
    if store is not None and not takes_store:
        raise ReplayError(f"processor {factory!r} takes no enrolled people (no 'store' parameter); "
                          "drop --people/--enroll-dir or use peoplelens.lens.pipeline:build_pipeline")
    processor = build(config, store=store) if takes_store else build(config)
    if not hasattr(processor, "process"):
        raise ReplayError(f"{factory!r} returned {type(processor).__name__}, which has no process()")
    return processor
