"""Exact ONNX graph rewrites that make a model faster under ONNX Runtime (needs the ``onnx`` package).

ORT's CPU PRelu kernel is ~10x slower than element-wise ops (a 64x56x56 tensor: 860 vs ~90 us), and in an int8
graph it cannot be fused, so every PRelu costs a dequantize/quantize pair too. ArcFace-128 has 33. Two rewrites, the
same numbers to float rounding:

* ``prelu_as_min_mul_add``: ``PRelu(x, a) = x + (a - 1) * min(x, 0)``, three element-wise ops (the int8 recipe's:
  quantization sees plain arithmetic).
* ``prelu_as_depthwise_convs``: ``PRelu(x, a) = x + (1 - a) * relu(-x)``, as two 1x1 depthwise Convs (weights -1
  and 1 - a) with the Relu and the Add fused into them by ORT. The float embedder's: between ORT's blocked (NCHWc)
  convolutions, element-wise ops with a per-channel operand force a layout reorder before and after each of them
  (~35 % of the rewritten ArcFace-128's time went to them and to the reorders), where these Convs stay blocked.
  ArcFace-128 at 1 thread: 11.8 ms with PRelu, 6.5 with Min/Mul/Add, 5.6 with the Convs.

And ``free_image_dims``: a fully convolutional detector exported with a fixed input size declares it, and ORT then
refuses any other; with the height and width (and the outputs' shapes) left open it runs a 16:9 frame on a 16:9
canvas instead of padding it square (the weights and every operator unchanged).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def _constant_values(model) -> dict[str, np.ndarray]:
    from onnx import numpy_helper

    values = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            values[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    return values


#: one PRelu's replacement: (index, input, output, slope) -> (nodes, initializers)
Replacement = Callable[[int, str, str, np.ndarray], tuple[list[Any], list[Any]]]


def _replace_prelus(model, replace: Replacement, accepts: Callable[[Any, np.ndarray], bool] = lambda node, s: True,
                    shared: tuple[Any, ...] = ()):
    """A copy of ``model`` with every PRelu whose slope is a constant (and that ``accepts``) replaced by ``replace``
    (plus the ``shared`` initializers the replacements use, once); the slopes no longer used are dropped and the
    result is checked."""
    import onnx

    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    values = _constant_values(model)
    nodes, added = [], []
    for index, node in enumerate(graph.node):
        slope = values.get(node.input[1]) if node.op_type == "PRelu" else None
        if slope is None or not accepts(node, slope):
            nodes.append(node)
            continue
        new_nodes, new_inits = replace(index, node.input[0], node.output[0], slope.astype(np.float32))
        nodes += new_nodes
        added += new_inits
    if not added:
        return model
    del graph.node[:]
    graph.node.extend(nodes)
    graph.initializer.extend([*added, *shared])
    used = {i for n in graph.node for i in n.input} | {o.name for o in graph.output}
    keep = [t for t in graph.initializer if t.name in used]  # drop the PRelu slopes now unused
    del graph.initializer[:]
    graph.initializer.extend(keep)
    nodes_kept = [n for n in graph.node if not (n.op_type == "Constant" and n.output[0] not in used)]
    del graph.node[:]
    graph.node.extend(nodes_kept)
    onnx.checker.check_model(model)
    return model


def prelu_as_min_mul_add(model):
    """A copy of ``model`` with every PRelu whose slope is a constant replaced by Min, Mul and Add."""
    from onnx import helper, numpy_helper

    zero = numpy_helper.from_array(np.zeros((), np.float32), "prelu_rewrite_zero")

    def replace(index: int, x: str, y: str, slope: np.ndarray) -> tuple[list[Any], list[Any]]:
        base = f"prelu_rewrite_{index}"
        nodes = [helper.make_node("Min", [x, zero.name], [f"{base}_neg"], name=f"{base}_min"),
                 helper.make_node("Mul", [f"{base}_neg", f"{base}_slope_minus_1"], [f"{base}_scaled"],
                                  name=f"{base}_mul"),
                 helper.make_node("Add", [x, f"{base}_scaled"], [y], name=f"{base}_add")]
        return nodes, [numpy_helper.from_array(slope - 1.0, f"{base}_slope_minus_1")]

    return _replace_prelus(model, replace, shared=(zero,))


def _channels_of_4d_input(model) -> dict[str, int]:
    """The channel count of every 4-D (N, C, H, W) tensor whose shape ONNX shape inference knows."""
    import onnx

    inferred = onnx.shape_inference.infer_shapes(model)
    out = {}
    for info in [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]:
        dims = info.type.tensor_type.shape.dim
        if len(dims) == 4 and dims[1].HasField("dim_value"):
            out[info.name] = dims[1].dim_value
    return out


def prelu_as_depthwise_convs(model):
    """A copy of ``model`` with every PRelu on a 4-D input whose slope is one constant per channel replaced by two 1x1
    depthwise Convs, a Relu and an Add (which ORT fuses into the Convs); other PRelus as Min, Mul and Add."""
    from onnx import helper, numpy_helper

    channels = _channels_of_4d_input(model)

    def per_channel(node: Any, slope: np.ndarray) -> bool:
        c = channels.get(node.input[0])
        return c is not None and slope.size == c and slope.shape in ((c, 1, 1), (1, c, 1, 1))

    def replace(index: int, x: str, y: str, slope: np.ndarray) -> tuple[list[Any], list[Any]]:
        c, base = slope.size, f"prelu_dwconv_{index}"
        nodes = [helper.make_node("Conv", [x, f"{base}_minus_one"], [f"{base}_negated"], name=f"{base}_negate",
                                  group=c, kernel_shape=[1, 1]),
                 helper.make_node("Relu", [f"{base}_negated"], [f"{base}_negative_part"], name=f"{base}_relu"),
                 helper.make_node("Conv", [f"{base}_negative_part", f"{base}_one_minus_slope"], [f"{base}_scaled"],
                                  name=f"{base}_scale", group=c, kernel_shape=[1, 1]),
                 helper.make_node("Add", [x, f"{base}_scaled"], [y], name=f"{base}_add")]
        inits = [numpy_helper.from_array(-np.ones((c, 1, 1, 1), np.float32), f"{base}_minus_one"),
                 numpy_helper.from_array((1.0 - slope).reshape(c, 1, 1, 1), f"{base}_one_minus_slope")]
        return nodes, inits

    return prelu_as_min_mul_add(_replace_prelus(model, replace, per_channel))


def prelu_rewrite_bytes(model_bytes: bytes) -> bytes:
    """:func:`prelu_as_depthwise_convs` on a serialized model (for ``create_session(..., transform=...)``)."""
    import onnx

    return prelu_as_depthwise_convs(onnx.load_from_string(model_bytes)).SerializeToString()


def free_image_dims(model_bytes: bytes) -> bytes:
    """The serialized model with its image inputs' height and width (NCHW dims 2 and 3) and its outputs' shapes left
    open, the rest untouched (for ``create_session(..., transform=...)``)."""
    import onnx

    model = onnx.load_from_string(model_bytes)
    initializers = {t.name for t in model.graph.initializer}
    for value in model.graph.input:
        dims = value.type.tensor_type.shape.dim
        if value.name not in initializers and len(dims) == 4:
            dims[2].dim_param, dims[3].dim_param = f"{value.name}_height", f"{value.name}_width"
    for value in model.graph.output:
        for k, dim in enumerate(value.type.tensor_type.shape.dim):
            dim.dim_param = f"{value.name}_{k}"
    del model.graph.value_info[:]  # shapes inferred for the fixed size
    onnx.checker.check_model(model)
    return model.SerializeToString()
