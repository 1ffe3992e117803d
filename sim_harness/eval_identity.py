"""Measure identity thresholds and evaluate tracking + identity over time on the sample videos.

``python -m peoplelens.sim_harness.eval_identity thresholds``
    genuine / impostor cosine distributions on ``pairs/faces_pairs.csv`` (detect -> align -> embed), on the
    aligned small-LFW pairs and open-set probe-vs-gallery (``faces/probe`` against all ``faces/enroll``), the
    EER, and the accept / reject thresholds derived from them (the defaults in ``peoplelens.lens.identity``).
``python -m peoplelens.sim_harness.eval_identity videos [--stride N] [--model det_2.5g]``
    enrols every ``faces/enroll`` identity, runs face detection + embedding +
    :class:`peoplelens.lens.tracking.PersonTracker`
    + :class:`peoplelens.lens.identity.IdentityTracker` on every sample video and prints tracks, per-track identity
    precision / recall, wrong names ever confirmed, time to confirm and (royal opera) IDF1 / ID switches.
``python -m peoplelens.sim_harness.eval_identity quality``
    the face-quality factors on the videos (what the ramps in ``peoplelens.lens.face_quality`` are set from).
"""

from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from peoplelens.core.state import IdentityState
from peoplelens.core.types import box_iou
from peoplelens.lens.face_quality import (
    FaceQualityConfig,
    face_qualities,
    inter_ocular_px,
    laplacian_variance,
    nose_offset,
)
from peoplelens.lens.identity import IdentityConfig, IdentityGallery, IdentityTracker
from peoplelens.lens.tracking import FaceReidCost, PersonTracker, TrackerConfig, build_observations
from peoplelens.models.assets import AssetManager, default_manager
from peoplelens.models.evaluate_faces import PairScores, largest_face_embedding, lfw_pair_scores, photo_pair_scores
from peoplelens.models.face_detector import FaceDetector, FaceDetectorOptions, create_face_detector
from peoplelens.models.face_embedder import FaceEmbedder

# --------------------------------------------------------------------------------------------- thresholds


def describe(name: str, s: np.ndarray) -> str:
    """One line: n, min, mean, percentiles, max of a score array."""
    if len(s) == 0:
        return f"{name:22s} n=0"
    p = np.percentile(s, [1, 5, 50, 95, 99, 99.9])
    return (f"{name:22s} n={len(s):4d} min={s.min():+.3f} mean={s.mean():+.3f} p1={p[0]:+.3f} p5={p[1]:+.3f} "
            f"p50={p[2]:+.3f} p95={p[3]:+.3f} p99={p[4]:+.3f} p99.9={p[5]:+.3f} max={s.max():+.3f}")


def enrol_gallery(
    root: Path, detector: FaceDetector, embedder: FaceEmbedder, exclude: set[str] | None = None
) -> IdentityGallery:
    """Gallery from ``root/<name>/*.jpg`` (largest face of each photo), raw embeddings."""
    names: list[str] = []
    vectors, owner = [], []
    for person in sorted(p for p in root.iterdir() if p.is_dir()):
        if exclude and person.name in exclude:
            continue
        idx = len(names)
        names.append(person.name)
        for photo in sorted(person.glob("*.jpg")):
            v = largest_face_embedding(photo, detector, embedder)
            if v is not None:
                vectors.append(v)
                owner.append(idx)
    return IdentityGallery(names, np.stack(vectors), np.asarray(owner))


@dataclass
class OpenSetScores:
    """Probe photos against an enrolment gallery: best cosine to the true name and to any other name."""

    genuine: list[float] = field(default_factory=list)  # best score of the probe's own name
    impostor: list[float] = field(default_factory=list)  # best score over all other names
    rank1_errors: int = 0


def probe_scores(manager: AssetManager, detector: FaceDetector, embedder: FaceEmbedder) -> OpenSetScores:
    """Every probe photo against the whole enrolment gallery."""
    enroll = manager.path("data/faces/enroll/barack_obama/fr_01.jpg").parents[1]
    gallery = enrol_gallery(enroll, detector, embedder)
    out = OpenSetScores()
    for person in sorted((enroll.parent / "probe").iterdir()):
        for photo in sorted(person.glob("*.jpg")):
            v = largest_face_embedding(photo, detector, embedder)
            if v is None:
                continue
            per_name = gallery.scores(v)
            true = gallery.names.index(person.name)
            others = np.delete(per_name, true)
            out.genuine.append(float(per_name[true]))
            out.impostor.append(float(others.max()))
            out.rank1_errors += int(np.argmax(per_name) != true)
    return out


