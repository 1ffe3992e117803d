"""Leave-one-clip-out choice of the per-track gaze hysteresis (``gaze_eval --hysteresis``), of the lids'
threshold relative to the track's open eyes (``gaze_eval --lids``) and of how soon a look that stopped may
resume (``gaze_eval --resume``).

Every frame of the single-face annotated clips goes through the product's ``FaceAttributeEstimator`` once (its
readings: head pose and eyes); the product's own ``estimate_gaze``, :class:`OpenEyeReference` and
:class:`Hysteresis` then re-decide the sequence under each candidate (``gaze_enter_deg``, exit margin, enter /
exit frames; with ``--lids`` the lids' threshold; with ``--resume`` the resume window), scored at the annotated
frames. Each clip is scored with the candidate chosen on the other clips (min(precision, recall)), pooled. By
default every frame is an observation; ``--every N`` observes every N-th frame and holds the state in between (the
pipeline's ``faces_every``: 2), pooled over the N phases.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import cv2
import numpy as np

from peoplelens.lens.perception.face_attributes import FaceAttributeEstimator
from peoplelens.lens.perception.gaze import EyeReading, GazeOptions, Hysteresis, OpenEyeReference, estimate_gaze
from peoplelens.sim_harness.gaze_samples import Counts, Sample

ENTER_DEG = (12.5, 15.0, 17.5, 20.0)
EXIT_MARGIN_DEG = (0.0, 2.5, 5.0, 7.5)  # gaze_exit_deg - gaze_enter_deg
FRAMES = (1, 2, 3)  # gaze_enter_frames and gaze_exit_frames
GRID = ("enter", "margin", "enter_frames", "exit_frames")
Reading = tuple[float, float, EyeReading | None] | None


def clip_readings(samples: list[Sample], detector: Any, est: FaceAttributeEstimator,
                  ) -> dict[str, tuple[list[tuple[int, Reading]], dict[int, bool]]]:
    """Per single-face clip: (frame, (yaw, pitch, eye) of the largest face or None) for every frame up to the last
    annotated one, and the labels by frame."""
    out = {}
    for clip, video in sorted({s.clip: s.video for s in samples if s.rule in ("largest", "hamilton")}.items()):
        wanted = {s.frame: s.looking for s in samples if s.clip == clip}
        first = 82 if clip == "hamilton" else 0  # hamilton: shot 3, where the performer is the only face
        cap = cv2.VideoCapture(str(video))
        cap.set(cv2.CAP_PROP_POS_FRAMES, first)
        seq: list[tuple[int, Reading]] = []
        for index in range(first, max(wanted) + 1):
            ok, image = cap.read()
            if not ok:
                break
            faces = detector.detect(image)
            if len(faces) == 0:
                seq.append((index, None))
                continue
            a = est.estimate(image, faces[[int(np.argmax(faces.areas))]])[0]
            seq.append((index, (a.yaw, a.pitch, a.eye)))
        cap.release()
        out[clip] = (seq, wanted)
    return out


def decide(seq: list[tuple[int, Reading]], wanted: dict[int, bool], options: GazeOptions, enter_frames: int,
           exit_frames: int, open_readings: int = 75, resume_frames: int = 0, every: int = 1) -> Counts:
    """One track through the product's hysteresis (``resume_frames``: see :class:`Hysteresis`) and open-eye
    reference (``open_readings`` eye readings); counts at the annotated frames. ``every``: the face is observed on
    every ``every``-th frame and keeps its state in between, as with the pipeline's ``faces_every``; the counts
    are pooled over the ``every`` possible phases."""
    counts = Counts()
    for phase in range(every):
        hyst, lids, on = Hysteresis(enter_frames, exit_frames, resume_frames), OpenEyeReference(open_readings), False
        for k, (index, r) in enumerate(seq):
            if (k + phase) % every == 0:
                if r is None:
                    hyst.forget([1])
                    lids.forget([1])
                    on = False
                else:
                    open_aperture = lids.add(1, r[2].aperture) if r[2] is not None else None
                    g = estimate_gaze(r[0], r[1], r[2], options, open_aperture)
                    on = hyst.update(1, g.want_on(options), g.want_off(options))
            if index in wanted:
                counts.add(wanted[index], on)
    return counts


def _total(by_clip: dict[str, Counts], keep: list[str]) -> Counts:
    """The counts of the clips ``keep``, pooled."""
    t = Counts()
    for c in keep:
        t += by_clip[c]
    return t


def leave_one_clip_out(results: dict[Any, dict[str, Counts]], current: Any, label: str, *,
                       list_candidates: bool = True, show: Callable[[Any], object] = str) -> None:
    """Print each candidate of one setting pooled over every clip (``list_candidates``), then each clip scored with
    the candidate chosen on the other clips (min(precision, recall); ties go to the earlier candidate), pooled;
    ``show`` writes a chosen candidate."""
    clips = sorted(next(iter(results.values())))
    if list_candidates:
        for value in results:
            print(f"  {label} {value!s:5s}{' (product)' if value == current else '':10s} "
                  f"{_total(results[value], clips).line()}")
    pooled = Counts()
    for clip in clips:
        rest = [c for c in clips if c != clip]
        best = max(results, key=lambda v: _total(results[v], rest).worst())
        pooled += results[best][clip]
        print(f"  held out {clip:17s} {results[best][clip].line()}   chosen: {show(best)}")
    print(f"  {'pooled held-out':26s} {pooled.line()}")


def cross_validate(readings: dict[str, tuple[list[tuple[int, Reading]], dict[int, bool]]], base: GazeOptions,
                   enter_frames: int, exit_frames: int, open_readings: int, resume_frames: int, every: int = 1) -> None:
    """Print the current hysteresis, the pooled held-out result of the grid and the fit on everything (the
    product's open-eye reference and resume window throughout)."""
    clips = sorted(readings)

    def run(enter: float, margin: float, ef: int, xf: int) -> dict[str, Counts]:
        o = replace(base, gaze_enter_deg=enter, gaze_exit_deg=enter + margin)
        return {c: decide(*readings[c], o, ef, xf, open_readings, resume_frames, every) for c in clips}

    def named(candidate: tuple[float, float, int, int]) -> dict[str, float]:
        return dict(zip(GRID, candidate, strict=True))

    now = run(base.gaze_enter_deg, base.gaze_exit_deg - base.gaze_enter_deg, enter_frames, exit_frames)
    print(f"  {'defaults':26s} {_total(now, clips).line()}")
    results = {c: run(*c) for c in itertools.product(ENTER_DEG, EXIT_MARGIN_DEG, FRAMES, FRAMES)}
    leave_one_clip_out(results, None, "", list_candidates=False, show=named)
    best = max(results, key=lambda c: _total(results[c], clips).worst())
    print(f"  {'fit on all (optimistic)':26s} {_total(results[best], clips).line()}   {named(best)}")


RELATIVE = (0.0, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85)  # eyes_open_min_relative candidates
RESUME = (0, 2, 4, 6, 8, 10, 15)  # gaze_resume_frames candidates


def cross_validate_lids(readings: dict[str, tuple[list[tuple[int, Reading]], dict[int, bool]]], base: GazeOptions,
                        enter_frames: int, exit_frames: int, open_readings: int, resume_frames: int,
                        every: int = 1) -> None:
    """Leave-one-clip-out choice of ``eyes_open_min_relative`` (lids against the track's own open eyes), with the
    product's hysteresis."""
    leave_one_clip_out({q: {c: decide(*readings[c], replace(base, eyes_open_min_relative=q), enter_frames,
                                      exit_frames, open_readings, resume_frames, every) for c in readings}
                        for q in RELATIVE}, base.eyes_open_min_relative, "relative")


def cross_validate_resume(readings: dict[str, tuple[list[tuple[int, Reading]], dict[int, bool]]],
                          base: GazeOptions, enter_frames: int, exit_frames: int, open_readings: int,
                          resume_frames: int, every: int = 1) -> None:
    """Leave-one-clip-out choice of ``gaze_resume_frames`` (how soon after "looking" stopped one looking
    observation resumes it), with the product's other settings."""
    leave_one_clip_out({r: {c: decide(*readings[c], base, enter_frames, exit_frames, open_readings, r, every)
                            for c in readings} for r in RESUME}, resume_frames, "resume frames")
