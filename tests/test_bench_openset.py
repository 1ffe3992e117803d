"""The open-set benchmark on a part of the sample material: the protocol runs the product's decision code, counts
FPIR / FNIR with intervals, and writes its report."""

from __future__ import annotations

import json

import pytest

from peoplelens.bench.openset import by, rates, run_protocol, wilson
from peoplelens.bench.openset_data import build_corpus
from peoplelens.bench.openset_report import print_report, write_html
from peoplelens.lens.perception.identity import IdentityConfig

PEOPLE = {"bbt_amy", "bbt_bernadette", "bbt_howard", "bbt_leonard", "bbt_penny", "bbt_raj", "bbt_sheldon",
          "bbt_stuart", "alex_lacamoire"}


@pytest.fixture(scope="module")
def corpus(data_dir):
    return build_corpus(data_dir, frames=8, people=PEOPLE, sizes=(48,), groups="bbt[35].jpg", videos=False)


def test_corpus_has_stills_and_crowds_with_labels(corpus):
    assert sorted(corpus.identities()) == sorted(PEOPLE)
    kinds = {s.kind for s in corpus.scenes}
    assert kinds == {"still", "group"}
    crowds = [s for s in corpus.scenes if s.kind == "group"]
    assert len(crowds) == 4 and all(len(s.tracks) == 5 for s in crowds)  # bbt3/bbt5, as recorded and at 640x480
    labelled = [t.person for s in crowds for t in s.tracks if t.person]
    assert len(labelled) >= 8 and set(labelled) <= PEOPLE
    stills = [s for s in corpus.scenes if s.kind == "still"]
    assert len(stills) == 8 * 5 + 3 and all(s.size_px == 48 for s in stills)  # every photo of the nine
    found = [f for s in stills for f in s.tracks[0].frames if f is not None]
    assert len(found) > 0.95 * len(stills) * 8 and all(40 < f.width_px < 56 for f in found)


def test_half_the_cast_enrolled_no_stranger_named(corpus):
    outcomes = run_protocol(corpus, IdentityConfig(), splits=2, sizes=(4,), seed=3, first_sight=True)
    r = rates(outcomes)
    assert r["stranger_trials"] > 60 and r["mated_trials"] >= 15
    assert r["false_positives"] == 0 and r["wrong_names"] == 0
    assert r["fnir"] < 0.3 and r["fpir_ci95"][1] < 0.06
    strata = by(outcomes, lambda o: o.stratum)
    assert set(strata) == {"still 48px", "group as recorded", "group 640x480"}
    # the same galleries with a threshold far too low for these faces name strangers: the counts are real
    loose = rates(run_protocol(corpus, IdentityConfig(accept_threshold=0.15, cohort_margin=-1.0, margin=0.0,
                                                      column_margin=0.0, consistency=0.0),
                               splits=2, sizes=(4,), seed=3, first_sight=True))
    assert loose["false_positives"] > 0 and loose["stranger_trials"] == r["stranger_trials"]


def test_wilson_interval():
    assert wilson(0, 0) == (0.0, 1.0)
    lo, hi = wilson(0, 3000)
    assert lo == 0.0 and 0.0012 < hi < 0.0013  # ~3.84 / (n + 3.84)
    lo, hi = wilson(5, 100)
    assert lo < 0.05 < hi


def test_report_files(corpus, tmp_path, capsys):
    from peoplelens.bench.openset import evaluate

    report = evaluate(corpus, IdentityConfig(), splits=1, sizes=(4,), seed=1, thresholds=[0.3, 0.5],
                      sweep_splits=1)
    print_report(report)
    assert "FPIR" in capsys.readouterr().out
    (tmp_path / "r.json").write_text(json.dumps(report, default=float))
    assert json.loads((tmp_path / "r.json").read_text())["operating_point"]["stranger_trials"] > 0
    write_html(report, tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text()
    assert page.count("<svg") == 3 and "operating point" in page
