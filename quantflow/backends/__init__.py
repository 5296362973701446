"""Inference engines: OpenVINO (sources, runner, embedding, speed) and TFLite."""
