"""The ONNX Runtime session factory on tiny graphs built at test time, and clear errors for bad files."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from peoplelens.models.errors import ModelLoadError
from peoplelens.models.face_detector import FaceDetectorOptions, ScrfdDetector
from peoplelens.models.registry import get_spec
from peoplelens.models.sessions import SessionConfig, check_inputs, create_session, resolve_providers, warm_up


def _tiny_model(path: Path) -> Path:
    """y = 2 * x + 1 over a dynamic-batch NCHW input."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 4, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, 4, 4])
    two = helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])
    one = helper.make_tensor("one", TensorProto.FLOAT, [], [1.0])
    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "two"], ["t"]), helper.make_node("Add", ["t", "one"], ["y"])],
        "tiny", [x], [y], initializer=[two, one],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def test_tiny_graph_runs_on_cpu(tmp_path: Path) -> None:
    session = create_session(_tiny_model(tmp_path / "tiny.onnx"), SessionConfig(providers=("cpu",)))
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 4)).astype(np.float32)
    (y,) = session.run(None, {"x": x})
    np.testing.assert_allclose(y, 2 * x + 1, rtol=1e-6)
    warm_up(session, {"x": (1, 3, 4, 4)})
    check_inputs(session, {"x": 4}, "tiny")
    with pytest.raises(ModelLoadError, match="right model"):
        check_inputs(session, {"input.1": 4}, "tiny")


def test_missing_gpu_providers_fall_back_with_reason(tmp_path: Path, caplog) -> None:
    usable, reasons = resolve_providers(("tensorrt", "cuda", "cpu"))
    assert usable[-1] == "CPUExecutionProvider"
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        assert any("CUDAExecutionProvider is not in this onnxruntime build" in r for r in reasons)
        with caplog.at_level(logging.INFO, logger="peoplelens.models.sessions"):
            session = create_session(_tiny_model(tmp_path / "t.onnx"), SessionConfig(providers=("cuda", "cpu")))
        assert session.get_providers() == ["CPUExecutionProvider"]
        assert "CUDAExecutionProvider is not in this onnxruntime build" in caplog.text
    else:  # a GPU build: CUDA must really come up
        session = create_session(_tiny_model(tmp_path / "t.onnx"), SessionConfig(providers=("cuda", "cpu")))
        assert session.get_providers()[0] == "CUDAExecutionProvider"


def test_corrupt_model_file_gives_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "det.onnx"
    bad.write_bytes(np.random.default_rng(1).bytes(5000))
    with pytest.raises(ModelLoadError, match=r"cannot load .*det\.onnx.*corrupt"):
        create_session(bad, SessionConfig(providers=("cpu",)))


def test_html_and_empty_model_files(tmp_path: Path) -> None:
    html = tmp_path / "m.onnx"
    html.write_text("<!DOCTYPE html><html><body>Not Found</body></html>")
    with pytest.raises(ModelLoadError, match="HTML page"):
        create_session(html)
    empty = tmp_path / "e.onnx"
    empty.write_bytes(b"")
    with pytest.raises(ModelLoadError, match="empty"):
        create_session(empty)
    with pytest.raises(ModelLoadError, match="not found"):
        create_session(tmp_path / "absent.onnx")


def test_wrong_model_for_detector_is_refused(assets_root: Path) -> None:
    session = create_session(assets_root / get_spec("arcface_mobileface128").relpath, SessionConfig(providers=("cpu",)))
    with pytest.raises(ModelLoadError, match="right model"):
        ScrfdDetector(session, get_spec("det_500m"), FaceDetectorOptions(model="det_500m"))


def test_provider_preference_and_the_provider_really_used(tmp_path: Path, caplog) -> None:
    """TensorRT -> CUDA -> CPU is the default order; the report gives what the session REALLY runs on."""
    import onnxruntime as ort

    from peoplelens.models.sessions import DEFAULT_PROVIDERS, provider_report

    assert SessionConfig().providers == DEFAULT_PROVIDERS == (
        "TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
    with caplog.at_level(logging.INFO, logger="peoplelens.models.sessions"):
        session = create_session(_tiny_model(tmp_path / "t.onnx"), SessionConfig(providers=("tensorrt", "cuda", "cpu")))
    report = provider_report(session)
    assert report.requested == DEFAULT_PROVIDERS
    assert report.used == tuple(session.get_providers())
    available = ort.get_available_providers()
    # the first of TensorRT, CUDA, CPU that this build has is the one nodes go to first
    assert report.primary == next(p for p in DEFAULT_PROVIDERS if p in available)
    missing = [p for p in DEFAULT_PROVIDERS if p not in available]
    for provider in missing:  # each one dropped has its reason, in preference order, in the report and the log
        assert any(f.startswith(f"{provider} is not in this onnxruntime build") for f in report.fallbacks)
        assert f"{provider} is not in this onnxruntime build" in caplog.text
    assert [f.split()[0] for f in report.fallbacks] == missing
    assert f"runs on {', '.join(report.used)}" in caplog.text
    if "CUDAExecutionProvider" not in available:  # this machine: GPU asked for, CPU really used, and it says so
        assert report.used == ("CPUExecutionProvider",)
        assert report.describe().startswith("t.onnx: asked tensorrt, cuda, cpu -> runs on CPUExecutionProvider (")


def test_provider_order_is_kept_and_foreign_sessions_have_no_report(tmp_path: Path) -> None:
    import onnxruntime as ort

    from peoplelens.models.sessions import provider_report

    usable, _ = resolve_providers(("cpu", "cuda", "tensorrt"))
    assert usable[0] == "CPUExecutionProvider"  # asked first, used first
    session = create_session(_tiny_model(tmp_path / "t.onnx"), SessionConfig(providers=("cpu", "cuda")))
    assert provider_report(session).requested == ("CPUExecutionProvider", "CUDAExecutionProvider")
    assert provider_report(session).primary == "CPUExecutionProvider"
    plain = ort.InferenceSession(str(tmp_path / "t.onnx"), providers=["CPUExecutionProvider"])
    with pytest.raises(ModelLoadError, match="not made by"):
        provider_report(plain)
