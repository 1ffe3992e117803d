"""Distance to a person from eye spacing, face width and standing height, for adults and for children.

Distance (``estimate_distance``): each cue turns a real-world size into a distance, ``d = size / (2 tan(angle/2))``,
under two hypotheses about who is seen -- an **adult** or a **child of 5-11** (the wearers are children, and so are
most of the people they meet). Sizes (mean +- sd; all adjustable in :class:`DistancePriors`, ``[distance]``):

==================== ========================= =========================== ==========================================
cue                  adult                     child 5-11                  source
==================== ========================= =========================== ==========================================
eye spacing (IPD)    63 +- 4 mm                54 +- 3.5 mm                Dodgson 2004 (SPIE 5291: adult mean ~63 mm,
                                                                           sd ~3.8); children: 51.0 mm at 5 y (Pacific
                                                                           University paediatric PD norms, 1993),
                                                                           rising to ~57 mm at 11 y (MacLachlan &
                                                                           Howland 2002, Ophthalmic Physiol Opt 22)
face box width       14 +- 2 cm                12 +- 1.8 cm                the detector's box, not the skull: box /
                                                                           eye spacing = 2.16 for det_500m and
                                                                           det_2.5g (medians of ~100 frontal photos,
                                                                           IQR 2.11-2.20, the same at 24 and 150 px
                                                                           faces) but 2.3-2.6 on frontal pedestrian
                                                                           faces: 2.22 x the IPD, 14 % sd; children
                                                                           assumed to keep the adult proportion
standing height      1.70 +- 0.10 m            1.27 +- 0.13 m              CDC 2000 growth charts: median stature
                                                                           109 cm at 5 y, 128 at 8 y, 144 at 11 y;
                                                                           adults ~1.62 (women) - 1.75 m (men)
==================== ========================= =========================== ==========================================

* The projected eye spacing shrinks with the person's head yaw as ``cos(yaw)``; a known yaw is divided out (up to
  60 deg; beyond, a profile, the cue is down-weighted); an unknown yaw adds a 15 % relative sigma. A face box needs
  no yaw correction (a head is about as wide from the side). A body box touching the top or bottom border is cut:
  no estimate. Landmark noise (1.5 px) and box-edge noise (3 px) add to each cue's sigma.
* Per hypothesis the cues are fused by inverse variance (:func:`fuse_estimates`). The hypotheses are weighed by a
  prior ``child_prior`` (0.5) times how well the cues agree under each: a face and a body agree under the right
  hypothesis only (a child's face is 86 % of an adult's, a child's height 75 %), so with both visible the cues
  lean towards the right one; with the face alone they cannot tell (eye spacing and face width scale alike).
* :class:`PersonDistance` gives ``distance_m`` / ``sigma_m``: the mixture of both hypotheses (what the People
  Map keeps; sigma includes the spread between them), and ``near_m`` / ``far_m``: the smallest / largest plausible
  distance -- the distance of a small (large) person of each hypothesis with probability >= ``min_hypothesis_p``
  (sizes ``near_sigmas`` = 1 sd below / above the mean: a ~5-year-old for the child prior), less (plus)
  ``near_sigmas`` sigmas of measurement noise; from the face cues when a face is seen (children's heights spread
  from 1.0 to 1.6 m over 5-11, their faces much less), else from the body.
  **Gates that promise "within X m" (the 4 m name, the 10 m bump) must read ``near_m``** (``PersonState.
  distance_near_m``): an adult prior reads a child at 4 m as ~4.7 m (face) or ~5.4 m (height) and would drop
  them. The price is physics, not tuning: a 5-year-old's face (eyes 51 mm apart) at 4 m looks exactly like an
  adult's (63 mm) at 4.9 m, so a gate that keeps every young child at 4 m lets adults through to ~5 m.
  Measured (``python -m peoplelens.bench.distance_error``: people drawn from the anthropometric spread, 1920 px
  landmarks): the 4 m gate passes 96-100 % of children aged 5-11 at 3-4 m (adult-only estimate: 8-36 %), 57-80 %
  of them at 4-5 m, adults 98 % at 4-5 m and 43 % at 5-7 m; the 10 m bump gate passes >= 96 % of everyone at
  9-10 m (adult-only: 0-6 % of children). ``distance_m`` is off by a median 7-9 % for adults and 11-year-olds,
  14 % for 8- and 21 % for 5-year-olds (read too far: with a face alone the mixture cannot know the age).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Annotated, NamedTuple, TypeAlias

import numpy as np
from msgspec import Meta

from peoplelens.lens.perception.geometry import CameraIntrinsics, GeometryError

#: A box ``x1, y1, x2, y2`` in pixels: a sequence, or a detector's (4,) array row.
Box: TypeAlias = Sequence[float] | np.ndarray


class DistanceEstimate(NamedTuple):
    """A distance (metres, along the ray) and its 1-sigma uncertainty; unpacks as ``(distance_m, sigma_m)``."""

    distance_m: float
    sigma_m: float


@dataclass(frozen=True)
class DistancePriors:
    """``[distance]`` config section: real-world sizes behind the distance estimates (module docstring table)."""

    interocular_m: Annotated[float, Meta(gt=0.0, le=10.0)] = 0.063
    interocular_sigma_m: Annotated[float, Meta(gt=0.0, le=10.0)] = 0.004
    #: the face detector's box width (~2.2 x the eye spacing), not the skull's
    face_width_m: Annotated[float, Meta(gt=0.0, le=10.0)] = 0.14
    face_width_sigma_m: Annotated[float, Meta(gt=0.0, le=10.0)] = 0.02
    body_height_m: Annotated[float, Meta(gt=0.0, le=10.0)] = 1.70
    body_height_sigma_m: Annotated[float, Meta(gt=0.0, le=10.0)] = 0.10
    child_interocular_m: Annotated[float, Meta(gt=0.0, le=10.0)] = 0.054
    child_interocular_sigma_m: Annotated[float, Meta(gt=0.0, le=10.0)] = 0.0035
    child_face_width_m: Annotated[float, Meta(gt=0.0, le=10.0)] = 0.12
    child_face_width_sigma_m: Annotated[float, Meta(gt=0.0, le=10.0)] = 0.018
    child_body_height_m: Annotated[float, Meta(gt=0.0, le=10.0)] = 1.27
    child_body_height_sigma_m: Annotated[float, Meta(gt=0.0, le=10.0)] = 0.13
    child_prior: Annotated[float, Meta(ge=0.0, le=1.0)] = 0.5  # P(child) before the cues speak (0 = adults only)
    #: near_m / far_m = the extreme plausible hypothesis's distance -+ this many sigmas
    near_sigmas: Annotated[float, Meta(ge=0.0, le=10.0)] = 1.0
    #: a hypothesis less probable than this does not widen near_m / far_m
    min_hypothesis_p: Annotated[float, Meta(ge=0.0, le=1.0)] = 0.05
    keypoint_sigma_px: Annotated[float, Meta(ge=0.0, le=100.0)] = 1.5  # localisation noise of one landmark
    box_sigma_px: Annotated[float, Meta(ge=0.0, le=100.0)] = 3.0  # noise of a box edge
    #: added relative sigma for eyes when the head yaw is unknown
    unknown_yaw_rel_sigma: Annotated[float, Meta(ge=0.0, le=10.0)] = 0.15
    yaw_sigma_deg: Annotated[float, Meta(ge=0.0, le=90.0)] = 10.0  # uncertainty of a known head yaw
    #: beyond this the eyes are a profile: correction capped, sigma widened
    max_yaw_deg: Annotated[float, Meta(gt=0.0, le=90.0)] = 60.0
    #: a body box this close to the top/bottom border is cut
    border_margin_px: Annotated[float, Meta(ge=0.0, le=1000.0)] = 2.0

    def __post_init__(self) -> None:
        sizes = (self.interocular_m, self.face_width_m, self.body_height_m, self.child_interocular_m,
                 self.child_face_width_m, self.child_body_height_m)
        if min(sizes) <= 0 or not 0.0 <= self.child_prior <= 1.0:
            raise GeometryError(f"[distance] sizes must be positive and child_prior in [0, 1]: {self}")

    def extreme(self, sign: float) -> DistancePriors:
        """The sizes ``sign * near_sigmas`` sds from their means (-1: a small person of this population, +1: a
        large one) with no size spread left: the cues' sigmas are then measurement noise only."""
        return _extreme(self, sign)

    def child(self) -> DistancePriors:
        """The same priors with the child sizes in the adult fields (what the per-cue functions read)."""
        return _child(self)


