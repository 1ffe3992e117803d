"""The tracker the ``[tracking]`` section asks for: ours or the ByteTrack baseline, with the chosen cost."""

from __future__ import annotations

from peoplelens.lens.perception.tracking.bytetrack import ByteTrackBaseline
from peoplelens.lens.perception.tracking.config import TrackerConfig
from peoplelens.lens.perception.tracking.costs import cost_for
from peoplelens.lens.perception.tracking.protocol import Tracker
from peoplelens.lens.perception.tracking.tracker import PersonTracker


def create_tracker(config: TrackerConfig | None = None) -> Tracker:
    """``tracker = "people"`` (ours, the default) or ``"bytetrack"`` (the standard baseline)."""
    config = config or TrackerConfig()
    if config.tracker == "bytetrack":
        return ByteTrackBaseline(config)
    return PersonTracker(config, cost=cost_for(config))
