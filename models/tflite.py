"""One factory for TFLite interpreters (ai-edge-litert): thread count, clear load errors, tensors by name.

The MediaPipe FaceMesh and iris models are TFLite files; ``ai_edge_litert`` is the stand-alone TFLite runtime
(the successor of ``tflite_runtime``), so no TensorFlow install is needed.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from peoplelens.models.errors import ModelLoadError
from peoplelens.models.sessions import check_model_file

log = logging.getLogger(__name__)

TFLITE_MAGIC = b"TFL3"  # FlatBuffer file identifier at byte offset 4


@dataclass(frozen=True)
class TFLiteConfig:
    """How to build interpreters. Keep ``num_threads`` at 1-2 on a 2-core machine (stages run side by side)."""

    num_threads: int = 1

    @classmethod
    def from_env(cls) -> TFLiteConfig:
        """Build from ``PEOPLELENS_TFLITE_THREADS`` when set."""
        env = os.environ.get("PEOPLELENS_TFLITE_THREADS")
        return cls(num_threads=int(env)) if env else cls()


class TFLiteModel:
    """A loaded, allocated TFLite interpreter whose inputs and outputs are addressed by tensor name."""

    def __init__(self, path: str | Path, config: TFLiteConfig | None = None) -> None:
        self.path = Path(path)
        self.config = config = config or TFLiteConfig.from_env()
        _check_tflite_file(self.path)
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as exc:  # pragma: no cover - the dependency is in pyproject
            raise ModelLoadError("ai-edge-litert is not installed: `pip install ai-edge-litert`") from exc
        try:
            self.interpreter = Interpreter(model_path=str(self.path), num_threads=config.num_threads)
            self.interpreter.allocate_tensors()
        except Exception as exc:  # noqa: BLE001 - the runtime raises ValueError/RuntimeError for bad files
            raise ModelLoadError(
                f"the TFLite runtime cannot load {self.path}: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}. "
                "The file is corrupt, not a TFLite model, or needs custom ops; `peoplelens assets verify` checks it."
            ) from None
        self._inputs = {d["name"]: d for d in self.interpreter.get_input_details()}
        self._outputs = {d["name"]: d for d in self.interpreter.get_output_details()}

    def clone(self) -> TFLiteModel:
        """Another interpreter of the same file and settings. An interpreter must not be invoked from two threads
        at once: a thread that runs the model beside another takes its own clone."""
        return TFLiteModel(self.path, self.config)

    @property
    def input_names(self) -> list[str]:
        """Input tensor names, in model order."""
        return list(self._inputs)

    @property
    def output_names(self) -> list[str]:
        """Output tensor names, in model order."""
        return list(self._outputs)

    def input_shape(self, name: str) -> tuple[int, ...]:
        """The declared shape of an input tensor."""
        return tuple(int(v) for v in self._detail(self._inputs, name, "input")["shape"])

    def require(self, inputs: dict[str, tuple[int, ...]], outputs: tuple[str, ...], model: str) -> None:
        """Fail clearly when the file is the wrong model: named inputs with these shapes, named outputs exist."""
        for name, shape in inputs.items():
            if name not in self._inputs or self.input_shape(name) != tuple(shape):
                raise ModelLoadError(f"{model}: expected input {name!r} of shape {shape}; the file has "
                                     f"{ {n: tuple(d['shape']) for n, d in self._inputs.items()} }")
        missing = [o for o in outputs if o not in self._outputs]
        if missing:
            raise ModelLoadError(f"{model}: outputs {missing} not in the file (it has {self.output_names})")

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Set the named inputs, invoke, and return every output by name (copies, safe to keep)."""
        for name, value in feeds.items():
            detail = self._detail(self._inputs, name, "input")
            self.interpreter.set_tensor(detail["index"], np.ascontiguousarray(value, dtype=detail["dtype"]))
        self.interpreter.invoke()
        return {name: self.interpreter.get_tensor(d["index"]).copy() for name, d in self._outputs.items()}

    def _detail(self, table: dict, name: str, kind: str) -> dict:
        try:
            return table[name]
        except KeyError:
            raise ModelLoadError(f"{self.path.name}: no {kind} tensor named {name!r} (has {list(table)})") from None


def _check_tflite_file(path: Path) -> None:
    head = check_model_file(path, "TFLite")
    if head[4:8] != TFLITE_MAGIC:
        raise ModelLoadError(f"model file {path} is not a TFLite FlatBuffer (no 'TFL3' identifier): corrupt?")


def load_tflite(path: str | Path, config: TFLiteConfig | None = None) -> TFLiteModel:
    """Load a TFLite model with clear ``ModelLoadError`` messages for missing, empty or corrupt files."""
    return TFLiteModel(path, config)