# the priors are frozen and few (the config's, its child and extreme variants): the variants are made once, not
# for every person on every frame
@functools.lru_cache(maxsize=64)
def _extreme(priors: DistancePriors, sign: float) -> DistancePriors:
    k = sign * priors.near_sigmas
    return replace(priors, interocular_m=priors.interocular_m + k * priors.interocular_sigma_m,
                   interocular_sigma_m=0.0, face_width_m=priors.face_width_m + k * priors.face_width_sigma_m,
                   face_width_sigma_m=0.0, body_height_m=priors.body_height_m + k * priors.body_height_sigma_m,
                   body_height_sigma_m=0.0)


@functools.lru_cache(maxsize=64)
def _child(priors: DistancePriors) -> DistancePriors:
    return replace(priors, interocular_m=priors.child_interocular_m,
                   interocular_sigma_m=priors.child_interocular_sigma_m, face_width_m=priors.child_face_width_m,
                   face_width_sigma_m=priors.child_face_width_sigma_m, body_height_m=priors.child_body_height_m,
                   body_height_sigma_m=priors.child_body_height_sigma_m)


@dataclass(frozen=True)
class PersonDistance:
    """A person's distance under the adult and the child hypotheses (module docstring).

    ``distance_m`` / ``sigma_m``: the mixture (the People Map's estimate); ``near_m`` / ``far_m``: the smallest /
    largest plausible distance, for "within X m" / "beyond X m" decisions; ``p_child``: the child hypothesis'
    probability; ``adult`` / ``child``: each hypothesis' fused estimate (``child`` is None with ``child_prior`` 0).
    """

    distance_m: float
    sigma_m: float
    near_m: float
    far_m: float
    p_child: float
    adult: DistanceEstimate
    child: DistanceEstimate | None = None


