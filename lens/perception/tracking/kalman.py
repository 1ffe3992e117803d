"""The motion model of one box: a constant-velocity Kalman filter, and the camera-motion homography that
moves it when the wearer's head turns."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from peoplelens.lens.perception.tracking.config import TrackingError


def _xyxy_to_state(box: np.ndarray) -> np.ndarray:
    x1, y1, x2, y2 = (float(v) for v in box)
    return np.array([(x1 + x2) / 2, (y1 + y2) / 2, max(x2 - x1, 1.0), max(y2 - y1, 1.0)])


def _state_to_xyxy(s: np.ndarray) -> np.ndarray:
    cx, cy, w, h = s[:4]
    w, h = max(w, 1.0), max(h, 1.0)
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dtype=np.float32)


class BoxKalman:
    """Constant-velocity Kalman filter on ``(cx, cy, w, h)`` with rates per second; noise scales with box size
    (DeepSORT's choice: 1/20 of the height for position, about 0.2 heights per second for velocity at 30 fps)."""

    POS_STD = 0.05  # measurement / process position noise, fraction of the box size
    VEL_STD = 0.2  # velocity process noise, box sizes per second per sqrt(frame at 30 fps)

    def __init__(self, box: np.ndarray, t: float) -> None:
        self.x = np.concatenate([_xyxy_to_state(box), np.zeros(4)])
        size = np.array([self.x[3], self.x[3], self.x[2], self.x[3]])
        self.P = np.diag(np.concatenate([(2 * self.POS_STD * size) ** 2, (2.0 * size) ** 2]))
        self.t = t
        self.t_update = t

    def predict(self, t: float) -> None:
        """Advance the state to time ``t`` (no-op when ``t`` is not later)."""
        dt = t - self.t
        if dt <= 0:
            return
        F = np.eye(8)
        F[:4, 4:] = np.eye(4) * dt
        size = np.array([self.x[3], self.x[3], self.x[2], self.x[3]])
        frames = dt * 30.0
        Q = np.diag(np.concatenate([(self.POS_STD * size) ** 2 * frames, (self.VEL_STD * size) ** 2 * frames]))
        self.x = F @ self.x
        self.x[2:4] = np.maximum(self.x[2:4], 1.0)
        self.P = F @ self.P @ F.T + Q
        self.t = t

    def update(self, box: np.ndarray) -> None:
        """Correct the state with a measured box (at the current time)."""
        z = _xyxy_to_state(box)
        H = np.zeros((4, 8))
        H[:4, :4] = np.eye(4)
        size = np.array([z[3], z[3], z[2], z[3]])
        R = np.diag((self.POS_STD * size) ** 2)
        S = H @ self.P @ H.T + R
        K = self.P @ H.T @ np.linalg.inv(S)
        self.x = self.x + K @ (z - H @ self.x)
        self.P = (np.eye(8) - K @ H) @ self.P
        self.t_update = self.t

    def warp(self, homography: np.ndarray) -> None:
        """Move the state by a camera motion: the box corners go through the homography, the velocity through
        its local linear part."""
        self.x[:4] = _xyxy_to_state(warp_boxes(homography, _state_to_xyxy(self.x)[None])[0])
        c = self.x[:2]
        jac = np.empty((2, 2))
        eps = 1.0
        base = apply_homography(homography, c[None])[0]
        for k in range(2):
            d = np.zeros(2)
            d[k] = eps
            jac[:, k] = (apply_homography(homography, (c + d)[None])[0] - base) / eps
        self.x[4:6] = jac @ self.x[4:6]

    @property
    def box(self) -> np.ndarray:
        """The current box estimate, xyxy float32."""
        return _state_to_xyxy(self.x)

    def box_at(self, t: float, homography: np.ndarray | None = None) -> np.ndarray:
        """The box at time ``t`` (the constant-velocity state advanced, as :meth:`predict` does) moved by
        ``homography`` (its corners through it, as :meth:`warp` does), xyxy float64, without changing the filter:
        where a track that is not updated now is expected on this frame."""
        state = self.x[:4] + self.x[4:8] * max(0.0, t - self.t)
        cx, cy, w, h = float(state[0]), float(state[1]), max(float(state[2]), 1.0), max(float(state[3]), 1.0)
        box = np.array([[cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]])
        return (box if homography is None else warp_boxes(homography, box))[0]


def apply_homography(homography: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map (N, 2) points through a 3x3 homography."""
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    h = np.concatenate([pts, np.ones((len(pts), 1))], 1) @ np.asarray(homography, np.float64).T
    return h[:, :2] / np.where(np.abs(h[:, 2:3]) < 1e-12, 1e-12, h[:, 2:3])


def warp_boxes(homography: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(N, 4) xyxy boxes moved by a 3x3 homography: each box is the bounding box of its four warped corners."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    corners = np.stack([b[:, [0, 1]], b[:, [2, 1]], b[:, [2, 3]], b[:, [0, 3]]], 1)  # (N, 4, 2)
    warped = apply_homography(homography, corners.reshape(-1, 2)).reshape(-1, 4, 2)
    return np.concatenate([warped.min(1), warped.max(1)], 1)


def camera_motion_matrix(motion: np.ndarray | Sequence[float] | None) -> np.ndarray | None:
    """A 3x3 homography from ``None``, an image shift ``(dx, dy)`` (content moved by dx, dy pixels) or a 3x3
    (or 2x3 affine) matrix mapping previous-frame pixels to current-frame pixels."""
    if motion is None:
        return None
    m = np.asarray(motion, np.float64)
    if m.shape == (2,):
        out = np.eye(3)
        out[:2, 2] = m
        return out
    if m.shape == (2, 3):
        return np.vstack([m, [0.0, 0.0, 1.0]])
    if m.shape == (3, 3) and np.all(np.isfinite(m)):
        return m
    raise TrackingError(f"camera motion must be (dx, dy), a 2x3 affine or a 3x3 homography, got shape {m.shape}")
