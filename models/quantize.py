"""Make int8 (QDQ) variants of the face detectors, the face embedder and the person detector:
``peoplelens assets quantize [NAME...]``.

ONNX Runtime's static quantization (``onnxruntime.quantization``): the float model is brought to opset 13 (per-channel
weights need it), cleaned by ``quant_pre_process`` (shape inference, BatchNorm folded into Conv), calibrated on real
inputs and written in QDQ format (uint8 activations, int8 per-channel weights), which ORT's CPU provider turns into
integer kernels and TensorRT reads as explicit quantization.

Calibration inputs are preprocessed by the wrappers' own ``input_tensor`` (the very code that runs at inference):
frames from the sample videos fitted into 640x480 as the benchmark feeds them (face and person detectors), and
faces aligned from the sample enrolment photos (embedder). ``royal_opera_pedestrians`` is left out, so the
evaluation (``python -m peoplelens.bench.evaluate_int8``) has one multi-person clip calibration never saw.

Per-model recipes (what stays float, and why) are in :data:`RECIPES`; each choice is a measurement on the 2-core
Xeon (one ORT thread, CPU time, float and int8 in the same process). Needs the ``onnx`` package.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from peoplelens.models.assets import AssetManager, default_manager, sha256_file
from peoplelens.models.errors import AssetError
from peoplelens.models.graph_rewrites import prelu_as_min_mul_add
from peoplelens.models.registry import get_spec
from peoplelens.models.variants import INT8_MODELS, VariantManifest, variant_files

log = logging.getLogger(__name__)

FRAME_SIZE = (640, 480)  # the benchmark and the camera: frames fit inside this, aspect kept, never upscaled
#: calibration videos (royal_opera_pedestrians is held out for the evaluation)
CALIBRATION_VIDEOS = ("data/videos/hamilton_short_clip.mp4",) + tuple(
    f"data/videos/talking_heads/liveportrait_{k}.mp4" for k in ("d0", "d3", "d6", "d10", "d11", "d14", "s13", "s18",
                                                               "s29"))
CALIBRATION_FACES = "data/faces/enroll/"
#: calibration: "minmax" (extremes over all inputs), "average" (MinMax with each tensor's range the mean of the
#: per-input ranges: ORT's CalibMovingAverage, robust to outliers, works with inputs of several shapes),
#: "percentile" / "entropy" (histograms; ORT needs every input of one shape for these)
METHODS = ("minmax", "average", "entropy", "percentile")


@dataclass(frozen=True)
class Recipe:
    """How one model is quantized.

    ``keep_float``: which nodes stay float -- ``"depthwise"`` (grouped convs) and ``"stem"`` (the first conv,
    3 input channels), where ORT's int8 kernels measured slower than its float NCHWc kernels (and per-tensor int8
    activations after a depthwise conv lose most precision), ``"heads"`` (the output heads, see :func:`head_nodes`).
    ``rewrite_prelu``: PRelu becomes ``x + (slope-1)*min(x, 0)`` first (exact), because ORT's PRelu kernel is ~10x
    slower than those three element-wise ops and, left in place, forces a dequantize/quantize around every PRelu.
    """

    calibration: str  # "frames" or "faces"
    keep_float: tuple[str, ...] = ()
    rewrite_prelu: bool = False
    per_channel: bool = True
    reduce_range: bool = False  # 7-bit weights: for CPUs without VNNI (u8s8 products may saturate there)
    method: str = "minmax"
    #: operator types to quantize (None: ORT's default list); ("Conv",) leaves activations such as SiLU float
    op_types: tuple[str, ...] | None = None


#: Each choice measured on the 2-core Xeon (Sapphire Rapids, AVX-512 VNNI), ONNX Runtime 1.32, one thread, median CPU
#: ms per inference, float -> int8, and agreement with the float model (python -m peoplelens.bench.evaluate_int8).
RECIPES: dict[str, Recipe] = {
    # all convs int8: 10.4 -> 9.6 ms; ORT's int8 depthwise and 3-channel stem kernels are slower than its float
    # NCHWc ones, so those stay float: 8.6-9.3 ms. Keeping the heads float too changed no recall and cost time.
    # "average" calibration clips the rare high face scores: no face found at all.
    "det_500m": Recipe("frames", keep_float=("depthwise", "stem")),
    # dense 3x3 convs: 41 -> 19 ms
    "det_2.5g": Recipe("frames"),
    # PRelu rewrite alone: 11.1 -> 6.0-7.3 ms (exact). int8 of every op: cosine to the float embedding of the same
    # face 0.91 (MinMax); depthwise float + only convs int8: 0.967; with percentile calibration 0.981 (min 0.961)
    "arcface_mobileface128": Recipe("faces", keep_float=("depthwise",), rewrite_prelu=True, op_types=("Conv",),
                                    method="percentile"),
    # 13.1 -> 12.3 ms, and it loses persons (only 80 % of the float model's found again on the pedestrian clip)
    # whatever stays float (heads, depthwise, SiLU) or however it is calibrated: not recommended, kept measurable
    "yolox_nano": Recipe("frames"),
}


# ---- calibration data ---------------------------------------------------------------------------------------------
def fit_frame(image: np.ndarray, max_size: tuple[int, int] = FRAME_SIZE) -> np.ndarray:
    """Downscale a frame to fit ``max_size`` (aspect kept, never upscaled), as the benchmark feeds the pipeline."""
    h, w = image.shape[:2]
    scale = min(1.0, max_size[0] / w, max_size[1] / h)
    if scale >= 1.0:
        return image
    size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def video_frames(path: Path, count: int) -> list[np.ndarray]:
    """``count`` frames spread evenly over a video, fitted into 640x480 (decoded in memory only)."""
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise AssetError(f"cannot open calibration video {path}")
    try:
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or 1
        wanted = set(np.linspace(0, total - 1, count).round().astype(int).tolist())
        frames: list[np.ndarray] = []
        index = 0
        while len(frames) < len(wanted):
            ok, image = cap.read()
            if not ok:
                break
            if index in wanted:
                frames.append(fit_frame(image))
            index += 1
    finally:
        cap.release()
    return frames


def calibration_frames(manager: AssetManager, per_video: int = 6) -> tuple[list[np.ndarray], list[str]]:
    """Frames from the calibration videos and the data asset names they came from."""
    frames: list[np.ndarray] = []
    for name in CALIBRATION_VIDEOS:
        frames += video_frames(manager.path(name), per_video)
    return frames, list(CALIBRATION_VIDEOS)


def calibration_faces(manager: AssetManager, limit: int | None = None) -> tuple[np.ndarray, list[str]]:
    """Aligned 112x112 BGR crops of the largest face of each enrolment photo (float det_500m with the padded retry,
    as enrolment finds them) and the data asset names used."""
    from peoplelens.models.face_detector import FaceDetectorOptions, create_face_detector
    from peoplelens.models.face_embedder import FaceEmbedder, FaceEmbedderOptions
    from peoplelens.models.images import load_image
    from peoplelens.models.registry import data_assets

    names = sorted(s.name for s in data_assets() if s.relpath.startswith(CALIBRATION_FACES)
                   and s.relpath.lower().endswith((".jpg", ".jpeg", ".png")))[:limit]
    detector = create_face_detector(FaceDetectorOptions(model="det_500m", pad_retry=True, precision="fp32"), manager)
    embedder = FaceEmbedder.from_registry(FaceEmbedderOptions(precision="fp32"), manager)
    crops: list[np.ndarray] = []
    used: list[str] = []
    for name in names:
        image = load_image(manager.path(name))
        faces = detector.detect(image)
        if len(faces) and faces.keypoints is not None:
            crops.append(embedder.align(image, faces.keypoints[int(np.argmax(faces.areas))][None])[0])
            used.append(name)
    if not crops:
        raise AssetError(f"no face found in the calibration photos under {CALIBRATION_FACES}")
    return np.stack(crops), used


def calibration_tensors(name: str, manager: AssetManager, frames: list[np.ndarray] | None = None,
                        faces: np.ndarray | None = None) -> list[np.ndarray]:
    """The network inputs calibration feeds one model, made by its wrapper's ``input_tensor``."""
    from peoplelens.models.face_detector import FaceDetectorOptions, create_face_detector
    from peoplelens.models.face_embedder import FaceEmbedder, FaceEmbedderOptions
    from peoplelens.models.person_detector import PersonDetector, PersonDetectorOptions

    recipe = RECIPES[name]
    if recipe.calibration == "faces":
        if faces is None:
            raise AssetError("embedder calibration needs aligned faces")
        embedder = FaceEmbedder.from_registry(FaceEmbedderOptions(model=name, precision="fp32"), manager)
        # one face per input: ORT's histogram calibrators (entropy, percentile) need inputs of one shape
        return [embedder.input_tensor(faces[i:i + 1]) for i in range(len(faces))]
    if frames is None:
        raise AssetError("detector calibration needs frames")
    if name == "yolox_nano":
        person = PersonDetector.from_registry(PersonDetectorOptions(precision="fp32", tiles=0), manager)
        return [person.input_tensor(f, canvas=person.size)[0] for f in frames]  # the file's fixed input
    detector = create_face_detector(FaceDetectorOptions(model=name, precision="fp32"), manager)
    return [detector.input_tensor(f)[0] for f in frames]