def _unit_ray(intr: CameraIntrinsics, x: float, y: float) -> tuple[float, float, float]:
    """The unit ray through one pixel (scalar math: :meth:`CameraIntrinsics.pixel_to_ray` for one point, without
    numpy's per-call overhead on a path that runs for every person on every frame)."""
    rx, ry = (float(x) - intr.cx) / intr.fx, (float(y) - intr.cy) / intr.fy
    n = math.sqrt(rx * rx + ry * ry + 1.0)
    return rx / n, ry / n, 1.0 / n


def _elevation_deg(intr: CameraIntrinsics, x: float, y: float) -> float:
    """Camera elevation (degrees, + up) of a pixel (as :func:`~peoplelens.lens.perception.geometry.ray_to_angles`)."""
    _, ry, _ = _unit_ray(intr, x, y)
    return math.degrees(math.asin(max(-1.0, min(1.0, -ry))))


def _ray_angle(intr: CameraIntrinsics, p1: tuple[float, float], p2: tuple[float, float]) -> float:
    """Angle (radians) between the rays through two pixels."""
    a, b = _unit_ray(intr, p1[0], p1[1]), _unit_ray(intr, p2[0], p2[1])
    return math.acos(max(-1.0, min(1.0, a[0] * b[0] + a[1] * b[1] + a[2] * b[2])))


def _size_distance(size_m: float, angle_rad: float) -> float:
    """Distance at which an object of ``size_m`` (perpendicular to the ray) subtends ``angle_rad``."""
    return size_m / (2.0 * math.tan(angle_rad / 2.0))


def distance_from_eyes(intrinsics: CameraIntrinsics, right_eye: tuple[float, float], left_eye: tuple[float, float],
                       head_yaw_deg: float | None = None, priors: DistancePriors = DistancePriors()
                       ) -> DistanceEstimate | None:
    """Distance from the two eye centres (pixels), correcting the ``cos(yaw)`` foreshortening when known."""
    angle = _ray_angle(intrinsics, right_eye, left_eye)
    sep_px = math.hypot(right_eye[0] - left_eye[0], right_eye[1] - left_eye[1])
    if angle <= 1e-6 or sep_px < 1.0:
        return None
    rel2 = (priors.interocular_sigma_m / priors.interocular_m) ** 2
    rel2 += (math.sqrt(2.0) * priors.keypoint_sigma_px / sep_px) ** 2
    size = priors.interocular_m
    if head_yaw_deg is None:
        rel2 += priors.unknown_yaw_rel_sigma ** 2
    else:
        yaw = min(abs(head_yaw_deg), priors.max_yaw_deg)
        size *= math.cos(math.radians(yaw))
        rel2 += (math.tan(math.radians(yaw)) * math.radians(priors.yaw_sigma_deg)) ** 2
        if abs(head_yaw_deg) > priors.max_yaw_deg:
            rel2 += 0.5 ** 2  # profile: the eye separation barely constrains distance
    d = _size_distance(size, angle)
    return DistanceEstimate(d, d * math.sqrt(rel2))


