"""Tracker settings and errors."""

from __future__ import annotations

from dataclasses import dataclass

from peoplelens.core.errors import PeopleLensError


class TrackingError(PeopleLensError):
    """Bad input to the tracker (time going backwards, malformed boxes or camera motion)."""


@dataclass(frozen=True)
class TrackerConfig:
    """Tracker thresholds. Times are in seconds (frame rates vary); scores are detector confidences."""

    high_score: float = 0.5  # observations at or above this go to the first association stage
    low_score: float = 0.1  # below this an observation is ignored; between the two: second stage only
    new_track_score: float = 0.6  # an unmatched observation starts a track only at this score
    match_iou: float = 0.2  # first stage: a pair needs cost <= 1 - match_iou (IoU cost)
    low_match_iou: float = 0.4  # second stage (low-score observations): stricter
    min_hits: int = 2  # a track is reported once it was matched this many times (tentative before)
    max_age_s: float = 1.5  # a track survives this long without an observation (occlusion, head turn)
    part_max_age_s: float = 0.7  # a body/face box part not seen this long stops being predicted
    reid_threshold: float = 0.45  # cosine between face galleries to give a lost track's id back
    reid_margin: float = 0.05  # ... and at least this much above the second-best lost track
    reid_window_s: float = 2.0  # a new track may be re-identified during its first seconds
    reid_memory_s: float = 120.0  # lost tracks are remembered this long for re-identification
    gallery_size: int = 16  # best-quality face embeddings kept per track
    gallery_min_quality: float = 0.3  # faces below this quality do not enter the gallery
    face_top_fraction: float = 1.0 / 3.0  # a face belongs to a body when its centre is in this top part