def cmd_thresholds(model: str, embedder_name: str = "arcface_mobileface128") -> None:
    """Print the score distributions and the thresholds derived from them."""
    from peoplelens.models.face_embedder import FaceEmbedderOptions

    manager = default_manager()
    embedder = FaceEmbedder.from_registry(FaceEmbedderOptions(model=embedder_name), manager=manager)
    detector = create_face_detector(FaceDetectorOptions(model=model, pad_retry=True), manager=manager)
    pairs, skipped = photo_pair_scores(manager.path("data/pairs/faces_pairs.csv"), detector, embedder)
    lfw = lfw_pair_scores(manager.path("data/pairs/small_lfw_pairs.csv"), embedder)
    probes = probe_scores(manager, detector, embedder)
    print(f"== faces_pairs.csv, {model} alignment + {embedder_name} ({skipped} pairs skipped: no face)")
    print(describe("genuine pairs", pairs.genuine))
    print(describe("impostor pairs", pairs.impostor))
    eer, t_eer = pairs.eer()
    print(f"EER = {eer:.2%} at cosine {t_eer:.3f}")
    print("== small_lfw_pairs.csv (aligned crops)")
    print(describe("genuine pairs", lfw.genuine))
    print(describe("impostor pairs", lfw.impostor))
    print("== open set: faces/probe vs the whole faces/enroll gallery (best cosine per name)")
    g, i = np.array(probes.genuine), np.array(probes.impostor)
    print(describe("true name best", g))
    print(describe("best other name", i))
    print(f"rank-1 errors: {probes.rank1_errors} of {len(g)}")
    impostor_all = np.concatenate([pairs.impostor, lfw.impostor, i])
    genuine_all = np.concatenate([pairs.genuine, lfw.genuine, g])
    both = PairScores(genuine_all, impostor_all)
    eer_all, t_all = both.eer()
    imp_max, imp_p999 = float(impostor_all.max()), float(np.percentile(impostor_all, 99.9))
    imp_p99 = float(np.percentile(impostor_all, 99))
    cfg = IdentityConfig()
    print("== all impostor scores together (pairs + lfw + best-other-name)")
    print(describe("impostor (all)", impostor_all))
    print(describe("genuine (all)", genuine_all))
    print(f"EER (all) = {eer_all:.2%} at {t_all:.3f}; impostor max {imp_max:.3f}, p99.9 {imp_p999:.3f}, "
          f"p99 {imp_p99:.3f}")
    for name, thr in (("accept", cfg.accept_threshold), ("reject", cfg.reject_threshold)):
        far, frr = both.rates(thr)
        print(f"{name} threshold {thr:.2f} (peoplelens.lens.identity default): per-face FAR {far:.2%}, FRR {frr:.2%}")
    print(f"suggested: accept >= impostor max + 0.10 = {imp_max + 0.10:.2f} on the quality-weighted mean; "
          f"reject below impostor p99 = {imp_p99:.2f}")


# --------------------------------------------------------------------------------------------- videos


@dataclass
class TrackRecord:
    """What one track did over a video."""

    track_id: int
    frames: list[int] = field(default_factory=list)
    face_frames: list[int] = field(default_factory=list)
    face_x: list[float] = field(default_factory=list)  # face centre x per face frame
    known_frames: list[tuple[int, str]] = field(default_factory=list)  # frames reported KNOWN, with the name
    states: list[tuple[int, IdentityState, str | None]] = field(default_factory=list)  # on change
    confirmed_names: set[str] = field(default_factory=set)
    first_face_t: float | None = None
    confirm_t: float | None = None


