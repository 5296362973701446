"""Classifier outputs: one score per class, [1, C] (or [1, C, 1, 1] from a convolutional head), as logits or
probabilities, with an optional leading background class as in 1001-class TensorFlow models."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from quantflow.core.config_base import ProviderConfig
from quantflow.core.decoder import DECODERS, Decoder, OutputInfo, find_output
from quantflow.core.errors import UserInputError
from quantflow.tasks.classification.dataset import TOP_K, ClassScores

PROBABILITY_TOLERANCE = 1e-2  # an INT8 softmax sums to 1 only within its quantization step


def softmax(values: np.ndarray) -> np.ndarray:
    shifted = np.exp(values - values.max())
    return shifted / shifted.sum()


def are_probabilities(values: np.ndarray) -> bool:
    return bool(values.min() >= 0 and values.max() <= 1 and abs(values.sum() - 1) <= PROBABILITY_TOLERANCE)


@DECODERS.register("class_scores")
class ClassScoresDecoder(Decoder):
    """The top-5 classes and their probabilities (softmax of logits; probabilities as they are)."""

    task = "classification"

    class Config(ProviderConfig):
        output: str | None = Field(default=None, description="Scores output name; default: the only [1, C] output.")
        scores: Literal["auto", "logits", "probabilities"] = Field(
            default="auto", description="auto: probabilities when an output is in 0..1 and sums to 1, else logits.")
        background_offset: int = Field(
            default=0, ge=0, description="Leading scores that are no dataset class (1 for 1001-class TF models).")

    def bind(self, outputs: list[OutputInfo]) -> None:
        candidates = [o for o in outputs if sum(d != 1 for d in o.shape) <= 1 and len(o.shape) in (2, 4)]
        if self.config.output is None and len(candidates) == 1:
            self.index = candidates[0].index
        else:
            self.index = find_output(outputs, self.config.output, (1, None), "class scores", "decoder.output")
        shape = outputs[self.index].shape
        if sum(d != 1 for d in shape) > 1:
            raise UserInputError(f"decoder.output: class scores are one value per class ([1, C]), model output is "
                                 f"{outputs[self.index].describe()}")
        self.count = max(shape) if shape and min(shape) > 0 else None
        if self.count is not None and self.count <= self.config.background_offset:
            raise UserInputError(f"decoder.background_offset: {self.config.background_offset} leaves no class of the "
                                 f"{self.count} the model scores")

    def class_labels(self) -> range | None:
        return range(self.count - self.config.background_offset) if self.count else None

    def decode(self, outputs: list[np.ndarray]) -> ClassScores:
        values = outputs[self.index].reshape(-1).astype(np.float64)
        kind = self.config.scores
        if kind == "logits" or (kind == "auto" and not are_probabilities(values)):
            values = softmax(values)
        values = values[self.config.background_offset:]
        order = np.argsort(-values, kind="stable")[:TOP_K]
        classes = np.full(TOP_K, -1.0)
        scores = np.zeros(TOP_K)
        classes[: len(order)], scores[: len(order)] = order, values[order]
        return ClassScores(classes, scores)
