"""Face embedder (ArcFace family, SFace): 5-point similarity alignment to the 112x112 ArcFace template
(:mod:`peoplelens.models.alignment`), batched inference and L2-normalised vectors."""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np
import onnxruntime as ort

from peoplelens.models.alignment import align_face
from peoplelens.models.assets import AssetManager, default_manager
from peoplelens.models.errors import ModelLoadError
from peoplelens.models.images import ensure_bgr, nchw_blob
from peoplelens.models.registry import AssetSpec, get_spec
from peoplelens.models.sessions import SessionConfig, create_session
from peoplelens.models.variants import model_path, resolve_precision


@dataclass(frozen=True)
class FaceEmbedderOptions:
    """Options for the face embedder."""

    model: str = "arcface_mobileface128"
    batch_size: int = 16
    #: "fp32" or "int8" (``peoplelens assets quantize``); None = $PEOPLELENS_PRECISION, else fp32
    precision: str | None = None
    #: fp32 only: load the model with every PRelu rewritten as ``x + (a-1)*min(x, 0)`` (same numbers to 1e-6;
    #: ORT's PRelu kernel is ~10x slower than those three ops): ArcFace-128 11.7 -> 7.3 ms CPU per face
    fast_prelu: bool = False


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class FaceEmbedder:
    """Turns aligned face crops into unit-length identity vectors (cosine similarity = dot product)."""

    def __init__(self, session: ort.InferenceSession, spec: AssetSpec, options: FaceEmbedderOptions) -> None:
        inputs = session.get_inputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            raise ModelLoadError(f"{spec.name}: expected one NCHW input, got {[i.shape for i in inputs]}")
        self.session, self.spec, self.options = session, spec, options
        self.input_name = inputs[0].name
        fixed_batch = inputs[0].shape[0]  # SFace's graph takes exactly one face, ArcFace-128's any number
        self.batch_size = fixed_batch if isinstance(fixed_batch, int) and fixed_batch > 0 else options.batch_size
        self.size = spec.required_preprocess.input_size or (112, 112)
        self.dim = int(session.get_outputs()[0].shape[-1])

    @classmethod
    def from_registry(
        cls, options: FaceEmbedderOptions | None = None, manager: AssetManager | None = None,
        session_config: SessionConfig | None = None,
    ) -> FaceEmbedder:
        """Build from the registry asset named by ``options.model``."""
        options = options or FaceEmbedderOptions()
        spec = get_spec(options.model)
        options = replace(options, precision=resolve_precision(spec.name, options.precision))
        path = model_path(spec.name, options.precision, manager or default_manager())
        transform = None
        if options.fast_prelu and options.precision == "fp32":  # the int8 recipe has the rewrite built in
            from peoplelens.models.graph_rewrites import prelu_rewrite_bytes

            transform = prelu_rewrite_bytes
        return cls(create_session(path, session_config, spec.session_entries, transform), spec, options)

    def align(self, image: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
        """Aligned BGR crops (N, 112, 112, 3) from 5-point keypoints (N, 5, 2)."""
        image = ensure_bgr(image)
        keypoints = np.asarray(keypoints, dtype=np.float32).reshape(-1, 5, 2)
        if len(keypoints) == 0:
            return np.zeros((0, self.size[1], self.size[0], 3), np.uint8)
        return np.stack([align_face(image, k, image_size=self.size[0]) for k in keypoints])

    def embed_aligned(self, crops: np.ndarray) -> np.ndarray:
        """L2-normalised embeddings (N, D) of aligned BGR crops (N, 112, 112, 3), in batches."""
        crops = np.asarray(crops)
        if len(crops) == 0:
            return np.zeros((0, self.dim), np.float32)
        out = []
        for start in range(0, len(crops), self.batch_size):
            blob = self.input_tensor(crops[start : start + self.batch_size])
            out.append(self.session.run(None, {self.input_name: blob})[0])
        return l2_normalise(np.concatenate(out))

    def input_tensor(self, crops: np.ndarray) -> np.ndarray:
        """The network input (N, 3, 112, 112) of aligned BGR crops: the registry's colour order and normalisation.
        Also what int8 calibration feeds the model."""
        return nchw_blob(np.asarray(crops), self.spec.required_preprocess)

    def embed(self, image: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
        """Align the faces given by their keypoints and embed them: (N, D), unit length."""
        return self.embed_aligned(self.align(image, keypoints))


def resize_for_embedding(crop: np.ndarray, size: tuple[int, int] = (112, 112)) -> np.ndarray:
    """Resize an already-aligned face crop (e.g. LFW 112x112 pairs) to the embedder's input size."""
    return cv2.resize(ensure_bgr(crop), size, interpolation=cv2.INTER_AREA)
