"""The scenes of ``bench.crossings``, rendered in memory at the camera's size over the real pedestrian background:
people (the studio clip's cut-out body, a new pose every frame, with a probe photo's face) walking past each other.

Each scene shows different people (never two photos of one person).

* :func:`render_crossing` (``pair``): a far person (2.5-4 m) walks one way and a near one (1.3-2.2 m) the other,
  20-30 degrees each, crossing half-way, so that the near one's body hides the far one's face in the middle.
* :func:`render_crowd` (``crowd``): three people (3-4 m, 2-2.8 m, 1.2-1.8 m). The near one walks against the other
  two and stops in front of them for 30-50 % of the scene, so a face stays hidden for a second or more; the middle
  one walks beside the far one, a few degrees off, so they cross each other too; and while the near one stands, the
  wearer turns their head 8-15 degrees and back (40-50 degrees a second), so everyone moves in the image at once.
  The head turn is a virtual camera turning inside the background frame (:class:`VirtualHeadTurn`, the background
  enlarged just enough to turn in); the people are pasted at their world bearing minus the head's yaw.

Nothing is written to disk.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from peoplelens.bench.range_scenes import (
    BACKGROUND_VIDEO,
    FPS,
    SCALES,
    FacePhoto,
    PersonScale,
    RangeScenes,
    SceneError,
    face_alpha,
    paste_person,
    stand,
    video_frame_count,
)
from peoplelens.lens.world.virtual_head import VirtualHeadTurn, YawScript

CROWD_MAX_TURN_DEG = 15.0


def place_walker(scenes: RangeScenes, frame: np.ndarray, body_index: int, photo: FacePhoto, photo_alpha: np.ndarray,
                 distance_m: float, azimuth_deg: float, size: PersonScale) -> np.ndarray:
    """Paste the studio body (frame ``body_index`` of its clip) standing ``distance_m`` away at camera bearing
    ``azimuth_deg`` with ``photo``'s face over hers; the face box in frame pixels."""
    intr, body = scenes.intrinsics, scenes.body(body_index)
    scale, offset = stand(intr, size, distance_m, azimuth_deg, float(body.box[3] - body.box[1]),
                          float(body.eyes[:, 0].mean()), float(body.box[3]))
    face_scale = intr.fx * size.iod_m / distance_m / photo.iod_px
    face_offset = paste_person(frame, body, scale, (offset[0], offset[1]), photo, photo_alpha, face_scale)
    return (photo.box.reshape(2, 2) * face_scale + face_offset).reshape(4).astype(np.float32)


def different_people(rng: np.random.Generator, faces: Sequence[FacePhoto], count: int) -> list[FacePhoto]:
    """``count`` photos of as many different people (photos drawn again while two show one person: a tracker that
    gives both the same id would be right)."""
    if len({f.identity for f in faces}) < count:
        raise SceneError(f"a scene needs photos of {count} different people")
    while True:
        chosen = [faces[int(i)] for i in rng.choice(len(faces), count, replace=False)]
        if len({f.identity for f in chosen}) == count:
            return chosen


def _background(scenes: RangeScenes, rng: np.random.Generator, frames: int) -> list[np.ndarray]:
    """``frames`` consecutive frames of the background clip from a random start, at the camera's size."""
    start = int(rng.integers(0, max(1, video_frame_count(scenes.data / BACKGROUND_VIDEO) - frames)))
    return scenes.backgrounds(start, frames)


def render_crossing(scenes: RangeScenes, faces: Sequence[FacePhoto], seed: int,
                    frames: int = 50) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The pair scene ``seed``: ``(frame, far face box, near face box)`` per frame, the near person drawn last."""
    rng = np.random.default_rng(seed)
    background = _background(scenes, rng, frames)
    far_m, near_m = float(rng.uniform(2.5, 4.0)), float(rng.uniform(1.3, 2.2))
    span, direction = float(rng.uniform(20.0, 30.0)), 1.0 if rng.random() < 0.5 else -1.0
    far_face, near_face = different_people(rng, faces, 2)
    far_alpha, near_alpha = face_alpha(far_face), face_alpha(near_face)  # once per scene
    far_size, near_size = (SCALES[str(rng.choice(["adult", "child"]))] for _ in range(2))
    far_pose, near_pose = int(rng.integers(0, 20)), int(rng.integers(0, 20))
    for k, frame in enumerate(background):
        u = k / max(1, frames - 1) - 0.5
        far = place_walker(scenes, frame, far_pose + k % 40, far_face, far_alpha, far_m, direction * span * u,
                           far_size)
        near = place_walker(scenes, frame, near_pose + k % 40, near_face, near_alpha, near_m,
                            -direction * span * u, near_size)
        yield frame, far, near


@dataclass(frozen=True)
class Walker:
    """One person of a scene: the face pasted on the studio body (blended by ``alpha``), their height class,
    distance and the body clip's first pose."""

    face: FacePhoto
    alpha: np.ndarray
    size: PersonScale
    distance_m: float
    pose: int


