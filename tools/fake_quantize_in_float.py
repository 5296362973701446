"""Tell an INT8 accuracy loss that quantization causes from one that the CPU plugin's INT8 kernels cause.

Every FakeQuantize node of a quantflow INT8 IR is replaced by the same arithmetic in plain float operations
(clamp, scale to the levels, round half to even, scale back), which OpenVINO's low-precision transformations do
not recognize, so the model runs in float with exactly the quantization NNCF chose. The config's dataset,
preprocessing, decoder and metric then score the simulated model and the real INT8 one.

    python tools/fake_quantize_in_float.py --config configs/segmentation.yml --int8 runs/x/INT8/model.xml
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def in_float(model):
    """`model` with each FakeQuantize computed by float operations."""
    import openvino.opset13 as ops

    for node in [n for n in model.get_ops() if n.get_type_name() == "FakeQuantize"]:
        x, low, high, out_low, out_high = (node.input_value(i) for i in range(5))
        steps = ops.constant(np.float32(node.get_attributes()["levels"] - 1))
        clamped = ops.minimum(ops.maximum(x, low), high)
        levels = ops.round(ops.multiply(ops.divide(ops.subtract(clamped, low), ops.subtract(high, low)), steps),
                           "half_to_even")
        value = ops.add(ops.multiply(ops.divide(levels, steps), ops.subtract(out_high, out_low)), out_low)
        for target in node.output(0).get_target_inputs():
            target.replace_source_output(value.output(0))
    model.validate_nodes_and_infer_types()
    return model


def main() -> None:
    import openvino as ov

    from quantflow.config import load_config
    from quantflow.pipeline.workflow import Run, prepare_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--int8", type=Path, required=True, help="the INT8 IR (.xml) of a run of that config")
    args = parser.parse_args()
    config = load_config(args.config, ["quantization.tflite=null"])
    run = Run(config)
    prepare_model(config, run.stages)
    truth, _ = run.labels()
    core = ov.Core()
    for name, model in (("FakeQuantize in float", in_float(core.read_model(args.int8))),
                        ("CPU INT8 kernels", core.read_model(args.int8))):
        _, result = run.evaluate(model, run.stages.evaluation_ids, name, truth)
        print(f"{name}: {result.main} {result.value:.4f}  {result.summary}")


if __name__ == "__main__":
    main()
