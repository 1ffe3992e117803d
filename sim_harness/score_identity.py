"""Score the product's identity behaviour on recorded video: ``python -m peoplelens.sim_harness.score_identity``.

Nothing here detects, embeds or decides: every video is replayed through the product itself (the composition
root, :func:`peoplelens.lens.pipeline.build_system`, via :func:`peoplelens.sim_harness.replay.replay_video`) and
the scorer reads what the wearer would have heard and what the overlay would have shown:

* **names**: every NAME event, right when the truth says that person is in view at that moment (videos with no
  time-range truth have no enrolled person in view, so every name there is wrong); **wrong names shown**: frames in
  which a track carried a name the truth does not allow;
* **time to name**: first NAME event of a person minus the first time the truth says their face is toward the
  camera;
* **not enrolled**: tracks confirmed NOT_ENROLLED and the CLICK events, with the time from the first face in view
  to the first click;
* **tracking** (videos with MOT face boxes): IDF1, ID switches, recall, precision (motmetrics, IoU >= 0.3).

The people are the sample identities (``data/faces/enroll``) enrolled into a temporary store, or ``--people``.
The README's identity figures come from this command.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from peoplelens.sim_harness.records import ReplayResult
from peoplelens.sim_harness.truth import Truth, find_truth, load_truth

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv")


@dataclass
class VideoScore:
    """What the product did on one video, scored against its truth."""

    video: str
    frames: int
    names_right: list[tuple[float, str]] = field(default_factory=list)  # (t, name) of right NAME events
    names_wrong: list[tuple[float, str]] = field(default_factory=list)
    wrong_name_frames: int = 0  # frames in which a track showed a name the truth does not allow
    time_to_name_s: dict[str, float | None] = field(default_factory=dict)
    clicks: int = 0
    not_enrolled_tracks: int = 0
    first_face_s: float | None = None
    first_click_s: float | None = None
    tracking: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {k: v for k, v in self.__dict__.items()}


def score(result: ReplayResult, truth: Truth) -> VideoScore:
    """Score one replay against its truth (see the module docstring)."""
    out = VideoScore(Path(result.video).name, len(result.frames))
    for e in result.events:
        if e["sound"] == "name" and e.get("name"):
            ok = e["name"] in truth.names_at(e["t"])
            (out.names_right if ok else out.names_wrong).append((round(e["t"], 2), e["name"]))
        elif e["sound"] == "click":
            out.clicks += 1
            if out.first_click_s is None:
                out.first_click_s = round(e["t"], 2)
    not_enrolled: set[int] = set()
    for f in result.frames:
        allowed = truth.names_at(f.t)
        if any(t["identity"] == "known" and t.get("name") and t["name"] not in allowed for t in f.tracks):
            out.wrong_name_frames += 1
        if out.first_face_s is None and any(t.get("face_box") for t in f.tracks):
            out.first_face_s = round(f.t, 2)
        not_enrolled |= {t["track"] for t in f.tracks if t["identity"] == "not_enrolled"}
    out.not_enrolled_tracks = len(not_enrolled)
    first_named: dict[str, float] = {}
    for t, name in out.names_right:
        first_named.setdefault(name, t)
    out.time_to_name_s = {name: (round(first_named[name] - t0, 2) if name in first_named else None)
                          for name, t0 in truth.first_facing().items()}
    metrics = result.metrics
    out.tracking = {k: metrics[k] for k in ("idf1", "num_switches", "recall", "precision", "annotated_frames")
                    if k in metrics}
    return out


def score_videos(videos: list[Path], people_store: Any, config: dict[str, Any] | None = None,
                 progress: bool = True) -> list[VideoScore]:
    """Replay every video through one product system (reset between videos) and score it."""
    from peoplelens.lens.pipeline import build_system
    from peoplelens.sim_harness.replay import ReplayOptions, replay_video

    system = build_system(config or {}, people=people_store)
    scores = []
    try:
        for video in videos:
            system.reset()
            found = find_truth(video)
            truth = load_truth(found) if found else Truth(str(video))
            options = ReplayOptions(truth=str(found) if found else None, overlay=False, audio=False, report=False,
                                    progress=progress)
            result = replay_video(video, system, None, options, system.enrolled)
            scores.append(score(result, truth))
    finally:
        system.close()
    return scores


def summarise(scores: list[VideoScore]) -> dict[str, Any]:
    """Totals over every video."""
    right = sum(len(s.names_right) for s in scores)
    wrong = sum(len(s.names_wrong) for s in scores)
    return {"videos": len(scores), "frames": sum(s.frames for s in scores), "name_events_right": right,
            "name_events_wrong": wrong, "wrong_name_frames": sum(s.wrong_name_frames for s in scores),
            "clicks": sum(s.clicks for s in scores), "not_enrolled_tracks": sum(s.not_enrolled_tracks for s in scores)}


def format_table(scores: list[VideoScore]) -> str:
    """A table that fits 80 columns."""
    lines = [f"{'video':<24s} {'names ok/bad':>12s} {'to name':>8s} {'clicks':>6s} {'1st click':>9s} {'IDF1':>5s} "
             f"{'IDsw':>4s}"]
    for s in scores:
        to_name = ", ".join("-" if v is None else f"{v:.2f}s" for v in s.time_to_name_s.values()) or "-"
        click = "-" if s.first_click_s is None or s.first_face_s is None else f"{s.first_click_s - s.first_face_s:.2f}s"
        idf1, switches = s.tracking.get("idf1"), s.tracking.get("num_switches")
        lines.append(f"{s.video[:24]:<24s} {len(s.names_right):>5d}/{len(s.names_wrong):<6d} {to_name:>8s} "
                     f"{s.clicks:>6d} {click:>9s} {'-' if idf1 is None else f'{idf1:.2f}':>5s} "
                     f"{'-' if switches is None else switches:>4}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Score every sample video (or ``--videos``) and print the table; ``--json`` saves everything."""
    parser = argparse.ArgumentParser(prog="python -m peoplelens.sim_harness.score_identity", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=Path, default=None, help="a folder of videos (default: the sample videos)")
    parser.add_argument("--people", default=None, help="a people store (default: the sample people, enrolled now)")
    parser.add_argument("--json", type=Path, default=None, help="write the scores as JSON here")
    args = parser.parse_args(argv)
    from peoplelens.core.config import load_config
    from peoplelens.models.assets import default_manager
    from peoplelens.sim_harness.enrollment import enroll_folder, open_people

    manager = default_manager()
    folder = args.videos or manager.path("data/videos/hamilton_short_clip.mp4").parent
    videos = sorted(p for p in folder.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES)
    people = (open_people(args.people) if args.people
              else enroll_folder(manager.path("data/faces/enroll/lin_manuel_miranda/fr_01.jpg").parents[1]))
    try:
        print(people.description)
        scores = score_videos(videos, people.store, load_config(), progress=False)
    finally:
        people.close()
    print(format_table(scores))
    totals = summarise(scores)
    print("total: " + ", ".join(f"{k} {v}" for k, v in totals.items()))
    if args.json:
        args.json.write_text(json.dumps({"videos": [s.to_json() for s in scores], "total": totals}, indent=2))


if __name__ == "__main__":
    main()
