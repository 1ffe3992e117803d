"""The processor interface the runtime drives, and loading a processor factory from a dotted path.

A processor does perception + world + experiences for one frame::

    class Processor(Protocol):
        def process(self, frame: peoplelens.core.types.Frame, head: HeadOrientation | None) -> ProcessResult: ...

:class:`ProcessResult` is the project-wide one in :mod:`peoplelens.core.state` (``frame_index``, ``t``, ``head``,
``events``, ``seen``, ``people``, ``tracks``, ``timings`` in seconds per sub-stage). A factory is a callable
``factory(config: dict, people=None) -> Processor`` named ``"package.module:attribute"`` (``people``: the enrolled
people store, or None); each process builds its own. The product's factory is the composition root,
:func:`peoplelens.lens.pipeline.build_system`.
"""

from __future__ import annotations

import importlib
import time
from typing import Any, Protocol, runtime_checkable

from peoplelens.core.state import HeadOrientation, ProcessResult
from peoplelens.core.types import Frame
from peoplelens.lens.runtime.errors import ProcessorLoadError

__all__ = [
    "DEFAULT_FACTORY", "ProcessResult", "Processor", "ProcessorFactory", "SlowProcessor", "build_processor",
    "close_processor", "load_factory",
]

DEFAULT_FACTORY = "peoplelens.lens.pipeline:build_system"


@runtime_checkable
class Processor(Protocol):
    """Anything that turns a frame (and the head orientation at its time) into a :class:`ProcessResult`."""

    def process(self, frame: Frame, head: HeadOrientation | None) -> ProcessResult:
        """Process one frame."""
        ...


class ProcessorFactory(Protocol):
    """What a dotted processor path names: ``factory(config, people=None) -> Processor``."""

    def __call__(self, config: dict[str, Any], people: Any = None) -> Processor:
        """Build a processor from its config and the enrolled people (a people store or None)."""
        ...


def load_factory(dotted: str) -> ProcessorFactory:
    """Import ``"module:attr"`` (or ``"module.attr"``) and return the callable; clear error when it fails."""
    module_name, sep, attr = dotted.partition(":")
    if not sep:
        module_name, _, attr = dotted.rpartition(".")
    if not module_name or not attr:
        raise ProcessorLoadError(f"processor factory {dotted!r} is not of the form 'package.module:function'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ProcessorLoadError(
            f"cannot import {module_name!r} for processor factory {dotted!r}: {exc}. "
            "Try --processor peoplelens.lens.runtime.face_processor:build_face_processor"
        ) from exc
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ProcessorLoadError(f"{module_name!r} has no callable {attr!r} (processor factory {dotted!r})")
    return factory


def build_processor(dotted: str, config: dict[str, Any] | None = None, slow_ms: float = 0.0,
                    people: Any = None) -> Processor:
    """Build the processor named by ``dotted`` with ``config`` and the enrolled ``people`` (a people store or None);
    ``slow_ms`` > 0 adds a delay per frame."""
    processor = load_factory(dotted)(dict(config or {}), people=people)
    if not hasattr(processor, "process"):
        raise ProcessorLoadError(f"{dotted!r} returned {type(processor).__name__}, which has no process()")
    return SlowProcessor(processor, slow_ms) if slow_ms > 0 else processor


def close_processor(processor: Processor) -> None:
    """Release what the processor holds (the product's stage thread) when it has a ``close()``."""
    close = getattr(getattr(processor, "inner", processor), "close", None)
    if callable(close):
        close()


class SlowProcessor:
    """Wraps a processor and sleeps ``slow_ms`` per frame (to test drops and bounded latency)."""

    def __init__(self, inner: Processor, slow_ms: float) -> None:
        self.inner, self.slow_s = inner, slow_ms / 1000.0

    def process(self, frame: Frame, head: HeadOrientation | None) -> ProcessResult:
        """Run the wrapped processor, then wait; the wait is reported as the ``slow`` timing."""
        result = self.inner.process(frame, head)
        time.sleep(self.slow_s)
        result.timings["slow"] = self.slow_s
        return result
