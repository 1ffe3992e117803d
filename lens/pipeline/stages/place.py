"""Where each person is relative to the camera: direction of the face (or of a body's head), distance from eye
spacing, face size and body height under adult and child priors (the fused estimate, and the near bound the
"within X m" gates read), with the identity and face attributes for the People Map and the overlay."""

from __future__ import annotations

import math

import numpy as np

from peoplelens.core.state import IdentityState, TrackView
from peoplelens.lens.perception.distance import DistancePriors, estimate_distance
from peoplelens.lens.perception.identity_policy import AnnouncedIdentity
from peoplelens.lens.perception.tracking import BoxKalman, warp_boxes
from peoplelens.lens.pipeline.frame_state import FrameState
from peoplelens.lens.world.people_map import PersonObservation

_NOBODY = AnnouncedIdentity(IdentityState.UNSEEN_FACE)


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _box_tuple(box: np.ndarray | None) -> tuple[float, float, float, float] | None:
    return None if box is None else (float(box[0]), float(box[1]), float(box[2]), float(box[3]))


class PlaceStage:
    """One People Map observation and one overlay view per person seen now or coasting."""

    name = "place"
    reads = frozenset({"intrinsics", "tracks", "coasting", "since_update", "identities", "attributes", "run_faces"})
    writes = frozenset({"observations", "views"})

    def __init__(self, priors: DistancePriors | None = None) -> None:
        self.priors = priors or DistancePriors()

    def run(self, state: FrameState) -> None:
        """Camera direction, distance, identity and attributes of every person in view."""
        intr = state.intrinsics
        assert intr is not None
        observed = {tr.track_id for tr in state.tracks}
        # between detection frames a coasting track keeps the face box of the last detection frame in its view
        carried = set() if state.run_faces else {tr.track_id for tr in state.coasting if tr.observation is not None}
        observations, views = [], []
        # a coasting track whose id a track seen now took by re-identification on this frame is that person
        coasting = [tr for tr in state.coasting if tr.track_id not in observed]
        # a coasting track's filters are at the tracker's last update (its time and pixels): its boxes are predicted
        # to this frame and moved by the head's turn since
        turned = None if np.array_equal(state.since_update, np.eye(3)) else state.since_update

        def now(box: np.ndarray | None) -> np.ndarray | None:
            return box if box is None or turned is None else warp_boxes(turned, box)[0]

        def predicted(part: BoxKalman | None) -> np.ndarray | None:
            return None if part is None else part.box_at(state.t, turned)

        for tr in (*state.tracks, *coasting):
            ob = tr.observation if tr.track_id in observed else None  # coasting: use the predicted boxes
            a = state.attributes.get(tr.track_id)
            ident = state.identities.get(tr.track_id, _NOBODY)
            face_box = ob.face_box if ob is not None else predicted(tr.face)
            body_box = ob.body_box if ob is not None else predicted(tr.body)
            keypoints = ob.face_keypoints if ob is not None and ob.face_box is not None else None
            box = body_box if body_box is not None else face_box
            if box is None:
                continue
            if face_box is not None:  # direction of the face centre
                cx, cy = (face_box[0] + face_box[2]) / 2, (face_box[1] + face_box[3]) / 2
            else:  # no face: a body's head is near the top of its box
                cx, cy = (box[0] + box[2]) / 2, box[1] + 0.1 * (box[3] - box[1])
            az, el = (float(v) for v in intr.pixel_to_angles(cx, cy))
            yaw = _finite(a.yaw) if a is not None else None  # a pose FaceMesh could not read is unknown (NaN)
            pitch = _finite(a.pitch) if a is not None else None
            ears = bool(a.both_ears_visible) if a is not None else False
            looking = bool(a.looking_at_wearer) if a is not None else False
            dist = estimate_distance(intr, face_keypoints=keypoints, face_box=_box_tuple(face_box),
                                     body_box=_box_tuple(body_box), head_yaw_deg=yaw, priors=self.priors)
            d, sigma = (dist.distance_m, dist.sigma_m) if dist is not None else (None, None)
            near = dist.near_m if dist is not None else None
            observations.append(PersonObservation(
                track_id=tr.track_id, identity=ident.state, name=ident.name,
                identity_confidence=ident.confidence, camera_azimuth_deg=az, camera_elevation_deg=el,
                distance_m=d, distance_sigma_m=sigma, distance_near_m=near, face_visible=face_box is not None,
                face_camera_azimuth_deg=az if face_box is not None else None,
                face_camera_elevation_deg=el if face_box is not None else None,
                face_size_px=float(face_box[2] - face_box[0]) if face_box is not None else 0.0,
                both_ears_visible=ears, looking_at_wearer=looking, head_yaw_deg=yaw, head_pitch_deg=pitch,
            ))
            last_face = (now(tr.observation.face_box) if tr.track_id in carried and tr.observation is not None
                         else None)
            views.append(TrackView(
                # a face box only where a face was detected at the latest detection frame (a box for a track the
                # detector missed would be a guess)
                track_id=tr.track_id, box=_box_tuple(box), identity=ident.state,
                face_box=_box_tuple(ob.face_box if ob is not None else last_face), name=ident.name,
                head_yaw_deg=yaw, head_pitch_deg=pitch, both_ears_visible=ears, looking_at_wearer=looking,
                distance_m=d,
            ))
        state.observations, state.views = observations, views

    def reset(self) -> None:
        """Nothing to forget."""
