"""One factory for ONNX Runtime sessions: provider preference, thread counts, warm-up, clear errors.

Provider preference is TensorRT -> CUDA -> CPU by default (configurable). Providers this onnxruntime build
does not have are dropped with a logged reason, and a session that silently came up on fewer providers than
asked for (for example CUDA libraries missing at run time) is logged too. :func:`provider_report` tells, for any
session the factory made, what was asked for, what it really runs on (``session.get_providers()``) and why each
provider that was asked for is not used.
"""

from __future__ import annotations

import logging
import os
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime as ort

from peoplelens.models.errors import ModelLoadError

log = logging.getLogger(__name__)
ort.set_default_logger_severity(3)  # SCRFD at non-640 sizes logs harmless VerifyOutputSizes warnings

DEFAULT_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
_SHORT = {"tensorrt": "TensorrtExecutionProvider", "cuda": "CUDAExecutionProvider", "cpu": "CPUExecutionProvider"}


def _default_threads() -> int:
    return max(1, min(2, os.cpu_count() or 1))


@dataclass(frozen=True)
class SessionConfig:
    """How to build sessions: which providers in which order, and how many threads.

    ``providers`` accepts full names or the short names ``tensorrt``, ``cuda``, ``cpu``. On a 2-core machine
    keep ``intra_op_threads`` at 1-2 and ``inter_op_threads`` at 1 so stages do not oversubscribe the CPU.
    """

    providers: tuple[str, ...] = DEFAULT_PROVIDERS
    intra_op_threads: int = field(default_factory=_default_threads)
    inter_op_threads: int = 1
    graph_optimization: str = "all"  # "disable", "basic", "extended", "all"
    #: let idle intra-op threads spin-wait for work. Off: with several sessions of 2 threads on 2 cores, spinning
    #: pools steal each other's (and the caller's) CPU -- the pipeline took 35 instead of 17 ms a frame
    allow_spinning: bool = False
    trt_cache_dir: str | None = None

    @classmethod
    def from_env(cls) -> SessionConfig:
        """Build from ``PEOPLELENS_PROVIDERS`` (comma list) and ``PEOPLELENS_THREADS`` when set."""
        kwargs: dict = {}
        if env := os.environ.get("PEOPLELENS_PROVIDERS"):
            kwargs["providers"] = tuple(p.strip() for p in env.split(",") if p.strip())
        if env := os.environ.get("PEOPLELENS_THREADS"):
            kwargs["intra_op_threads"] = int(env)
        return cls(**kwargs)


@dataclass(frozen=True)
class ProviderReport:
    """Which execution providers a session was asked for and which it really runs on."""

    model: str
    requested: tuple[str, ...]  # full provider names, in preference order
    used: tuple[str, ...]  # session.get_providers(): what the session really has, in priority order
    fallbacks: tuple[str, ...]  # why each requested provider that is not used was dropped

    @property
    def primary(self) -> str:
        """The provider nodes go to first."""
        return self.used[0]

    def describe(self) -> str:
        """One line: asked -> runs on, with the reasons."""
        short = {v: k for k, v in _SHORT.items()}
        asked = ", ".join(short.get(p, p) for p in self.requested)
        line = f"{self.model}: asked {asked} -> runs on {', '.join(self.used)}"
        return line + (f" ({'; '.join(self.fallbacks)})" if self.fallbacks else "")


_REPORTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def provider_report(session: ort.InferenceSession) -> ProviderReport:
    """The provider report of a session made by :func:`create_session` (a ModelLoadError for any other session)."""
    try:
        return _REPORTS[session]
    except KeyError:
        raise ModelLoadError("this session was not made by peoplelens.models.sessions.create_session") from None


