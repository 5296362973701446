"""Ignored scope: what NNCF must leave in floating point, from the config and from graph analysis.

`auto: [detection_head]` walks back from every model output through post-processing operations (reshapes,
concatenations, activations, box arithmetic, NMS) and stops at the first layer with weights. That tail holds
pixel-range coordinates next to 0–1 scores; quantizing it costs accuracy and buys no speed. The walk also passes
a YOLO head's DFL convolution (fixed weights 0, 1, ..., reg_max − 1 computing the softmax expectation), as
NNCF's own YOLOv8 example keeps it in float by hand.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from quantflow.core.config_base import StrictModel

POST_PROCESSING = {
    "Add", "Subtract", "Multiply", "Divide", "Power", "Exp", "Log", "Sqrt", "Maximum", "Minimum", "Clamp",
    "Sigmoid", "SoftMax", "Softmax", "LogSoftmax", "Concat", "Reshape", "Transpose", "Squeeze", "Unsqueeze",
    "StridedSlice", "Slice", "Split", "VariadicSplit", "Gather", "GatherND", "TopK", "NonMaxSuppression",
    "DetectionOutput", "Convert", "ShapeOf", "Select", "ReduceMax", "ReduceMin", "ReduceSum", "Range", "Tile",
    "Broadcast", "Floor", "Ceiling", "Round", "Abs", "Negative", "Relu", "Greater", "Less", "Equal", "NotEqual",
    "LogicalAnd", "LogicalOr", "LogicalNot", "Loop", "Interpolate",
}
STOP = {"Constant", "Parameter"}


class SubgraphConfig(StrictModel):
    inputs: list[str] = Field(description="Names of the operations where the subgraph starts.")
    outputs: list[str] = Field(description="Names of the operations where the subgraph ends.")


class IgnoredScopeConfig(StrictModel):
    """Operations to keep in floating point: by name, regex pattern, op type, subgraph, or found automatically."""

    names: list[str] = []
    patterns: list[str] = []
    types: list[str] = []
    subgraphs: list[SubgraphConfig] = []
    auto: list[Literal["detection_head"]] = Field(
        default_factory=list, description="detection_head: keep the box decoding / score tail in floating point."
    )
    validate_names: bool = True

    def resolve(self, model) -> tuple[object, list[dict]]:
        """The NNCF IgnoredScope for `model`, and the operations the automatic rules added (for the report)."""
        import nncf

        found = detection_head(model) if "detection_head" in self.auto else []
        scope = nncf.IgnoredScope(
            names=[*self.names, *(op["name"] for op in found if op["name"] not in self.names)],
            patterns=list(self.patterns), types=list(self.types),
            subgraphs=[nncf.Subgraph(inputs=list(s.inputs), outputs=list(s.outputs)) for s in self.subgraphs],
            validate=self.validate_names,
        )
        return scope, found


def is_dfl_convolution(node) -> bool:
    """A 1×1 convolution to one channel whose weights are 0, 1, ..., R − 1: the DFL integral, not a learned layer."""
    if node.get_type_name() != "Convolution":
        return False
    weights = node.input(1).get_source_output().get_node()
    while weights.get_type_name() == "Convert":
        weights = weights.input(0).get_source_output().get_node()
    if weights.get_type_name() != "Constant":
        return False
    values = weights.get_data().reshape(-1)
    shape = tuple(weights.get_output_shape(0))
    return (len(shape) == 4 and shape[0] == 1 and shape[2:] == (1, 1) and values.size > 1
            and bool((values == range(values.size)).all()))


def detection_head(model) -> list[dict]:
    """Operations between the last weighted layers and the outputs: name and type, in graph order."""
    head: dict[str, str] = {}
    stack = [port.get_source_output().get_node() for result in model.get_results() for port in result.inputs()]
    seen: set[str] = set()
    while stack:
        node = stack.pop()
        name = node.get_friendly_name()
        kind = node.get_type_name()
        if name in seen or kind in STOP or (kind not in POST_PROCESSING and not is_dfl_convolution(node)):
            continue
        seen.add(name)
        head[name] = kind
        stack.extend(port.get_source_output().get_node() for port in node.inputs())
    order = {op.get_friendly_name(): i for i, op in enumerate(model.get_ordered_ops())}
    return [{"name": n, "type": t} for n, t in sorted(head.items(), key=lambda item: order[item[0]])]
