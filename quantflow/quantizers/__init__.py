"""Quantization algorithms; the registry imports every module here, so a new provider is one new file."""

from quantflow.quantizers.base import QUANTIZERS, CalibrationData, QuantizationOutcome, Quantizer, ValidationData

__all__ = ["QUANTIZERS", "CalibrationData", "QuantizationOutcome", "Quantizer", "ValidationData"]
