"""Person (body) detector: YOLOX-Nano (COCO, class 0 = person) on one ONNX session, with optional tiling.

Preprocessing and decode follow ``shared/models/MANIFEST.md`` §4 and the registry entry ``yolox_nano``:
BGR raw 0..255, letterbox into the top-left of 416x416 padded with 114; grids 52/26/13 for strides 8/16/32;
centre = (d + grid) * stride, wh = exp(.) * stride; score = objectness x P(person); NMS IoU 0.45. The graph is
fully convolutional, so a window is letterboxed into the smallest canvas of multiples of 32 within 416x416 that
holds it at that scale with 32 px of padding to spare (the registry's ``size_multiple``; a 16:9 frame 416x288,
~30 % less work than padding it square; see :meth:`PersonDetector.canvas_for`).

Tiling. The whole 1280x720 frame shrunk to 416 px loses people under ~100 px tall (MANIFEST range test:
0/9 found at 40 px). With tiles the frame is also cut into N overlapping square tiles (side = frame height)
spanning its width, each run at 416 px, and all boxes are merged with NMS. Boxes cut by a tile's inner
border are dropped when another tile sees that person whole. The model has a fixed batch of 1, so tiles are
a loop: cost = (1 + N) x one inference (~8 ms each on the 2-core dev box).

A gaze tile (:func:`gaze_window`, passed to ``detect`` as an extra window) is one square around a point of the
frame at full resolution: on a 1920x1080 frame a 720-px square reaches people ~40-80 px tall (~10 m) near the
gaze for one extra inference instead of three.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import onnxruntime as ort

from peoplelens.core.types import Detections, nms
from peoplelens.models.assets import AssetManager, default_manager
from peoplelens.models.errors import ModelLoadError
from peoplelens.models.graph_rewrites import free_image_dims
from peoplelens.models.images import ensure_bgr, letterbox, nchw_blob
from peoplelens.models.registry import AssetSpec, get_spec
from peoplelens.models.sessions import SessionConfig, check_inputs, create_session
from peoplelens.models.variants import model_path, resolve_precision

PERSON_CLASS = 0

Window = tuple[int, int, int, int]
WindowResult = tuple[np.ndarray, np.ndarray]
#: runs ``fn`` over ``items``, possibly in parts on several threads, results in order (``Workers.split``)
SplitWindows = Callable[[Sequence[Window], Callable[[Sequence[Window]], list[WindowResult]]], list[WindowResult]]


@dataclass(frozen=True)
class PersonDetectorOptions:
    """Options for the person detector.

    ``tiles``: ``0`` = whole frame only; ``N`` = whole frame + N square tiles across the width; ``"auto"`` =
    N = ceil(aspect ratio) + 1 for frames wider than tall by > 10% (3 for 16:9), 0 otherwise.
    """

    model: str = "yolox_nano"
    score_threshold: float = 0.3
    nms_iou: float = 0.45
    tiles: int | str = "auto"
    min_height_px: float = 0.0  # drop boxes shorter than this (frame pixels)
    #: a tile box within this many network-input pixels of an inner tile border is a cut-off body part (the
    #: whole frame or the neighbouring tile sees that person whole), so it is dropped
    border_margin_px: float = 8.0
    #: "fp32" or "int8" (``peoplelens assets quantize``); None = $PEOPLELENS_PRECISION, else fp32
    precision: str | None = None


def tile_windows(width: int, height: int, tiles: int | str) -> list[tuple[int, int, int, int]]:
    """The crop windows (x1, y1, x2, y2) to run: the whole frame first, then the square tiles.

    Tiles have side = the shorter frame side and are spread evenly along the longer side, overlapping."""
    windows = [(0, 0, width, height)]
    if tiles == "auto":
        long_, short = max(width, height), min(width, height)
        n = int(np.ceil(long_ / short)) + 1 if long_ > 1.1 * short else 0
    else:
        n = int(tiles)
    if n < 0:
        raise ValueError(f"tiles must be 'auto' or >= 0, got {tiles!r}")
    if n == 0:
        return windows
    side = min(width, height)
    if width >= height:
        starts = np.linspace(0, width - side, n).round().astype(int) if n > 1 else [(width - side) // 2]
        windows += [(int(x), 0, int(x) + side, height) for x in starts]
    else:
        starts = np.linspace(0, height - side, n).round().astype(int) if n > 1 else [(height - side) // 2]
        windows += [(0, int(y), width, int(y) + side) for y in starts]
    return windows


def gaze_window(width: int, height: int, side: int, centre: tuple[float, float] | None = None
                ) -> tuple[int, int, int, int]:
    """A square window of ``side`` pixels (at most the frame's shorter side) centred on ``centre`` (default: the
    frame centre), shifted to lie inside the frame."""
    side = max(1, min(int(side), width, height))
    cx, cy = centre if centre is not None else (width / 2, height / 2)
    x0 = int(round(min(max(cx - side / 2, 0), width - side)))
    y0 = int(round(min(max(cy - side / 2, 0), height - side)))
    return x0, y0, x0 + side, y0 + side


class PersonDetector:
    """YOLOX-Nano person detector: ``detect(bgr) -> Detections`` of class 0 boxes in frame pixels."""

    STRIDES = (8, 16, 32)

    def __init__(self, session: ort.InferenceSession, spec: AssetSpec, options: PersonDetectorOptions) -> None:
        check_inputs(session, {"images": 4}, spec.name)
        pre = spec.preprocess
        if pre is None or pre.input_size is None:
            raise ModelLoadError(f"{spec.name}: the registry entry has no fixed input size")
        out = session.get_outputs()[0]
        self.session, self.spec, self.options = session, spec, options
        self.input_name = session.get_inputs()[0].name
        self.output_name = out.name
        self.size = pre.input_size  # the largest canvas (w, h)
        # canvases fitted to each window's aspect when the registry says the graph takes them and the session's
        # input is not fixed (from_registry frees it)
        open_dims = not all(isinstance(d, int) for d in session.get_inputs()[0].shape[2:])
        self.size_multiple = pre.size_multiple if open_dims else 0
        self._grids: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        predictions = len(self.grids(self.size)[0])
        if isinstance(out.shape[1], int) and out.shape[1] != predictions:
            raise ModelLoadError(f"{spec.name}: expected {predictions} predictions, the model has {out.shape}")

    @classmethod
    def from_registry(
        cls, options: PersonDetectorOptions | None = None, manager: AssetManager | None = None,
        session_config: SessionConfig | None = None,
    ) -> PersonDetector:
        """Build from the registry asset named by ``options.model``."""
        options = options or PersonDetectorOptions()
        spec = get_spec(options.model)
        options = replace(options, precision=resolve_precision(spec.name, options.precision))
        path = model_path(spec.name, options.precision, manager or default_manager())
        transform = free_image_dims if spec.required_preprocess.size_multiple else None
        return cls(create_session(path, session_config, transform=transform), spec, options)

    def grids(self, canvas: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """The grid cell (x, y) and stride of each prediction of a (w, h) canvas, in the output's order."""
        if canvas not in self._grids:
            grids, strides = [], []
            for s in self.STRIDES:
                gh, gw = canvas[1] // s, canvas[0] // s
                xv, yv = np.meshgrid(np.arange(gw), np.arange(gh))
                grids.append(np.stack([xv, yv], -1).reshape(-1, 2))
                strides.append(np.full((gh * gw, 1), s))
            self._grids[canvas] = (np.concatenate(grids).astype(np.float32),
                                   np.concatenate(strides).astype(np.float32))
        return self._grids[canvas]

    def canvas_for(self, width: int, height: int) -> tuple[int, int]:
        """The network input (w, h) for a window of this size: the largest canvas, or (registry ``size_multiple``)
        the smallest canvas of that multiple holding the window at the largest canvas's scale with at least one
        multiple of padding beyond it (a 16:9 frame: 416x288).

        The padding: YOLOX learnt letterboxed images, grey beyond the picture. With only the 22 grey rows below a
        16:9 frame (416x256) and then the convolutions' black border, people cut by the frame's bottom edge scored
        differently (the royal-opera clip: 5 face-track switches instead of 3 in 3 runs each of ``python -m
        peoplelens.sim_harness.eval_tracking``); with 32 more rows, 3 as with the square canvas."""
        full_w, full_h = self.size
        m = self.size_multiple
        if not m:
            return self.size
        scale = min(full_w / max(1, width), full_h / max(1, height))

        def side(picture: int, full: int) -> int:  # the picture, one multiple to spare, rounded up to a multiple
            return min(full, (max(1, round(picture * scale)) + 2 * m - 1) // m * m)

        return side(width, full_w), side(height, full_h)

    def input_tensor(self, image: np.ndarray, window: tuple[int, int, int, int] | None = None,
                     canvas: tuple[int, int] | None = None) -> tuple[np.ndarray, float]:
        """The network input for one window of a BGR frame (default: the whole frame), letterboxed into the
        top-left of ``canvas`` (default: :meth:`canvas_for` the window) padded with 114, and the window-to-network
        scale. Also what int8 calibration feeds the model (on the full 416x416 canvas of the file as it is)."""
        x1, y1, x2, y2 = window or (0, 0, image.shape[1], image.shape[0])
        boxed, scale = letterbox(image[y1:y2, x1:x2], canvas or self.canvas_for(x2 - x1, y2 - y1),
                                 self.spec.required_preprocess.pad_value)
        return nchw_blob(boxed, self.spec.required_preprocess), scale

    def _run_window(self, image: np.ndarray, window: Window) -> WindowResult:
        x1, y1, x2, y2 = window
        blob, scale = self.input_tensor(image, window)
        raw = self.session.run([self.output_name], {self.input_name: blob})[0][0]
        grid, strides = self.grids((blob.shape[3], blob.shape[2]))
        scores = raw[:, 4] * raw[:, 5 + PERSON_CLASS]
        keep = scores >= self.options.score_threshold
        if not keep.any():
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        raw, scores = raw[keep], scores[keep]
        stride = strides[keep]
        centre = (raw[:, :2] + grid[keep]) * stride
        wh = np.exp(np.clip(raw[:, 2:4], -10, 10)) * stride
        boxes = np.concatenate([centre - wh / 2, centre + wh / 2], 1)
        if window != (0, 0, image.shape[1], image.shape[0]):
            cw, ch = (x2 - x1) * scale, (y2 - y1) * scale
            m = self.options.border_margin_px
            inner_left, inner_right = x1 > 0, x2 < image.shape[1]
            inner_top, inner_bottom = y1 > 0, y2 < image.shape[0]
            cut = ((inner_left & (boxes[:, 0] <= m)) | (inner_right & (boxes[:, 2] >= cw - m))
                   | (inner_top & (boxes[:, 1] <= m)) | (inner_bottom & (boxes[:, 3] >= ch - m)))
            boxes, scores = boxes[~cut], scores[~cut]
        boxes = boxes / scale + np.array([x1, y1, x1, y1], np.float32)
        return boxes.astype(np.float32), scores.astype(np.float32)

    def windows(self, width: int, height: int) -> list[tuple[int, int, int, int]]:
        """The windows one ``detect`` call runs for a frame of this size (whole frame first)."""
        return tile_windows(width, height, self.options.tiles)

    def detect(self, image: np.ndarray, extra_windows: Sequence[Window] = (),
               split: SplitWindows | None = None) -> Detections:
        """People in a BGR frame: boxes (xyxy, frame pixels), scores, ``class_ids`` all 0, best first.
        ``extra_windows`` (x1, y1, x2, y2) are run as well, like tiles (e.g. a :func:`gaze_window`). ``split``
        runs the windows, possibly on several threads at once (``Workers.split``); the result is the same."""
        image = ensure_bgr(image)
        h, w = image.shape[:2]
        windows = [*self.windows(w, h), *extra_windows]

        def run(part: Sequence[Window]) -> list[WindowResult]:
            return [self._run_window(image, window) for window in part]

        found = split(windows, run) if split is not None and len(windows) > 1 else run(windows)
        boxes = np.concatenate([b for b, _ in found])
        scores = np.concatenate([sc for _, sc in found])
        if len(boxes) == 0:
            return Detections(boxes, scores, class_ids=np.zeros(0, np.int64))
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
        keep = nms(boxes, scores, self.options.nms_iou)
        det = Detections(boxes[keep], scores[keep], class_ids=np.zeros(len(keep), np.int64))
        if self.options.min_height_px > 0:
            det = det[det.heights >= self.options.min_height_px]
        return det
