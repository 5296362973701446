"""The `tflite` config section: which TFLite variants to build and how to run them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from quantflow.core.config_base import StrictModel

Variant = Literal["fp32", "dynamic", "float16", "int8", "int16x8"]


class TFLiteConfig(StrictModel):
    variants: list[Variant] = Field(
        default_factory=lambda: ["fp32", "dynamic", "float16", "int8", "int16x8"],
        description="TFLite variants to build: fp32 (plain), dynamic (int8 weights, float activations), float16 "
                    "(float16 weights), int8 (full integer, calibrated), int16x8 (int16 activations, int8 weights).",
    )
    io: Literal["float32", "int8", "uint8"] = Field(
        default="float32", description="Input/output type of the full-integer int8 variant (int8/uint8 for "
                                       "integer-only accelerators; the runner still takes and returns float).",
    )
    threads: int | None = Field(default=None, ge=1, description="LiteRT interpreter threads; default: LiteRT's own.")
    max_drop: float | None = Field(
        default=None, ge=0, description="Largest accepted metric drop of the int8 variant vs fp32; above it the "
                                        "layers with the largest quantization error are kept in float.",
    )
