"""Merged processing: the preprocessing steps, and the decoder's first step where it has one to build in
(`Decoder.graph_postprocess`, e.g. the pose heatmap argmax), inside the OpenVINO graph.

The embedded model takes the raw uint8 BGR image (or person crop) of any size and returns what the decoder
needs, so a deployment cannot drift from the preprocessing the model was evaluated with. Built with
`openvino.preprocess.PrePostProcessor`.
"""

from __future__ import annotations

import numpy as np

from quantflow.backends.openvino.sources import output_infos
from quantflow.core.decoder import Decoder
from quantflow.core.errors import UserInputError
from quantflow.preprocessing import Pipeline

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
            if config.keep_aspect or config.shorter_side or config.interpolation not in RESIZE_ALGORITHMS:
                raise UserInputError(f"{where}: only a plain {'/'.join(RESIZE_ALGORITHMS)} resize can be embedded "
                                     f"(no keep_aspect); set preprocessing.embed: false")
            steps.resize(getattr(ResizeAlgorithm, RESIZE_ALGORITHMS[config.interpolation]))
        elif config.type == "center_crop":
            raise UserInputError(f"{where}: a center crop cannot be embedded; set preprocessing.embed: false")
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


def embedded(model, pipeline: Pipeline, decoder: Decoder) -> tuple[object, Decoder]:
    """A copy of `model` taking raw uint8 BGR NHWC input of any size, and the decoder for its outputs."""
    from openvino.preprocess import PrePostProcessor

    if pipeline.pack:
        raise UserInputError("preprocessing.embed: embedding takes one image input; stereo pairs are packed outside")
    ppp = PrePostProcessor(model.clone())
    _preprocess(ppp, pipeline)
    postprocess = decoder.graph_postprocess()
    if postprocess:
        index, build = postprocess
        ppp.output(index).postprocess().custom(build)
    result = ppp.build()
    return result, embedded_decoder(result, decoder)


def embedded_decoder(merged, decoder: Decoder) -> Decoder:
    """The decoder for the outputs of a merged model built from a model that `decoder` reads (also for one
    loaded back from disk), bound to them."""
    decoder = decoder.embedded_decoder()
    decoder.bind(output_infos(merged))
    return decoder
