"""Stages and the runner that passes a frame through them once.

A stage is a small class with one job: a ``name`` (the key of its time in ``ProcessResult.timings``), the
:class:`~peoplelens.lens.pipeline.frame_state.FrameState` fields it ``reads`` and ``writes``, ``run(state)`` and
``reset()`` (forget what was seen, keep the models). The runner times every stage; stages never time themselves.

Independent stages can share a :class:`Parallel` step: the caller's thread runs the first, the stage thread the
next ones in order, and whichever thread is free takes a stage nobody has started (so a short stage after a long
one does not wait). ONNX Runtime and OpenCV release the GIL, so on two cores a detection frame costs about its
longest branch. A stage may also share its own batch between the two threads with :meth:`Workers.split` (item by
item: the stage thread joins when it is free, also from a parallel step's other member; and a thread that has
finished its part of a step while the other still runs a member takes that member's open items, e.g. the gaze tile
of the body detector that the stage thread runs on a light frame). Results do not depend on the scheduling: each
stage reads only what earlier steps wrote and writes its own fields.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol, TypeVar, runtime_checkable

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


class _Batch:
    """The items of one :meth:`Workers.share` call: those nobody has taken, how many are running, the first error."""

    def __init__(self, items: Sequence[Any], fn: Callable[[Any], None]) -> None:
        self.pending: deque[Any] = deque(items)
        self.fn = fn
        self.running = 0
        self.error: BaseException | None = None


class Workers:
    """The stage thread(s) beside the caller's thread (none with ``threads=0``: everything runs in the caller).

    Work is shared item by item (:meth:`share`). A thread that has run out of its own items and waits for an item the
    other thread is running helps with the items still open anywhere: the stage thread running one member of a
    parallel step may split that member's own work, and the caller's thread, done with the other members, then takes
    part of it instead of idling."""

    def __init__(self, threads: int = 1) -> None:
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="lens-stage") if threads > 0 else None
        self._finalizer = weakref.finalize(self, _shutdown, self.pool)
        self._changed = threading.Condition()  # guards the open batches; notified when one opens or an item ends
        self._open: list[_Batch] = []

    def submit(self, fn: Callable[[], T]) -> Future[T] | None:
        """Start ``fn`` on the stage thread (None when there is none)."""
        return None if self.pool is None else self.pool.submit(fn)

    def share(self, items: Sequence[T], fn: Callable[[T], None]) -> None:
        """``fn`` on every item, this thread first, then whichever thread is free takes the next item nobody has
        started: a stage thread busy elsewhere (or the caller of this on the stage thread itself) is never waited
        for, this thread then does the rest. While the other thread finishes one of these items, this thread takes
        items of any other open batch. An error propagates once the running items are done (no item starts after
        it)."""
        if self.pool is None or len(items) < 2:
            for item in items:
                fn(item)
            return
        batch = _Batch(items, fn)
        with self._changed:
            first = batch.pending.popleft()  # this thread's, whatever the stage thread does
            batch.running += 1
            self._open.append(batch)
            self._changed.notify_all()  # a thread waiting for its own batch may help with this one
        future = self.pool.submit(self._drain, batch)
        try:
            self._run_item(batch, first)
            self._drain(batch)
            self._wait_helping(batch)
        finally:
            future.cancel()  # not started: the stage thread was busy elsewhere and the items are done
            with self._changed:
                self._open.remove(batch)
        if batch.error is not None:
            raise batch.error

    def _drain(self, batch: _Batch) -> None:
        """Run ``batch``'s items until none is left to take."""
        while True:
            with self._changed:
                if not batch.pending:
                    return
                item = batch.pending.popleft()
                batch.running += 1
            self._run_item(batch, item)

    def _wait_helping(self, batch: _Batch) -> None:
        """Until ``batch``'s running items end, run other open batches' items (or sleep until one opens)."""
        while True:
            with self._changed:
                if batch.running == 0:
                    return
                other = next((b for b in self._open if b.pending), None)
                if other is None:
                    self._changed.wait()
                    continue
                item = other.pending.popleft()
                other.running += 1
            self._run_item(other, item)

    def _run_item(self, batch: _Batch, item: Any) -> None:
        """One item of ``batch``; an error is kept for the thread that called :meth:`share`, and the batch's
        items nobody has started are dropped."""
        try:
            batch.fn(item)
        except BaseException as error:  # re-raised in the thread that called share()
            with self._changed:
                if batch.error is None:
                    batch.error = error
                batch.pending.clear()
        finally:
            with self._changed:
                batch.running -= 1
                self._changed.notify_all()

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
