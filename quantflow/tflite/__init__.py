"""TFLite variants of a TF model and a LiteRT runner for .tflite files.

TensorFlow is imported only by the conversion worker subprocess, so importing this package stays cheap.
"""

from quantflow.tflite.config import TFLiteConfig
from quantflow.tflite.convert import VARIANTS, convert_variants
from quantflow.tflite.inspect import describe
from quantflow.tflite.runner import LiteRTRunner

__all__ = ["VARIANTS", "LiteRTRunner", "TFLiteConfig", "convert_variants", "describe"]
