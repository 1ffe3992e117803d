"""Open-set identification benchmark: ``python -m peoplelens.bench.openset``.

Scores the product's own decision code (:class:`peoplelens.lens.perception.identity.IdentityTracker`, fed exactly as the
pipeline feeds it: per frame, each embedded face's protected-space vector, quality and size, and the tracks in
view) in the terms of NIST FRTE 1:N:

* **FPIR** (false-positive identification rate): of the *non-mated* tracks (people not enrolled: strangers,
  look-alikes, the other half of a cast), the fraction that was ever given a name;
* **FNIR** (false-negative identification rate): of the *mated* tracks (enrolled people), the fraction that did not
  end with their own name (never named, or named wrongly); wrong names given to enrolled people are counted too.

Protocol (:mod:`peoplelens.bench.openset_data` has the material): for each split a random gallery of 5, 10 or 15
of the sample identities is enrolled with their accepted enrolment photos; every other labelled person is a
stranger. One :class:`IdentityTracker` then sees every scene in a random order, as over a day (its cohort of faces
seen and not enrolled grows as it goes): stills at 24-112 px (one face, four jittered frames repeated: no new
view), group photos (crowded frames, every face a track), talking-head and pedestrian videos. Scenes that show a
gallery person's enrolment photo are left out of that split. Counts come with Wilson 95 % intervals; trials share
faces across splits, so the number of *distinct* stranger faces, not the number of trials, bounds what a 0.1 %
FPIR claim can rest on (both are printed).

The operating point is cross-validated over identities: the identities are split into two halves; on each half's
sessions the lowest accept threshold with FPIR <= 0.1 % is found and checked on the other half.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import binomtest

from peoplelens.bench.openset_data import Corpus, FaceObs, Scene, build_corpus, family_of
from peoplelens.lens.perception.face_quality import face_quality
from peoplelens.lens.perception.identity import FaceEvidence, IdentityConfig, IdentityGallery, IdentityTracker

SCENE_FPS = 15.0  # detection frames per second (the pipeline detects every 2nd frame at 30 fps)


@dataclass
class TrackOutcome:
    """What the product said about one labelled track."""

    person: str
    mated: bool
    stratum: str  # "still 48px", "group 640x480", "video", ...
    family_enrolled: bool  # a stranger whose look-alike family (cast, same first name) has enrolled members
    gallery_size: int
    names: set[str] = field(default_factory=set)  # every name ever reported
    final: str | None = None  # reported name at the last frame
    frames_to_name: int | None = None  # frames until the right name was first reported
    face_key: str = ""  # the distinct face (photo or video segment) behind it
    evidence: tuple[float, float, str] | None = None  # at the end: mean cosine, normalised, for which name

    @property
    def false_positive(self) -> bool:
        """A stranger given any name."""
        return not self.mated and bool(self.names)

    @property
    def miss(self) -> bool:
        """An enrolled person never named, or ever named wrongly."""
        return self.mated and (self.person not in self.names or self.wrong_name)

    @property
    def wrong_name(self) -> bool:
        """Any name other than the person's own, ever."""
        return bool(self.names - {self.person})


def _stratum(scene: Scene) -> str:
    if scene.kind == "still":
        return f"still {scene.size_px}px"
    if scene.kind == "group":
        return "group " + ("as recorded" if scene.size_px == 0 else "640x480")
    return "video"


def gallery_of(corpus: Corpus, people: list[str]) -> IdentityGallery:
    """The enrolled gallery of ``people`` from their accepted enrolment photos."""
    vectors, owner = [], []
    for p in corpus.enrol:
        if p.ok and p.person in people and p.embedding is not None:
            vectors.append(p.embedding)
            owner.append(people.index(p.person))
    return IdentityGallery(list(people), np.stack(vectors), np.array(owner))


_QUALITY: dict[int, float] = {}


def _quality(face: FaceObs) -> float:
    """The product's face quality (size, blur from the aligned crop's sharpness, pose, score), computed once."""
    key = id(face)
    if key not in _QUALITY:
        _QUALITY[key] = face_quality(face.keypoints, face.score, sharpness_value=face.sharpness).quality
    return _QUALITY[key]