def distance_from_face_box(intrinsics: CameraIntrinsics, box: Box,
                           priors: DistancePriors = DistancePriors()) -> DistanceEstimate | None:
    """Distance from a face box's width (xyxy pixels), measured across its vertical centre line."""
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    width = x2 - x1
    if width < 2.0:
        return None
    yc = (y1 + y2) / 2.0
    d = _size_distance(priors.face_width_m, _ray_angle(intrinsics, (x1, yc), (x2, yc)))
    rel = math.hypot(priors.face_width_sigma_m / priors.face_width_m, math.sqrt(2) * priors.box_sigma_px / width)
    return DistanceEstimate(d, d * rel)


def distance_from_body_box(intrinsics: CameraIntrinsics, box: Box, maybe_child: bool = False,
                           camera_pitch_deg: float = 0.0, priors: DistancePriors = DistancePriors()
                           ) -> DistanceEstimate | None:
    """Distance from a standing person's box height (xyxy pixels); ``None`` when the box is cut by the top
    or bottom border. Uses the head-top and foot elevations (corrected by the camera pitch):
    ``horizontal distance = H / (tan(el_top) - tan(el_feet))``, then along the ray to the box centre.
    ``maybe_child=True`` reads the box with the child height prior (``priors.child()``)."""
    if maybe_child:
        priors = priors.child()
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    m = priors.border_margin_px
    if y1 <= m or y2 >= intrinsics.height - m or y2 - y1 < 4.0:
        return None
    xc = (x1 + x2) / 2.0
    el_top = _elevation_deg(intrinsics, xc, y1) + camera_pitch_deg
    el_bot = _elevation_deg(intrinsics, xc, y2) + camera_pitch_deg
    if el_top >= 89.0 or el_bot <= -89.0:
        return None
    span = math.tan(math.radians(el_top)) - math.tan(math.radians(el_bot))
    if span <= 1e-6:
        return None
    height_sigma = priors.body_height_sigma_m
    horizontal = priors.body_height_m / span
    el_c = _elevation_deg(intrinsics, xc, (y1 + y2) / 2.0)  # elevation is measured from the horizontal range
    d = horizontal / max(math.cos(math.radians(el_c + camera_pitch_deg)), 1e-3)
    rel = math.hypot(height_sigma / priors.body_height_m, math.sqrt(2) * priors.box_sigma_px / (y2 - y1))
    if x1 <= m or x2 >= intrinsics.width - m:
        rel = math.hypot(rel, 0.1)  # cut at the side: the box may be a little off-centre
    return DistanceEstimate(d, d * rel)


def fuse_estimates(estimates: Iterable[DistanceEstimate | tuple[float, float] | None]) -> DistanceEstimate | None:
    """Inverse-variance weighted mean of the estimates that exist; ``None`` if there are none."""
    valid = [(float(d), float(s)) for e in estimates if e is not None for d, s in [e]
             if math.isfinite(d) and d > 0 and math.isfinite(s) and s > 0]
    if not valid:
        return None
    w = [1.0 / s**2 for _, s in valid]
    total = math.fsum(w)
    d = math.fsum(wi * v for wi, (v, _) in zip(w, valid, strict=True)) / total
    return DistanceEstimate(d, 1.0 / math.sqrt(total))


