"""Decoders; importing this package registers the built-ins."""

from quantflow.decoders import detection_output, disparity, keypoints, ssd_raw, tf_od_api  # noqa: F401
from quantflow.decoders.base import DECODERS, Decoder, Detections, OutputInfo

__all__ = ["DECODERS", "Decoder", "Detections", "OutputInfo"]
