"""Deterministic steps that make a runnable asset from a published one (``AssetSpec.derived``).

Each step reads the verified source file and writes the result; the asset manager then checks the result
against the registry's sha256, so a step that produced anything else (another ``onnx`` version serialising
differently, a changed source) is an error, never a silently different model. Steps use the ``onnx``
package (a base dependency), imported here only.
"""

from __future__ import annotations

from pathlib import Path

from peoplelens.models.errors import AssetError


def keep_only_used_graph_inputs(source: Path, dest: Path) -> None:
    """Remove every graph input but the ones a node reads that are not initializers (the image input).

    OpenCV Zoo's int8 block-quantised SFace lists its original float weights as graph inputs although
    DequantizeLinear nodes now make them: no node reads those 29 inputs, and ONNX Runtime refuses to run
    without values for them. Its other weights are initializers that are also listed as inputs, which makes
    ONNX Runtime warn once per weight and skip constant folding. Nodes and weights are left untouched.
    """
    import onnx

    model = onnx.load(str(source))
    graph = model.graph
    initializers = {init.name for init in graph.initializer}
    read = {name for node in graph.node for name in node.input}
    keep = [value for value in graph.input if value.name in read and value.name not in initializers]
    if not keep:
        raise AssetError(f"{source}: no graph input is read by a node; is this the right model?")
    del graph.input[:]
    graph.input.extend(keep)
    onnx.checker.check_model(model)
    dest.write_bytes(model.SerializeToString())


STEPS = {"keep_only_used_graph_inputs": keep_only_used_graph_inputs}
