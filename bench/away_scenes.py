"""The ``away`` scenes of ``bench.crossings``: the wearer turns away from two people, so that both leave the view,
and turns back to them a second or more later. Does each person get their own id back?

The world is a 360-degree cylinder papered with real frames of the pedestrian clip (:class:`Panorama`: as many
frames as the camera's field of view fits into 360 degrees, six for 70 degrees, each from a random moment of the
clip), so the camera can turn any amount and the video's own rotation (no IMU) is read from a real, rigid
background. Two people (the studio clip's cut-out body with a probe photo's face, adult or child height at random)
stand 1.5-3.5 m away, 10-30 degrees apart, each swaying a little.
The wearer looks at them for 1.6 s, turns 75-100 degrees to one side at 70-100 degrees a second (everyone leaves the
view), waits there, turns back and looks for 2 s more. While the wearer looks away each person steps 2-6 degrees
aside, so where they were is no longer where they are: only their faces can give their ids back.

Nothing is written to disk.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import cv2
import numpy as np

from peoplelens.bench.crossing_scenes import Walker, different_people, place_walker
from peoplelens.bench.range_scenes import (
    BACKGROUND_VIDEO,
    FPS,
    SCALES,
    CameraSpec,
    FacePhoto,
    RangeScenes,
    SceneError,
    face_alpha,
    read_frames,
    video_frame_count,
)
from peoplelens.lens.world.virtual_head import YawScript

LOOK_S, LOOK_BACK_S = 1.6, 2.0  # looking at the two people before the turn and after it
FACE_IN_VIEW = 0.8  # a person is in view when this share of their face box lies inside the frame


class Panorama:
    """A cylinder around the camera papered with ``tiles`` frames side by side, all the way round (each tile spans
    360 / ``len(tiles)`` degrees), and the camera's pinhole view of it at any yaw. A pure rotation of the camera
    about the cylinder's axis moves the view exactly as it moves a real camera's view of a distant world, so the
    video's own rotation is right."""

    def __init__(self, tiles: Sequence[np.ndarray], camera: CameraSpec) -> None:
        if not tiles:
            raise SceneError("a panorama needs at least one frame")
        strip = np.concatenate([cv2.resize(t, (camera.width, camera.height)) for t in tiles], axis=1)
        self.image = np.ascontiguousarray(strip)
        self.px_per_deg = strip.shape[1] / 360.0
        intr = camera.intrinsics
        u, v = np.meshgrid(np.arange(camera.width, dtype=np.float64), np.arange(camera.height, dtype=np.float64))
        x, y = (u - intr.cx) / intr.fx, (v - intr.cy) / intr.fy
        # each pixel's column in the strip at yaw 0 (its ray's azimuth; the strip's middle straight ahead)
        self._column = ((np.degrees(np.arctan2(x, 1.0)) + 180.0) * self.px_per_deg).astype(np.float32)
        # a row of the strip is a height on the cylinder (the tangent of the elevation), at the tiles' own scale
        self._map_y = (intr.cy + intr.fy * y / np.sqrt(x * x + 1.0)).astype(np.float32)

    def view(self, yaw_deg: float) -> np.ndarray:
        """What the camera sees turned ``yaw_deg`` (+ = toward the image's right)."""
        map_x = np.mod(self._column + np.float32(yaw_deg * self.px_per_deg), np.float32(self.image.shape[1]))
        return cv2.remap(self.image, map_x, self._map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def away_turn(seed: int, frames: int, fps: float = FPS) -> tuple[YawScript, float, float]:
    """The away scene ``seed``'s head turn: the yaw in degrees over the scene's time (look, turn away, wait, turn
    back, look), when the wearer is turned away and when they start turning back (s). :class:`SceneError` when
    ``frames`` leave no time to wait."""
    rng = np.random.default_rng([seed, 2])
    turn = float(rng.uniform(75.0, 100.0)) * (1.0 if rng.random() < 0.5 else -1.0)
    ramp = abs(turn) / float(rng.uniform(70.0, 100.0))
    wait = frames / fps - LOOK_S - LOOK_BACK_S - 2 * ramp
    if wait < 0.5:
        raise SceneError(f"an away scene needs at least {math.ceil((LOOK_S + LOOK_BACK_S + 3.4) * fps)} frames")
    away_at, back_at = LOOK_S + ramp, LOOK_S + ramp + wait
    script = YawScript([(0.0, 0.0), (LOOK_S, 0.0), (away_at, turn), (back_at, turn), (back_at + ramp, 0.0)])
    return script, away_at, back_at


def in_view(box: np.ndarray, camera: CameraSpec) -> bool:
    """Whether ``FACE_IN_VIEW`` of a face box lies inside the frame."""
    x1, y1, x2, y2 = (float(v) for v in box)
    inside = max(0.0, min(x2, camera.width) - max(x1, 0.0)) * max(0.0, min(y2, camera.height) - max(y1, 0.0))
    return inside >= FACE_IN_VIEW * max(1e-6, (x2 - x1) * (y2 - y1))


def render_away(scenes: RangeScenes, faces: Sequence[FacePhoto], seed: int,
                frames: int = 190) -> Iterator[tuple[np.ndarray, list[np.ndarray | None], float]]:
    """The away scene ``seed``: ``(frame, [far, near face box or None when out of view], head yaw)`` per frame."""
    rng = np.random.default_rng(seed)
    cam = scenes.camera
    yaw, away_at, back_at = away_turn(seed, frames)
    n_bg = video_frame_count(scenes.data / BACKGROUND_VIDEO)
    tiles = [read_frames(scenes.data / BACKGROUND_VIDEO, int(rng.integers(0, n_bg - 1)), 1)[0]
             for _ in range(math.ceil(360.0 / cam.hfov_deg))]
    panorama = Panorama(tiles, cam)
    chosen = different_people(rng, faces, 2)
    distances = (float(rng.uniform(2.5, 3.5)), float(rng.uniform(1.5, 2.5)))
    walkers = [Walker(face, face_alpha(face), SCALES[str(rng.choice(["adult", "child"]))], d, int(rng.integers(0, 20)))
               for face, d in zip(chosen, distances, strict=True)]
    centre, gap = float(rng.uniform(-8.0, 8.0)), float(rng.uniform(10.0, 30.0))
    side = 1.0 if rng.random() < 0.5 else -1.0
    bearings = [centre - side * gap / 2, centre + side * gap / 2]
    steps = [float(rng.uniform(2.0, 6.0)) * (1.0 if rng.random() < 0.5 else -1.0) for _ in walkers]
    sway_hz = [float(rng.uniform(0.3, 0.6)) for _ in walkers]
    for k in range(frames):
        t = k / FPS
        head_yaw = float(yaw(t))
        frame = panorama.view(head_yaw)
        stepped = float(np.clip((t - away_at) / (back_at - away_at), 0.0, 1.0))  # aside while nobody sees them
        boxes: list[np.ndarray | None] = []
        for w, bearing, step, hz in zip(walkers, bearings, steps, sway_hz, strict=True):
            world = bearing + step * stepped + 1.0 * math.sin(2 * math.pi * hz * t)
            box = place_walker(scenes, frame, w.pose + k % 40, w.face, w.alpha, w.distance_m, world - head_yaw,
                               w.size) if abs(world - head_yaw) < 50.0 else None
            boxes.append(box if box is not None and in_view(box, cam) else None)
        yield frame, boxes, head_yaw
