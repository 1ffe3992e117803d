"""Head pose, "both ears visible" and "looking at the wearer" for every face seen now (coasting faces keep their
last attributes)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from peoplelens.core.types import Detections
from peoplelens.lens.perception.face_attributes import FaceAttributeEstimator
from peoplelens.lens.perception.gaze import EyeReading
from peoplelens.lens.perception.tracking import Track
from peoplelens.lens.pipeline.frame_state import FrameState
from peoplelens.lens.pipeline.stage import Workers


class FaceAttributesStage:
    """FSA-Net head poses and iris readings (stateless, split over both threads when there is enough to do),
    then the per-track decisions with hysteresis in this thread."""

    name = "face_attributes"
    reads = frozenset({"frame", "intrinsics", "tracks", "coasting", "removed"})
    writes = frozenset({"attributes"})
    SPLIT_FROM = 4  # FSA-Net poses' worth of work; below it one thread is faster than handing half to the stage thread

    def __init__(self, estimator: FaceAttributeEstimator | None, workers: Workers) -> None:
        self.estimator, self.workers = estimator, workers
        self._last: dict[int, Any] = {}

    def run(self, state: FrameState) -> None:
        """Attributes of this frame's faces; coasting tracks keep their last ones."""
        estimator = self.estimator
        if estimator is None:  # head pose and gaze are switched off
            state.attributes = {}
            return
        if state.removed:
            estimator.forget(list(state.removed))
            for tid in state.removed:
                self._last.pop(tid, None)
        faces = [tr for tr in state.tracks if tr.observation is not None and tr.observation.face_box is not None
                 and tr.observation.face_keypoints is not None]
        attrs: dict[int, Any] = {}
        if faces:
            image = state.frame.image
            ids = [tr.track_id for tr in faces]
            keypoints = np.stack([_keypoints(tr) for tr in faces])
            dets = Detections(np.stack([_face_box(tr) for tr in faces]), np.array([_face_score(tr) for tr in faces]),
                              keypoints=keypoints)
            due = estimator.eyes_due(dets, ids)

            def measure(part: Sequence[int]) -> list[tuple[np.ndarray | None, EyeReading | None | str]]:
                """Head poses (FSA-Net) and eye readings (iris) of the faces ``part``: stateless, any thread."""
                idx = list(part)
                poses = (estimator.head_pose.estimate(image, dets.boxes[idx]) if estimator.head_pose is not None
                         else [None] * len(idx))
                return [(pose, estimator.read_eyes(image, keypoints[i])
                         if due[i] and (pose is None or estimator.eyes_can_matter(float(pose[0]), float(pose[1])))
                         else "unread")
                        for i, pose in zip(idx, poses, strict=True)]

            # on both threads once there is enough to do: an eye reading (2 iris runs) costs ~1.5 FSA-Net poses
            work = len(faces) + 1.5 * sum(due)
            split = self.workers.split if work >= self.SPLIT_FROM else (lambda items, fn: fn(items))
            # the threads take faces in turn: the faces whose eyes are read (the longer items) first
            order = sorted(range(len(faces)), key=lambda i: not due[i])
            by_face = dict(zip(order, split(order, measure), strict=True))
            measured = [by_face[i] for i in range(len(faces))]
            head_poses = (np.asarray([p for p, _ in measured]).reshape(-1, 3) if estimator.head_pose is not None
                          else None)
            assert state.intrinsics is not None
            results = estimator.estimate(image, dets, ids, intrinsics=state.intrinsics.matrix, poses=head_poses,
                                         eyes=[e for _, e in measured])
            attrs = {tr.track_id: a for tr, a in zip(faces, results, strict=True)}
            self._last.update(attrs)
        for tr in state.coasting:
            if tr.track_id in self._last:
                attrs.setdefault(tr.track_id, self._last[tr.track_id])
        state.attributes = attrs

    def reset(self) -> None:
        """Forget every track's hysteresis and last attributes."""
        e = self.estimator
        if e is not None:
            self.estimator = type(e)(e.head_pose, e.face_mesh, e.options)
        self._last.clear()


def _face_score(track: Track) -> float:
    return track.observation.face_score if track.observation is not None else 0.0


def _keypoints(track: Track) -> np.ndarray:
    assert track.observation is not None and track.observation.face_keypoints is not None
    return track.observation.face_keypoints


def _face_box(track: Track) -> np.ndarray:
    assert track.observation is not None and track.observation.face_box is not None
    return track.observation.face_box
