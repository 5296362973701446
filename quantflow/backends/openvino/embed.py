"""Merged processing: the preprocessing steps, and for pose the heatmap argmax, built into the OpenVINO graph.

The embedded model takes the raw uint8 BGR image (or person crop) of any size and returns what the decoder
needs, so a deployment cannot drift from the preprocessing the model was evaluated with. Built with
`openvino.preprocess.PrePostProcessor`; the argmax is a small subgraph of OpenVINO operations.
"""

from __future__ import annotations

import numpy as np

from quantflow.backends.openvino.sources import output_infos
from quantflow.core.decoder import DECODERS, Decoder
from quantflow.core.errors import UserInputError
from quantflow.preprocessing import Pipeline
from quantflow.tasks.keypoints.heatmaps import Heatmaps

RESIZE_ALGORITHMS = {"linear": "RESIZE_LINEAR", "nearest": "RESIZE_NEAREST", "cubic": "RESIZE_CUBIC"}


def _preprocess(ppp, pipeline: Pipeline) -> None:
    """Translate the configured steps, in order, into PrePostProcessor calls on the single input."""
    import openvino as ov
    from openvino.preprocess import ColorFormat, ResizeAlgorithm

    source = ppp.input()
    source.tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC")).set_color_format(ColorFormat.BGR)
    source.tensor().set_spatial_dynamic_shape()
    source.model().set_layout(ov.Layout(pipeline.spec.layout.upper()))
    steps = source.preprocess()
    converted = False
    for index, step in enumerate(pipeline.steps):
        config, where = step.config, f"preprocessing step {index} ({step.config.type})"
        if config.type == "resize":
            if config.keep_aspect or config.interpolation not in RESIZE_ALGORITHMS:
                raise UserInputError(f"{where}: only a plain {'/'.join(RESIZE_ALGORITHMS)} resize can be embedded "
                                     f"(no keep_aspect); set preprocessing.embed: false")
            steps.resize(getattr(ResizeAlgorithm, RESIZE_ALGORITHMS[config.interpolation]))
        elif config.type == "color":
            steps.convert_color(getattr(ColorFormat, config.order.upper()))
        elif config.type == "normalize":
            if not converted:
                steps.convert_element_type(ov.Type.f32)
                converted = True
            steps.mean(np.atleast_1d(config.mean).astype(float).tolist())
            steps.scale(np.atleast_1d(config.std).astype(float).tolist())
        elif config.type == "dtype" and config.name.startswith("float") and not converted:
            steps.convert_element_type(ov.Type.f32)  # a float16 model input gets PrePostProcessor's own convert
            converted = True


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


def embedded(model, pipeline: Pipeline, decoder: Decoder) -> tuple[object, Decoder]:
    """A copy of `model` taking raw uint8 BGR NHWC input of any size, and the decoder for its outputs."""
    from openvino.preprocess import PrePostProcessor

    if pipeline.pack:
        raise UserInputError("preprocessing.embed: embedding takes one image input; stereo pairs are packed outside")
    ppp = PrePostProcessor(model.clone())
    _preprocess(ppp, pipeline)
    if _embeds_argmax(decoder):
        ppp.output(decoder.index).postprocess().custom(lambda node: heatmap_argmax(node, decoder.config.layout))
    result = ppp.build()
    return result, embedded_decoder(result, decoder)


def _embeds_argmax(decoder: Decoder) -> bool:
    """Heatmaps with HRNet's quarter-pixel refinement get their argmax in the graph (DARK needs the maps)."""
    return isinstance(decoder, Heatmaps) and decoder.config.refine == "quarter"


def embedded_decoder(merged, decoder: Decoder) -> Decoder:
    """The decoder for the outputs of a merged model built from a model that `decoder` reads (also for one
    loaded back from disk): keypoint coordinates where the argmax is in the graph, else the same decoder."""
    if _embeds_argmax(decoder):
        config = DECODERS.get("keypoint_coordinates", "").Config(type="keypoint_coordinates", output="keypoints")
        decoder = DECODERS.get("keypoint_coordinates", "")(config)
    else:
        decoder = type(decoder)(decoder.config)
    decoder.bind(output_infos(merged))
    return decoder
