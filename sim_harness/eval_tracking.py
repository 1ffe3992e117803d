"""Our tracker against a standard ByteTrack, both through the product.

``python -m peoplelens.sim_harness.eval_tracking [--trackers ours,bytetrack] [--clip VIDEO::TRUTH] [--json FILE]``

Each tracker is selected by configuration (``[tracking] tracker = "people"`` or ``"bytetrack"``, set on top of the
user's config, ``$PEOPLELENS_CONFIG``, as ``peoplelens run`` reads it) and the whole product is built with it
(:func:`peoplelens.lens.pipeline.build_system`); every clip is replayed through it
(:func:`peoplelens.sim_harness.replay.replay_video`) and only the product's own frames and events are scored:

* **people** (:mod:`peoplelens.sim_harness.person_metrics`): IDF1, ID switches, fragmentations, the most tracks one
  annotated person got, and **split** = (frame, person) pairs where one person shows as two tracks at once;
* **faces** (:mod:`peoplelens.sim_harness.metrics`): the replay's standard MOT metrics on face boxes (IDF1, ID
  switches), every unmatched face box counting as a false positive;
* **names** (:mod:`peoplelens.sim_harness.score_identity`): right / wrong NAME events, time to name, clicks, with the
  sample people enrolled;
* **ms/frame**: the track stage's time per frame (median, wall clock, as ``ProcessResult.timings`` reports it).

The clips: the royal-opera MOT face boxes of the sample bundle (9 frames, 12 people, two head turns), and two clips we
annotated (``tests/data``, each file says how): a man in profile who leaves the frame at its edge and comes back
(hamilton shot 2), and a dancer in front of a plain wall (liveportrait_s13). ``--clip VIDEO::TRUTH`` adds others.
"""

from __future__ import annotations

import argparse
import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from peoplelens.sim_harness.person_metrics import person_metrics
from peoplelens.sim_harness.score_identity import score
from peoplelens.sim_harness.truth import Truth, find_truth, load_truth

REPO_DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
#: (sample-bundle video, truth: a sample-bundle path or a file in tests/data)
DEFAULT_CLIPS = (
    ("data/videos/royal_opera_pedestrians_1080p25.mp4", "data/videos/royal_opera_pedestrians.faces_gt_mot.txt"),
    ("data/videos/hamilton_short_clip.mp4", "hamilton_profile_turn.mot.txt"),
    ("data/videos/talking_heads/liveportrait_s13.mp4", "s13_dancer.mot.txt"),
)
TRACKERS = {"ours": {"tracker": "people"}, "bytetrack": {"tracker": "bytetrack"}}


@dataclass
class ClipScore:
    """One tracker on one clip."""

    tracker: str
    clip: str
    people: dict[str, Any] = field(default_factory=dict)
    faces: dict[str, Any] = field(default_factory=dict)
    names: dict[str, Any] = field(default_factory=dict)
    track_ms: float = 0.0  # median time of the track stage per frame
    track_ms_mean: float = 0.0
    frames: int = 0


def default_clips() -> list[tuple[Path, Path]]:
    """The default (video, truth) pairs, resolved in the sample bundle and ``tests/data``."""
    from peoplelens.models.assets import default_manager

    manager = default_manager()
    out = []
    for video, truth in DEFAULT_CLIPS:
        t = REPO_DATA / truth if (REPO_DATA / truth).is_file() else manager.path(truth)
        out.append((manager.path(video), t))
    return out


def evaluate_clip(system: Any, tracker: str, video: Path, truth_path: Path) -> ClipScore:
    """Replay ``video`` through ``system`` (reset first) and score it (see the module docstring)."""
    from peoplelens.sim_harness.replay import ReplayOptions, replay_video

    system.reset()
    truth = load_truth(truth_path)
    ranges_file = find_truth(video)
    ranges = load_truth(ranges_file) if ranges_file else Truth(str(video))
    if ranges.boxes is not None:  # the file next to the video is boxes, not who is where: nobody enrolled in view
        ranges = Truth(str(video))
    options = ReplayOptions(truth=str(truth_path), overlay=False, audio=False, report=False, progress=False)
    result = replay_video(video, system, None, options, system.enrolled)
    named = score(result, ranges)
    times = [f.timings.get("track", 0.0) * 1000.0 for f in result.frames]
    faces = {k: result.metrics.get(k) for k in ("idf1", "num_switches", "recall", "precision")}
    return ClipScore(tracker, video.name, person_metrics(truth, result), faces,
                     {"right": len(named.names_right), "wrong": len(named.names_wrong),
                      "time_to_name_s": named.time_to_name_s, "clicks": named.clicks,
                      "wrong_name_frames": named.wrong_name_frames},
                     round(statistics.median(times), 3), round(statistics.fmean(times), 3), len(result.frames))


