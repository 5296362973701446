"""Decoders; the registry imports every module here, so a new provider is one new file."""

from quantflow.decoders.base import DECODERS, Decoder, Detections, OutputInfo

__all__ = ["DECODERS", "Decoder", "Detections", "OutputInfo"]