def run_session(corpus: Corpus, people: list[str], config: IdentityConfig, rng: np.random.Generator,
                universe: set[str] | None = None, first_sight: bool = False) -> list[TrackOutcome]:
    """One gallery, every scene once in a random order through one :class:`IdentityTracker`. ``universe``
    limits the labelled people scored (and the scenes shown) to a set (cross-validation). With ``first_sight``
    every person's earlier sightings are taken out of the cohort before each scene: everyone is seen for the
    first time (no help from having met a stranger before)."""
    tracker = IdentityTracker(gallery_of(corpus, people), config)
    enrolled_families = {family_of(p) for p in people}
    outcomes: list[TrackOutcome] = []
    tracks_of: dict[str, list[int]] = defaultdict(list)
    next_id, t = 0, 0.0
    for si in rng.permutation(len(corpus.scenes)):
        scene = corpus.scenes[si]
        if scene.sources & set(people):
            continue
        if universe is not None and any(tr.person is not None and tr.person not in universe for tr in scene.tracks):
            continue
        ids = list(range(next_id, next_id + len(scene.tracks)))
        next_id += len(scene.tracks)
        for tid, tr in zip(ids, scene.tracks, strict=True):
            if tr.person is not None:
                if first_sight:
                    tracker.cohort.forget_tracks(tracks_of[tr.person])
                tracks_of[tr.person].append(tid)
        results = [TrackOutcome(tr.person, tr.person in people, _stratum(scene),
                                tr.person not in people and family_of(tr.person) in enrolled_families,
                                len(people), face_key=f"{scene.key}#{k}")
                   if tr.person is not None else None for k, tr in enumerate(scene.tracks)]
        for i in range(max(len(tr.frames) for tr in scene.tracks)):
            evidence, visible = [], []
            for tid, tr in zip(ids, scene.tracks, strict=True):
                face = tr.frames[i] if i < len(tr.frames) else None
                if face is None:
                    continue
                visible.append(tid)
                evidence.append(FaceEvidence(tid, face.embedding, _quality(face), face.width_px))
            identities = tracker.update_frame(t + i / SCENE_FPS, evidence, visible)
            for tid, res in zip(ids, results, strict=True):
                if res is None or tid not in identities:
                    continue
                name = identities[tid].reported_name
                if name is not None:
                    res.names.add(name)
                    if name == res.person and res.frames_to_name is None:
                        res.frames_to_name = i + 1
                res.final = name
        t += len(scene.tracks[0].frames) / SCENE_FPS + 1.0
        for tid, res in zip(ids, results, strict=True):
            raw, norm = tracker.get(tid).means()
            if res is not None and len(raw):
                k = people.index(res.person) if res.mated else int(np.argmax(raw))
                res.evidence = (float(raw[k]), float(norm[k]), people[k])
            tracker.forget(tid)
        outcomes += [r for r in results if r is not None]
    return outcomes


def wilson(k: int, n: int) -> tuple[float, float]:
    """95 % Wilson score interval of k successes in n trials."""
    if n == 0:
        return 0.0, 1.0
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return float(ci.low), float(ci.high)


def rates(outcomes: list[TrackOutcome]) -> dict:
    """FPIR / FNIR with counts and intervals, wrong names, distinct faces, time to name."""
    strangers = [o for o in outcomes if not o.mated]
    mated = [o for o in outcomes if o.mated]
    fp = sum(o.false_positive for o in strangers)
    fn = sum(o.miss for o in mated)
    wrong = sum(o.wrong_name for o in outcomes)
    ttn = [o.frames_to_name / SCENE_FPS for o in mated if o.frames_to_name is not None]
    return {
        "stranger_trials": len(strangers), "false_positives": fp,
        "fpir": fp / len(strangers) if strangers else None, "fpir_ci95": wilson(fp, len(strangers)),
        "distinct_stranger_faces": len({o.face_key for o in strangers}),
        "distinct_stranger_faces_named": len({o.face_key for o in strangers if o.false_positive}),
        "mated_trials": len(mated), "misses": fn,
        "fnir": fn / len(mated) if mated else None, "fnir_ci95": wilson(fn, len(mated)),
        "wrong_names": wrong, "wrong_names_to_enrolled": sum(o.wrong_name for o in mated),
        "time_to_name_s_median": float(np.median(ttn)) if ttn else None,
    }


