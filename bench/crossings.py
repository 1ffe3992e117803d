"""People cross, one in front of another: does each keep one track? Our tracker and ByteTrack, through the product.

``python -m peoplelens.bench.crossings [--kind pair|crowd|away] [--scenes N] [--frames N] [--seed S]
[--trackers ours,bytetrack] [--json F]``

Each scene is rendered in memory at 1920x1080 over the real pedestrian background (``bench.crossing_scenes``):
``pair``, a far person (2.5-4 m) walking one way and a near one (1.3-2.2 m) the other, the near one's body hiding the
far one's face half-way; ``crowd``, three people, the near one stopping in front of the other two for a second or
more while the wearer turns their head 8-15 degrees and back; ``away``, two people whom the wearer turns away from,
75-100 degrees, so both leave the view, and back to a second or more later, each having stepped aside meanwhile
(``bench.away_scenes``: a 360-degree panorama of the clip's frames). Each is the studio clip's cut-out body (a new pose
every frame) with a different probe photo's face, adult or child height at random. The frames go through
:meth:`LensSystem.process` (the product's own entry point, reset per scene; no IMU, so the head turn is read from the
video as it would be) with ``[tracking] tracker`` set on top of the user's config; each person is followed through
the frame's :class:`TrackView` whose face box overlaps theirs (IoU > 0.3; a person is not scored on frames where
their face overlaps a nearer one's, which hides it). Per person: **switches** (the id changes between two frames
where they were matched), **tracks** (how many ids they had), **back** (their last id is their first:
re-identification gave it back after the occlusion or the time out of view) and, per scene, **shared** (ids seen on
two people: the track, and its name, went over to another person). And the People Map's **direction error**: each
matched person's world azimuth in the product's People Map against their true bearing (their face box's camera
azimuth plus the wearer's true head yaw), median and p95 over the frames where the head is still and where it turns
(>= 20 degrees a second).

The scenes are generic (any photo, random distances, speeds and sizes), not the annotated clips: a tracker rule is
judged here on occlusions in general. Nothing is written to disk but ``--json``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from peoplelens.bench.away_scenes import render_away
from peoplelens.bench.crossing_scenes import render_crossing, render_crowd
from peoplelens.bench.range_scenes import (
    CAMERAS,
    FPS,
    FacePhoto,
    RangeScenes,
    SceneError,
    load_faces,
    told_the_camera,
)
from peoplelens.core.state import ProcessResult, TrackView, wrap_deg
from peoplelens.core.types import Frame, box_iou
from peoplelens.lens.perception.geometry import CameraIntrinsics

if TYPE_CHECKING:
    from peoplelens.lens.pipeline import LensSystem

TRACKERS = {"ours": "people", "bytetrack": "bytetrack"}
ROLES = {"pair": ("far", "near"), "crowd": ("far", "middle", "near"), "away": ("far", "near")}  # far to near
FRAMES = {"pair": 50, "crowd": 75, "away": 190}  # a scene's default length: 2, 3 and 7.6 s at 25 fps
MATCH_IOU = 0.3
GAP_FRAMES = 10  # unmatched frames in a row (0.4 s at 25 fps) that make a match after them a return
TURNING_DPS = 20.0  # a frame whose head turns at least this fast (degrees a second) counts as turning


@dataclass
class PersonPath:
    """One person's track id on every frame (None: no track's face box on theirs)."""

    ids: list[int | None] = field(default_factory=list)

    @property
    def switches(self) -> int:
        """Id changes between consecutive frames where the person was matched."""
        seen = [i for i in self.ids if i is not None]
        return sum(1 for a, b in zip(seen, seen[1:], strict=False) if a != b)

    @property
    def tracks(self) -> int:
        """Distinct ids the person had."""
        return len({i for i in self.ids if i is not None})

    @property
    def back(self) -> bool:
        """The person ends with the id they started with."""
        seen = [i for i in self.ids if i is not None]
        return bool(seen) and seen[0] == seen[-1]

    @property
    def seen_again(self) -> bool:
        """The person was matched after ``GAP_FRAMES`` or more unmatched frames that followed a match (so that
        :attr:`back` says something about re-identification)."""
        gap, matched = 0, False
        for i in self.ids:
            if i is None:
                gap += 1
                continue
            if matched and gap >= GAP_FRAMES:
                return True
            matched, gap = True, 0
        return False


def shared_ids(a: PersonPath, b: PersonPath) -> int:
    """Ids that were on both people."""
    return len({i for i in a.ids if i is not None} & {i for i in b.ids if i is not None})


def _track_on(tracks: Sequence[TrackView], face_box: np.ndarray) -> int | None:
    """The id of the track whose face box overlaps ``face_box`` most (IoU > ``MATCH_IOU``)."""
    boxes = [(t.track_id, t.face_box) for t in tracks if t.face_box is not None]
    if not boxes:
        return None
    iou = box_iou(face_box[None], np.array([b for _, b in boxes], np.float32))[0]
    k = int(np.argmax(iou))
    return boxes[k][0] if iou[k] > MATCH_IOU else None


def ids_on(tracks: Sequence[TrackView], far_box: np.ndarray, near_box: np.ndarray) -> tuple[int | None, int | None]:
    """The far and the near person's track ids on one frame (:func:`ids_of` for two people)."""
    far_id, near_id = ids_of(tracks, [far_box, near_box])
    return far_id, near_id