class TensorReader:
    """An ``onnxruntime.quantization.CalibrationDataReader`` over a list of input tensors."""

    def __init__(self, input_name: str, tensors: list[np.ndarray]) -> None:
        self.input_name, self.tensors = input_name, tensors
        self._it: Iterator[np.ndarray] = iter(tensors)

    def get_next(self) -> dict[str, np.ndarray] | None:
        """The next input feed, or None at the end."""
        tensor = next(self._it, None)
        return None if tensor is None else {self.input_name: tensor}

    def rewind(self) -> None:
        """Start again from the first tensor."""
        self._it = iter(self.tensors)


# ---- the graph ----------------------------------------------------------------------------------------------------
def _onnx():
    try:
        import onnx
        from onnx import version_converter
    except ImportError:
        raise AssetError("making int8 models needs the onnx package: pip install onnx") from None
    return onnx, version_converter


def prepare_float(source: Path, dest: Path, recipe: Recipe) -> Path:
    """Opset >= 13, the optional PRelu rewrite, then ``quant_pre_process`` (shape inference + BN folding)."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    onnx, version_converter = _onnx()
    model = onnx.load(str(source))
    if model.opset_import[0].version < 13:
        model = version_converter.convert_version(model, 13)
    if recipe.rewrite_prelu:
        model = prelu_as_min_mul_add(model)
    staged = dest.with_name(dest.stem + ".opset13.onnx")
    onnx.save(model, str(staged))
    # symbolic shape inference needs sympy and adds nothing for these models (dynamic H, W only)
    quant_pre_process(str(staged), str(dest), skip_symbolic_shape=True)
    staged.unlink()
    return dest


def head_nodes(model) -> list[str]:
    """The output heads: every node between a graph output and the nearest Conv on its path (that Conv included).
    Walks data inputs only (all inputs of a Concat, the first of anything else), so shape arithmetic is not
    followed back into the backbone."""
    producer = {out: node for node in model.graph.node for out in node.output}
    seen: set[str] = set()
    stack = [o.name for o in model.graph.output]
    while stack:
        node = producer.get(stack.pop())
        if node is None or node.name in seen:
            continue
        seen.add(node.name)
        if node.op_type != "Conv":
            stack += list(node.input) if node.op_type == "Concat" else list(node.input[:1])
    return [n.name for n in model.graph.node if n.name in seen]


def float_nodes(model_path: Path, keep_float: tuple[str, ...]) -> list[str]:
    """Names of the nodes a recipe keeps in float: ``depthwise`` / ``stem`` Conv nodes, ``heads`` (see
    :func:`head_nodes`)."""
    onnx, _ = _onnx()
    model = onnx.load(str(model_path))
    weights = {t.name: list(t.dims) for t in model.graph.initializer}
    names = []
    for node in model.graph.node:
        if node.op_type != "Conv":
            continue
        group = next((a.i for a in node.attribute if a.name == "group"), 1)
        dims = weights.get(node.input[1], [0, 0])
        if ("depthwise" in keep_float and group > 1) or ("stem" in keep_float and group == 1 and dims[1] <= 3):
            names.append(node.name)
    if "heads" in keep_float:
        names += [n for n in head_nodes(model) if n not in names]
    return names


@dataclass
class QuantizeResult:
    """What ``quantize_model`` made."""

    name: str
    path: Path
    manifest: VariantManifest
    float_nodes: list[str] = field(default_factory=list)


def quantize_file(source: Path, dest: Path, tensors: list[np.ndarray], recipe: Recipe) -> list[str]:
    """Quantize one float ONNX file to a QDQ int8 file with the given calibration inputs; returns the Conv nodes
    kept in float."""
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    if recipe.method not in METHODS:
        raise AssetError(f"calibration method {recipe.method!r}: use one of {', '.join(METHODS)}")
    if not tensors:
        raise AssetError(f"no calibration inputs for {source.name}")
    with tempfile.TemporaryDirectory(prefix="peoplelens-quantize-") as tmp:
        prepared = prepare_float(source, Path(tmp) / "prepared.onnx", recipe)
        keep = float_nodes(prepared, recipe.keep_float)
        input_name = ort.InferenceSession(str(prepared), providers=["CPUExecutionProvider"]).get_inputs()[0].name
        method = {"minmax": CalibrationMethod.MinMax, "average": CalibrationMethod.MinMax,
                  "entropy": CalibrationMethod.Entropy, "percentile": CalibrationMethod.Percentile}[recipe.method]
        if recipe.method in ("entropy", "percentile") and len({t.shape for t in tensors}) > 1:
            raise AssetError(f"{recipe.method} calibration needs inputs of one shape (ONNX Runtime's histogram "
                             f"calibrators); {source.name}'s calibration inputs have several: use minmax or average")
        quantize_static(str(prepared), str(dest), TensorReader(input_name, tensors), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=recipe.per_channel,
                        reduce_range=recipe.reduce_range, calibrate_method=method, nodes_to_exclude=keep,
                        op_types_to_quantize=list(recipe.op_types) if recipe.op_types else None,
                        extra_options={"CalibTensorRangeSymmetric": False,
                                       "CalibMovingAverage": recipe.method == "average"})
    return keep


def quantize_model(name: str, manager: AssetManager | None = None, *, tensors: list[np.ndarray],
                   calibration_assets: list[str], recipe: Recipe | None = None) -> QuantizeResult:
    """Quantize one registry model with the given calibration inputs; writes ``<name>.int8.onnx`` and its manifest
    atomically into the manager's asset cache."""
    import onnxruntime as ort

    spec = get_spec(name)
    manager = manager or default_manager()
    recipe = recipe or RECIPES[spec.name]
    source = manager.path(spec.name)
    model_file, manifest_file = variant_files(spec.name, manager)
    model_file.parent.mkdir(parents=True, exist_ok=True)
    staged = model_file.with_name(model_file.name + ".part")
    try:
        keep = quantize_file(source, staged, tensors, recipe)
        manifest = VariantManifest(
            name=spec.name, precision="int8", file=model_file.name, sha256=sha256_file(staged),
            size=staged.stat().st_size, source_sha256=spec.sha256, onnxruntime=ort.__version__,
            recipe={**asdict(recipe), "float_nodes": keep},
            calibration={"inputs": len(tensors), "assets": calibration_assets,
                         "asset_sha256": {a: get_spec(a).sha256 for a in calibration_assets if _is_asset(a)}},
        )
        os.replace(staged, model_file)
    finally:
        staged.unlink(missing_ok=True)
    tmp_manifest = manifest_file.with_name(manifest_file.name + ".part")
    tmp_manifest.write_text(manifest.to_json())
    os.replace(tmp_manifest, manifest_file)
    return QuantizeResult(spec.name, model_file, manifest, keep)


