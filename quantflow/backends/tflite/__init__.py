"""TFLite variants of a TF model and a LiteRT runner for .tflite files.

TensorFlow is imported only by the conversion worker subprocess, so importing this package stays cheap.
"""

from quantflow.backends.tflite.config import TFLiteConfig
from quantflow.backends.tflite.convert import VARIANTS, convert_variants
from quantflow.backends.tflite.inspect import describe
from quantflow.backends.tflite.runner import LiteRTRunner

__all__ = ["VARIANTS", "LiteRTRunner", "TFLiteConfig", "convert_variants", "describe"]
