"""Pinhole geometry: pixel <-> angle round trips, FOV edges, config, rotations, angle helpers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from peoplelens.core.config import ConfigError, section
from peoplelens.lens.perception.geometry import (
    CameraConfig,
    CameraIntrinsics,
    GeometryError,
    angular_half_width_deg,
    circular_mean_deg,
    head_rotation,
    nearest_rotation,
    person_hit_half_width_deg,
    rotation_to_euler,
)


def test_fov_edges_and_centre() -> None:
    intr = CameraIntrinsics.from_fov(1280, 720, 70.0)
    assert intr.hfov_deg == pytest.approx(70.0)
    assert intr.vfov_deg == pytest.approx(2 * math.degrees(math.atan(360 / intr.fy)))
    az, el = intr.pixel_to_angles(np.array([0.0, 640.0, 1280.0]), np.array([360.0, 360.0, 360.0]))
    assert az == pytest.approx([-35.0, 0.0, 35.0])
    assert el == pytest.approx([0.0, 0.0, 0.0])
    _, el = intr.pixel_to_angles(640.0, 0.0)
    assert float(el) == pytest.approx(intr.vfov_deg / 2)  # top of the image is up (+)
    assert intr.contains(34.0, 0.0) and not intr.contains(36.0, 0.0) and not intr.contains(180.0, 0.0)


def test_pixel_angle_round_trip_everywhere() -> None:
    intr = CameraIntrinsics(fx=600.0, fy=610.0, cx=330.0, cy=235.0, width=640, height=480)
    xs, ys = np.meshgrid(np.linspace(0, 640, 17), np.linspace(0, 480, 13))
    az, el = intr.pixel_to_angles(xs, ys)
    x2, y2 = intr.angles_to_pixel(az, el)
    assert np.abs(x2 - xs).max() < 1e-6 and np.abs(y2 - ys).max() < 1e-6
    # corners: azimuth and elevation are not separable (elevation shrinks toward the side)
    a, e = intr.pixel_to_angles(0.0, 0.0)
    assert float(a) == pytest.approx(-math.degrees(math.atan(330 / 600)))
    assert float(e) < math.degrees(math.atan(235 / 610))
    assert np.isnan(intr.angles_to_pixel(120.0, 0.0)[0])  # behind the camera


def test_from_config_explicit_and_fov() -> None:
    cfg = section({"camera": {"fx": 500.0, "cy": 200.0}}, "camera", CameraConfig)
    intr = CameraIntrinsics.from_config(cfg, 640, 480)
    assert (intr.fx, intr.fy, intr.cx, intr.cy) == (500.0, 500.0, 320.0, 200.0)
    intr = CameraIntrinsics.from_config(CameraConfig(hfov_deg=90.0), 800, 600)
    assert intr.fx == pytest.approx(400.0)
    with pytest.raises(ConfigError, match="fov"):
        section({"camera": {"fov": 3}}, "camera", CameraConfig)
    with pytest.raises(GeometryError):
        CameraIntrinsics.from_fov(640, 480, 190.0)
    with pytest.raises(GeometryError):
        CameraIntrinsics(0.0, 1.0, 0, 0, 10, 10)
    half = intr.scaled(400, 300)
    assert half.fx == pytest.approx(200.0) and half.hfov_deg == pytest.approx(90.0)


@pytest.mark.parametrize(("yaw", "pitch", "roll"), [(0, 0, 0), (30, 0, 0), (-170, 10, 5), (90, -20, -15)])
def test_head_rotation_euler_round_trip(yaw, pitch, roll) -> None:
    r = head_rotation(yaw, pitch, roll)
    assert np.allclose(r @ r.T, np.eye(3)) and np.linalg.det(r) == pytest.approx(1.0)
    assert rotation_to_euler(r) == pytest.approx((yaw, pitch, roll))
    assert np.allclose(nearest_rotation(r * 1.01 + 1e-4), r, atol=1e-3)


def test_head_rotation_directions() -> None:
    fwd = np.array([0.0, 0.0, 1.0])
    assert head_rotation(90.0) @ fwd == pytest.approx([1.0, 0.0, 0.0])  # yaw + = right (+x)
    assert head_rotation(0.0, 30.0) @ fwd == pytest.approx([0.0, -0.5, math.sqrt(3) / 2])  # pitch + = up (-y)


def test_angle_helpers() -> None:
    assert circular_mean_deg([170.0, -170.0]) == pytest.approx(180.0)
    assert circular_mean_deg([10.0, 20.0], [3.0, 1.0]) == pytest.approx(12.5, abs=0.1)
    with pytest.raises(ValueError):
        circular_mean_deg([])
    assert angular_half_width_deg(1.0) == pytest.approx(14.04, abs=0.01)
    assert angular_half_width_deg(10.0) == pytest.approx(1.43, abs=0.01)
    assert angular_half_width_deg(0.0) == 90.0
    assert person_hit_half_width_deg(50.0) == 3.0 and person_hit_half_width_deg(0.3) == 30.0
