"""NNCF default post-training quantization (what POT called DefaultQuantization)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from quantflow.core.config_base import StrictModel
from quantflow.quantizers.base import QUANTIZERS, CalibrationData, QuantizationOutcome, Quantizer, ValidationData
from quantflow.quantizers.ignored_scope import IgnoredScopeConfig


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
        overflow_fix: Literal["enable", "first_layer_only", "disable"] = Field(
            default="first_layer_only",
            description="7-bit weights where int8 could saturate on CPUs without VNNI (NNCF's OverflowFix).",
        )

    def nncf_arguments(self, model, calibration: CalibrationData) -> tuple[dict, list[dict]]:
        """Keyword arguments shared by `nncf.quantize` and `nncf.quantize_with_accuracy_control`, and the
        operations the automatic ignored-scope rules kept in floating point."""
        import nncf

        c = self.config
        ignored_scope, kept = c.ignored_scope.resolve(model)
        return {
            "calibration_dataset": nncf.Dataset(list(calibration.ids), calibration.to_input),
            "preset": nncf.QuantizationPreset(c.preset),
            "target_device": nncf.TargetDevice(c.target_device),
            "subset_size": len(calibration.ids),
            "fast_bias_correction": c.fast_bias_correction,
            "model_type": nncf.ModelType(c.model_type) if c.model_type else None,
            "ignored_scope": ignored_scope,
        }, kept

    def advanced_parameters(self):
        from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, OverflowFix

        return AdvancedQuantizationParameters(overflow_fix=OverflowFix(self.config.overflow_fix))

    def quantize(self, model, calibration: CalibrationData, validation: ValidationData | None) -> QuantizationOutcome:
        import nncf

        arguments, kept = self.nncf_arguments(model, calibration)
        quantized = nncf.quantize(model, advanced_parameters=self.advanced_parameters(), **arguments)
        return QuantizationOutcome(quantized, {"settings": self.config.model_dump(mode="json"), "auto_ignored": kept})