def _is_asset(name: str) -> bool:
    try:
        get_spec(name)
    except KeyError:
        return False
    return True


def quantize_all(names: list[str] | None = None, manager: AssetManager | None = None, *, frames_per_video: int = 6,
                 method: str | None = None, say: Callable[[str], None] = log.info) -> list[QuantizeResult]:
    """Quantize every named model (default: all with a recipe) on the standard calibration set."""
    manager = manager or default_manager()
    names = [get_spec(n).name for n in (names or INT8_MODELS)]
    unknown = [n for n in names if n not in RECIPES]
    if unknown:
        raise AssetError(f"no int8 recipe for {', '.join(unknown)} (models with one: {', '.join(RECIPES)})")
    frames = frame_assets = faces = face_assets = None
    results = []
    for name in names:
        recipe = RECIPES[name] if method is None else _with_method(RECIPES[name], method)
        if recipe.calibration == "frames" and frames is None:
            frames, frame_assets = calibration_frames(manager, frames_per_video)
            say(f"calibration: {len(frames)} frames from {len(frame_assets)} videos")
        if recipe.calibration == "faces" and faces is None:
            faces, face_assets = calibration_faces(manager)
            say(f"calibration: {len(faces)} aligned faces from the enrolment photos")
        tensors = calibration_tensors(name, manager, frames, faces)
        assets = frame_assets if recipe.calibration == "frames" else face_assets
        say(f"quantizing {name} ({recipe.method}, {len(tensors)} inputs) ...")
        results.append(quantize_model(name, manager, tensors=tensors, calibration_assets=list(assets or []),
                                      recipe=recipe))
    return results


def _with_method(recipe: Recipe, method: str) -> Recipe:
    from dataclasses import replace

    return replace(recipe, method=method)