def run(clips: list[tuple[Path, Path]], people_store: Any, variants: dict[str, dict[str, Any]] | None = None,
        config: dict[str, Any] | None = None) -> list[ClipScore]:
    """Every tracker variant (``[tracking]`` settings by name) through the product on every clip."""
    from peoplelens.lens.pipeline import build_system

    scores = []
    for name, tracking in (variants or TRACKERS).items():
        cfg = dict(config or {})
        cfg["tracking"] = {**cfg.get("tracking", {}), **tracking}
        system = build_system(cfg, people=people_store)
        try:
            for video, truth in clips:
                scores.append(evaluate_clip(system, name, video, truth))
        finally:
            system.close()
    return scores


def _name_cell(s: ClipScore) -> str:
    times = [v for v in s.names["time_to_name_s"].values()]
    to_name = ",".join("-" if v is None else f"{v:.2f}s" for v in times) or "-"
    return f"{s.names['right']}/{s.names['wrong']} {to_name}"


def format_table(scores: list[ClipScore]) -> str:
    """Trackers side by side per clip."""
    head = (f"{'clip':<22s} {'tracker':<10s} {'IDF1':>5s} {'IDsw':>4s} {'frag':>4s} {'split':>5s} {'trk/p':>5s} "
            f"{'faceIDF1':>8s} {'fIDsw':>5s} {'names ok/bad, to name':>22s} {'clicks':>6s} {'ms/frame':>8s}")
    lines = [head]
    for s in sorted(scores, key=lambda s: s.clip):
        p, f = s.people, s.faces
        idf1 = "-" if p.get("idf1") is None else f"{p['idf1']:.2f}"
        fidf1 = "-" if f.get("idf1") is None else f"{f['idf1']:.2f}"
        lines.append(f"{s.clip[:22]:<22s} {s.tracker[:10]:<10s} {idf1:>5s} {p['num_switches']:>4d} "
                     f"{p['num_fragmentations']:>4d} {p['split_frames']:>5d} {p['tracks_per_person_max']:>5d} "
                     f"{fidf1:>8s} {f.get('num_switches', '-'):>5} {_name_cell(s):>22s} {s.names['clicks']:>6d} "
                     f"{s.track_ms:>8.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Run both trackers on the clips, print the table; ``--json`` saves everything."""
    parser = argparse.ArgumentParser(prog="python -m peoplelens.sim_harness.eval_tracking", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip", action="append", default=[], metavar="VIDEO::TRUTH",
                        help="a video and its MOT face boxes (repeatable; default: the three clips above)")
    parser.add_argument("--trackers", default="ours,bytetrack", help="which of: ours, bytetrack (comma-separated)")
    parser.add_argument("--people", default=None, help="a people store (default: the sample people, enrolled now)")
    parser.add_argument("--json", type=Path, default=None, help="write the scores as JSON here")
    args = parser.parse_args(argv)
    from peoplelens.core.config import load_config
    from peoplelens.models.assets import default_manager
    from peoplelens.sim_harness.enrollment import enroll_folder, open_people

    clips = [(Path(v), Path(t)) for v, t in (c.split("::", 1) for c in args.clip)] if args.clip else default_clips()
    names = [n.strip() for n in args.trackers.split(",") if n.strip()]
    unknown = [n for n in names if n not in TRACKERS]
    if unknown:
        parser.error(f"unknown tracker(s) {', '.join(unknown)}; choose from {', '.join(TRACKERS)}")
    manager = default_manager()
    people = (open_people(args.people) if args.people
              else enroll_folder(manager.path("data/faces/enroll/lin_manuel_miranda/fr_01.jpg").parents[1]))
    try:
        print(people.description)
        # the user's config ($PEOPLELENS_CONFIG, as `peoplelens run` reads it), each tracker set on top
        scores = run(clips, people.store, {n: TRACKERS[n] for n in names}, load_config())
    finally:
        people.close()
    print(format_table(scores))
    print("IDF1/IDsw/frag/split/trk/p: person level (tracks on unannotated people ignored); faceIDF1/fIDsw: face "
          "boxes, every unmatched box a false positive; ms/frame: median track stage time")
    if args.json:
        args.json.write_text(json.dumps([s.__dict__ for s in scores], indent=2))


if __name__ == "__main__":
    main()
