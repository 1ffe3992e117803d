"""Eye gaze from the iris model, and the "looking at the wearer" decision that combines it with head pose.

Eye reading. MediaPipe's iris model gives, per eye, the iris centre and a 16-point eye contour (two corners and
both lids). Per eye, with the corner-to-corner line as the axis (its length is the eye width ``w``):

* ``horizontal``: the iris centre's offset from the corners' midpoint along the axis, / ``w``, + = image-right;
* ``vertical``: its offset across the axis, / ``w``, + = up in the image (the face's up when it is rolled);
* ``aperture``: the mean distance between the middle five upper-lid and lower-lid points, / ``w``.

Both eyes are averaged, each weighted by its width (the far eye of a turned head is foreshortened and read
less well). Averaging also cancels the iris' nasal offset of a converging gaze (each iris sits ~5 % toward the
nose when a face looks at a near camera).

Eye-in-head angles. An eyeball model: the eye opening is ~30 mm wide and the eyeball radius ~12 mm, so the iris
moves ``12 sin(angle)`` mm, i.e. ``sin(angle) = gain * shift`` with ``gain = 30 / 12 = 2.5``. Vertically the
shift is measured from ``eye_neutral_vertical`` (the iris centre sits slightly above the corner line when the eye
looks straight ahead). Eye yaw + = toward image-right (the project's head-yaw convention), eye pitch + = up.

Decision. The gaze is the head direction relative to the line of sight (``FaceAttributes.yaw/pitch``) plus the
eye-in-head rotation. ``gaze_offset = hypot(yaw + eye_yaw, pitch + eye_pitch)``. A face looks at the wearer when
the offset is <= ``gaze_enter_deg`` and its eyes are open (``aperture >= eyes_open_min_aperture``: closed eyes,
and lids lowered far in a downward glance, are "not looking"). On a track the lids are also judged against that
person's own open eyes (:class:`OpenEyeReference`): an aperture below ``eyes_open_min_relative`` of the track's
recent open-eye opening is a glance down, a squint or eyes closing, whatever the person's eye shape. On a track
"looking" must also hold for ``gaze_enter_frames`` observations in a row, and it stops after ``gaze_exit_frames``
observations beyond ``gaze_exit_deg`` or with the eyes shut; within ``gaze_resume_frames`` observations after it
stopped, one looking observation resumes it (a blink, or a frame where the iris model misreads, is not the end of
a look). Faces whose inter-ocular distance is below ``eye_min_interocular_px`` are decided from head pose alone
(``FaceAttributes.gaze_source == "head"``): there the iris is a few pixels wide and its reading is noise
(``python -m peoplelens.sim_harness.gaze_eval --sizes`` measures where).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from peoplelens.core.errors import PeopleLensError

#: iris-model eye contour indices (see ``FaceMeshResult.eye_contours``): corners, middle upper / lower lid points
OUTER, INNER = 0, 8
UPPER_LID, LOWER_LID = slice(10, 15), slice(2, 7)


class GazeConfigError(PeopleLensError, ValueError):
    """A ``[face_attributes]`` gaze setting that cannot work (the message says which and what is allowed)."""


@dataclass(frozen=True)
class EyeReading:
    """Both eyes of one face, from the iris model (fractions of the eye width; see the module doc)."""

    horizontal: float  # + = iris toward image-right
    vertical: float  # + = iris up
    aperture: float  # lid opening / eye width (open ~0.3, closed < 0.1)
    eye_width_px: float  # mean corner-to-corner distance of the two eyes


@dataclass(frozen=True)
class GazeOptions:
    """The eye-model and decision constants (fields of ``FaceAttributeOptions`` carry the configured values)."""

    gaze_enter_deg: float = 17.5
    gaze_exit_deg: float = 17.5
    eye_gain: float = 2.5
    eye_max_deg: float = 40.0
    eye_neutral_vertical: float = 0.05
    eyes_open_min_aperture: float = 0.16
    eyes_open_min_relative: float = 0.0  # of the track's open-eye aperture (0: absolute threshold only)


def read_eyes(iris_centers: np.ndarray, eye_contours: np.ndarray) -> EyeReading:
    """The :class:`EyeReading` of one face from its iris centres (2, 2) and eye contours (2, 16, 2), image-left
    eye first (the layout of :class:`peoplelens.models.face_mesh.EyeLandmarks`)."""
    horizontal, vertical, aperture, widths = [], [], [], []
    for k in range(2):
        c = np.asarray(eye_contours[k], np.float64)
        # the image-left eye has its outer corner on the image's left; the image-right eye its inner corner
        left, right = (c[OUTER], c[INNER]) if k == 0 else (c[INNER], c[OUTER])
        axis = right - left
        width = max(float(np.linalg.norm(axis)), 1e-6)
        u = axis / width
        n_up = np.array([u[1], -u[0]])  # the axis turned 90 deg toward the top of the image
        rel = np.asarray(iris_centers[k], np.float64) - (left + right) / 2
        horizontal.append(float(rel @ u) / width)
        vertical.append(float(rel @ n_up) / width)
        aperture.append(float((c[UPPER_LID].mean(0) - c[LOWER_LID].mean(0)) @ n_up) / width)
        widths.append(width)
    w = np.asarray(widths)
    return EyeReading(horizontal=float(np.dot(horizontal, w) / w.sum()), vertical=float(np.dot(vertical, w) / w.sum()),
                      aperture=float(np.mean(aperture)), eye_width_px=float(w.mean()))


def eye_rotation_deg(shift: float, gain: float, max_deg: float) -> float:
    """Eye-in-head rotation for an iris shift (fraction of the eye-corner distance from the neutral position)."""
    return float(np.clip(math.degrees(math.asin(float(np.clip(gain * shift, -1.0, 1.0)))), -max_deg, max_deg))


def eye_angles(eye: EyeReading, options: GazeOptions) -> tuple[float, float]:
    """Eye-in-head (yaw, pitch) in degrees: yaw + = toward image-right, pitch + = up."""
    return (eye_rotation_deg(eye.horizontal, options.eye_gain, options.eye_max_deg),
            eye_rotation_deg(eye.vertical - options.eye_neutral_vertical, options.eye_gain, options.eye_max_deg))


@dataclass(frozen=True)
class GazeEstimate:
    """The gaze of one face relative to the line of sight to the camera, and the per-frame decision inputs."""

    yaw: float  # head + eye yaw, degrees, 0 = toward the camera
    pitch: float
    offset_deg: float  # hypot(yaw, pitch)
    eyes_closed: bool  # aperture below the open-eye minimum (shut, or lids lowered in a downward glance)
    source: str  # "eyes+head" or "head"

    def want_on(self, options: GazeOptions) -> bool:
        """This observation says "looking at the wearer"."""
        return self.offset_deg <= options.gaze_enter_deg and not self.eyes_closed

    def want_off(self, options: GazeOptions) -> bool:
        """This observation says "not looking" (beyond the exit threshold, or eyes shut)."""
        return self.offset_deg > options.gaze_exit_deg or self.eyes_closed


def estimate_gaze(head_yaw: float, head_pitch: float, eye: EyeReading | None, options: GazeOptions,
                  open_aperture: float | None = None) -> GazeEstimate:
    """Combine a line-of-sight-relative head pose with the eye reading (None: head pose alone). ``open_aperture``:
    the track's open-eye aperture (:class:`OpenEyeReference`); lids below ``eyes_open_min_relative`` of it count
    as shut or lowered, as do lids below the absolute ``eyes_open_min_aperture``."""
    if eye is None:
        return GazeEstimate(head_yaw, head_pitch, math.hypot(head_yaw, head_pitch), False, "head")
    eye_yaw, eye_pitch = eye_angles(eye, options)
    yaw, pitch = head_yaw + eye_yaw, head_pitch + eye_pitch
    closed = eye.aperture < options.eyes_open_min_aperture
    if open_aperture is not None and open_aperture > 0:
        closed = closed or eye.aperture < options.eyes_open_min_relative * open_aperture
    return GazeEstimate(yaw, pitch, math.hypot(yaw, pitch), closed, "eyes+head")


class OpenEyeReference:
    """Per track, how wide its eyes are when open: the ``percentile`` of the lid apertures of its last
    ``readings`` eye readings (the current one included). People's eyes differ in shape (and children's from
    adults'), so lids lowered in a downward glance, a squint or eyes closing are judged against the person's own
    opening; a high percentile is the open-eye opening as long as the eyes are open most of the time, and with few
    readings it is the current one (the relative test then passes)."""

    def __init__(self, readings: int = 75, percentile: float = 90.0) -> None:
        if readings < 1 or not 0.0 <= percentile <= 100.0:
            raise GazeConfigError(f"open-eye reference needs readings >= 1 and a percentile in [0, 100], not "
                                  f"{readings} / {percentile}")
        self.readings, self.percentile = readings, percentile
        self._apertures: dict[int, deque[float]] = {}
        self._reference: dict[int, float] = {}

    def add(self, key: int, aperture: float) -> float:
        """Record a new eye reading of a track; its open-eye aperture now."""
        window = self._apertures.setdefault(key, deque(maxlen=self.readings))
        window.append(float(aperture))
        self._reference[key] = value = float(np.percentile(window, self.percentile))
        return value

    def reference(self, key: int) -> float | None:
        """The track's open-eye aperture (None before its first reading); kept from its last reading, so the
        frames between eye readings do not recompute it."""
        return self._reference.get(key)

    def forget(self, keys: list[int] | None = None) -> None:
        """Drop ended tracks (all when ``keys`` is None)."""
        if keys is None:
            self._apertures.clear()
            self._reference.clear()
        for k in keys or ():
            self._apertures.pop(k, None)
            self._reference.pop(k, None)


class Hysteresis:
    """A boolean per key that turns on after ``enter_frames`` consecutive "on" observations and off after
    ``exit_frames`` consecutive "off" observations; observations in the dead band keep the state. Within
    ``resume_frames`` observations after it turned off, a single "on" observation turns it back on: a blink or a
    one-frame misreading interrupts the state, it does not make the key earn it again."""

    def __init__(self, enter_frames: int, exit_frames: int, resume_frames: int = 0) -> None:
        self.enter_frames, self.exit_frames = max(1, enter_frames), max(1, exit_frames)
        self.resume_frames = max(0, resume_frames)
        self._state: dict[int, tuple[bool, int]] = {}
        self._off_since: dict[int, int] = {}  # observations since the state turned off, within resume_frames

    def update(self, key: int, want_on: bool, want_off: bool) -> bool:
        """Feed one observation (``want_on``: inside the enter threshold; ``want_off``: beyond the exit one)."""
        on, count = self._state.get(key, (False, 0))
        if not on:
            since = self._off_since.pop(key, None)
            count = count + 1 if want_on else 0
            if count >= self.enter_frames or (want_on and since is not None):
                on, count = True, 0
            elif since is not None and since + 1 < self.resume_frames:
                self._off_since[key] = since + 1
        else:
            count = count + 1 if want_off else 0
            if count >= self.exit_frames:
                on, count = False, 0
                if self.resume_frames:
                    self._off_since[key] = 0
        self._state[key] = (on, count)
        return on

    def state(self, key: int) -> bool:
        """The current state of a key (False when never seen)."""
        return self._state.get(key, (False, 0))[0]

    def forget(self, keys: list[int] | None = None) -> None:
        """Drop the state of ended tracks (all when ``keys`` is None)."""
        if keys is None:
            self._state.clear()
            self._off_since.clear()
        for k in keys or ():
            self._state.pop(k, None)
            self._off_since.pop(k, None)


class GazeHysteresis(Hysteresis):
    """``looking_at_wearer`` per track id: enter after k frames with offset <= enter, exit after m frames > exit."""

    def __init__(self, enter_deg: float = 17.5, exit_deg: float = 17.5, enter_frames: int = 3,
                 exit_frames: int = 1, resume_frames: int = 0) -> None:
        super().__init__(enter_frames, exit_frames, resume_frames)
        self.enter_deg, self.exit_deg = enter_deg, exit_deg

    def observe(self, track_id: int, offset_deg: float, eyes_closed: bool = False) -> bool:
        """Feed one gaze offset (degrees) for a track, and whether its eyes are shut; returns whether it is
        looking at the wearer now."""
        return self.update(track_id, offset_deg <= self.enter_deg and not eyes_closed,
                           offset_deg > self.exit_deg or eyes_closed)
