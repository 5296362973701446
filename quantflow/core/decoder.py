"""The decoder interface: raw model outputs → what the task needs (detections, keypoints, disparity), in the
model input's terms."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from quantflow.core.errors import UserInputError
from quantflow.core.registry import Registry

DECODERS: Registry = Registry("decoder", package="quantflow.tasks")


@dataclass(frozen=True)
class OutputInfo:
    """What a decoder may know about a model output before running it: tensor names and shape (-1 = dynamic)."""

    index: int
    names: frozenset[str]
    shape: tuple[int, ...]

    def describe(self) -> str:
        name = sorted(self.names, key=len)[0] if self.names else f"#{self.index}"
        return f"{name}{list(self.shape)}"


class Decoder:
    """Subclasses declare `Config`, check the model's outputs in `bind`, and turn outputs into what their
    `task` needs (`tasks.detection.detections.Detections` for detection)."""

    Config: type
    task: str = "detection"

    def __init__(self, config) -> None:
        self.config = config

    def bind(self, outputs: list[OutputInfo]) -> None:
        raise NotImplementedError

    def decode(self, outputs: list[np.ndarray]):
        raise NotImplementedError

    def class_labels(self) -> range | None:
        """The class indices the bound model can emit, when its outputs tell (a score column per class)."""
        return None

    def graph_postprocess(self) -> tuple[int, Callable] | None:
        """When processing is embedded: (index of the output it starts from, a function turning that OpenVINO
        output into a new one) for the first decoding step built into the graph, or None to build nothing."""
        return None

    def embedded_decoder(self) -> Decoder:
        """An unbound decoder for the outputs of a model with `graph_postprocess` built in."""
        return type(self)(self.config)


def find_output(outputs: list[OutputInfo], name: str | None, rank_shape: tuple[int | None, ...], role: str,
                where: str) -> int:
    """Index of the output named `name` (exact, or `name:0`), else the only one whose shape fits `rank_shape`
    (None = any size): tensor names get mangled by conversion, so roles are matched by name first, then shape."""
    if name:
        for output in outputs:
            if name in output.names or f"{name}:0" in output.names:
                return output.index
    fits = [o for o in outputs if len(o.shape) == len(rank_shape)
            and all(want is None or got in (want, -1) for want, got in zip(rank_shape, o.shape))]
    if len(fits) == 1:
        return fits[0].index
    have = ", ".join(o.describe() for o in outputs)
    shape_text = "[" + ",".join("?" if d is None else str(d) for d in rank_shape) + "]"
    problem = "no output" if not fits else "several outputs"
    raise UserInputError(f"{where}: {problem} for {role} (name {name!r} or shape {shape_text}); model outputs: {have}")
