"""Multi-person tracker: one track = one person, fed once per frame with body and/or face observations.

ByteTrack / OC-SORT style:

* a constant-velocity Kalman filter per box (``cx, cy, w, h`` and their rates, in pixels and pixels per
  **second**, so any frame rate works) — one for the body box and one for the face box of each track;
* two-stage assignment with ``scipy.optimize.linear_sum_assignment``: high-score observations first, then the
  low-score ones against the tracks that are still unmatched (ByteTrack's trick for occluded people);
* a pluggable cost function (norfair's idea): :func:`iou_cost` by default (1 - the best IoU of body or face
  boxes), :class:`FaceReidCost` adds face-embedding distance;
* camera-motion compensation: an optional 3x3 homography or ``(dx, dy)`` image shift per frame (a head turn)
  moves every predicted box before association (norfair's ``camera_motion``);
* re-identification: a new track whose face matches the embedding gallery of a lost (or coasting) track gets
  that track's id back, so identity survives leaving and re-entering the view.

Faces are paired with bodies first (:func:`build_observations`): a face whose centre lies in the upper third
of a body box belongs to it, best pairs by assignment; a face without a body (a close-up) is still a person.

Typical use, once per frame::

    tracker = PersonTracker(TrackerConfig())
    obs = build_observations(bodies, faces)      # Detections from the person and face detectors
    tracks = tracker.update(frame.timestamp, obs, camera_motion=shift_or_homography)
    for fresh_id, old_id in tracker.merges: ...  # ids handed back by re-identification this frame

Modules: ``config`` (settings, errors), ``observations`` (face-body pairing), ``kalman`` (box motion model,
camera motion), ``track``, ``costs`` (association costs), ``tracker`` (:class:`PersonTracker`), ``protocol``
(the :class:`Tracker` interface the pipeline's track stage speaks, so another tracker plugs in).
"""

from peoplelens.lens.perception.tracking.config import TrackerConfig, TrackingError
from peoplelens.lens.perception.tracking.costs import CostFunction, FaceReidCost, iou_cost
from peoplelens.lens.perception.tracking.kalman import BoxKalman, apply_homography, camera_motion_matrix
from peoplelens.lens.perception.tracking.observations import (
    PersonObservation,
    build_observations,
    pair_faces_with_bodies,
)
from peoplelens.lens.perception.tracking.protocol import Tracker
from peoplelens.lens.perception.tracking.track import Track
from peoplelens.lens.perception.tracking.tracker import PersonTracker

__all__ = [
    "BoxKalman", "CostFunction", "FaceReidCost", "PersonObservation", "PersonTracker", "Track", "Tracker",
    "TrackerConfig", "TrackingError", "apply_homography", "build_observations", "camera_motion_matrix", "iou_cost",
    "pair_faces_with_bodies",
]
