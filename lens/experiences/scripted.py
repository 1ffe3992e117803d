"""Scripted People Map scenarios: people at fixed world directions and a head yaw over time, as the map
would report them at ~30 Hz — for tests, demos and tuning the sound scheme without a camera.

Example::

    scene = ScriptedScene([ScriptedPerson(1, azimuth_deg=20, distance_m=2, identity=IdentityState.KNOWN,
                                          name="ana")])
    frames = scene.run(ExperienceEngine(), duration_s=3, yaw=lambda t: -30 + 30 * t)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from peoplelens.core.state import AudioEvent, HeadOrientation, IdentityState, PersonState, wrap_deg
from peoplelens.lens.experiences.engine import ExperienceEngine, UpdateResult


@dataclass
class ScriptedPerson:
    """One person of a scripted scene; change attributes between frames (``on_frame``) to script events."""

    track_id: int
    azimuth_deg: float  # world frame
    distance_m: float
    identity: IdentityState = IdentityState.IDENTIFYING
    name: str | None = None
    elevation_deg: float = 0.0
    both_ears_visible: bool = True
    looking_at_wearer: bool = False
    face_visible: bool = True
    face_offset_deg: tuple[float, float] = (0.0, 0.0)  # face centre relative to the body centre (az, el)
    occluded: bool = False  # True: not in view even inside the field of view (the map remembers them)
    present: bool = True  # False: removed from the People Map
    distance_near_m: float | None = None  # the nearest plausible distance (e.g. a child's size); None = distance_m


@dataclass
class Frame:
    """One scripted update: time, head, the People Map given to the engine and what the engine returned."""

    t: float
    head: HeadOrientation
    people: list[PersonState]
    result: UpdateResult


@dataclass
class ScriptedScene:
    """People in a world frame seen by a camera with horizontal field of view ``fov_deg`` on the wearer's head."""

    people: list[ScriptedPerson]
    fov_deg: float = 70.0
    _in_view_since: dict[int, float] = field(default_factory=dict)
    _first_seen: dict[int, float] = field(default_factory=dict)
    _last_seen: dict[int, float] = field(default_factory=dict)

    def person(self, track_id: int) -> ScriptedPerson:
        """The scripted person with this track id."""
        return next(p for p in self.people if p.track_id == track_id)

    def states(self, t: float, head: HeadOrientation) -> list[PersonState]:
        """The People Map at time ``t``: camera angles from the head, in-view status and seen durations."""
        out: list[PersonState] = []
        for sp in self.people:
            if not sp.present:
                self._in_view_since.pop(sp.track_id, None)
                continue
            cam_az = wrap_deg(sp.azimuth_deg - head.yaw_deg)
            cam_el = sp.elevation_deg - head.pitch_deg
            in_view = abs(cam_az) <= self.fov_deg / 2 and not sp.occluded
            if in_view:
                self._in_view_since.setdefault(sp.track_id, t)
                self._first_seen.setdefault(sp.track_id, t)
                self._last_seen[sp.track_id] = t
            else:
                self._in_view_since.pop(sp.track_id, None)
            face = in_view and sp.face_visible
            out.append(PersonState(
                track_id=sp.track_id, identity=sp.identity,
                name=sp.name if sp.identity == IdentityState.KNOWN else None,
                azimuth_deg=sp.azimuth_deg, elevation_deg=sp.elevation_deg, distance_m=sp.distance_m,
                distance_sigma_m=0.1 * sp.distance_m, distance_near_m=sp.distance_near_m, in_view=in_view,
                first_seen=self._first_seen.get(sp.track_id, t), last_seen=self._last_seen.get(sp.track_id, t),
                seen_duration_s=t - self._in_view_since[sp.track_id] if in_view else 0.0,
                camera_azimuth_deg=cam_az if in_view else None, camera_elevation_deg=cam_el if in_view else None,
                face_visible=face,
                face_camera_azimuth_deg=cam_az + sp.face_offset_deg[0] if face else None,
                face_camera_elevation_deg=cam_el + sp.face_offset_deg[1] if face else None,
                both_ears_visible=face and sp.both_ears_visible, looking_at_wearer=in_view and sp.looking_at_wearer,
            ))
        return out

    def run(self, engine: ExperienceEngine, duration_s: float, yaw: Callable[[float], float], hz: float = 30.0,
            start_s: float = 0.0, on_frame: Callable[[float, ScriptedScene], None] | None = None,
            pitch: Callable[[float], float] | None = None) -> list[Frame]:
        """Update ``engine`` at ``hz`` for ``duration_s`` with head yaw ``yaw(t)`` (and pitch ``pitch(t)``);
        ``on_frame(t, scene)`` runs before each frame's People Map is built (script identity changes, movements,
        removals there)."""
        frames: list[Frame] = []
        n = int(round(duration_s * hz))
        for i in range(n):
            t = start_s + i / hz
            if on_frame is not None:
                on_frame(t, self)
            head = HeadOrientation(yaw_deg=yaw(t), pitch_deg=pitch(t) if pitch else 0.0, timestamp=t)
            people = self.states(t, head)
            frames.append(Frame(t, head, people, engine.update(people, head, t)))
        return frames


def events_of(frames: list[Frame]) -> list[AudioEvent]:
    """Every event of a run, in order."""
    return [ev for f in frames for ev in f.result.events]