def by(outcomes: list[TrackOutcome], key) -> dict[str, dict]:
    """:func:`rates` per group of ``key(outcome)``."""
    groups: dict[str, list[TrackOutcome]] = defaultdict(list)
    for o in outcomes:
        groups[str(key(o))].append(o)
    return {k: rates(v) for k, v in sorted(groups.items())}


def run_protocol(corpus: Corpus, config: IdentityConfig, splits: int, sizes: tuple[int, ...], seed: int,
                 universe: list[str] | None = None, first_sight: bool = False) -> list[TrackOutcome]:
    """``splits`` random galleries per size (from ``universe``, default every identity), one session each."""
    rng = np.random.default_rng(seed)
    people = sorted(set(universe or corpus.identities()) & set(corpus.identities()))
    out: list[TrackOutcome] = []
    for _ in range(splits):
        for size in sizes:
            if size >= len(people):
                continue
            gallery = sorted(rng.choice(people, size, replace=False).tolist())
            out += run_session(corpus, gallery, config, rng, set(universe) if universe else None, first_sight)
    return out


def sweep(corpus: Corpus, config: IdentityConfig, thresholds: list[float], splits: int, sizes: tuple[int, ...],
          seed: int) -> dict[str, list[dict]]:
    """FPIR/FNIR at each accept threshold, every face seen for the first time, same galleries for every point:
    the product's decision (``cohort``) and the same without the cohort rule (``cosine only``)."""
    curves: dict[str, list[dict]] = {}
    for label, cfg in (("cohort", config), ("cosine only", replace(config, cohort_margin=-1.0))):
        curves[label] = []
        for thr in thresholds:
            out = run_protocol(corpus, replace(cfg, accept_threshold=thr), splits, sizes, seed, None, True)
            curves[label].append({"accept_threshold": thr, **rates(out),
                                  "faces_48px_and_more": rates(in_range(out)),
                                  "by_gallery_size": by(in_range(out), lambda o: o.gallery_size)})
    return curves


def in_range(outcomes: list[TrackOutcome]) -> list[TrackOutcome]:
    """Outcomes without the 24 and 32 px stills: faces that small rarely reach the quality identity needs, so their
    FNIR says where the range ends, not how well the decision works."""
    return [o for o in outcomes if o.stratum not in ("still 24px", "still 32px")]


def _stranger_evidence(outcomes: list[TrackOutcome]) -> tuple[np.ndarray, np.ndarray]:
    ev = [o.evidence for o in outcomes if not o.mated and o.evidence is not None] or [(-1.0, -1.0, "")]
    return np.array([e[0] for e in ev]), np.array([e[1] for e in ev])


