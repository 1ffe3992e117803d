"""The People Map: everyone the wearer has seen, in the world frame, with identity, distance and memory.

Once per frame the pipeline calls ``update(t, head, observations)`` with one :class:`PersonObservation` per
tracked person in view. The map

* turns camera directions into world directions with the head orientation (``peoplelens.lens.world.camera_to_world``);
* smooths the world direction on the circle (exponentially weighted unit vectors, time constant
  ``direction_tau_s``) and the distance with a 1-D Kalman filter (random-walk process noise
  ``distance_process_m2_per_s``, measurement variance ``sigma**2``: inverse-variance weighting over time);
* keeps people who left the view (``in_view=False``) at their last world direction with a ``confidence`` that
  halves every ``fade_half_life_s`` and removes them below ``min_confidence`` or after ``max_age_s`` unseen;
* tracks ``seen_duration_s`` (continuous time in view; a gap up to ``in_view_grace_s`` does not break it),
  ``first_seen`` / ``last_seen``; ``merge(old_id, new_id)`` joins two track ids of one person (re-identification).

Query API: :meth:`PeopleMap.people`, :meth:`get`, :meth:`in_front`, :meth:`nearest`, :meth:`where`, :meth:`known`,
:meth:`relative_direction` (where a person is relative to the head *now*, also out of view / behind),
:meth:`snapshot` (JSON-ready dict), :meth:`to_json`.

Following ``peoplelens.core.state.PersonState``, ``camera_azimuth_deg`` is ``None`` while a person is out of view; the
head-relative direction of everyone (recomputed from the world direction and the current head every update)
is :meth:`relative_direction` and the ``relative_azimuth_deg`` key of :meth:`snapshot`.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from typing import Annotated, Any

from msgspec import Meta

from peoplelens.core.config import section
from peoplelens.core.errors import PeopleLensError
from peoplelens.core.state import HeadOrientation, IdentityState, PersonState, wrap_deg
from peoplelens.lens.perception.geometry import angle_diff_deg
from peoplelens.lens.world.frame import camera_to_world, world_to_camera


class PeopleMapError(PeopleLensError):
    """A People Map call that cannot be honoured (e.g. merging an unknown track id)."""


@dataclass(frozen=True)
class PeopleMapConfig:
    """``[people_map]`` config section."""

    direction_tau_s: Annotated[float, Meta(ge=0.0, le=10.0)] = 0.15  # world-direction smoothing (0 = none)
    distance_process_m2_per_s: Annotated[float, Meta(ge=0.0, le=100.0)] = 0.5  # how fast a distance may drift
    default_distance_sigma_m: Annotated[float, Meta(gt=0.0, le=100.0)] = 2.0  # when an observation brings none
    fade_half_life_s: Annotated[float, Meta(gt=0.0, le=3600.0)] = 10.0  # out-of-view confidence halves this often
    min_confidence: Annotated[float, Meta(ge=0.0, le=1.0)] = 0.1  # removed below this (~33 s unseen)
    max_age_s: Annotated[float, Meta(gt=0.0, le=3600.0)] = 60.0  # removed after this long unseen, whatever else
    in_view_grace_s: Annotated[float, Meta(ge=0.0, le=10.0)] = 0.3  # a gap this short keeps seen_duration_s
    in_front_max_offset_deg: Annotated[float, Meta(ge=0.0, le=180.0)] = 15.0  # default tolerance of in_front()

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> PeopleMapConfig:
        """From the ``[people_map]`` section of a loaded TOML config."""
        return section(config, "people_map", cls)


@dataclass
class PersonObservation:
    """What perception reports about one tracked person in the current frame (camera frame angles)."""

    track_id: int
    camera_azimuth_deg: float
    camera_elevation_deg: float = 0.0
    identity: IdentityState = IdentityState.UNSEEN_FACE
    name: str | None = None
    identity_confidence: float = 0.0
    distance_m: float | None = None  # None: no estimate this frame (keep the filtered value)
    distance_sigma_m: float | None = None
    #: the smallest plausible distance (``perception.distance.PersonDistance.near_m``); None = distance_m
    distance_near_m: float | None = None
    face_visible: bool = False
    face_camera_azimuth_deg: float | None = None
    face_camera_elevation_deg: float | None = None
    face_size_px: float = 0.0
    both_ears_visible: bool = False
    looking_at_wearer: bool = False
    head_yaw_deg: float | None = None
    head_pitch_deg: float | None = None


@dataclass
class _Track:
    """Filter state of one person alongside the public ``PersonState``."""

    state: PersonState
    dir_x: float  # smoothed world direction as a (sin az, cos az) unit-ish vector
    dir_y: float
    distance_var: float
    in_view_since: float | None
    last_update: float
    history: list[int] = field(default_factory=list)  # older track ids merged into this one


class PeopleMap:
    """Every person seen so far, keyed by track id (see the module docstring)."""

    def __init__(self, config: PeopleMapConfig | None = None) -> None:
        self.config = config or PeopleMapConfig()
        self._tracks: dict[int, _Track] = {}
        self.t: float = 0.0
        self.head = HeadOrientation(0.0, 0.0, 0.0, 0.0, "none")
        self.removed: list[int] = []  # track ids dropped by the last update

    def reset(self) -> None:
        """Forget everyone (a new recording)."""
        self._tracks.clear()
        self.t = 0.0
        self.head = HeadOrientation(0.0, 0.0, 0.0, 0.0, "none")
        self.removed = []

    # ----------------------------------------------------------------------------------------- updating

    def update(self, t: float, head: HeadOrientation, observations: list[PersonObservation]) -> list[PersonState]:
        """Fold one frame's observations in, age everyone else, drop the forgotten; returns :meth:`people`."""
        cfg = self.config
        seen = {obs.track_id for obs in observations}
        if len(seen) != len(observations):  # validate before touching any state
            dup = sorted({o.track_id for o in observations if sum(p.track_id == o.track_id for p in observations) > 1})
            raise PeopleMapError(f"track(s) {dup} observed twice in one frame")
        bad = [o.track_id for o in observations
               if not (math.isfinite(o.camera_azimuth_deg) and math.isfinite(o.camera_elevation_deg))]
        if bad:
            raise PeopleMapError(f"track(s) {bad} have a non-finite camera direction")
        dt_map = max(0.0, t - self.t) if self._tracks else 0.0
        self.t, self.head = t, head
        for obs in observations:
            self._observe(t, head, obs)
        self.removed = []
        for tid, tr in list(self._tracks.items()):
            if tid in seen:
                continue
            st = tr.state
            unseen = t - st.last_seen
            if st.in_view and unseen > cfg.in_view_grace_s:
                st.in_view = False
            if not st.in_view:
                st.seen_duration_s = 0.0
                tr.in_view_since = None
                st.camera_azimuth_deg = st.camera_elevation_deg = None
                st.face_visible = False
                st.face_camera_azimuth_deg = st.face_camera_elevation_deg = None
                st.looking_at_wearer = False
                st.both_ears_visible = False
            st.confidence = 0.5 ** (unseen / cfg.fade_half_life_s) if cfg.fade_half_life_s > 0 else 0.0
            tr.distance_var += cfg.distance_process_m2_per_s * dt_map
            st.distance_sigma_m = math.sqrt(tr.distance_var)
            if st.confidence < cfg.min_confidence or unseen > cfg.max_age_s:
                del self._tracks[tid]
                self.removed.append(tid)
        return self.people()

    def _observe(self, t: float, head: HeadOrientation, obs: PersonObservation) -> None:
        cfg = self.config
        az, el = camera_to_world(obs.camera_azimuth_deg, obs.camera_elevation_deg, head)
        tr = self._tracks.get(obs.track_id)
        if tr is None:
            d = obs.distance_m if obs.distance_m is not None else math.inf  # unknown (the experiences: inf)
            sigma = obs.distance_sigma_m or cfg.default_distance_sigma_m
            state = PersonState(track_id=obs.track_id, identity=obs.identity, name=obs.name, azimuth_deg=az,
                                elevation_deg=el, distance_m=d, distance_sigma_m=sigma if obs.distance_m else math.inf,
                                in_view=True, first_seen=t, last_seen=t, seen_duration_s=0.0)
            r = math.radians(az)
            if obs.distance_m is not None:
                state.distance_near_m = obs.distance_near_m if obs.distance_near_m is not None else obs.distance_m
            tr = _Track(state, math.sin(r), math.cos(r), sigma**2 if obs.distance_m else math.inf, t, t)
            self._tracks[obs.track_id] = tr
        else:
            st = tr.state
            dt = max(0.0, t - tr.last_update)
            alpha = 1.0 if cfg.direction_tau_s <= 0 else 1.0 - math.exp(-dt / cfg.direction_tau_s)
            if not st.in_view and t - st.last_seen > cfg.in_view_grace_s:
                alpha = 1.0  # back in view after a while: trust the new direction at once
            r = math.radians(az)
            tr.dir_x += alpha * (math.sin(r) - tr.dir_x)
            tr.dir_y += alpha * (math.cos(r) - tr.dir_y)
            st.azimuth_deg = wrap_deg(math.degrees(math.atan2(tr.dir_x, tr.dir_y)))
            st.elevation_deg += alpha * (el - st.elevation_deg)
            tr.distance_var += cfg.distance_process_m2_per_s * dt
            if obs.distance_m is not None and obs.distance_m > 0:
                meas_var = (obs.distance_sigma_m or cfg.default_distance_sigma_m) ** 2
                near = obs.distance_near_m if obs.distance_near_m is not None else obs.distance_m
                if (not math.isfinite(tr.distance_var) or not math.isfinite(st.distance_m)
                        or st.distance_near_m is None):
                    st.distance_m, tr.distance_var = obs.distance_m, meas_var
                    st.distance_near_m = near
                else:  # the near bound is filtered with the same gain (one filter, two measured quantities)
                    gain = tr.distance_var / (tr.distance_var + meas_var)
                    st.distance_m += gain * (obs.distance_m - st.distance_m)
                    st.distance_near_m += gain * (near - st.distance_near_m)
                    tr.distance_var *= 1.0 - gain
            st.distance_sigma_m = math.sqrt(tr.distance_var)
            if tr.in_view_since is None or (t - st.last_seen) > cfg.in_view_grace_s:
                tr.in_view_since = t
        st = tr.state
        st.in_view = True
        st.last_seen = t
        st.seen_duration_s = t - tr.in_view_since if tr.in_view_since is not None else 0.0
        st.confidence = 1.0
        tr.last_update = t
        st.identity, st.name, st.identity_confidence = obs.identity, obs.name, obs.identity_confidence
        st.camera_azimuth_deg, st.camera_elevation_deg = obs.camera_azimuth_deg, obs.camera_elevation_deg
        st.face_visible = obs.face_visible
        st.face_camera_azimuth_deg, st.face_camera_elevation_deg = obs.face_camera_azimuth_deg, \
            obs.face_camera_elevation_deg
        st.face_size_px = obs.face_size_px
        st.both_ears_visible, st.looking_at_wearer = obs.both_ears_visible, obs.looking_at_wearer
        st.head_yaw_deg, st.head_pitch_deg = obs.head_yaw_deg, obs.head_pitch_deg

    def merge(self, old_id: int, new_id: int) -> PersonState:
        """Declare that track ``old_id`` and track ``new_id`` are one person; ``new_id`` survives.

        The merged person keeps the earliest ``first_seen``, the most recent direction/view state, the better
        identity (a confirmed KNOWN/NOT_ENROLLED beats an undecided one; otherwise the more recent), and the
        distance of the more certain estimate. If ``new_id`` is not in the map, ``old_id`` is simply renamed.
        """
        old = self._tracks.get(old_id)
        if old is None:
            raise PeopleMapError(f"cannot merge: track {old_id} is not in the People Map")
        if old_id == new_id:
            return old.state
        new = self._tracks.get(new_id)
        del self._tracks[old_id]
        if new is None:
            old.state.track_id = new_id
            old.history.append(old_id)
            self._tracks[new_id] = old
            return old.state
        recent, other = (new, old) if new.state.last_seen >= old.state.last_seen else (old, new)
        st = replace(recent.state, track_id=new_id)
        st.first_seen = min(old.state.first_seen, new.state.first_seen)
        decided = (IdentityState.KNOWN, IdentityState.NOT_ENROLLED)
        if st.identity not in decided and other.state.identity in decided:
            st.identity, st.name = other.state.identity, other.state.name
            st.identity_confidence = other.state.identity_confidence
        var = recent.distance_var
        if other.distance_var < var and math.isfinite(other.state.distance_m):
            st.distance_m, var = other.state.distance_m, other.distance_var
            st.distance_near_m = other.state.distance_near_m
            st.distance_sigma_m = math.sqrt(var)
        merged = _Track(st, recent.dir_x, recent.dir_y, var, recent.in_view_since, recent.last_update,
                        history=[*new.history, *old.history, old_id])
        self._tracks[new_id] = merged
        return st

    def remove(self, track_id: int) -> None:
        """Forget a person now (no error if unknown)."""
        self._tracks.pop(track_id, None)

    # ------------------------------------------------------------------------------------------ queries

    def people(self) -> list[PersonState]:
        """Everyone in the map, in view first, then by track id."""
        return [tr.state for tr in sorted(self._tracks.values(), key=lambda r: (not r.state.in_view, r.state.track_id))]

    def __len__(self) -> int:
        return len(self._tracks)

    def __contains__(self, track_id: int) -> bool:
        return track_id in self._tracks

    def get(self, track_id: int) -> PersonState | None:
        """The person with this track id (or an id merged into it), else None."""
        tr = self._tracks.get(track_id)
        if tr is not None:
            return tr.state
        for tr in self._tracks.values():
            if track_id in tr.history:
                return tr.state
        return None

    def relative_direction(self, person: PersonState | int, head: HeadOrientation | None = None
                           ) -> tuple[float, float]:
        """Azimuth/elevation of a person relative to the head (current head unless given), in or out of view:
        a person behind the wearer is near +-180 deg."""
        st = self.get(person) if isinstance(person, int) else person
        if st is None:
            raise PeopleMapError(f"track {person} is not in the People Map")
        return world_to_camera(st.azimuth_deg, st.elevation_deg, head or self.head)

    def in_front(self, max_offset_deg: float | None = None, in_view_only: bool = True) -> PersonState | None:
        """The person whose direction is closest to the gaze direction, within ``max_offset_deg`` azimuth."""
        limit = self.config.in_front_max_offset_deg if max_offset_deg is None else max_offset_deg
        best, best_off = None, math.inf
        for st in self.people():
            if in_view_only and not st.in_view:
                continue
            off = abs(angle_diff_deg(st.azimuth_deg, self.head.yaw_deg))
            if off <= limit and off < best_off:
                best, best_off = st, off
        return best

    def nearest(self, in_view_only: bool = False) -> PersonState | None:
        """The person with the smallest distance estimate (people without one are skipped)."""
        cands = [p for p in self.people() if math.isfinite(p.distance_m) and (p.in_view or not in_view_only)]
        return min(cands, key=lambda p: p.distance_m) if cands else None

    def where(self, name: str) -> PersonState | None:
        """The enrolled person called ``name`` (case-insensitive), the most recently seen if several tracks."""
        cands = [p for p in self.people() if p.identity == IdentityState.KNOWN and p.name
                 and p.name.casefold() == name.casefold()]
        return max(cands, key=lambda p: p.last_seen) if cands else None

    def known(self) -> list[PersonState]:
        """Everyone recognised as an enrolled person."""
        return [p for p in self.people() if p.identity == IdentityState.KNOWN]

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready dict: ``t``, ``head`` and ``people`` (``PersonState.to_json()`` plus ``relative_azimuth_deg``
        / ``relative_elevation_deg`` to the current head); non-finite numbers become ``None``."""
        people = []
        for st in self.people():
            d = st.to_json()
            d["relative_azimuth_deg"], d["relative_elevation_deg"] = self.relative_direction(st)
            people.append({k: _finite(v) for k, v in d.items()})
        return {"t": self.t, "head": asdict(self.head), "people": people}

    def to_json(self) -> str:
        """:meth:`snapshot` as a JSON string."""
        return json.dumps(self.snapshot())


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value
