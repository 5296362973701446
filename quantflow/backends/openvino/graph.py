"""Questions asked of an OpenVINO graph: how many nodes of a type, which operations run quantized."""

from __future__ import annotations


def count_ops(model, type_name: str) -> int:
    return sum(op.get_type_name() == type_name for op in model.get_ops())


def quantized_operations(model) -> dict[str, str]:
    """friendly name → op type of every operation fed by a FakeQuantize: what runs in INT8."""
    quantized = {}
    for op in model.get_ops():
        if op.get_type_name() == "FakeQuantize":
            continue
        if any(port.get_source_output().get_node().get_type_name() == "FakeQuantize" for port in op.inputs()):
            quantized[op.get_friendly_name()] = op.get_type_name()
    return quantized
