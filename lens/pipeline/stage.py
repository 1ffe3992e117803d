"""Stages and the runner that passes a frame through them once.

A stage is a small class with one job: a ``name`` (the key of its time in ``ProcessResult.timings``), the
:class:`~peoplelens.lens.pipeline.frame_state.FrameState` fields it ``reads`` and ``writes``, ``run(state)`` and
``reset()`` (forget what was seen, keep the models). The runner times every stage; stages never time themselves.

Independent stages can share a :class:`Parallel` step: the caller's thread runs the first, the stage thread the
next ones in order, and whichever thread is free takes a stage nobody has started (so a short stage after a long
one does not wait). ONNX Runtime and OpenCV release the GIL, so on two cores a detection frame costs about its
longest branch. A stage may also share its own batch between the two threads with :meth:`Workers.split` (item by
item: the stage thread joins when it is free, also from a parallel step's other member). Results do not depend on
the scheduling: each stage reads only what earlier steps wrote and writes its own fields.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol, TypeVar, runtime_checkable

from peoplelens.core.errors import PeopleLensError
from peoplelens.lens.pipeline.frame_state import INPUTS, FrameState

T = TypeVar("T")
R = TypeVar("R")


class PipelineBuildError(PeopleLensError):
    """The stages do not fit together (a stage reads a field nothing earlier writes, or two write one field)."""


@runtime_checkable
class Stage(Protocol):
    """One step of the per-frame work."""

    name: str
    reads: frozenset[str]
    writes: frozenset[str]

    def run(self, state: FrameState) -> None:
        """Read the declared fields of ``state`` and write the declared outputs."""
        ...

    def reset(self) -> None:
        """Forget everything seen (tracks, identities, counters) but keep the models loaded."""
        ...


class Workers:
    """The stage thread(s) beside the caller's thread (none with ``threads=0``: everything runs in the caller)."""

    def __init__(self, threads: int = 1) -> None:
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="lens-stage") if threads > 0 else None
        self._finalizer = weakref.finalize(self, _shutdown, self.pool)

    def submit(self, fn: Callable[[], T]) -> Future[T] | None:
        """Start ``fn`` on the stage thread (None when there is none)."""
        return None if self.pool is None else self.pool.submit(fn)

    def share(self, items: Sequence[T], fn: Callable[[T], None]) -> None:
        """``fn`` on every item, this thread first, then whichever thread is free takes the next item nobody has
        started: a stage thread busy elsewhere (or the caller of this on the stage thread itself) is never waited
        for, this thread then does the rest. An error propagates once the other thread's item is done."""
        pending = deque(items)
        lock = threading.Lock()

        def work() -> None:
            while True:
                with lock:
                    if not pending:
                        return
                    item = pending.popleft()
                fn(item)

        if self.pool is None or len(pending) < 2:
            work()
            return
        with lock:
            first = pending.popleft()
        future = self.pool.submit(work)
        try:
            fn(first)
            work()
        except BaseException:
            if not future.cancel():
                future.exception()  # let the other thread's item finish before the error propagates
            raise
        if not future.cancel():  # not started: the stage thread was busy and this thread did everything
            future.result()

    def split(self, items: Sequence[T], fn: Callable[[Sequence[T]], list[R]]) -> list[R]:
        """``fn`` over ``items``, one item at a time, on this thread and the stage thread (:meth:`share`; ``fn``
        of one item gives one result); results in order. Items that need more work should come first."""
        if self.pool is None or len(items) < 2:
            return fn(items) if items else []
        results: list[list[R]] = [[] for _ in items]

        def one(i: int) -> None:
            results[i] = fn(items[i : i + 1])

        self.share(range(len(items)), one)
        return [r for part in results for r in part]

    def close(self) -> None:
        """Stop the stage thread (work then runs in the caller's thread)."""
        self._finalizer()
        self.pool = None


def _shutdown(pool: ThreadPoolExecutor | None) -> None:
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)


class Parallel:
    """Stages that do not depend on each other, run at the same time (see the module docstring)."""

    def __init__(self, *stages: Stage) -> None:
        self.stages = tuple(stages)
        self.name = "+".join(s.name for s in stages)
        self.reads = frozenset().union(*(s.reads for s in stages))
        self.writes = frozenset().union(*(s.writes for s in stages))

    def reset(self) -> None:
        """Reset every member."""
        for s in self.stages:
            s.reset()


Step = Stage | Parallel


class StageRunner:
    """Runs the steps on a frame in order, timing each stage (``state.timings[name]``, seconds)."""

    def __init__(self, steps: Sequence[Step], workers: Workers | None = None) -> None:
        self.steps = list(steps)
        self.workers = workers or Workers(0)
        self._lock = threading.Lock()
        check_steps(self.steps)

    @property
    def stages(self) -> list[Stage]:
        """Every stage in order (members of a parallel step in their listed order)."""
        out: list[Stage] = []
        for step in self.steps:
            out.extend(step.stages if isinstance(step, Parallel) else [step])
        return out

    def run(self, state: FrameState) -> FrameState:
        """Pass one frame through every step."""
        for step in self.steps:
            if isinstance(step, Parallel):
                self._run_parallel(step.stages, state)
            else:
                self._timed(step, state)
        return state

    def reset(self) -> None:
        """Reset every stage."""
        for stage in self.stages:
            stage.reset()

    def _timed(self, stage: Stage, state: FrameState) -> None:
        t0 = time.perf_counter()
        try:
            stage.run(state)
        finally:
            elapsed = time.perf_counter() - t0
            with self._lock:
                state.timings[stage.name] = state.timings.get(stage.name, 0.0) + elapsed

    def _run_parallel(self, stages: Sequence[Stage], state: FrameState) -> None:
        self.workers.share(stages, lambda stage: self._timed(stage, state))

    def close(self) -> None:
        """Stop the stage thread."""
        self.workers.close()


def check_steps(steps: Sequence[Step]) -> None:
    """Every field a stage reads is an input or written by an earlier step; no two stages write one field;
    members of a parallel step do not read each other's outputs."""
    available = set(INPUTS)
    written: dict[str, str] = {}
    for step in steps:
        members = step.stages if isinstance(step, Parallel) else (step,)
        for stage in members:
            missing = stage.reads - available
            if missing:
                raise PipelineBuildError(f"stage {stage.name!r} reads {sorted(missing)}, which no earlier stage writes")
        for stage in members:
            for name in stage.writes:
                if name in written or name in INPUTS:
                    raise PipelineBuildError(f"stages {written.get(name, 'input')!r} and {stage.name!r} both write "
                                             f"{name!r}")
                written[name] = stage.name
        available |= step.writes