def read_frames(path: Path, start: int, stop: int, stride: int):
    """Yield (index, timestamp, BGR frame) for frames ``start, start+stride, ... < stop``; seeks to start."""
    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    if start:
        cap.set(cv2.CAP_PROP_POS_FRAMES, start)
    i = start
    try:
        while i < stop:
            ok, frame = cap.read()
            if not ok:
                break
            if (i - start) % stride == 0:
                yield i, i / fps, frame
            i += 1
    finally:
        cap.release()


class FaceTrackingRun:
    """Face detection + embedding + quality + tracking + identity on frames; one per video."""

    def __init__(self, detector: FaceDetector, embedder: FaceEmbedder, gallery: IdentityGallery | None,
                 tracker_config: TrackerConfig | None = None, identity_config: IdentityConfig | None = None,
                 quality_config: FaceQualityConfig | None = None) -> None:
        self.detector, self.embedder = detector, embedder
        tc = tracker_config or TrackerConfig()
        self.tracker = PersonTracker(tc, cost=FaceReidCost(min_cosine=tc.reid_threshold))
        self.identity = IdentityTracker(gallery, identity_config)
        self.quality_config = quality_config
        self.records: dict[int, TrackRecord] = {}

    def step(self, index: int, t: float, frame: np.ndarray):
        """Process one frame; returns the tracks reported for it."""
        faces = self.detector.detect(frame)
        crops = self.embedder.align(frame, faces.keypoints)
        faces.embeddings = self.embedder.embed_aligned(crops)
        quality = face_qualities(faces.keypoints, faces.scores, crops, config=self.quality_config)
        tracks = self.tracker.update(t, build_observations(None, faces, quality))
        for fresh, old in self.tracker.merges:
            self.identity.merge(fresh, old)
            if fresh in self.records:
                rec = self.records.pop(fresh)
                tgt = self.records.setdefault(old, TrackRecord(old))
                tgt.frames += rec.frames
                tgt.face_frames += rec.face_frames
                tgt.face_x += rec.face_x
                tgt.known_frames += rec.known_frames
        self.identity.update(t, tracks)
        for tr in tracks:
            rec = self.records.setdefault(tr.track_id, TrackRecord(tr.track_id))
            rec.frames.append(index)
            ident = self.identity.get(tr.track_id)
            if tr.face_visible:
                rec.face_frames.append(index)
                fb = tr.observation.face_box
                rec.face_x.append(float(fb[0] + fb[2]) / 2)
            if ident.state is IdentityState.KNOWN and ident.name:
                rec.known_frames.append((index, ident.name))
            if ident.first_face_t is not None and rec.first_face_t is None:
                rec.first_face_t = ident.first_face_t
            if not rec.states or rec.states[-1][1:] != (ident.state, ident.name):
                rec.states.append((index, ident.state, ident.name))
                if ident.state is IdentityState.KNOWN and ident.name:
                    rec.confirmed_names.add(ident.name)
                if ident.state in (IdentityState.KNOWN, IdentityState.NOT_ENROLLED) and rec.confirm_t is None:
                    rec.confirm_t = t
        return tracks


def hamilton_truth(manager: AssetManager):
    """A function (frame, face centre x) -> enrolled name or None, from ``hamilton_short_clip.shots.csv``:
    shot 3 is the performer ``lin_manuel_miranda``; in shot 1 he stands in the right half of the frame (the
    pianist is far left, the audience shows backs of heads); shots 2 and 4 name nobody enrolled."""
    shots = {}
    with open(manager.path("data/videos/hamilton_short_clip.shots.csv")) as fh:
        for row in csv.DictReader(fh):
            shots[row["shot"]] = (int(row["start_frame"]), int(row["end_frame"]))

    def truth(frame: int, face_x: float) -> str | None:
        s3, s1 = shots["3"], shots["1"]
        if s3[0] <= frame <= s3[1] or (s1[0] <= frame <= s1[1] and face_x > 320):
            return "lin_manuel_miranda"
        return None

    return truth


