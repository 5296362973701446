"""The cheap signal that orders quantizer groups before the metric confirms: the rounding noise each group's
quantizers add, measured in one pass over a few search samples.

For a quantizer with input x the noise-to-signal ratio is ‖FQ(x) − x‖² / ‖x‖²: on the activations the quantized
model actually sees for activation quantizers, on the constants for weight quantizers. A group's signal is the sum
over its quantizers. It is local (it does not see how the error travels to the outputs); the coarse phases and
the metric make up for that.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from quantflow.backends.openvino.quantizer_groups import QuantizerGroup
from quantflow.backends.openvino.runner import compile_exact


def fake_quantize(x: np.ndarray, low: np.ndarray, high: np.ndarray, out_low: np.ndarray, out_high: np.ndarray,
                  levels: int) -> np.ndarray:
    """OpenVINO's FakeQuantize (opset 1) in numpy, for ranges with low < high."""
    steps = levels - 1
    span = np.where(high > low, high - low, 1.0)
    q = np.round((np.clip(x, low, high) - low) / span * steps) / steps
    return q * (out_high - out_low) + out_low


def _constant(output) -> np.ndarray | None:
    """The value behind a port when it is a constant, possibly through a Convert (fp16 weights)."""
    node = output.get_node()
    if node.get_type_name() == "Convert":
        node = node.input_value(0).get_node()
    return np.asarray(node.get_data(), np.float32) if node.get_type_name() == "Constant" else None


def _noise(x: np.ndarray, fq) -> float:
    low, high, out_low, out_high = (_constant(fq.input_value(k)) for k in range(1, 5))
    q = fake_quantize(x.astype(np.float32), low, high, out_low, out_high, fq.get_attributes()["levels"])
    return float(np.sum((q - x) ** 2) / max(float(np.sum(x.astype(np.float64) ** 2)), 1e-30))


def rounding_noise(quantized, groups: Sequence[QuantizerGroup], inputs: list, device: str,
                   progress: Callable[[], None] = lambda: None) -> list[float]:
    """Per group (in the order given), the summed noise-to-signal ratio of its quantizers, averaged over
    `inputs` (model inputs as the search feeds them) for activation quantizers."""
    probe = quantized.clone()
    nodes = {op.get_friendly_name(): op for op in probe.get_ops()}
    noise: dict[str, float] = {}
    activations = []
    for group in groups:
        for name in group.quantizers:
            fq = nodes[name]
            weights = _constant(fq.input_value(0))
            if weights is not None:
                noise[name] = _noise(weights, fq)
            else:
                activations.append(fq)
    added = probe.add_outputs([fq.input_value(0) for fq in activations]) if activations else []
    if activations:
        compiled = compile_exact(probe, device)
        first_added = len(compiled.outputs) - len(added)
        sums = np.zeros(len(activations))
        for tensors in inputs:
            results = compiled(tensors)
            for k, fq in enumerate(activations):
                sums[k] += _noise(results[compiled.outputs[first_added + k]], fq)
            progress()
        del compiled
        noise.update({fq.get_friendly_name(): s / len(inputs) for fq, s in zip(activations, sums)})
    return [sum(noise[name] for name in group.quantizers) for group in groups]
