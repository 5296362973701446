"""The heatmap argmax as OpenVINO operations, so a pose model with embedded processing returns keypoints."""

from __future__ import annotations

import numpy as np


def heatmap_argmax(heatmaps, layout: str):
    """[1,K,H,W] (or [1,H,W,K]) heatmaps → [1,K,3] (x, y normalized to the model input, peak value), with
    HRNet's quarter-pixel shift toward the higher neighbour: the same numbers as `heatmap_peaks(..., "quarter")`."""
    import openvino as ov
    import openvino.opset13 as ops

    if layout == "nhwc":
        heatmaps = ops.transpose(heatmaps, ops.constant(np.array([0, 3, 1, 2], np.int64))).output(0)
    _, count, height, width = heatmaps.get_partial_shape().to_shape()
    flat = ops.reshape(heatmaps, ops.constant(np.array([1, count, height * width], np.int64)), False)
    peak = ops.topk(flat, ops.constant(np.int64(1)), axis=2, mode="max", sort="none", index_element_type="i32")
    index = peak.output(1)
    x = ops.floor_mod(index, ops.constant(np.int32(width)))
    y = ops.divide(index, ops.constant(np.int32(width)))

    def neighbour(offset: int):
        shifted = ops.clamp(ops.add(index, ops.constant(np.int32(offset))), 0, height * width - 1)
        return ops.gather_elements(flat, shifted, 2)

    def shift(position, size: int, before, after):
        inside = ops.logical_and(ops.greater(position, ops.constant(np.int32(0))),
                                 ops.less(position, ops.constant(np.int32(size - 1))))
        step = ops.multiply(ops.sign(ops.subtract(after, before)), ops.constant(np.float32(0.25)))
        moved = ops.add(ops.convert(position, ov.Type.f32), ops.multiply(step, ops.convert(inside, ov.Type.f32)))
        return ops.divide(moved, ops.constant(np.float32(size)))

    coords = ops.concat([shift(x, width, neighbour(-1), neighbour(1)),
                         shift(y, height, neighbour(-width), neighbour(width)), peak.output(0)], axis=2)
    coords.output(0).set_names({"keypoints"})
    return coords.output(0)