def summarise(video: str, run: FaceTrackingRun, truth_of_frame) -> dict[str, float]:
    """Print per-track lines and identity precision / recall; returns the counts.

    A track's truth is the majority of its face frames' truth; a *wrong-name frame* is a frame in which the
    track was reported KNOWN under a name that is not the truth of that frame (e.g. carried across a cut)."""
    named = wrong = right = enrolled_tracks = enrolled_found = wrong_frames = known_frames = 0
    for rec in sorted(run.records.values(), key=lambda r: r.track_id):
        if len(rec.face_frames) == 0:
            continue
        x_of = dict(zip(rec.face_frames, rec.face_x, strict=True))
        votes = [truth_of_frame(f, x) for f, x in x_of.items()]
        truth = max(set(votes), key=votes.count)
        bad = [f for f, n in rec.known_frames if n != truth_of_frame(f, x_of.get(f, 0.0))]
        wrong_frames += len(bad)
        known_frames += len(rec.known_frames)
        final = rec.states[-1]
        history = " -> ".join(f"{s.value}{'(' + n + ')' if n else ''}@{i}" for i, s, n in rec.states)
        wrong_names = {n for n in rec.confirmed_names if n != truth}
        named += bool(rec.confirmed_names)
        wrong += bool(wrong_names)
        right += int(final[1] is IdentityState.KNOWN and final[2] == truth)
        if truth is not None:
            enrolled_tracks += 1
            enrolled_found += int(truth in rec.confirmed_names)
        ttc = "" if rec.confirm_t is None or rec.first_face_t is None else \
            f" time-to-confirm {rec.confirm_t - rec.first_face_t:.2f}s"
        print(f"  track {rec.track_id:3d} frames {rec.frames[0]}-{rec.frames[-1]} ({len(rec.frames)} seen, "
              f"{len(rec.face_frames)} with face) truth={truth}{ttc}: {history}"
              + (f"  WRONG NAME {sorted(wrong_names)}" if wrong_names else "")
              + (f"  {len(bad)} wrong-name frames ({bad[0]}-{bad[-1]})" if bad else ""))
    precision = right / named if named else float("nan")
    recall = enrolled_found / enrolled_tracks if enrolled_tracks else float("nan")
    print(f"  {video}: {len(run.records)} tracks; named {named}, correct final names {right}, tracks with a wrong "
          f"name ever confirmed {wrong}; precision {precision:.2f}, recall {recall:.2f} "
          f"({enrolled_found}/{enrolled_tracks} enrolled-person tracks named); wrong-name frames {wrong_frames} "
          f"of {known_frames} KNOWN frames")
    return {"named": named, "wrong": wrong, "right": right, "wrong_frames": wrong_frames}


def gb_xyxy(items: list[tuple[int, np.ndarray]]) -> np.ndarray:
    """(N, 4) xyxy boxes from (id, box) pairs."""
    return np.array([b for _, b in items], np.float32).reshape(-1, 4)


def mot_metrics(manager: AssetManager, per_frame_boxes: dict[int, list[tuple[int, np.ndarray]]]) -> None:
    """IDF1 / ID switches of face-box tracks against the royal opera MOT ground truth (1-based frames)."""
    import motmetrics as mm

    gt: dict[int, list[tuple[int, np.ndarray]]] = defaultdict(list)
    with open(manager.path("data/videos/royal_opera_pedestrians.faces_gt_mot.txt")) as fh:
        for line in fh:
            f, pid, x, y, w, h = (float(v) for v in line.split(",")[:6])
            gt[int(f)].append((int(pid), np.array([x, y, x + w, y + h])))
    acc = mm.MOTAccumulator(auto_id=True)
    for f in sorted(gt):
        hyp = per_frame_boxes.get(f - 1, [])
        g_ids = [p for p, _ in gt[f]]
        h_ids = [p for p, _ in hyp]
        iou = box_iou(gb_xyxy(gt[f]), gb_xyxy(hyp))  # motmetrics' iou_matrix uses np.asfarray (gone in numpy 2)
        acc.update(g_ids, h_ids, np.where(iou >= 0.5, 1.0 - iou, np.nan))
    mh = mm.metrics.create()
    summary = mh.compute(acc, metrics=["num_frames", "idf1", "idp", "idr", "recall", "num_switches", "mota"],
                         name="royal_opera")
    print(mm.io.render_summary(summary, namemap=mm.io.motchallenge_metric_names))


