"""An OpenVINO model as bytes (IR xml and weights), so it can go to another process or machine unchanged: the
weights keep their precision (no FP16 compression), so a model read back computes what the original does."""

from __future__ import annotations

import tempfile
from pathlib import Path


def model_to_bytes(model) -> tuple[bytes, bytes]:
    import openvino as ov

    with tempfile.TemporaryDirectory(prefix="quantflow-ir-") as folder:
        xml = Path(folder) / "model.xml"
        ov.save_model(model, xml, compress_to_fp16=False)
        return xml.read_bytes(), xml.with_suffix(".bin").read_bytes()


def model_from_bytes(xml: bytes, weights: bytes):
    import numpy as np
    import openvino as ov

    return ov.Core().read_model(model=xml, weights=ov.Tensor(np.frombuffer(weights, np.uint8).copy()))
