"""Foveated face detection in the pipeline: full-resolution windows around the heads the wide pass sees too small,
and around the tracked faces, within a time budget (see :mod:`peoplelens.lens.perception.foveation`).

On a frame with the wide face pass, the targets are its small faces, the heads of bodies without a face (this
frame's bodies, or the predicted bodies of face-less tracks) and tracked faces it did not find; window faces replace
the wide faces they re-detect (full-resolution keypoints align better). On a frame without the wide pass, the
tracked faces (and the heads of face-less tracks) are looked for in small windows around their predicted boxes, and
the tracker updates on what they find instead of coasting. A track's prediction is its own Kalman filter advanced to
this frame and moved by the head rotation since the tracker's last update. Priority: the head nearest the gaze (the
image centre), then people not yet identified (tentative tracks among them), then the rest.

Budget, in CPU time: an account (:class:`WindowBudget`) that each wide face pass fills with ``budget_share`` of
its CPU time (a running mean of the passes measured in the calling thread -- those of the one-thread session used
beside the body detector --, the cost model's prediction until then); the stage's own CPU time (planning, and every
window's detector run in whichever thread) is taken from it, and windows are planned at their predicted cost (the
cost model follows the windows' measured CPU time) within the balance. So the windows cost about ``budget_share``
of the wide face pass on any machine. A frame without the wide pass runs windows only when every tentative track
gets one (an update would drop a tentative track it did not look at). Frames and windows stay in memory.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from peoplelens.core.state import IdentityState
from peoplelens.core.types import Detections
from peoplelens.lens.perception.foveation import (
    FoveationConfig,
    FoveationResult,
    Foveator,
    HeadTarget,
    TrackHint,
    head_box_from_body,
    merge_wide_and_foveal,
    seen_by,
)
from peoplelens.lens.perception.identity_policy import IdentityPolicy
from peoplelens.lens.perception.tracking import Tracker
from peoplelens.lens.perception.tracking.kalman import BoxKalman
from peoplelens.lens.pipeline.frame_state import FrameState
from peoplelens.lens.pipeline.stage import Workers
from peoplelens.lens.pipeline.stages.track import MotionSinceUpdate

IDENTIFIED = (IdentityState.KNOWN, IdentityState.NOT_ENROLLED)
SPLIT_FROM = 2  # windows; from this many they are shared with the stage thread (idle during this stage)
HINT_MAX_AGE_S = 0.5  # a track not observed for longer is not looked for (its prediction has drifted)
WIDE_MEAN_WEIGHT = 0.1  # weight of a new measurement in the running mean of the wide pass's CPU time


class WindowBudget:
    """The windows' time account (CPU ms): each wide face pass adds ``share`` of its cost, at most one pass's share
    is kept, the foveate stage's own work takes its cost (a debt -- work that cost more than planned -- is carried
    to the next passes). With ``share`` 0 every frame gets ``fixed_ms`` instead."""

    def __init__(self, share: float, fixed_ms: float) -> None:
        self.share, self.fixed_ms = share, fixed_ms
        self.balance = 0.0

    def wide_pass(self, cost_ms: float) -> None:
        """A wide face pass ran (its cost)."""
        if self.share > 0:
            self.balance = min(self.share * cost_ms, self.balance + self.share * cost_ms)

    @property
    def available(self) -> float:
        """What this frame's windows may cost."""
        return max(0.0, self.balance) if self.share > 0 else self.fixed_ms

    def spend(self, ms: float) -> None:
        """The stage's work on this frame (planning and windows)."""
        if self.share > 0:
            self.balance -= ms

    def reset(self) -> None:
        """A new video: no credit is carried over, a debt is. Over any run of videos the windows then cost
        ``share`` of the wide passes but for the last frame's overrun, not one overrun per video."""
        self.balance = min(0.0, self.balance)


