"""Measure the face detector + embedder on the labelled sample data.

``python -m peoplelens.models.evaluate_faces`` prints the genuine/impostor cosine-similarity distributions on
``data/pairs/faces_pairs.csv`` (full photos: detect -> align -> embed) and on the aligned small-LFW pairs,
the equal-error rate, the verification threshold with its false-accept / false-reject rates, and the CPU
time per detected+embedded face. ``--sets`` compares the model sets (``peoplelens.models.model_sets``) side by
side, each with its own detector, embedder and thresholds.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from peoplelens.models.assets import AssetManager, default_manager
from peoplelens.models.face_detector import FaceDetector, FaceDetectorOptions, create_face_detector
from peoplelens.models.face_embedder import FaceEmbedder, FaceEmbedderOptions
from peoplelens.models.images import load_image
from peoplelens.models.model_sets import MODEL_SETS, ModelSet

#: Cosine similarity above which two faces are called the same person in one-shot verification.
#: Measured on faces_pairs.csv with det_2.5g + arcface_mobileface128 (see README "Face recognition"):
#: 378 genuine pairs min 0.415 (p1 0.443), 378 impostor pairs max 0.267 (p99 0.240); 0.35 sits in the gap.
VERIFY_THRESHOLD = 0.35


@dataclass
class PairScores:
    """Cosine similarities of genuine (same person) and impostor pairs."""

    genuine: np.ndarray
    impostor: np.ndarray

    def rates(self, threshold: float) -> tuple[float, float]:
        """(false accept rate, false reject rate) at a threshold."""
        far = float(np.mean(self.impostor >= threshold)) if len(self.impostor) else 0.0
        frr = float(np.mean(self.genuine < threshold)) if len(self.genuine) else 0.0
        return far, frr

    def eer(self) -> tuple[float, float]:
        """(equal error rate, threshold where FAR ~= FRR)."""
        grid = np.linspace(-0.2, 1.0, 1201)
        diffs = [abs(np.subtract(*self.rates(t))) for t in grid]
        t = float(grid[int(np.argmin(diffs))])
        far, frr = self.rates(t)
        return (far + frr) / 2, t


def largest_face_embedding(path: Path, detector: FaceDetector, embedder: FaceEmbedder) -> np.ndarray | None:
    """The unit embedding of the largest face in a photo (None when no face is found)."""
    image = load_image(path)
    faces = detector.detect(image)
    if len(faces) == 0:
        return None
    best = faces[int(np.argmax(faces.areas))]
    return embedder.embed(image, best.required_keypoints)[0]


def photo_pair_scores(pairs_csv: Path, detector: FaceDetector, embedder: FaceEmbedder) -> tuple[PairScores, int]:
    """Scores of every pair in a ``img_a,img_b,same,...`` CSV (paths relative to the CSV); also the number
    of pairs skipped because a photo had no detectable face."""
    cache: dict[str, np.ndarray | None] = {}
    genuine: list[float] = []
    impostor: list[float] = []
    skipped = 0
    with open(pairs_csv) as fh:
        for row in csv.DictReader(fh):
            vecs = []
            for key in ("img_a", "img_b"):
                if row[key] not in cache:
                    cache[row[key]] = largest_face_embedding(pairs_csv.parent / row[key], detector, embedder)
                vecs.append(cache[row[key]])
            if vecs[0] is None or vecs[1] is None:
                skipped += 1
                continue
            (genuine if row["same"] == "1" else impostor).append(float(vecs[0] @ vecs[1]))
    return PairScores(np.array(genuine), np.array(impostor)), skipped


def time_per_face(detector: FaceDetector, embedder: FaceEmbedder, images: list[np.ndarray], repeats: int = 3) -> float:
    """Median CPU seconds per detected+embedded face over the given images (detection + alignment + embedding)."""
    per_face = []
    for _ in range(repeats):
        for image in images:
            t0 = time.perf_counter()
            faces = detector.detect(image)
            embedder.embed(image, faces.required_keypoints)
            if len(faces):
                per_face.append((time.perf_counter() - t0) / len(faces))
    return float(np.median(per_face))


def _describe(name: str, s: np.ndarray) -> str:
    p = np.percentile(s, [1, 5, 50, 95, 99])
    return (f"{name:9s} n={len(s):4d} min={s.min():.3f} p1={p[0]:.3f} p5={p[1]:.3f} median={p[2]:.3f} "
            f"p95={p[3]:.3f} p99={p[4]:.3f} max={s.max():.3f}")


def main(manager: AssetManager | None = None) -> None:
    """Print the verification and timing figures."""
    manager = manager or default_manager()
    pairs_dir = manager.path("data/pairs/faces_pairs.csv").parent
    embedder = FaceEmbedder.from_registry(manager=manager)
    for model in ("det_2.5g", "det_500m", "yunet"):
        options = FaceDetectorOptions(model=model, pad_retry=True) if model != "yunet" else FaceDetectorOptions(
            model="yunet", score_threshold=0.6, nms_iou=0.3, pad_retry=True)
        detector = create_face_detector(options, manager=manager)
        scores, skipped = photo_pair_scores(pairs_dir / "faces_pairs.csv", detector, embedder)
        eer, t_eer = scores.eer()
        far, frr = scores.rates(VERIFY_THRESHOLD)
        print(f"== faces_pairs.csv with {model} alignment ({skipped} pairs skipped: no face found)")
        print(_describe("genuine", scores.genuine))
        print(_describe("impostor", scores.impostor))
        print(f"separation: min genuine - max impostor = {scores.genuine.min() - scores.impostor.max():+.3f}; "
              f"mean gap = {scores.genuine.mean() - scores.impostor.mean():.3f}")
        print(f"EER = {eer:.3%} at {t_eer:.3f}; at threshold {VERIFY_THRESHOLD}: FAR = {far:.3%}, FRR = {frr:.3%}")
    lfw_dir = manager.path("data/pairs/small_lfw_pairs.csv").parent
    lfw = lfw_pair_scores(lfw_dir / "small_lfw_pairs.csv", embedder)
    print("== small_lfw_pairs.csv (already aligned 112x112)")
    print(_describe("genuine", lfw.genuine))
    print(_describe("impostor", lfw.impostor))
    group = sorted(manager.path("data/faces/group/two_people.jpg").parent.glob("*.jpg"))
    images = [load_image(p) for p in group]
    for model in ("det_2.5g", "det_500m"):
        detector = create_face_detector(FaceDetectorOptions(model=model), manager=manager)
        ms = time_per_face(detector, embedder, images) * 1000
        print(f"CPU time per detected+embedded face ({model} @640 + align + ArcFace-128, group photos): {ms:.1f} ms")


def lfw_pair_scores(pairs_csv: Path, embedder: FaceEmbedder) -> PairScores:
    """Scores for already-aligned crop pairs (no detection)."""
    from peoplelens.models.face_embedder import resize_for_embedding

    genuine: list[float] = []
    impostor: list[float] = []
    with open(pairs_csv) as fh:
        for row in csv.DictReader(fh):
            crops = np.stack([resize_for_embedding(load_image(pairs_csv.parent / row[k])) for k in ("img_a", "img_b")])
            a, b = embedder.embed_aligned(crops)
            (genuine if row["same"] == "1" else impostor).append(float(a @ b))
    return PairScores(np.array(genuine), np.array(impostor))


def _figures(scores: PairScores, model_set: ModelSet) -> str:
    g, i = scores.genuine, scores.impostor
    eer, t_eer = scores.eer()
    cells = [f"{g.min():.3f} / {np.median(g):.3f}", f"{i.max():.3f} / {np.percentile(i, 99):.3f}",
             f"{eer:.1%} at {t_eer:.2f}"]
    th = model_set.thresholds
    for threshold in (th.verify, th.accept, th.reject):
        far, frr = scores.rates(threshold)
        cells.append(f"{threshold:.3f}: {far:.1%} / {frr:.1%}")
    return " | ".join(cells)


def compare_sets(names: list[str], manager: AssetManager | None = None) -> None:
    """One table row per model set and pair list: genuine min/median, impostor max/p99, EER, and FAR/FRR at
    the set's verify, accept and reject thresholds; then the CPU time per detected+embedded face."""
    manager = manager or default_manager()
    pairs_csv = manager.path("data/pairs/faces_pairs.csv")
    lfw_csv = manager.path("data/pairs/small_lfw_pairs.csv")
    group = sorted(manager.path("data/faces/group/two_people.jpg").parent.glob("*.jpg"))
    images = [load_image(p) for p in group]
    print("| set | pairs | genuine min / median | impostor max / p99 | EER | FAR / FRR at verify | "
          "at accept | at reject |")
    print("|---|---|---|---|---|---|---|---|")
    timing = {}
    for name in names:
        model_set = MODEL_SETS[name]
        detector = create_face_detector(FaceDetectorOptions(
            model=model_set.face_detector, score_threshold=model_set.face_score_threshold,
            nms_iou=model_set.face_nms_iou, pad_retry=True), manager=manager)
        embedder = FaceEmbedder.from_registry(FaceEmbedderOptions(model=model_set.embedder), manager=manager)
        scores, skipped = photo_pair_scores(pairs_csv, detector, embedder)
        label = f"{model_set.face_detector} + {model_set.embedder}"
        print(f"| {name} ({label}) | faces_pairs ({len(scores.genuine)}+{len(scores.impostor)}, {skipped} "
              f"skipped) | {_figures(scores, model_set)} |")
        lfw = lfw_pair_scores(lfw_csv, embedder)
        print(f"| {name} ({model_set.embedder}) | small_lfw ({len(lfw.genuine)}+{len(lfw.impostor)}, aligned) | "
              f"{_figures(lfw, model_set)} |")
        video_detector = create_face_detector(FaceDetectorOptions(
            model=model_set.face_detector, score_threshold=model_set.face_score_threshold,
            nms_iou=model_set.face_nms_iou), manager=manager)
        timing[name] = time_per_face(video_detector, embedder, images) * 1000
    for name, ms in timing.items():
        print(f"CPU time per detected+embedded face, {name} set (group photos): {ms:.1f} ms")


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] == ["--sets"]:
        compare_sets(sys.argv[2:] or list(MODEL_SETS))
    else:
        main()
