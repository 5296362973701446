"""What every accuracy-aware strategy shares: the target (max drop, absolute or relative), the time budget, the
seeded search/test split, and the weight compression applied to the model a search returns."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from quantflow.core.errors import UserInputError
from quantflow.core.subsets import seeded_subset
from quantflow.quantizers.default import DefaultQuantization


def accuracy_drop(reference: float, value: float, drop_type: str) -> float:
    drop = reference - value
    return drop / abs(reference) if drop_type == "relative" and reference else drop


def compress_weights(model):
    """Fold weight FakeQuantize nodes into int8 constants, as NNCF does to the models it returns."""
    from openvino._offline_transformations import compress_quantize_weights_transformation

    compress_quantize_weights_transformation(model)
    return model


class AccuracyTargetQuantization(DefaultQuantization):
    """Base of the strategies that judge candidates by the task metric on a search split."""

    needs_validation = True
    min_search_samples: ClassVar[int] = 1

    class Config(DefaultQuantization.Config):
        max_drop: float = Field(default=0.01, ge=0, description="Largest accepted drop of the main metric.")
        drop_type: Literal["absolute", "relative"] = "absolute"
        time_budget: float | None = Field(default=None, gt=0, description="Seconds the search may take.")
        test_fraction: float = Field(
            default=0.0, ge=0, lt=1, description="Share of evaluation images held out of the search and judged once."
        )
        split_seed: int = 0

    def split(self, evaluation_ids: list[int]) -> tuple[list[int], list[int]]:
        """A seeded `test_fraction` of the evaluation images is held out of the search."""
        search, test = super().split(evaluation_ids)
        if self.config.test_fraction:
            count = max(1, round(len(evaluation_ids) * self.config.test_fraction))
            held_out = set(seeded_subset(evaluation_ids, count, self.config.split_seed,
                                         "quantization.openvino.test_fraction"))
            search, test = [i for i in evaluation_ids if i not in held_out], sorted(held_out)
        if len(search) < self.min_search_samples:
            raise UserInputError(f"quantization.openvino: the {self.config.algorithm} search needs "
                                 f"{self.min_search_samples} or more search samples, got {len(search)} of "
                                 f"{len(evaluation_ids)} evaluated (raise evaluation.max_images or lower "
                                 "test_fraction)")
        return search, test
