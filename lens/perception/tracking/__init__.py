"""Multi-person tracker: one track = one person, fed once per detection frame with body and/or face observations.

What the product runs (``build_system`` -> :func:`create_tracker` from the ``[tracking]`` section):

* ``tracker = "people"`` (default), :class:`PersonTracker`:

  - faces are paired with bodies first (:func:`build_observations`): a face whose centre lies in a body box's head
    region (its top third, or within 1.5 face heights of its top for a close-up cut by the frame's edge) belongs to
    it, the closest pairs first (a stable matching); a face without a body (a close-up) and a body without a face
    (a profile, a back) are persons too;
  - a constant-velocity Kalman filter per box part (``cx, cy, w, h`` and rates per **second**, so any frame rate):
    one for the body box and one for the face box of each track;
  - the camera motion of the wearer's head turn (a 3x3 homography per frame from the world stage) moves every
    prediction before association (norfair's ``camera_motion``);
  - ByteTrack's two-stage assignment with ``scipy.optimize.linear_sum_assignment``: high-score observations first,
    then the low-score ones against the tracks still unmatched. As in ByteTrack's own code (``lap.lapjv`` with a
    cost limit), leaving a track and an observation unmatched costs the gate, so a close pair is never broken up to
    make two poor ones (forcing the most matches moved a hidden person's track onto the person in front of them);
  - the cost (``cost = "face_reid"``, :class:`FaceReidCost` over :class:`PersonCost`): 1 - the best of body-body
    IoU, face-face IoU and, where the track or the observation lacks that part, a face inside the other's body head
    region. So when the face detector loses a face turned to profile the body carries the track, and when the face
    returns it joins that track instead of starting a second person. Where an observation carries a face embedding
    the cost falls to 1 - its cosine to the track's gallery when that is lower. The product embeds faces after
    association, except the contested ones: faces two confirmed tracks could take by position, one of them with a
    gallery, which the tracker has the caller embed first (``update(..., embed=...)``, at most
    ``contested_faces`` a frame). ``"person"`` leaves appearance out; ``"iou"`` is same-part IoU;
  - a view jump (a shot cut, or a head turn too fast to follow: the world stage flags it only when the optical flow
    lost the background *and* the picture changed) retires every track: nobody inherits a track, or a name, by
    overlap;
  - re-identification: a new track whose face gallery (filled by the identify stage through
    :meth:`PersonTracker.remember_face`) matches a lost or coasting track's gets that track's id (and identity) back,
    for 120 s, so a person who leaves the view, or is retired by a view jump, comes back as the same person.

* ``tracker = "bytetrack"``, :class:`ByteTrackBaseline`: the standard ByteTrack of the ``trackers`` package (Roboflow,
  Apache-2.0) on each observation's box (face first, else body), with the same thresholds; no appearance, no camera
  motion, no re-identification. It is there to be measured against ours in the same run
  (``python -m peoplelens.sim_harness.eval_tracking``).

Typical use, once per detection frame::

    tracker = create_tracker(TrackerConfig())
    obs = build_observations(bodies, faces)      # Detections from the person and face detectors
    tracks = tracker.update(frame.timestamp, obs, camera_motion=shift_or_homography)
    for fresh_id, old_id in tracker.merges: ...  # ids handed back by re-identification this frame

Modules: ``config`` (settings, errors), ``observations`` (face-body pairing), ``kalman`` (box motion model, camera
motion), ``track``, ``costs`` (association costs), ``tracker`` (:class:`PersonTracker`), ``bytetrack`` (the
baseline), ``factory`` (:func:`create_tracker`), ``protocol`` (the :class:`Tracker` interface the pipeline's track
stage speaks).
"""

from peoplelens.lens.perception.tracking.bytetrack import ByteTrackBaseline
from peoplelens.lens.perception.tracking.config import TrackerConfig, TrackingError
from peoplelens.lens.perception.tracking.costs import CostFunction, FaceReidCost, PersonCost, iou_cost
from peoplelens.lens.perception.tracking.factory import create_tracker
from peoplelens.lens.perception.tracking.kalman import BoxKalman, apply_homography, camera_motion_matrix, warp_boxes
from peoplelens.lens.perception.tracking.observations import (
    PersonObservation,
    build_observations,
    pair_faces_with_bodies,
)
from peoplelens.lens.perception.tracking.protocol import BOTH_PARTS, EmbedFaces, Tracker
from peoplelens.lens.perception.tracking.track import Track
from peoplelens.lens.perception.tracking.tracker import PersonTracker

__all__ = [
    "BOTH_PARTS", "BoxKalman", "ByteTrackBaseline", "CostFunction", "EmbedFaces", "FaceReidCost", "PersonCost",
    "PersonObservation",
    "PersonTracker", "Track", "Tracker", "TrackerConfig", "TrackingError", "apply_homography", "build_observations",
    "camera_motion_matrix", "create_tracker", "iou_cost", "pair_faces_with_bodies", "warp_boxes",
]
