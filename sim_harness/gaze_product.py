"""Looking-at-the-wearer as the product reports it: the whole pipeline (``build_system``, the live runtime's
processor) replayed over each annotated clip, its per-track ``looking_at_wearer`` scored at the annotated frames.

``python -m peoplelens.sim_harness.gaze_eval --product`` (or ``--product-only``). Nothing is re-implemented here:
the frames go through :func:`peoplelens.sim_harness.replay.replay_video` with the replay's processor and the
user's config (``$PEOPLELENS_CONFIG``, as ``peoplelens run`` reads it; none: the defaults; nobody enrolled), one
fresh per-video state per clip (``reset()``), and the annotated person's track is picked among the frame's tracks
by its face box with the rules of :func:`peoplelens.sim_harness.gaze_eval.pick_face` (ground-truth box IoU, largest
face, hamilton's performer). A sample whose person has no track with a face box on that frame counts as "not
looking" (listed as missed), as the product says nothing about them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from peoplelens.core.types import Detections
from peoplelens.sim_harness.gaze_samples import Sample
from peoplelens.sim_harness.processors import build_replay_processor
from peoplelens.sim_harness.records import FrameRecord
from peoplelens.sim_harness.replay import ReplayOptions, replay_video


def track_faces(record: FrameRecord) -> tuple[Detections, list[bool]]:
    """The tracks of one replayed frame that carry a face box, as detections, and their ``looking_at_wearer``."""
    rows = [t for t in record.tracks if t.get("face_box") is not None]
    boxes = np.array([t["face_box"] for t in rows], np.float32).reshape(-1, 4)
    return Detections(boxes, np.ones(len(rows), np.float32)), [bool(t["looking_at_wearer"]) for t in rows]


def replay_clip(video: Path, processor: Any, last_frame: int) -> dict[int, FrameRecord]:
    """The product's per-frame records of ``video`` up to ``last_frame`` (fresh state), by frame index."""
    reset = getattr(processor, "reset", None)
    if callable(reset):
        reset()
    options = ReplayOptions(max_frames=last_frame + 1, overlay=False, audio=False, report=False, progress=False)
    result = replay_video(video, processor, None, options)
    return {f.index: f for f in result.frames}


def product_decisions(samples: list[Sample], pick: Callable[[Sample, int, Detections], int | None],
                      config: dict[str, Any] | None = None) -> list[bool | None]:
    """The product's ``looking_at_wearer`` for each sample's person (None: no track with a face there); ``pick``
    finds the person among a frame's faces (``gaze_eval.pick_face``: sample, image width, faces)."""
    processor = build_replay_processor(config=config or {})
    by_video: dict[Path, list[int]] = defaultdict(list)
    for k, s in enumerate(samples):
        by_video[s.video].append(k)
    out: list[bool | None] = [None] * len(samples)
    for video, ks in by_video.items():
        frames = replay_clip(video, processor, max(samples[k].frame for k in ks))
        width = _frame_width(video)
        for k in ks:
            record = frames.get(samples[k].frame)
            if record is None:
                continue
            faces, looking = track_faces(record)
            j = pick(samples[k], width, faces)
            out[k] = None if j is None else looking[j]
    return out


def _frame_width(video: Path) -> int:
    cap = cv2.VideoCapture(str(video))
    try:
        return int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
    finally:
        cap.release()