def cross_validate(corpus: Corpus, config: IdentityConfig, splits: int, sizes: tuple[int, ...],
                   seed: int) -> list[dict]:
    """Two identity-disjoint halves: how far the strangers of one half reach (a track's mean cosine for its best
    name, and the cohort-normalised score) and how many strangers of the other half go beyond that; and the
    operating point on the other half."""
    rng = np.random.default_rng(seed + 1)
    enrollable = corpus.identities()
    others = sorted({tr.person for sc in corpus.scenes for tr in sc.tracks
                     if tr.person is not None and tr.person not in enrollable})  # the people of the videos
    halves: list[list[str]] = [[], []]
    for group in (enrollable, others):
        order = rng.permutation(len(group))
        halves[0] += [group[i] for i in order[: len(group) // 2]]
        halves[1] += [group[i] for i in order[len(group) // 2:]]
    fewest = min(len(set(h) & set(enrollable)) for h in halves)
    small = tuple(s for s in sizes if s < fewest) or (max(1, fewest // 2),)
    outs = [run_protocol(corpus, config, splits, small, seed + 7, sorted(half), True) for half in halves]
    folds = []
    for a, b in ((0, 1), (1, 0)):
        raw_a, norm_a = _stranger_evidence(outs[a])
        raw_b, norm_b = _stranger_evidence(outs[b])
        folds.append({
            "measured_on": halves[a], "checked_on": halves[b], "gallery_sizes": list(small),
            "max_stranger_cosine": float(raw_a.max()), "max_stranger_normalised": float(norm_a.max()),
            "other_half_max_cosine": float(raw_b.max()), "other_half_max_normalised": float(norm_b.max()),
            "other_half_beyond_cosine": int((raw_b > raw_a.max()).sum()),
            "other_half_beyond_normalised": int((norm_b > norm_a.max()).sum()), "other_half_strangers": len(raw_b),
            "other_half_operating_point": rates(outs[b]),
        })
    return folds


def evaluate(corpus: Corpus, config: IdentityConfig, splits: int, sizes: tuple[int, ...], seed: int,
             thresholds: list[float], sweep_splits: int) -> dict:
    """Everything the report shows. The operating point, the sweep and the cross-validation see every face for the
    first time (the hard case: a look-alike never met before); ``operating_point_day`` keeps strangers' earlier
    sightings in the cohort, as over a day."""
    t0 = time.process_time()
    outcomes = run_protocol(corpus, config, splits, sizes, seed, first_sight=True)
    report: dict[str, Any] = {
        "config": {k: getattr(config, k) for k in config.__dataclass_fields__},
        "protocol": {"splits": splits, "gallery_sizes": list(sizes), "seed": seed,
                     "identities": corpus.identities(), "scenes": len(corpus.scenes)},
        "operating_point": rates(outcomes),
        "operating_point_day": rates(run_protocol(corpus, config, splits, sizes, seed)),
        "by_gallery_size": by(outcomes, lambda o: o.gallery_size),
        "by_stratum": by(outcomes, lambda o: o.stratum),
        "faces_48px_and_more": rates(in_range(outcomes)),
        "lookalike_strangers": rates([o for o in outcomes if not o.mated and o.family_enrolled]),
        "named_strangers": sorted({f"{o.face_key} -> {sorted(o.names)}" for o in outcomes if o.false_positive}),
        "wrong_names_to_enrolled": sorted({f"{o.face_key} ({o.person}) -> {sorted(o.names - {o.person})}"
                                           for o in outcomes if o.mated and o.wrong_name}),
        "closest_strangers": sorted(({"face": o.face_key, "name": o.evidence[2], "cosine": round(o.evidence[0], 3),
                                      "normalised": round(o.evidence[1], 3)} for o in outcomes
                                     if not o.mated and o.evidence), key=itemgetter("cosine"), reverse=True)[:10],
    }
    report["sweep"] = sweep(corpus, config, thresholds, sweep_splits, sizes, seed)
    report["cross_validation"] = cross_validate(corpus, config, sweep_splits, sizes, seed)
    report["cpu_s"] = time.process_time() - t0
    return report


def main(argv: list[str] | None = None) -> dict:
    """Command-line entry point: print the tables, write ``--json`` and ``--html``."""
    import os

    from peoplelens.bench.openset_report import print_report, write_html

    parser = argparse.ArgumentParser(prog="python -m peoplelens.bench.openset", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=None, help="sample data folder (default $PEOPLELENS_ASSETS/data)")
    parser.add_argument("--splits", type=int, default=20, help="random galleries per gallery size")
    parser.add_argument("--sizes", default="5,10,15", help="gallery sizes")
    parser.add_argument("--sweep-splits", type=int, default=4, help="galleries per size for each curve point")
    parser.add_argument("--thresholds", default="0.30,0.35,0.40,0.45,0.50,0.55,0.60")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--html", type=Path, default=None)
    parser.add_argument("--cache", type=Path, default=None,
                        help="development only: keep the embedded material in this file (face vectors: delete it)")
    args = parser.parse_args(argv)
    data = args.data or Path(os.environ.get("PEOPLELENS_ASSETS", "../shared")) / "data"
    corpus = build_corpus(data, cache=args.cache)
    from peoplelens.core.config import load_config, section

    config = section(load_config(), "identity", IdentityConfig)
    report = evaluate(corpus, config, args.splits, tuple(int(s) for s in args.sizes.split(",")), args.seed,
                      [float(x) for x in args.thresholds.split(",")], args.sweep_splits)
    report["enrolment"] = [{"photo": p.photo, "ok": p.ok, "face_px": round(p.face_px, 1),
                            "sharpness": round(p.sharpness, 1), "messages": p.messages} for p in corpus.enrol]
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=float))
    if args.html:
        write_html(report, args.html)
    return report


if __name__ == "__main__":
    main()
