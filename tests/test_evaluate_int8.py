"""The int8 evaluation's verdicts against the stated tolerance, and its clear error without int8 variants."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from peoplelens.bench.evaluate_int8 import main, verdicts


def _row(eer: float = 0.0, far: float = 0.0, frr40: float = 0.0) -> dict:
    return {"EER %": eer, "FAR@0.35 %": far, "FRR@0.35 %": 0.0, "FAR@0.40 %": far, "FRR@0.40 %": frr40}


def test_verdicts_apply_the_stated_tolerance() -> None:
    report = {
        "verification": {"pairs": {"fp32": _row(), "int8": _row(eer=0.4, frr40=0.9)},
                         "lfw": {"fp32": _row(), "int8": _row(far=0.1)}},
        "probes": [{"label": "fp32", "wrong": 0}, {"label": "int8", "wrong": 0}],
        "face_detector": {"det_500m": {"faces": 100, "by_width": {"fp32": {16: 20, 24: 80}, "int8": {16: 19, 24: 78}},
                                       "dlib": {"fp32": (43, 43, 0), "int8": (43, 43, 0)},
                                       "mot": {"fp32": (52, 62), "int8": (52, 62)}}},
        "person_agreement": {"a.mp4": (200, 199, 0), "b.mp4": (100, 98, 3)},
    }
    result = verdicts(report)
    # EER +0.4 and FRR +0.9 points are within; a false accept where float had none is not
    assert result["arcface_mobileface128"] == (False, ["lfw int8: FAR@0.35 0.00 -> 0.10 %",
                                                       "lfw int8: FAR@0.40 0.00 -> 0.10 %"])
    # 16 px: -1 point (tolerance 2 below 20 px) is within; 24 px: -2 points is not
    assert result["det_500m"] == (False, ["24 px: -2.0 points"])
    # 199/200 = -0.5 point is within, 98/100 = -2 points is not
    assert result["yolox_nano"] == (False, ["b.mp4: 98/100 of the float model's persons"])
    report["verification"]["lfw"]["int8"] = _row()
    report["face_detector"]["det_500m"]["by_width"]["int8"][24] = 79
    assert verdicts(report)["arcface_mobileface128"] == (True, [])
    assert verdicts(report)["det_500m"] == (True, [])


def test_missing_int8_variants_stop_the_evaluation_with_the_command_to_make_them(tmp_path: Path,
                                                                                 monkeypatch) -> None:
    monkeypatch.setenv("PEOPLELENS_CACHE", str(tmp_path / "empty-cache"))
    import peoplelens.models.assets as assets

    monkeypatch.setattr(assets, "_default", None)  # a manager built from this environment
    result = CliRunner().invoke(main, ["--skip-models", "--skip-pipeline"])
    assert result.exit_code != 0
    assert "peoplelens assets quantize det_500m" in result.output
