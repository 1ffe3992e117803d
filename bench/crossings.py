"""Two people cross, one in front of the other: does each keep one track? Our tracker and ByteTrack, through the
product.

``python -m peoplelens.bench.crossings [--scenes N] [--frames N] [--seed S] [--trackers ours,bytetrack] [--json F]``

Each scene is rendered in memory at 1920x1080 over the real pedestrian background (``bench.range_scenes``): a far
person (2.5-4 m) walks one way and a near one (1.3-2.2 m) the other, 20-30 degrees each (0.5-1 m/s over the default
2 s), crossing half-way, so that the near one's body hides the far one's face in the middle of the scene. Both are
the studio clip's cut-out body (a new pose every frame) with a different probe photo's face, adult or child height
at random. The frames go through :meth:`LensSystem.process` (the product's own entry point, reset per scene) with
``[tracking] tracker`` set on top of the user's config; each person is followed through the frame's
:class:`TrackView` whose face box overlaps theirs (IoU > 0.3; the far one is not scored on frames where its face
overlaps the near one's, which hides it). Per person: **switches** (the id changes between two frames where they
were matched), **tracks** (how many ids they had), **back** (their last id is their first: re-identification gave it
back after the occlusion) and, per scene, **shared** (an id seen on both people: the track, and its name, went over
to the other person).

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

import cv2
import numpy as np

from peoplelens.bench.range_scenes import (
    BACKGROUND_VIDEO,
    CAMERAS,
    SCALES,
    FacePhoto,
    PersonScale,
    RangeScenes,
    SceneError,
    face_alpha,
    load_faces,
    paste_person,
    read_frames,
    stand,
    video_frame_count,
)
from peoplelens.core.state import TrackView
from peoplelens.core.types import Frame, box_iou

if TYPE_CHECKING:
    from peoplelens.lens.pipeline import LensSystem

TRACKERS = {"ours": "people", "bytetrack": "bytetrack"}
MATCH_IOU = 0.3


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


def shared_ids(a: PersonPath, b: PersonPath) -> int:
    """Ids that were on both people."""
    return len({i for i in a.ids if i is not None} & {i for i in b.ids if i is not None})


def _place(scenes: RangeScenes, frame: np.ndarray, body_index: int, photo: FacePhoto, photo_alpha: np.ndarray,
           distance_m: float, azimuth_deg: float, size: PersonScale) -> np.ndarray:
    """Paste the studio body (frame ``body_index`` of its clip) standing ``distance_m`` away at ``azimuth_deg``
    with ``photo``'s face over hers; the face box in frame pixels."""
    intr, body = scenes.intrinsics, scenes.body(body_index)
    scale, offset = stand(intr, size, distance_m, azimuth_deg, float(body.box[3] - body.box[1]),
                          float(body.eyes[:, 0].mean()), float(body.box[3]))
    face_scale = intr.fx * size.iod_m / distance_m / photo.iod_px
    face_offset = paste_person(frame, body, scale, (offset[0], offset[1]), photo, photo_alpha, face_scale)
    return (photo.box.reshape(2, 2) * face_scale + face_offset).reshape(4).astype(np.float32)


def render_crossing(scenes: RangeScenes, faces: Sequence[FacePhoto], seed: int,
                    frames: int = 50) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The scene ``seed``: ``(frame, far face box, near face box)`` per frame, the near person drawn last."""
    rng = np.random.default_rng(seed)
    background = scenes.data / BACKGROUND_VIDEO
    start = int(rng.integers(0, max(1, video_frame_count(background) - frames)))
    far_m, near_m = float(rng.uniform(2.5, 4.0)), float(rng.uniform(1.3, 2.2))
    span, direction = float(rng.uniform(20.0, 30.0)), 1.0 if rng.random() < 0.5 else -1.0
    far_face, near_face = (faces[int(i)] for i in rng.choice(len(faces), 2, replace=False))
    far_alpha, near_alpha = face_alpha(far_face), face_alpha(near_face)  # once per scene
    far_size, near_size = (SCALES[str(rng.choice(["adult", "child"]))] for _ in range(2))
    far_pose, near_pose = int(rng.integers(0, 20)), int(rng.integers(0, 20))
    size = (scenes.camera.width, scenes.camera.height)
    for k, image in enumerate(read_frames(background, start, frames)):
        frame = image if image.shape[1::-1] == size else cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
        u = k / max(1, frames - 1) - 0.5
        far = _place(scenes, frame, far_pose + k % 40, far_face, far_alpha, far_m, direction * span * u, far_size)
        near = _place(scenes, frame, near_pose + k % 40, near_face, near_alpha, near_m, -direction * span * u,
                      near_size)
        yield frame, far, near


def _track_on(tracks: Sequence[TrackView], face_box: np.ndarray) -> int | None:
    """The id of the track whose face box overlaps ``face_box`` most (IoU > ``MATCH_IOU``)."""
    boxes = [(t.track_id, t.face_box) for t in tracks if t.face_box is not None]
    if not boxes:
        return None
    iou = box_iou(face_box[None], np.array([b for _, b in boxes], np.float32))[0]
    k = int(np.argmax(iou))
    return boxes[k][0] if iou[k] > MATCH_IOU else None


def ids_on(tracks: Sequence[TrackView], far_box: np.ndarray, near_box: np.ndarray) -> tuple[int | None, int | None]:
    """The far and the near person's track ids on one frame. Where the two faces overlap, the far one is behind
    the near one, hidden, and a track on its box is the near person's: the far one gets None there."""
    hidden = box_iou(far_box[None], near_box[None])[0, 0] > 0.0
    return (None if hidden else _track_on(tracks, far_box)), _track_on(tracks, near_box)