def cmd_videos(model: str, stride: int, max_frames: int) -> None:
    """Run the face tracking + identity evaluation on every sample video."""
    manager = default_manager()
    embedder = FaceEmbedder.from_registry(manager=manager)
    enrol_det = create_face_detector(FaceDetectorOptions(model=model, pad_retry=True), manager=manager)
    enroll_root = manager.path("data/faces/enroll/barack_obama/fr_01.jpg").parents[1]
    gallery = enrol_gallery(enroll_root, enrol_det, embedder)
    print(f"gallery: {len(gallery.names)} people, {len(gallery.vectors)} vectors; detector {model}, stride {stride}")
    detector = create_face_detector(FaceDetectorOptions(model=model), manager=manager)
    video_dir = manager.path("data/videos/hamilton_short_clip.mp4").parent
    videos = [video_dir / "hamilton_short_clip.mp4", video_dir / "royal_opera_pedestrians_1080p25.mp4"]
    videos += sorted((video_dir / "talking_heads").glob("*.mp4"))
    hamilton = hamilton_truth(manager)
    totals: dict[str, float] = defaultdict(float)
    for path in videos:
        run = FaceTrackingRun(detector, embedder, gallery)
        boxes: dict[int, list[tuple[int, np.ndarray]]] = {}
        for index, t, frame in read_frames(path, 0, max_frames, stride):
            tracks = run.step(index, t, frame)
            boxes[index] = [(tr.track_id, tr.observation.face_box) for tr in tracks if tr.face_visible]
        print(f"== {path.name} (frames 0-{index}, every {stride})")
        truth = hamilton if path.name.startswith("hamilton") else (lambda frame, x: None)
        for k, v in summarise(path.name, run, truth).items():
            totals[k] += v
        if path.name.startswith("royal_opera"):
            mot_metrics(manager, boxes)
    print(f"== all videos: named tracks {totals['named']:.0f}, correct {totals['right']:.0f}, "
          f"wrong name ever confirmed {totals['wrong']:.0f}, wrong-name frames {totals['wrong_frames']:.0f}")


# --------------------------------------------------------------------------------------------- quality


def cmd_quality(model: str, stride: int) -> None:
    """Face-quality factors (inter-ocular px, nose offset, Laplacian variance, score) per video."""
    manager = default_manager()
    embedder = FaceEmbedder.from_registry(manager=manager)
    detector = create_face_detector(FaceDetectorOptions(model=model), manager=manager)
    video_dir = manager.path("data/videos/hamilton_short_clip.mp4").parent
    for path in [video_dir / "hamilton_short_clip.mp4", *sorted((video_dir / "talking_heads").glob("*.mp4"))]:
        rows = []
        for _, _, frame in read_frames(path, 0, 10**9, stride):
            faces = detector.detect(frame)
            crops = embedder.align(frame, faces.keypoints)
            q = face_qualities(faces.keypoints, faces.scores, crops)
            for k in range(len(faces)):
                rows.append((inter_ocular_px(faces.keypoints[k]), abs(nose_offset(faces.keypoints[k])),
                             laplacian_variance(crops[k]), faces.scores[k], q[k]))
        a = np.array(rows).reshape(-1, 5)
        print(f"== {path.name}: {len(a)} faces")
        for j, name in enumerate(("inter-ocular px", "|nose offset|", "laplacian var", "det score", "quality")):
            print(describe(name, a[:, j]))


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m peoplelens.sim_harness.eval_identity", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("thresholds", help="score distributions, EER, accept/reject thresholds")
    p.add_argument("--model", default="det_2.5g")
    p.add_argument("--embedder", default="arcface_mobileface128", help="face embedder (e.g. sface)")
    p = sub.add_parser("videos", help="tracking + identity over time on the sample videos")
    p.add_argument("--model", default="det_2.5g")
    p.add_argument("--stride", type=int, default=1)
    p.add_argument("--max-frames", type=int, default=10**9)
    p = sub.add_parser("quality", help="face-quality factors on the videos")
    p.add_argument("--model", default="det_2.5g")
    p.add_argument("--stride", type=int, default=5)
    args = parser.parse_args(argv)
    if args.cmd == "thresholds":
        cmd_thresholds(args.model, args.embedder)
    elif args.cmd == "videos":
        cmd_videos(args.model, args.stride, args.max_frames)
    else:
        cmd_quality(args.model, args.stride)


if __name__ == "__main__":
    main()
