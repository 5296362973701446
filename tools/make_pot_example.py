"""The files examples/pot/ ships beside its POT and Accuracy Checker configs, made from the classification sample:
the FP32 IR POT quantized (`models/shapes-classifier.xml|bin`, the SavedModel converted by `openvino.convert_model`
as quantflow converts it, weights kept in FP32) and `val.txt`, the sample's labels in the ILSVRC layout AC's
`imagenet` converter reads (`CLASS/FILE INDEX`, relative to `datasets/classification/val`; classes in the order of
`classes.txt`, files sorted).

    python tools/make_pot_example.py
"""

from __future__ import annotations

import argparse
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "datasets" / "classification"


def labels_lines(sample: Path) -> list[str]:
    """One `CLASS/FILE INDEX` line per validation image, in class index order, files sorted."""
    names = (sample / "classes.txt").read_text().split()
    return [f"{name}/{path.name} {index}" for index, name in enumerate(names)
            for path in sorted((sample / "val" / name).glob("*.jpg"))]


def write_ir(saved_model: Path, xml: Path) -> None:
    import openvino as ov

    xml.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(ov.convert_model(saved_model), xml, compress_to_fp16=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "examples" / "pot")
    args = parser.parse_args()
    write_ir(SAMPLE / "model" / "saved_model", args.out / "models" / "shapes-classifier.xml")
    (args.out / "val.txt").write_text("\n".join(labels_lines(SAMPLE)) + "\n")


if __name__ == "__main__":
    main()
