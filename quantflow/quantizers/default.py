"""NNCF default post-training quantization (what POT called DefaultQuantization)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from quantflow.config_base import StrictModel
from quantflow.quantizers.base import QUANTIZERS, CalibrationData, IgnoredScopeConfig, QuantizationOutcome, Quantizer


@QUANTIZERS.register("default")
class DefaultQuantization(Quantizer):
    """`nncf.quantize` with every knob the config exposes; the settings used are returned for the report."""

    class Config(StrictModel):
        algorithm: Literal["default"] = "default"
        preset: Literal["performance", "mixed"] = Field(
            default="performance", description="performance: symmetric activations; mixed: asymmetric."
        )
        target_device: Literal["ANY", "CPU", "GPU", "NPU", "CPU_SPR"] = "CPU"
        fast_bias_correction: bool = True
        model_type: Literal["transformer"] | None = None
        ignored_scope: IgnoredScopeConfig = Field(default_factory=IgnoredScopeConfig)

    def quantize(self, model, calibration: CalibrationData) -> QuantizationOutcome:
        import nncf

        c = self.config
        quantized = nncf.quantize(
            model,
            nncf.Dataset(list(calibration.ids), calibration.to_input),
            preset=nncf.QuantizationPreset(c.preset),
            target_device=nncf.TargetDevice(c.target_device),
            subset_size=len(calibration.ids),
            fast_bias_correction=c.fast_bias_correction,
            model_type=nncf.ModelType(c.model_type) if c.model_type else None,
            ignored_scope=c.ignored_scope.to_nncf(),
        )
        return QuantizationOutcome(quantized, c.model_dump(mode="json"))