def _cues(intrinsics: CameraIntrinsics, kps: np.ndarray | None, face_box: Box | None,
          body_box: Box | None, head_yaw_deg: float | None, camera_pitch_deg: float,
          priors: DistancePriors) -> list[DistanceEstimate]:
    """Every usable cue's estimate under one set of sizes."""
    estimates: list[DistanceEstimate | None] = []
    if kps is not None and len(kps) >= 2:
        estimates.append(distance_from_eyes(intrinsics, tuple(kps[0]), tuple(kps[1]), head_yaw_deg, priors))
    if face_box is not None:
        estimates.append(distance_from_face_box(intrinsics, face_box, priors))
    if body_box is not None:
        estimates.append(distance_from_body_box(intrinsics, body_box, False, camera_pitch_deg, priors))
    return [e for e in estimates if e is not None and math.isfinite(e.distance_m) and e.distance_m > 0
            and math.isfinite(e.sigma_m) and e.sigma_m > 0]


def _log_agreement(cues: list[DistanceEstimate]) -> float:
    """Log-likelihood (up to a constant shared by the hypotheses) that the cues measure one distance: the
    Gaussian marginal of their log-distances with the true log-distance integrated out (flat prior)."""
    if len(cues) < 2:
        return 0.0
    rel = np.array([e.sigma_m / e.distance_m for e in cues])
    logd = np.log([e.distance_m for e in cues])
    w = 1.0 / rel**2
    mean = float(np.dot(w, logd) / w.sum())
    chi2 = float(np.dot(w, (logd - mean) ** 2))
    return -0.5 * chi2 - float(np.log(rel).sum()) - 0.5 * math.log(float(w.sum()))


def estimate_distance(intrinsics: CameraIntrinsics, face_keypoints: np.ndarray | None = None,
                      face_box: Box | None = None, body_box: Box | None = None,
                      head_yaw_deg: float | None = None, maybe_child: bool = True, camera_pitch_deg: float = 0.0,
                      priors: DistancePriors = DistancePriors()) -> PersonDistance | None:
    """Every available cue (eyes from 5-point ``face_keypoints``, face box width, body box height) fused by
    inverse variance under the adult and (``maybe_child``, the default) the child hypothesis, the two weighed by
    ``priors.child_prior`` and the cues' agreement; ``None`` when nothing usable was given. See
    :class:`PersonDistance` and the module docstring for what each field is for."""
    kps = None if face_keypoints is None else np.asarray(face_keypoints, dtype=np.float64).reshape(-1, 2)
    adult_cues = _cues(intrinsics, kps, face_box, body_box, head_yaw_deg, camera_pitch_deg, priors)
    adult = fuse_estimates(adult_cues)
    if adult is None:
        return None
    hypotheses = [(adult, 1.0 - priors.child_prior if maybe_child else 1.0, _log_agreement(adult_cues))]
    child = None
    if maybe_child and priors.child_prior > 0:
        child_cues = _cues(intrinsics, kps, face_box, body_box, head_yaw_deg, camera_pitch_deg, priors.child())
        child = fuse_estimates(child_cues)
        if child is not None:
            hypotheses.append((child, priors.child_prior, _log_agreement(child_cues)))
    logs = np.array([math.log(max(p, 1e-12)) + ll for _, p, ll in hypotheses])
    post = np.exp(logs - logs.max())
    post /= post.sum()
    d = float(sum(p * e.distance_m for (e, _, _), p in zip(hypotheses, post, strict=True)))
    var = float(sum(p * (e.sigma_m**2 + (e.distance_m - d) ** 2) for (e, _, _), p in zip(hypotheses, post,
                                                                                            strict=True)))
    sizes = [priors, priors.child()][: len(hypotheses)]
    plausible = [h for h, p in zip(sizes, post, strict=True) if p >= priors.min_hypothesis_p]
    k = priors.near_sigmas
    bounds = []
    # a small / large person of each plausible population, -+ k sigmas of noise; from the face when there is one
    # (the gates are about faces; children's heights spread far more than their faces: 1.0-1.6 m over 5-11)
    bound_body = body_box if kps is None and face_box is None else None
    for sign in (-1.0, 1.0):
        for h in plausible:
            e = fuse_estimates(_cues(intrinsics, kps, face_box, bound_body, head_yaw_deg, camera_pitch_deg,
                                     h.extreme(sign)))
            if e is not None:
                bounds.append(e.distance_m + sign * k * e.sigma_m)
    near = max(min(bounds), 0.0) if bounds else max(d - k * math.sqrt(var), 0.0)
    far = max(bounds) if bounds else d + k * math.sqrt(var)
    p_child = float(post[1]) if len(post) > 1 else 0.0
    return PersonDistance(d, math.sqrt(var), near, far, p_child, adult, child)