@dataclass
class FoveationStats:
    """Totals since the stage was built, for reports (CPU ms; "predicted" = the cost model's)."""

    frames: int = 0
    frames_with_windows: int = 0
    windows: int = 0
    targets: int = 0
    wide_passes: int = 0
    wide_cost_ms: float = 0.0  # what the wide passes credited (their measured CPU, or predicted before a measure)
    wide_predicted_ms: float = 0.0
    window_predicted_ms: float = 0.0
    window_cpu_ms: float = 0.0  # the windows' detector runs (resize included), each in its thread
    window_wall_ms: float = 0.0
    planning_cpu_ms: float = 0.0  # hints, targets, plan, merge (this thread)
    partial_updates: int = 0  # frames without the wide pass on which the tracker updated from windows

    @property
    def spent_share(self) -> float | None:
        """The stage's CPU (planning + windows) over the wide passes' credited cost."""
        return (self.window_cpu_ms + self.planning_cpu_ms) / self.wide_cost_ms if self.wide_cost_ms else None


def _predicted(part: BoxKalman | None, t: float, homography: np.ndarray | None
               ) -> tuple[float, float, float, float] | None:
    """The part's box at ``t`` moved by ``homography`` (:meth:`BoxKalman.box_at`), without touching the tracker's
    filter."""
    if part is None:
        return None
    x1, y1, x2, y2 = (float(v) for v in part.box_at(t, homography))
    return x1, y1, x2, y2


