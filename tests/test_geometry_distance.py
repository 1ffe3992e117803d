"""Distance estimates from synthetic faces and bodies of known size at known distances, their fusion,
and agreement of the eye and face-box cues on real detected faces."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from peoplelens.lens.perception.distance import (
    DistancePriors,
    distance_from_body_box,
    distance_from_eyes,
    distance_from_face_box,
    estimate_distance,
    fuse_estimates,
)
from peoplelens.lens.perception.geometry import CameraIntrinsics
from peoplelens.models.assets import asset_path
from peoplelens.models.face_detector import FaceDetectorOptions, create_face_detector

INTR = CameraIntrinsics.from_fov(1280, 720, 70.0)


def _project(points: np.ndarray) -> np.ndarray:
    """Camera-frame points (N, 3) (x right, y down, z forward) to pixels."""
    z = points[:, 2]
    return np.stack([INTR.cx + INTR.fx * points[:, 0] / z, INTR.cy + INTR.fy * points[:, 1] / z], 1)


def _eyes(distance: float, yaw_deg: float, iod: float = 0.063, az_deg: float = 0.0) -> np.ndarray:
    """Pixel eye centres of a head at ``distance`` along azimuth ``az_deg``, turned by ``yaw_deg`` away from
    facing the camera (yaw relative to the viewing ray, as head-pose networks report it)."""
    a = math.radians(az_deg)
    y = math.radians(yaw_deg) - a
    half = np.array([iod / 2 * math.cos(y), 0.0, iod / 2 * math.sin(y)])
    offs = np.stack([-half, half])
    centre = np.array([distance * math.sin(a), 0.0, distance * math.cos(a)])
    return _project(centre + offs)


@pytest.mark.parametrize("distance", [0.8, 2.0, 4.0, 8.0])
@pytest.mark.parametrize("yaw", [0.0, 35.0, -50.0])
def test_eye_distance_with_known_yaw(distance, yaw) -> None:
    e = _eyes(distance, yaw, az_deg=20.0)
    est = distance_from_eyes(INTR, tuple(e[0]), tuple(e[1]), head_yaw_deg=yaw)
    assert abs(est.distance_m - distance) < 0.5 * est.sigma_m  # exact prior -> well inside its sigma
    if distance <= 2.0:  # eyes 30+ px apart: the size prior and the yaw dominate the uncertainty
        assert est.sigma_m / distance < 0.25
    near = distance_from_eyes(INTR, *map(tuple, _eyes(distance / 2, yaw, az_deg=20.0)), head_yaw_deg=yaw)
    assert near.sigma_m / (distance / 2) < est.sigma_m / distance  # fewer pixels -> relatively less certain


def test_unknown_yaw_widens_sigma_and_ignoring_yaw_is_wrong() -> None:
    e = _eyes(1.5, 45.0)
    ignored = distance_from_eyes(INTR, tuple(e[0]), tuple(e[1]), head_yaw_deg=0.0)
    unknown = distance_from_eyes(INTR, tuple(e[0]), tuple(e[1]), head_yaw_deg=None)
    known = distance_from_eyes(INTR, tuple(e[0]), tuple(e[1]), head_yaw_deg=45.0)
    assert ignored.distance_m - 1.5 > 2 * ignored.sigma_m  # foreshortening not corrected: far too far
    assert unknown.sigma_m > 1.5 * distance_from_eyes(INTR, tuple(e[0]), tuple(e[1]), head_yaw_deg=0.0).sigma_m
    assert known.distance_m == pytest.approx(1.5, rel=1e-3)


def test_adult_spread_is_covered_by_sigma() -> None:
    """Real inter-ocular distances vary (+-1 sd = 59..67 mm): the error stays within ~1 sigma."""
    for iod in (0.059, 0.067):
        e = _eyes(2.5, 0.0, iod=iod)
        est = distance_from_eyes(INTR, tuple(e[0]), tuple(e[1]), head_yaw_deg=0.0)
        assert abs(est.distance_m - 2.5) <= 1.05 * est.sigma_m


def test_face_box_width() -> None:
    priors = DistancePriors()
    for d in (1.0, 3.0, 6.0):
        half = INTR.fx * priors.face_width_m / 2 / d
        est = distance_from_face_box(INTR, (640 - half, 360 - 1.2 * half, 640 + half, 360 + 1.2 * half))
        assert abs(est.distance_m - d) < 0.2 * est.sigma_m
        assert priors.face_width_sigma_m / priors.face_width_m <= est.sigma_m / d < 0.3  # size prior + edge noise
    assert distance_from_face_box(INTR, (10, 10, 11, 20)) is None


def _body_box(distance: float, height: float = 1.7, camera_height: float = 1.6, az_deg: float = 0.0):
    a = math.radians(az_deg)
    x, z = distance * math.sin(a), distance * math.cos(a)
    top, feet = _project(np.array([[x, camera_height - height, z], [x, camera_height, z]]))
    half_w = INTR.fx * 0.22 / z
    return (top[0] - half_w, top[1], top[0] + half_w, feet[1])


@pytest.mark.parametrize("distance", [5.0, 8.0, 12.0])  # nearer than ~4 m the feet leave a 70-deg 16:9 view
@pytest.mark.parametrize("az", [0.0, 25.0])
def test_body_height_adult(distance, az) -> None:
    box = _body_box(distance, az_deg=az)
    est = distance_from_body_box(INTR, box)
    _, el = INTR.pixel_to_angles((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
    along_ray = distance / math.cos(math.radians(float(el)))  # horizontal range -> along the ray to the centre
    assert est.distance_m == pytest.approx(along_ray, rel=1e-6)
    assert est.sigma_m / distance == pytest.approx(0.1 / 1.7, rel=0.3)


def test_body_height_child_and_cut_boxes() -> None:
    child = _body_box(6.0, height=1.15)
    adult_prior = distance_from_body_box(INTR, child)
    child_prior = distance_from_body_box(INTR, child, maybe_child=True)
    assert abs(adult_prior.distance_m - 6.0) > 2 * adult_prior.sigma_m  # a child read as an adult: way off
    assert abs(child_prior.distance_m - 6.0) < 2 * child_prior.sigma_m  # the wider sigma covers it
    close = _body_box(1.2)  # feet below the image: cut by the bottom border
    cut = (close[0], close[1], close[2], float(INTR.height))
    assert distance_from_body_box(INTR, cut) is None


def test_fusion_is_inverse_variance() -> None:
    fused = fuse_estimates([(2.0, 0.1), (3.0, 0.2), None])
    assert fused.distance_m == pytest.approx((2.0 / 0.01 + 3.0 / 0.04) / (1 / 0.01 + 1 / 0.04))
    assert fused.sigma_m == pytest.approx(1 / math.sqrt(1 / 0.01 + 1 / 0.04))
    assert fuse_estimates([None, (float("nan"), 1.0)]) is None
    d, s = fuse_estimates([(1.0, 0.5)])  # unpacks as (distance_m, sigma_m)
    assert (d, s) == (1.0, 0.5)


def test_estimate_distance_combines_cues() -> None:
    eyes = _eyes(3.0, 0.0)
    kps = np.vstack([eyes, [[640, 380], [620, 400], [660, 400]]])
    half = INTR.fx * DistancePriors().face_width_m / 2 / 3.0
    face = (640 - half, 330, 640 + half, 330 + 2.4 * half)
    body = _body_box(3.0)
    alone = estimate_distance(INTR, face_keypoints=kps, head_yaw_deg=0.0, maybe_child=False)
    all_cues = estimate_distance(INTR, face_keypoints=kps, face_box=face, body_box=body, head_yaw_deg=0.0,
                                 maybe_child=False)
    assert all_cues.distance_m == pytest.approx(3.0, rel=0.03)
    assert all_cues.sigma_m < alone.sigma_m
    assert all_cues.p_child == 0.0 and all_cues.child is None
    assert estimate_distance(INTR) is None


def test_eye_and_box_cues_agree_on_real_faces() -> None:
    """On real detected faces (royal opera, frame 1) both face cues must tell the same story within their
    combined sigma (checks the priors against real detector boxes and landmarks, not just synthetic faces)."""
    cap = cv2.VideoCapture(str(asset_path("data/videos/royal_opera_pedestrians_1080p25.mp4")))
    ok, frame = cap.read()
    cap.release()
    assert ok
    intr = CameraIntrinsics.from_fov(1920, 1080, 70.0)
    dets = create_face_detector(FaceDetectorOptions(model="det_2.5g", max_side=1280)).detect(frame)
    dets = dets[dets.widths >= 40]
    assert len(dets) >= 4
    agree = []
    for box, kps in zip(dets.boxes, dets.keypoints, strict=True):
        eyes = distance_from_eyes(intr, tuple(kps[0]), tuple(kps[1]), head_yaw_deg=None)
        face = distance_from_face_box(intr, box, DistancePriors())
        agree.append(abs(eyes.distance_m - face.distance_m) < 2 * math.hypot(eyes.sigma_m, face.sigma_m))
        assert face.distance_m > 1.0 and face.distance_m < 15.0  # people on a walkway a few metres away
    assert np.mean(agree) >= 0.75, agree


# ------------------------------------------------------------------------ children and adults (two hypotheses)

CHILD = {"iod": 0.054, "face": 0.12, "height": 1.27}
ADULT = {"iod": 0.063, "face": 0.14, "height": 1.70}


def _person(distance: float, sizes: dict, camera_height: float = 1.2, body: bool = True):
    """Eyes (5 keypoints), face box and (when the feet are in view) body box of a frontal standing person."""
    cam = CameraIntrinsics.from_fov(1920, 1080, 70.0)
    f = cam.fx
    eye_y = cam.cy - f * (sizes["height"] - 0.12 - camera_height) / distance  # eyes ~12 cm below the crown
    half_iod = f * sizes["iod"] / 2 / distance
    kps = np.array([[960 - half_iod, eye_y], [960 + half_iod, eye_y], [960, eye_y + half_iod],
                    [960 - 0.8 * half_iod, eye_y + 2 * half_iod], [960 + 0.8 * half_iod, eye_y + 2 * half_iod]])
    half_face = f * sizes["face"] / 2 / distance
    face = (960 - half_face, eye_y - half_face, 960 + half_face, eye_y + 1.4 * half_face)
    top, feet = cam.cy - f * (sizes["height"] - camera_height) / distance, cam.cy + f * camera_height / distance
    box = (960 - f * 0.2 / distance, top, 960 + f * 0.2 / distance, feet) if body and feet < cam.height - 3 else None
    return cam, kps, face, box


@pytest.mark.parametrize("distance", [2.0, 3.0, 3.9])
def test_child_face_is_within_the_name_gate(distance) -> None:
    """A child's face at <= 4 m: the adult prior alone puts it beyond 4 m at 3.9 m (the bug), the near bound
    never does, and the mixture lies between the two hypotheses."""
    cam, kps, face, _ = _person(distance, CHILD)
    est = estimate_distance(cam, face_keypoints=kps, face_box=face, head_yaw_deg=0.0)
    adult_only = estimate_distance(cam, face_keypoints=kps, face_box=face, head_yaw_deg=0.0, maybe_child=False)
    assert adult_only.distance_m == pytest.approx(distance * 0.063 / 0.054, rel=0.03)  # ~17 % too far
    assert est.child.distance_m == pytest.approx(distance, rel=0.03)
    assert est.near_m <= distance
    assert est.child.distance_m < est.distance_m < est.adult.distance_m
    assert est.p_child == pytest.approx(0.5, abs=0.05)  # a face alone cannot tell a child from an adult


def test_face_and_body_together_tell_children_from_adults() -> None:
    """With the feet in view, face and height agree under the right hypothesis only: the posterior leans to it,
    and the mixture is closer to the truth than the other hypothesis."""
    for sizes, distance in ((CHILD, 6.0), (ADULT, 6.0), (CHILD, 9.0), (ADULT, 9.0)):
        cam, kps, face, body = _person(distance, sizes)
        assert body is not None
        est = estimate_distance(cam, face_keypoints=kps, face_box=face, body_box=body, head_yaw_deg=0.0)
        wrong = est.adult if sizes is CHILD else est.child
        margin = 0.05 if distance < 8 else 0.0  # the hint fades as the face's pixels get few
        if sizes is CHILD:  # the face is 86 % of an adult's, the height 75 %: a weak but real hint
            assert est.p_child > 0.5 + margin, est
        else:
            assert est.p_child < 0.5 - margin, est
        assert abs(est.distance_m - distance) < abs(wrong.distance_m - distance)
        assert est.near_m <= distance * 1.01 <= est.far_m * 1.02


def test_adult_near_bound_costs_at_most_thirty_percent() -> None:
    """The price of not dropping children: an adult's near bound reads closer (a small child's face of the same
    pixel size), by no more than ~30 %; the adult hypothesis itself stays right."""
    for distance in (2.0, 4.0, 5.0):
        cam, kps, face, _ = _person(distance, ADULT)
        est = estimate_distance(cam, face_keypoints=kps, face_box=face, head_yaw_deg=0.0)
        assert 0.68 * distance <= est.near_m < distance
        assert est.adult.distance_m == pytest.approx(distance, rel=0.03)


def test_priors_reject_nonsense() -> None:
    from peoplelens.lens.perception.geometry import GeometryError

    with pytest.raises(GeometryError, match="child_prior"):
        DistancePriors(child_prior=1.5)
    with pytest.raises(GeometryError, match="positive"):
        DistancePriors(child_face_width_m=0.0)


def test_children_of_every_age_pass_the_name_gate_where_the_adult_prior_drops_them() -> None:
    """Monte Carlo over people drawn from the anthropometric spread (bench/distance_error.py): children aged 5, 8
    and 11 at 3-4 m pass the 4 m gate with the near bound and mostly fail it with the adult-only estimate; at 9-10 m
    everyone passes the 10 m bump gate; adults beyond 7 m are not named."""
    from peoplelens.bench.distance_error import simulate, summarise

    rows = {(r["group"], r["band_m"][0]): r for r in summarise(simulate(n_per_cell=60, seed=1))}
    for group, old_at_most in (("child 5", 0.3), ("child 8", 0.4), ("child 11", 0.65)):  # older: less biased
        assert rows[(group, 3.0)]["gate_pass_near"] >= 0.9
        assert rows[(group, 3.0)]["gate_pass_adult_only"] <= old_at_most
        assert rows[(group, 9.0)]["bump_pass_near"] >= 0.9
    assert rows[("adult", 3.0)]["gate_pass_near"] >= 0.95
    assert rows[("adult", 7.0)]["gate_pass_near"] <= 0.1