def ids_of(tracks: Sequence[TrackView], boxes: Sequence[np.ndarray | None]) -> list[int | None]:
    """Each person's track id on one frame, the people ordered far to near (a box of None: out of view, no id).
    Where a face overlaps a nearer one's, it is behind it, hidden, and a track on its box is the nearer person's:
    the farther one gets None there."""
    out: list[int | None] = []
    for i, box in enumerate(boxes):
        if box is None:
            out.append(None)
            continue
        nearer = np.array([b for b in boxes[i + 1:] if b is not None], np.float32).reshape(-1, 4)
        hidden = bool(len(nearer)) and bool((box_iou(box[None], nearer)[0] > 0.0).any())
        out.append(None if hidden else _track_on(tracks, box))
    return out


def _roles(kind: str) -> tuple[str, ...]:
    """The people of a ``kind`` scene, far to near (:class:`SceneError` for an unknown kind)."""
    if kind not in ROLES:
        raise SceneError(f"no {kind!r} scenes; the kinds are {', '.join(ROLES)}")
    return ROLES[kind]


def follow_crossing(system: LensSystem, scenes: RangeScenes, faces: Sequence[FacePhoto], seed: int,
                    frames: int = 50) -> Iterator[tuple[list[TrackView], int | None, int | None]]:
    """The pair scene ``seed`` through ``system`` (reset first): per frame, the tracks it shows and the far and the
    near person's track ids (:func:`ids_on`)."""
    for tracks, (far_id, near_id) in follow_scene(system, scenes, faces, seed, frames, "pair"):
        yield tracks, far_id, near_id


def scene_frames(system: LensSystem, scenes: RangeScenes, faces: Sequence[FacePhoto], seed: int, frames: int,
                 kind: str) -> Iterator[tuple[ProcessResult, list[np.ndarray | None], float]]:
    """The ``kind`` scene ``seed`` through ``system`` (reset first): per frame, the product's result, each
    person's face box, far to near (None: out of view), and the wearer's true head yaw (degrees; 0 in pairs)."""
    _roles(kind)
    system.reset()
    rendered: Iterator[tuple[np.ndarray, Sequence[np.ndarray | None], float]]
    if kind == "pair":
        rendered = ((image, [far, near], 0.0) for image, far, near in render_crossing(scenes, faces, seed, frames))
    elif kind == "crowd":
        rendered = render_crowd(scenes, faces, seed, frames)
    else:
        rendered = render_away(scenes, faces, seed, frames)
    for k, (image, boxes, yaw) in enumerate(rendered):
        yield system.process(Frame(image, k / FPS, k)), list(boxes), yaw


def follow_scene(system: LensSystem, scenes: RangeScenes, faces: Sequence[FacePhoto], seed: int, frames: int,
                 kind: str) -> Iterator[tuple[list[TrackView], list[int | None]]]:
    """The ``kind`` scene ``seed`` through ``system`` (reset first): per frame, the tracks it shows and each
    person's track id, far to near (:func:`ids_of`)."""
    for result, boxes, _ in scene_frames(system, scenes, faces, seed, frames, kind):
        yield result.tracks, ids_of(result.tracks, boxes)