def _stop_in_the_middle(u: float, pause: float) -> float:
    """Progress -0.5..0.5 of a walker who stands still at 0 for the middle ``pause`` of the scene (``u`` -0.5..0.5)."""
    half = pause / 2
    moving = max(0.0, abs(u) - half) / (0.5 - half) * 0.5
    return float(np.sign(u) * moving)


def crowd_turn(seed: int, frames: int, fps: float = FPS) -> YawScript:
    """The crowd scene ``seed``'s head turn (yaw in degrees over the scene's time): the same numbers
    :func:`render_crowd` draws, for a caller that wants the truth."""
    rng = np.random.default_rng([seed, 1])
    duration = frames / fps
    turn = float(rng.uniform(8.0, CROWD_MAX_TURN_DEG)) * (1.0 if rng.random() < 0.5 else -1.0)
    speed = float(rng.uniform(40.0, 50.0))  # degrees a second
    start, hold = 0.4 * duration, 0.15 * duration
    ramp = abs(turn) / speed
    return YawScript([(0.0, 0.0), (start, 0.0), (start + ramp, turn), (start + ramp + hold, turn),
                      (start + 2 * ramp + hold, 0.0)])


def render_crowd(scenes: RangeScenes, faces: Sequence[FacePhoto], seed: int,
                 frames: int = 75) -> Iterator[tuple[np.ndarray, list[np.ndarray], float]]:
    """The crowd scene ``seed``: ``(frame, [far, middle, near face box], head yaw)`` per frame, nearer people drawn
    over farther ones."""
    rng = np.random.default_rng(seed)
    background = _background(scenes, rng, frames)
    chosen = different_people(rng, faces, 3)
    distances = (float(rng.uniform(3.0, 4.0)), float(rng.uniform(2.0, 2.8)), float(rng.uniform(1.2, 1.8)))
    walkers = [Walker(face, face_alpha(face), SCALES[str(rng.choice(["adult", "child"]))], d, int(rng.integers(0, 20)))
               for face, d in zip(chosen, distances, strict=True)]
    direction = 1.0 if rng.random() < 0.5 else -1.0
    far_span, middle_span = float(rng.uniform(20.0, 30.0)), float(rng.uniform(15.0, 25.0))
    middle_shift = float(rng.uniform(4.0, 10.0)) * (1.0 if rng.random() < 0.5 else -1.0)
    near_span, pause = float(rng.uniform(20.0, 30.0)), float(rng.uniform(0.3, 0.5))
    cam = scenes.camera
    yaw = crowd_turn(seed, frames)
    # the background enlarged just enough for the window (the camera) to turn CROWD_MAX_TURN_DEG inside it
    wide_hfov = 2 * (cam.hfov_deg / 2 + CROWD_MAX_TURN_DEG + 1.0)
    head = VirtualHeadTurn((cam.width, cam.height), (cam.width, cam.height), yaw, wide_hfov_deg=wide_hfov,
                           window_hfov_deg=cam.hfov_deg)
    for k, image in enumerate(background):
        frame, orientation = head.render(image, k / FPS)
        u = k / max(1, frames - 1) - 0.5
        bearings = (direction * far_span * u, direction * (middle_span * u + middle_shift),
                    -direction * near_span * _stop_in_the_middle(u, pause))
        boxes = [place_walker(scenes, frame, w.pose + k % 40, w.face, w.alpha, w.distance_m,
                              bearing - orientation.yaw_deg, w.size)
                 for w, bearing in zip(walkers, bearings, strict=True)]
        yield frame, boxes, orientation.yaw_deg
