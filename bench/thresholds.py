"""The identity thresholds' evidence: ``python -m peoplelens.bench.thresholds [--model M] [--embedder E]``.

Genuine / impostor cosine distributions of a face detector's alignment + an embedder on ``pairs/faces_pairs.csv``
(detect -> align -> embed), on the aligned small-LFW pairs and open-set probe-vs-gallery (every ``faces/probe`` photo
against the whole ``faces/enroll`` gallery), the EER, and the accept / reject thresholds derived from them (the
defaults of ``[identity]``; the permissive model set's thresholds come from ``--model yunet --embedder sface``).
This scores models on photos; how the product names people over time is scored by
``python -m peoplelens.sim_harness.score_identity`` and ``python -m peoplelens.bench.openset``.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from peoplelens.lens.perception.identity import IdentityConfig, IdentityGallery
from peoplelens.models.assets import AssetManager, default_manager
from peoplelens.models.evaluate_faces import PairScores, largest_face_embedding, lfw_pair_scores, photo_pair_scores
from peoplelens.models.face_detector import FaceDetector, FaceDetectorOptions, create_face_detector
from peoplelens.models.face_embedder import FaceEmbedder


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
        print(f"{name} threshold {thr:.2f} ([identity] default): per-face FAR {far:.2%}, FRR {frr:.2%}")
    print(f"suggested: accept >= impostor max + 0.10 = {imp_max + 0.10:.2f} on the quality-weighted mean; "
          f"reject below impostor p99 = {imp_p99:.2f}")


# --------------------------------------------------------------------------------------------- videos


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m peoplelens.bench.thresholds", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="det_2.5g", help="face detector whose keypoints align the faces")
    parser.add_argument("--embedder", default="arcface_mobileface128", help="face embedder (e.g. sface)")
    args = parser.parse_args(argv)
    cmd_thresholds(args.model, args.embedder)


if __name__ == "__main__":
    main()
