"""Tracker settings and errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal, get_args

from msgspec import Meta

from peoplelens.core.errors import PeopleLensError

TrackerName = Literal["people", "bytetrack"]  # ours, and the standard baseline beside it (see ``factory``)
CostName = Literal["person", "iou", "face_reid"]
TRACKERS, COSTS = get_args(TrackerName), get_args(CostName)


class TrackingError(PeopleLensError):
    """Bad input to the tracker (time going backwards, malformed boxes or camera motion) or a bad setting."""


@dataclass(frozen=True)
class TrackerConfig:
    """Tracker thresholds (the ``[tracking]`` section). Times are in seconds (frame rates vary); scores are detector
    confidences."""

    #: "people": ours (faces paired with bodies, motion compensated by the head rotation, re-identification by the face
    #: gallery); "bytetrack": the standard ByteTrack of the ``trackers`` package on the same observations' boxes
    #: (IoU only, no appearance, no camera motion), to measure ours against in the same run
    tracker: TrackerName = "people"
    #: association cost of "people": "person" (1 - the best IoU of body with body or face with face, or of a face inside
    #: a body's head region where one side lacks that part), "iou" (same parts only) or "face_reid" ("person" lowered
    #: by the face-embedding cosine to the track's gallery where the observation carries an embedding: the contested
    #: faces below carry one; never forbidden by it, since a face blurred by a head turn scores low against its own)
    cost: CostName = "face_reid"
    #: with the "face_reid" cost: at most this many faces a frame that two tracks could take (both within the gate,
    #: one with a face gallery: one face passing over another) are embedded before association, so that appearance
    #: decides who they are instead of overlap alone; 0 = never (the product embeds faces after association)
    contested_faces: Annotated[int, Meta(ge=0, le=16)] = 2
    #: observations at or above this go to the first association stage
    high_score: Annotated[float, Meta(ge=0.0, le=1.0)] = 0.5
    #: below this an observation is ignored; between the two: second stage only
    low_score: Annotated[float, Meta(ge=0.0, le=1.0)] = 0.1
    #: an unmatched observation starts a track only at this score
    new_track_score: Annotated[float, Meta(ge=0.0, le=1.0)] = 0.6
    #: a faceless tentative body with this share of its area inside a confirmed track's body is dropped (a part of
    #: that person the body detector boxed on its own: a raised arm, a torso)
    part_inside: Annotated[float, Meta(gt=0.0, le=1.0)] = 0.6
    #: first stage: a pair needs cost <= 1 - match_iou (IoU cost)
    match_iou: Annotated[float, Meta(ge=0.0, le=1.0)] = 0.2
    low_match_iou: Annotated[float, Meta(ge=0.0, le=1.0)] = 0.4  # second stage (low-score observations): stricter
    #: a track is reported once it was matched this many times (tentative before)
    min_hits: Annotated[int, Meta(ge=1, le=30)] = 2
    #: a track survives this long without an observation (occlusion, head turn)
    max_age_s: Annotated[float, Meta(gt=0.0, le=60.0)] = 1.5
    #: a body/face box part not seen this long stops being predicted on its own
    part_max_age_s: Annotated[float, Meta(gt=0.0, le=60.0)] = 0.7
    #: cosine between face galleries to give a lost track's id back
    reid_threshold: Annotated[float, Meta(ge=-1.0, le=1.0)] = 0.45
    #: ... and at least this much above the second-best lost track
    reid_margin: Annotated[float, Meta(ge=0.0, le=1.0)] = 0.05
    #: a track may be re-identified during its first seconds with a face (a body-only track: from its first face)
    reid_window_s: Annotated[float, Meta(ge=0.0, le=60.0)] = 2.0
    #: lost tracks are remembered this long for re-identification
    reid_memory_s: Annotated[float, Meta(ge=0.0, le=3600.0)] = 120.0
    gallery_size: Annotated[int, Meta(ge=1, le=256)] = 16  # best-quality face embeddings kept per track
    #: faces below this quality do not enter the gallery
    gallery_min_quality: Annotated[float, Meta(ge=0.0, le=1.0)] = 0.3
    #: a face belongs to a body when its centre is in this top part
    face_top_fraction: Annotated[float, Meta(gt=0.0, le=1.0)] = 1.0 / 3.0
    #: two faces in one body's head region (a face over the shoulder): the body keeps the one that continues the
    #: track owning the body, when that one's IoU with the track's predicted face exceeds the paired face's by this
    shared_head_margin: Annotated[float, Meta(ge=0.0, le=1.0)] = 0.2

    def __post_init__(self) -> None:
        if self.tracker not in TRACKERS:
            raise TrackingError(f"[tracking] tracker = {self.tracker!r}: choose one of {', '.join(TRACKERS)}")
        if self.cost not in COSTS:
            raise TrackingError(f"[tracking] cost = {self.cost!r}: choose one of {', '.join(COSTS)}")
        if not 0.0 <= self.low_score <= self.high_score <= 1.0:
            raise TrackingError(f"[tracking] needs 0 <= low_score <= high_score <= 1, got {self.low_score}, "
                                f"{self.high_score}")
        if self.max_age_s <= 0 or self.min_hits < 1:
            raise TrackingError("[tracking] max_age_s must be > 0 and min_hits >= 1")
