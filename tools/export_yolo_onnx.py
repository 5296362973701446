"""Export the YOLO sample to ONNX as Ultralytics exports YOLOv8: input `images` [1, 3, H, W] (RGB 0..1, any H, W
divisible by 32), output `output0` [1, 4 + C, N] (cx, cy, w, h in input pixels, sigmoid class scores), the DFL
integral and the anchor-point arithmetic in the graph.

The graph is written layer by layer from the trained Keras model (rebuilt by `train_yolo_shapes` and loaded with
the SavedModel's weights) with the `onnx` helper API; the export is checked against the SavedModel on random
inputs of two sizes through OpenVINO.

    python tools/export_yolo_onnx.py --model datasets/shapes/yolo
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
import tensorflow as tf  # noqa: E402
import train_yolo_shapes as yolo  # noqa: E402

OPSET = 17


class Graph:
    """Nodes and initializers under construction, with fresh names."""

    def __init__(self) -> None:
        self.nodes: list = []
        self.initializers: list = []
        self.count = 0

    def name(self, hint: str) -> str:
        self.count += 1
        return f"{hint}_{self.count}"

    def constant(self, value, hint: str = "const") -> str:
        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, kind: str, inputs: list[str], hint: str | None = None, **attributes) -> str:
        output = self.name(hint or kind.lower())
        self.nodes.append(helper.make_node(kind, inputs, [output], name=output, **attributes))
        return output


def convert_layer(g: Graph, layer, inputs: list[str]) -> str:
    """One Keras layer as ONNX operations on NCHW tensors."""
    kind = type(layer).__name__
    if kind == "Rescaling":
        scaled = g.op("Mul", [inputs[0], g.constant(np.float32(layer.scale))])
        return g.op("Add", [scaled, g.constant(np.float32(layer.offset))])
    if kind in ("Conv2D", "DepthwiseConv2D"):
        kernel = layer.kernel.numpy()
        if kind == "Conv2D":
            weights, group = kernel.transpose(3, 2, 0, 1), 1
        else:  # [kh, kw, in, multiplier] → [in·multiplier, 1, kh, kw]
            kh, kw, channels, multiplier = kernel.shape
            weights, group = kernel.reshape(kh, kw, channels * multiplier).transpose(2, 0, 1)[:, None], channels
        args = [inputs[0], g.constant(weights.astype(np.float32), f"{layer.name}_w")]
        if layer.use_bias:
            args.append(g.constant(layer.bias.numpy().astype(np.float32), f"{layer.name}_b"))
        return g.op("Conv", args, layer.name, strides=list(layer.strides), group=group,
                    kernel_shape=list(weights.shape[2:]), auto_pad="SAME_UPPER")
    if kind == "BatchNormalization":
        values = [layer.gamma, layer.beta, layer.moving_mean, layer.moving_variance]
        names = [g.constant(v.numpy().astype(np.float32), f"{layer.name}_{i}") for i, v in enumerate(values)]
        return g.op("BatchNormalization", [inputs[0], *names], layer.name, epsilon=float(layer.epsilon))
    if kind == "ReLU":
        if layer.max_value is None:
            return g.op("Relu", inputs)
        return g.op("Clip", [inputs[0], g.constant(np.float32(0)), g.constant(np.float32(layer.max_value))])
    if kind == "Add":
        total = inputs[0]
        for other in inputs[1:]:
            total = g.op("Add", [total, other])
        return total
    if kind == "UpSampling2D":
        scales = g.constant(np.array([1, 1, *layer.size], np.float32))
        return g.op("Resize", [inputs[0], "", scales], mode="nearest", coordinate_transformation_mode="asymmetric",
                    nearest_mode="floor")
    raise ValueError(f"no ONNX form for {kind} layer {layer.name}")


def decode_level(g: Graph, box: str, cls: str, stride: int) -> str:
    """[1, 4R, H, W] box logits and [1, C, H, W] class logits → [1, 4 + C, H·W] rows of the Ultralytics layout."""
    r = yolo.REG_MAX
    shape = g.op("Shape", [box])
    height = g.op("Gather", [shape, g.constant(np.int64(2))])
    width = g.op("Gather", [shape, g.constant(np.int64(3))])
    cells = g.op("Mul", [height, width])
    flat_cells = g.op("Unsqueeze", [cells, g.constant(np.array([0], np.int64))])
    bins_shape = g.op("Concat", [g.constant(np.array([1, 4, r], np.int64)), flat_cells], axis=0)
    bins = g.op("Softmax", [g.op("Reshape", [box, bins_shape])], axis=2)  # [1, 4, R, HW]
    expectation = g.op("Mul", [bins, g.constant(np.arange(r, dtype=np.float32).reshape(1, 1, r, 1))])
    ltrb = g.op("ReduceSum", [expectation, g.constant(np.array([2], np.int64))], keepdims=0)  # [1, 4, HW]
    ltrb = g.op("Mul", [ltrb, g.constant(np.float32(stride))])
    xs = g.op("Cast", [g.op("Range", [g.constant(np.int64(0)), width, g.constant(np.int64(1))])], to=TensorProto.FLOAT)
    ys = g.op("Cast", [g.op("Range", [g.constant(np.int64(0)), height, g.constant(np.int64(1))])], to=TensorProto.FLOAT)
    zeros = g.op("Mul", [g.op("Unsqueeze", [ys, g.constant(np.array([1], np.int64))]), g.constant(np.float32(0))])
    grid_x = g.op("Add", [g.op("Unsqueeze", [xs, g.constant(np.array([0], np.int64))]), zeros])  # [H, W]
    grid_y = g.op("Add", [g.op("Unsqueeze", [ys, g.constant(np.array([1], np.int64))]),
                          g.op("Mul", [g.op("Unsqueeze", [xs, g.constant(np.array([0], np.int64))]),
                                       g.constant(np.float32(0))])])
    row_shape = g.op("Concat", [g.constant(np.array([1, 1], np.int64)), flat_cells], axis=0)
    point_x = g.op("Mul", [g.op("Add", [g.op("Reshape", [grid_x, row_shape]), g.constant(np.float32(0.5))]),
                           g.constant(np.float32(stride))])
    point_y = g.op("Mul", [g.op("Add", [g.op("Reshape", [grid_y, row_shape]), g.constant(np.float32(0.5))]),
                           g.constant(np.float32(stride))])
    left, top, right, bottom = (g.op("Gather", [ltrb, g.constant(np.array([i], np.int64))], axis=1) for i in range(4))
    x1, y1 = g.op("Sub", [point_x, left]), g.op("Sub", [point_y, top])
    x2, y2 = g.op("Add", [point_x, right]), g.op("Add", [point_y, bottom])
    half = g.constant(np.float32(0.5))
    centre_x = g.op("Mul", [g.op("Add", [x1, x2]), half])
    centre_y = g.op("Mul", [g.op("Add", [y1, y2]), half])
    size_w, size_h = g.op("Sub", [x2, x1]), g.op("Sub", [y2, y1])
    class_shape = g.op("Concat", [g.constant(np.array([1, yolo.NUM_CLASSES], np.int64)), flat_cells], axis=0)
    scores = g.op("Sigmoid", [g.op("Reshape", [cls, class_shape])])
    return g.op("Concat", [centre_x, centre_y, size_w, size_h, scores], axis=1)


def export(model, path: Path) -> None:
    g = Graph()
    tensors = {model.inputs[0].name: g.op("Identity", ["images"], "input")}
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        node = layer._inbound_nodes[0]
        tensors[node.output_tensors[0].name] = convert_layer(g, layer, [tensors[t.name] for t in node.input_tensors])
    heads = [tensors[t.name] for t in model.outputs]
    levels = [decode_level(g, heads[2 * i], heads[2 * i + 1], s) for i, s in enumerate(yolo.STRIDES)]
    g.nodes.append(helper.make_node("Concat", levels, ["output0"], name="output0", axis=2))
    graph = helper.make_graph(
        g.nodes, "yolo-shapes",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, "height", "width"])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 4 + yolo.NUM_CLASSES, "anchors"])],
        g.initializers)
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                   producer_name="quantflow tools/export_yolo_onnx.py")
    onnx.checker.check_model(onnx_model)
    onnx.save(onnx_model, str(path))


def check(onnx_path: Path, saved_model, sizes=((160, 160), (96, 224))) -> float:
    """Largest difference between the ONNX export (through OpenVINO) and the SavedModel on random inputs."""
    import openvino as ov

    compiled = ov.Core().compile_model(ov.convert_model(str(onnx_path)), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    worst = 0.0
    for height, width in sizes:
        x = np.random.default_rng(0).uniform(0, 1, (1, height, width, 3)).astype(np.float32)
        expected = saved_model.serve(tf.constant(x))["output0"].numpy()
        got = compiled(x.transpose(0, 3, 1, 2))[0]
        worst = max(worst, float(np.abs(got - expected).max() / max(1.0, np.abs(expected).max())))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=REPO / "datasets" / "shapes" / "yolo",
                        help="folder holding saved_model/ (written there as yolo-shapes.onnx)")
    args = parser.parse_args()
    model = yolo.build_raw_model()
    saved = tf.saved_model.load(str(args.model / "saved_model"))
    for variable, value in zip(model.variables, saved.weights, strict=True):
        variable.assign(value)
    path = args.model / "yolo-shapes.onnx"
    export(model, path)
    difference = check(path, saved)
    print(f"wrote {path}; largest relative difference to the SavedModel {difference:.2e}")
    if difference > 1e-4:
        raise SystemExit("the ONNX export does not match the SavedModel")


if __name__ == "__main__":
    main()