def resolve_providers(wanted: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """Split the wanted providers into (usable in this build, reasons for the ones dropped)."""
    available = ort.get_available_providers()
    usable, reasons = [], []
    for name in wanted:
        full = _SHORT.get(name.lower(), name)
        if full in available:
            usable.append(full)
        else:
            reasons.append(f"{full} is not in this onnxruntime build ({ort.__version__}; has {', '.join(available)})")
    if "CPUExecutionProvider" not in usable:
        usable.append("CPUExecutionProvider")
    return usable, reasons


def check_model_file(path: Path, kind: str = "ONNX") -> bytes:
    """Fail clearly on a missing, empty or HTML model file; returns the file's first 64 bytes."""
    if not path.is_file():
        raise ModelLoadError(f"model file not found: {path}")
    with open(path, "rb") as fh:
        head = fh.read(64)
    if not head:
        raise ModelLoadError(f"model file {path} is empty")
    if head.lstrip().lower().startswith((b"<!doctype", b"<html")):
        raise ModelLoadError(f"model file {path} is an HTML page, not an {kind} model (a failed download?)")
    return head


def create_session(path: str | Path, config: SessionConfig | None = None,
                   entries: tuple[tuple[str, str], ...] = (),
                   transform: Callable[[bytes], bytes] | None = None) -> ort.InferenceSession:
    """Load an ONNX model into an InferenceSession, falling back down the provider list with logged reasons.

    ``entries``: extra ONNX Runtime session config entries a model needs (its registry ``session_entries``).
    ``transform`` rewrites the model's bytes in memory before loading (e.g. an exact graph rewrite); the file on
    disk is never changed."""
    path = Path(path)
    config = config or SessionConfig.from_env()
    check_model_file(path)
    model: str | bytes = str(path) if transform is None else transform(path.read_bytes())
    providers, reasons = resolve_providers(config.providers)
    requested = tuple(dict.fromkeys(_SHORT.get(p.lower(), p) for p in config.providers))
    fallbacks = list(reasons)
    for reason in reasons:
        log.info("%s: %s", path.name, reason)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = config.intra_op_threads
    opts.inter_op_num_threads = config.inter_op_threads
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if config.allow_spinning else "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "1" if config.allow_spinning else "0")
    for key, value in entries:
        opts.add_session_config_entry(key, value)
    opts.graph_optimization_level = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[config.graph_optimization]
    provider_options = []
    for p in providers:
        if p == "TensorrtExecutionProvider" and config.trt_cache_dir:
            provider_options.append({"trt_engine_cache_enable": True, "trt_engine_cache_path": config.trt_cache_dir})
        else:
            provider_options.append({})
    while True:
        try:
            session = ort.InferenceSession(model, sess_options=opts, providers=providers,
                                           provider_options=provider_options)
            break
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises several unrelated types
            if len(providers) > 1:
                log.warning("%s: %s failed to start (%s); falling back", path.name, providers[0], exc)
                fallbacks.append(f"{providers[0]} failed to start: {str(exc).splitlines()[0][:200]}")
                providers, provider_options = providers[1:], provider_options[1:]
                continue
            raise ModelLoadError(
                f"onnxruntime cannot load {path}: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}. "
                "The file is corrupt or not an ONNX model; `peoplelens assets verify` checks every model."
            ) from None
    got = session.get_providers()
    dropped = [p for p in providers if p not in got]
    if dropped:
        log.warning("%s: running on %s; %s did not come up (missing CUDA/TensorRT libraries?)",
                    path.name, ", ".join(got), ", ".join(dropped))
        fallbacks += [f"{p} did not come up (missing CUDA/TensorRT libraries?)" for p in dropped]
    report = ProviderReport(path.name, requested, tuple(got), tuple(fallbacks))
    _REPORTS[session] = report
    log.info("%s", report.describe())
    return session


def check_inputs(session: ort.InferenceSession, expected: dict[str, int], model: str) -> None:
    """Fail clearly when a model file is the wrong model: each expected input name must exist with that rank."""
    actual = {i.name: len(i.shape) for i in session.get_inputs()}
    for name, rank in expected.items():
        if actual.get(name) != rank:
            raise ModelLoadError(
                f"{model}: expected an input {name!r} of rank {rank}, the file has {actual}; "
                "is this the right model file?"
            )


def warm_up(session: ort.InferenceSession, shapes: dict[str, tuple[int, ...]], runs: int = 1) -> None:
    """Run the session on zeros so the first real frame does not pay for lazy initialisation."""
    feeds = {name: np.zeros(shape, dtype=np.float32) for name, shape in shapes.items()}
    for _ in range(runs):
        session.run(None, feeds)