def direction_errors(result: ProcessResult, boxes: Sequence[np.ndarray | None], ids: Sequence[int | None],
                     head_yaw_deg: float, intrinsics: CameraIntrinsics) -> list[float]:
    """Each matched person's People Map azimuth minus their true world bearing (degrees, wrapped): their face box
    centre's camera azimuth plus the wearer's true head yaw. People out of view or not matched are left out."""
    people = {p.track_id: p for p in result.people}
    errors = []
    for box, track_id in zip(boxes, ids, strict=True):
        if box is None or track_id is None or track_id not in people:
            continue
        azimuth = float(intrinsics.pixel_to_angles((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)[0])
        errors.append(wrap_deg(people[track_id].azimuth_deg - (azimuth + head_yaw_deg)))
    return errors


def _spread(errors: Sequence[float]) -> dict[str, float | int | None]:
    """Median and p95 of absolute direction errors (degrees), and how many."""
    a = np.abs(np.asarray(errors, np.float64))
    return {"median_deg": round(float(np.median(a)), 2) if len(a) else None,
            "p95_deg": round(float(np.percentile(a, 95)), 2) if len(a) else None, "n": len(a)}


def run(data: Path, config: dict[str, Any], trackers: Sequence[str] = ("ours", "bytetrack"), scenes_n: int = 16,
        frames: int = 50, seed: int = 1000, say: Callable[[str], None] | None = None,
        kind: str = "pair") -> dict[str, Any]:
    """Every tracker on the same scenes; the report (per scene and totals)."""
    from peoplelens.lens.pipeline import build_system

    scenes = RangeScenes(data, CAMERAS["glasses"])
    faces = load_faces(data / "faces" / "probe")
    roles = _roles(kind)
    report: dict[str, Any] = {"kind": kind, "scenes": scenes_n, "frames": frames, "seed": seed, "people": list(roles),
                              "trackers": {}}
    for name in trackers:
        cfg = told_the_camera(config, scenes.camera)  # the bearings are scored with the scenes' camera
        cfg["tracking"] = {**cfg.get("tracking", {}), "tracker": TRACKERS[name]}
        system = build_system(cfg)
        rows = []
        direction: dict[str, list[float]] = {"still": [], "turning": []}
        try:
            for s in range(scenes_n):
                paths = [PersonPath() for _ in roles]
                previous_yaw = 0.0
                for result, boxes, yaw in scene_frames(system, scenes, faces, seed + s, frames, kind):
                    ids = ids_of(result.tracks, boxes)
                    for path, track_id in zip(paths, ids, strict=True):
                        path.ids.append(track_id)
                    turning = abs(yaw - previous_yaw) * FPS >= TURNING_DPS
                    direction["turning" if turning else "still"] += direction_errors(result, boxes, ids, yaw,
                                                                                     scenes.intrinsics)
                    previous_yaw = yaw
                row: dict[str, Any] = {role: {"switches": p.switches, "tracks": p.tracks, "back": p.back,
                                              "seen_again": p.seen_again}
                                       for role, p in zip(roles, paths, strict=True)}
                row["shared"] = sum(shared_ids(a, b) for i, a in enumerate(paths) for b in paths[i + 1:])
                rows.append(row)
                if say:
                    say(f"{name} scene {s + 1}/{scenes_n}: " + ", ".join(
                        f"{role} {row[role]['switches']} switches" for role in roles) + f", shared {row['shared']}")
        finally:
            system.close()
        totals = _totals(rows, roles, _leaving(kind, roles))
        totals["direction_error"] = {k: _spread(v) for k, v in direction.items()}
        report["trackers"][name] = {"scenes": rows, "totals": totals}
    return report


def _leaving(kind: str, roles: Sequence[str]) -> Sequence[str]:
    """The people who go out of sight in a ``kind`` scene: everyone when the wearer turns away, else those
    hidden behind someone nearer."""
    return roles if kind == "away" else roles[:-1]


def _totals(rows: list[dict[str, Any]], roles: Sequence[str], leaving: Sequence[str]) -> dict[str, Any]:
    totals: dict[str, Any] = {f"switches_{r}": sum(row[r]["switches"] for row in rows) for r in roles}
    totals["scenes_with_a_switch"] = sum(1 for row in rows if any(row[r]["switches"] for r in roles))
    totals.update({f"{r}_back_to_first_id": sum(1 for row in rows if row[r]["back"]) for r in leaving})
    totals.update({f"{r}_seen_again": sum(1 for row in rows if row[r].get("seen_again")) for r in leaving})
    totals["shared_ids"] = sum(row["shared"] for row in rows)
    return totals


def format_table(report: dict[str, Any]) -> str:
    """The trackers' totals side by side."""
    roles = report.get("people", ROLES["pair"])
    hidden = _leaving(report.get("kind", "pair"), roles)
    switches, back = f"switches {'/'.join(roles)}", f"back {'/'.join(hidden)}"
    again = f"seen again {'/'.join(hidden)}"
    head = (f"{'tracker':<10s} {switches:>24s} {'scenes with one':>16s} {back:>14s} {'shared ids':>11s} "
            f"{again:>20s}")
    lines = [f"{report['scenes']} {report.get('kind', 'pair')} crossings of {report['frames']} frames "
             f"(seed {report['seed']}):", head]
    for name, entry in report["trackers"].items():
        t = entry["totals"]
        sw = " / ".join(str(t[f"switches_{r}"]) for r in roles)
        bk = " / ".join(str(t[f"{r}_back_to_first_id"]) for r in hidden)
        ag = " / ".join(str(t.get(f"{r}_seen_again", "-")) for r in hidden)
        lines.append(f"{name:<10s} {sw:>24s} {t['scenes_with_a_switch']:>16d} {bk:>14s} {t['shared_ids']:>11d} "
                     f"{ag:>20s}")
    lines.append(f"People Map direction error, median / p95 deg (person-frames): head still; turning >= "
                 f"{TURNING_DPS:g} deg/s")
    for name, entry in report["trackers"].items():
        spread = entry["totals"].get("direction_error", {})
        parts = [f"{d['median_deg']:.2f} / {d['p95_deg']:.2f} ({d['n']})" if d.get("n") else "-"
                 for d in (spread.get("still", {}), spread.get("turning", {}))]
        lines.append(f"{name:<10s} {parts[0]}; {parts[1]}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Render the crossings, run the trackers, print the table (``--json`` saves the report)."""
    parser = argparse.ArgumentParser(prog="python -m peoplelens.bench.crossings", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", type=int, default=16, help="crossings per tracker")
    parser.add_argument("--kind", choices=sorted(ROLES), default="pair",
                        help="pair: two people cross; crowd: three, the near one stops in front, the wearer turns; "
                             "away: the wearer turns away from two people and back")
    parser.add_argument("--frames", type=int, default=None,
                        help="frames per scene (default: 50 for pairs, 75 for crowds, 190 for away: 2, 3 and 7.6 s "
                             "at 25 fps)")
    parser.add_argument("--seed", type=int, default=1000, help="the first scene's seed")
    parser.add_argument("--trackers", default="ours,bytetrack", help="which of: ours, bytetrack (comma-separated)")
    parser.add_argument("--json", type=Path, default=None, help="write the report here")
    args = parser.parse_args(argv)
    from peoplelens.core.config import load_config

    names = [n.strip() for n in args.trackers.split(",") if n.strip()]
    unknown = [n for n in names if n not in TRACKERS]
    frames = args.frames if args.frames is not None else FRAMES[args.kind]
    if unknown or args.scenes < 1 or frames < 2:
        parser.error(f"trackers from {', '.join(TRACKERS)}; --scenes >= 1, --frames >= 2")
    assets = os.environ.get("PEOPLELENS_ASSETS")
    if not assets:
        parser.error("set PEOPLELENS_ASSETS (the shared assets folder: its data/ holds the photos and the videos)")
    try:
        report = run(Path(assets) / "data", load_config(), names, args.scenes, frames, args.seed,
                     say=lambda s: print(s, file=sys.stderr, flush=True), kind=args.kind)
    except SceneError as error:  # e.g. more frames than the background clip has
        parser.error(str(error))
    print(format_table(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
