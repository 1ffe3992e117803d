"""Head pose, "both ears visible" and "looking at the wearer" for every face seen now (coasting faces keep their
last attributes)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from peoplelens.core.types import Detections
from peoplelens.lens.perception.face_attributes import FaceAttributeEstimator
from peoplelens.lens.perception.tracking import Track
from peoplelens.lens.pipeline.frame_state import FrameState
from peoplelens.lens.pipeline.stage import Workers


class FaceAttributesStage:
    """FSA-Net head poses (stateless, split over both threads when there are many faces), then the per-track
    decisions with hysteresis in this thread."""

    name = "face_attributes"
    reads = frozenset({"frame", "intrinsics", "tracks", "coasting", "removed"})
    writes = frozenset({"attributes"})
    SPLIT_FROM = 4  # faces; below this one thread is faster than handing half to the stage thread

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
            boxes = np.stack([_face_box(tr) for tr in faces])

            def poses(part: Sequence[np.ndarray]) -> list[np.ndarray]:
                assert estimator.head_pose is not None
                return list(estimator.head_pose.estimate(image, np.stack(part)))

            head_poses = None
            if estimator.head_pose is not None:  # FSA-Net (stateless), split over both threads for many faces
                split = self.workers.split if len(faces) >= self.SPLIT_FROM else (lambda items, fn: fn(items))
                head_poses = np.asarray(split(list(boxes), poses)).reshape(-1, 3)
            dets = Detections(boxes, np.array([_face_score(tr) for tr in faces]),
                              keypoints=np.stack([_keypoints(tr) for tr in faces]))
            assert state.intrinsics is not None
            results = estimator.estimate(image, dets, [tr.track_id for tr in faces],
                                              intrinsics=state.intrinsics.matrix, poses=head_poses)
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
