"""The FakeQuantize nodes of a quantized OpenVINO model as groups that go back to float together, and the graph
edit that puts chosen groups back in float without calibrating again.

A group is the quantizers feeding a set of operations, closed under sharing: an activation quantizer that feeds
two convolutions ties them into one group. Reverting only part of an operation's inputs would leave it running in
float on the CPU plugin while still paying the rounding of its other inputs.

Reverting a group bypasses its FakeQuantize nodes and restores the biases bias correction shifted for its
operations (the shift compensates a rounding error that is gone once the operation runs in float), so reverting
every group gives back the floating-point model.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

FAKE_QUANTIZE = "FakeQuantize"


@dataclass(frozen=True)
class QuantizerGroup:
    index: int
    operations: tuple[str, ...]
    types: tuple[str, ...]
    quantizers: tuple[str, ...]
    position: int  # topological index of the first operation: the group's place along the graph

    @property
    def kind(self) -> str:
        """The operation types it feeds, e.g. `Convolution` or `Add+Multiply`."""
        return "+".join(sorted(set(self.types)))


def quantizer_groups(model) -> list[QuantizerGroup]:
    """Every group of a model quantized with uncompressed weights (FakeQuantize on weight constants)."""
    parent: dict[str, str] = {}

    def root(name: str) -> str:
        while parent.setdefault(name, name) != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    ordered = model.get_ordered_ops()
    position, types = {}, {}
    for index, op in enumerate(ordered):
        if op.get_type_name() == FAKE_QUANTIZE:
            continue
        name = op.get_friendly_name()
        for port in op.inputs():
            source = port.get_source_output().get_node()
            if source.get_type_name() == FAKE_QUANTIZE:
                position[name], types[name] = index, op.get_type_name()
                parent[root(source.get_friendly_name())] = root(name)
    members: dict[str, list[str]] = {}
    for name in parent:
        members.setdefault(root(name), []).append(name)
    groups = []
    for names in members.values():
        operations = sorted((n for n in names if n in position), key=position.__getitem__)
        if operations:
            groups.append((operations, sorted(n for n in names if n not in position)))
    groups.sort(key=lambda g: position[g[0][0]])
    return [QuantizerGroup(i, tuple(ops), tuple(types[n] for n in ops), tuple(fqs), position[ops[0]])
            for i, (ops, fqs) in enumerate(groups)]


def shifted_constants(original, quantized) -> dict[str, np.ndarray]:
    """name → original value of each constant quantization changed in place (the bias-corrected biases)."""
    before = {op.get_friendly_name(): op for op in original.get_ops() if op.get_type_name() == "Constant"}
    shifted = {}
    for op in quantized.get_ops():
        if op.get_type_name() != "Constant" or op.get_friendly_name() not in before:
            continue
        value, initial = op.get_data(), before[op.get_friendly_name()].get_data()
        if value.shape == initial.shape and not np.array_equal(value, initial):
            shifted[op.get_friendly_name()] = np.array(initial)
    return shifted


def in_float(quantized, groups: Iterable[QuantizerGroup], shifted: dict[str, np.ndarray]):
    """A copy of `quantized` with `groups` back in float; `quantized` itself is left as it is."""
    import openvino as ov

    model = quantized.clone()
    nodes = {op.get_friendly_name(): op for op in model.get_ops()}
    for group in groups:
        for name in group.quantizers:
            fq = nodes[name]
            fq.output(0).replace(fq.input_value(0))
        for name in group.operations:
            for output in nodes[name].outputs():
                for target in output.get_target_inputs():
                    consumer = target.get_node()
                    if consumer.get_type_name() != "Add":
                        continue
                    for port in consumer.inputs():
                        constant = port.get_source_output().get_node()
                        if constant.get_friendly_name() in shifted and constant.get_type_name() == "Constant":
                            port.replace_source_output(ov.op.Constant(shifted[constant.get_friendly_name()]).output(0))
    return model
