"""Quantization algorithms; importing this package registers the built-ins."""

from quantflow.quantizers import accuracy_aware, default  # noqa: F401
from quantflow.quantizers.base import QUANTIZERS, CalibrationData, QuantizationOutcome, Quantizer, ValidationData

__all__ = ["QUANTIZERS", "CalibrationData", "QuantizationOutcome", "Quantizer", "ValidationData"]