def follow_crossing(system: LensSystem, scenes: RangeScenes, faces: Sequence[FacePhoto], seed: int,
                    frames: int = 50) -> Iterator[tuple[list[TrackView], int | None, int | None]]:
    """The scene ``seed`` through ``system`` (reset first): per frame, the tracks it shows and the far and the near
    person's track ids (:func:`ids_on`)."""
    system.reset()
    for k, (image, far_box, near_box) in enumerate(render_crossing(scenes, faces, seed, frames)):
        tracks = system.process(Frame(image, k / 25.0, k)).tracks
        yield (tracks, *ids_on(tracks, far_box, near_box))


def run(data: Path, config: dict[str, Any], trackers: Sequence[str] = ("ours", "bytetrack"), scenes_n: int = 16,
        frames: int = 50, seed: int = 1000, say: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Every tracker on the same scenes; the report (per scene and totals)."""
    from peoplelens.lens.pipeline import build_system

    scenes = RangeScenes(data, CAMERAS["glasses"])
    faces = load_faces(data / "faces" / "probe")
    report: dict[str, Any] = {"scenes": scenes_n, "frames": frames, "seed": seed, "trackers": {}}
    for name in trackers:
        cfg = dict(config)
        cfg["tracking"] = {**cfg.get("tracking", {}), "tracker": TRACKERS[name]}
        system = build_system(cfg)
        rows = []
        try:
            for s in range(scenes_n):
                far, near = PersonPath(), PersonPath()
                for _, far_id, near_id in follow_crossing(system, scenes, faces, seed + s, frames):
                    far.ids.append(far_id)
                    near.ids.append(near_id)
                rows.append({"far": {"switches": far.switches, "tracks": far.tracks, "back": far.back},
                             "near": {"switches": near.switches, "tracks": near.tracks, "back": near.back},
                             "shared": shared_ids(far, near)})
                if say:
                    say(f"{name} scene {s + 1}/{scenes_n}: far {far.switches} switches, near {near.switches}, "
                        f"shared {rows[-1]['shared']}")
        finally:
            system.close()
        report["trackers"][name] = {"scenes": rows, "totals": _totals(rows)}
    return report


def _totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"switches_far": sum(r["far"]["switches"] for r in rows),
            "switches_near": sum(r["near"]["switches"] for r in rows),
            "scenes_with_a_switch": sum(1 for r in rows if r["far"]["switches"] or r["near"]["switches"]),
            "far_back_to_first_id": sum(1 for r in rows if r["far"]["back"]),
            "shared_ids": sum(r["shared"] for r in rows)}


def format_table(report: dict[str, Any]) -> str:
    """The trackers' totals side by side."""
    head = f"{'tracker':<10s} {'switches far/near':>18s} {'scenes with one':>16s} {'far back':>9s} {'shared ids':>11s}"
    lines = [f"{report['scenes']} crossings of {report['frames']} frames (seed {report['seed']}):", head]
    for name, entry in report["trackers"].items():
        t = entry["totals"]
        lines.append(f"{name:<10s} {t['switches_far']:>10d} / {t['switches_near']:<5d} "
                     f"{t['scenes_with_a_switch']:>16d} {t['far_back_to_first_id']:>9d} {t['shared_ids']:>11d}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Render the crossings, run the trackers, print the table (``--json`` saves the report)."""
    parser = argparse.ArgumentParser(prog="python -m peoplelens.bench.crossings", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", type=int, default=16, help="crossings per tracker")
    parser.add_argument("--frames", type=int, default=50, help="frames per crossing (2 s at 25 fps)")
    parser.add_argument("--seed", type=int, default=1000, help="the first scene's seed")
    parser.add_argument("--trackers", default="ours,bytetrack", help="which of: ours, bytetrack (comma-separated)")
    parser.add_argument("--json", type=Path, default=None, help="write the report here")
    args = parser.parse_args(argv)
    from peoplelens.core.config import load_config

    names = [n.strip() for n in args.trackers.split(",") if n.strip()]
    unknown = [n for n in names if n not in TRACKERS]
    if unknown or args.scenes < 1 or args.frames < 2:
        parser.error(f"trackers from {', '.join(TRACKERS)}; --scenes >= 1, --frames >= 2")
    assets = os.environ.get("PEOPLELENS_ASSETS")
    if not assets:
        parser.error("set PEOPLELENS_ASSETS (the shared assets folder: its data/ holds the photos and the videos)")
    try:
        report = run(Path(assets) / "data", load_config(), names, args.scenes, args.frames, args.seed,
                     say=lambda s: print(s, file=sys.stderr, flush=True))
    except SceneError as error:  # e.g. more frames than the background clip has
        parser.error(str(error))
    print(format_table(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
