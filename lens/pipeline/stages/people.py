"""The People Map (world directions, smoothed distances, memory of people out of view) and the experiences
(the cues to play now and the "seen" signals)."""

from __future__ import annotations

from peoplelens.lens.experiences import ExperienceEngine
from peoplelens.lens.pipeline.frame_state import FrameState
from peoplelens.lens.world.people_map import PeopleMap


class PeopleMapStage:
    """This frame's observations into the world-frame People Map; re-identified tracks are joined first."""

    name = "people_map"
    reads = frozenset({"head", "observations", "merges"})
    writes = frozenset({"people"})

    def __init__(self, people_map: PeopleMap) -> None:
        self.people_map = people_map
        self._config = people_map.config

    def run(self, state: FrameState) -> None:
        """Update the map; ``people`` is everyone in it after this frame."""
        assert state.head is not None
        for fresh_id, restored_id in state.merges:
            if fresh_id in self.people_map:
                self.people_map.merge(fresh_id, restored_id)
        self.people_map.update(state.t, state.head, state.observations)
        state.people = self.people_map.people()

    def reset(self) -> None:
        """Forget everyone."""
        self.people_map.reset()


class ExperiencesStage:
    """The sound scheme: bump, name, click, woodblock guidance, gaze, follow, orientation, and seen signals."""

    name = "experiences"
    reads = frozenset({"head", "people"})
    writes = frozenset({"events", "seen"})

    def __init__(self, engine: ExperienceEngine) -> None:
        self.engine = engine

    def run(self, state: FrameState) -> None:
        """Decide the cues that start now."""
        assert state.head is not None
        update = self.engine.update(state.people, state.head, state.t)
        for event in update.events:
            event.frame_t = state.t
        state.events, state.seen = list(update.events), list(update.seen)

    def reset(self) -> None:
        """Forget every cool-down and attended person."""
        self.engine.reset()