class FoveateStage:
    """The wide faces plus what full-resolution windows find (module docstring); off (the wide faces pass through)
    when there is no foveator or the frame is no larger than the wide pass's input (``enabled = "auto"``)."""

    name = "foveate"
    reads = frozenset({"frame", "wide_faces", "wide_cpu_ms", "bodies", "image_motion", "view_jumped", "run_faces"})
    writes = frozenset({"faces", "faces_observed", "foveation"})

    def __init__(self, foveator: Foveator | None, tracker: Tracker, policy: IdentityPolicy,
                 motion: MotionSinceUpdate, wide_side: int = 640, workers: Workers | None = None) -> None:
        self.foveator, self.tracker, self.policy, self.motion = foveator, tracker, policy, motion
        self.workers = workers or Workers(0)
        self.wide_side = wide_side
        self.config = foveator.config if foveator is not None else FoveationConfig(enabled=False)
        self.budget = WindowBudget(self.config.budget_share, self.config.budget_ms)
        self.stats = FoveationStats()
        self.wide_cpu_ms: float | None = None  # running mean of the wide face pass's measured CPU time

    def active(self, width: int, height: int) -> bool:
        """Whether windows run on a frame of this size."""
        enabled = self.config.enabled
        return self.foveator is not None and (enabled is True or (enabled == "auto" and
                                                                  max(width, height) > self.wide_side))

    def run(self, state: FrameState) -> None:
        """Plan, run and merge the windows (or pass the wide faces through)."""
        state.faces, state.faces_observed, state.foveation = state.wide_faces, state.run_faces, None
        h, w = state.frame.image.shape[:2]
        if not self.active(w, h):
            return
        assert self.foveator is not None
        c0 = time.thread_time()
        self.stats.frames += 1
        wide_scale = max(1.0, max(w, h) / self.wide_side)
        if state.run_faces:
            measured = state.wide_cpu_ms if self.config.budget_clock == "cpu" else None
            self._credit(measured, self.foveator.predicted_ms((round(w / wide_scale), round(h / wide_scale))))
        motion = state.image_motion @ self.motion.matrix
        hints = [] if state.view_jumped else self._hints(state.t, None if np.allclose(motion, np.eye(3)) else motion)
        targets = self._targets(state, hints, wide_scale)
        crops = self.foveator.plan_targets(targets, (w, h), None, self.budget.available)
        tentative = {tr.track_id for tr in self.tracker.tracks if not tr.confirmed}
        if not state.run_faces and crops:
            seen = {t.track_id for t in targets if t.track_id is not None and seen_by(t, crops, self.config)}
            if not tentative <= seen:
                crops = []  # an update without them would drop the tentative tracks not looked at
        cpu_ms = ms = 0.0
        c1 = c2 = time.thread_time()
        if crops:
            found, ms, cpu_ms = self.foveator.detect(state.frame.image, crops,
                                                     self.workers.split if len(crops) >= SPLIT_FROM else None)
            c2 = time.thread_time()
            wide = state.wide_faces if state.run_faces else Detections.empty(num_keypoints=5)
            faces = merge_wide_and_foveal(wide, found, self.config.merge_iou)
            state.faces, state.faces_observed = faces, True
            state.foveation = FoveationResult(faces, crops, found, ms, len(targets), cpu_ms)
        planning = 1000.0 * (c1 - c0 + time.thread_time() - c2)
        self.budget.spend(planning + cpu_ms if self.config.budget_clock == "cpu" else sum(c.cost_ms for c in crops))
        s = self.stats
        s.planning_cpu_ms += planning
        if crops:
            s.frames_with_windows += 1
            s.windows += len(crops)
            s.targets += len(targets)
            s.window_predicted_ms += sum(c.cost_ms for c in crops)
            s.window_cpu_ms += cpu_ms
            s.window_wall_ms += ms
            s.partial_updates += not state.run_faces

    def _credit(self, measured_ms: float | None, predicted_ms: float) -> None:
        """A wide face pass ran: the account gets its share of the pass's CPU time (the running mean of the
        measured ones; the cost model's prediction until one is measured)."""
        if measured_ms is not None:
            self.wide_cpu_ms = measured_ms if self.wide_cpu_ms is None else \
                self.wide_cpu_ms + WIDE_MEAN_WEIGHT * (measured_ms - self.wide_cpu_ms)
        cost = self.wide_cpu_ms if self.wide_cpu_ms is not None else predicted_ms
        self.budget.wide_pass(cost)
        self.stats.wide_passes += 1
        self.stats.wide_cost_ms += cost
        self.stats.wide_predicted_ms += predicted_ms

    def _hints(self, t: float, homography: np.ndarray | None) -> list[TrackHint]:
        """Every active track seen within ``HINT_MAX_AGE_S``: predicted face and body boxes, identified or not."""
        hints = []
        for tr in self.tracker.tracks:
            if t - tr.last_seen > HINT_MAX_AGE_S:
                continue
            identified = tr.confirmed and self.policy.announce(tr.track_id).state in IDENTIFIED
            hints.append(TrackHint(tr.track_id, _predicted(tr.face, t, homography), _predicted(tr.body, t, homography),
                                   identified))
        return hints

    def _targets(self, state: FrameState, hints: list[TrackHint], wide_scale: float) -> list[HeadTarget]:
        assert self.foveator is not None
        faceless = [h for h in hints if h.face_box is None and h.body_box is not None]
        if state.run_faces:
            bodies = state.bodies.boxes if state.bodies is not None else \
                np.array([h.body_box for h in faceless], np.float32).reshape(-1, 4)
            return self.foveator.targets(state.wide_faces, bodies, hints, wide_scale)
        # no wide pass: the tracked faces, and the heads of face-less tracks (with their track id)
        targets = self.foveator.targets(Detections.empty(num_keypoints=5), None, hints, wide_scale)
        reliable = self.config.wide_reliable_px * wide_scale
        for h in faceless:
            assert h.body_box is not None
            head = head_box_from_body(h.body_box)
            if self.config.min_face_px <= head[2] - head[0] < reliable:
                targets.append(HeadTarget(head, "body", h.identified, h.track_id))
        return targets

    def reset(self) -> None:
        """Empty the budget but for a debt (the tracker is reset by the track stage; the totals are kept for
        reports)."""
        self.budget.reset()
