"""Write a COCO detection split in the YOLO (Ultralytics) format: data.yaml, images/<split>/, labels/<split>/.

Each label line is `class cx cy w h` normalized to the image, with class k the k-th category in id order (the
names in data.yaml); crowd annotations have no YOLO form and are left out; an image without objects gets no
label file. Used for the shipped sample:

    python tools/make_yolo_dataset.py --annotations datasets/shapes/val.json --images datasets/shapes/val \
        --out datasets/shapes/yolo_format --split val
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path


def convert(annotations: Path, images: Path, out: Path, split: str) -> None:
    coco = json.loads(annotations.read_text())
    categories = sorted(coco["categories"], key=lambda c: c["id"])
    index = {c["id"]: k for k, c in enumerate(categories)}
    (out / "images" / split).mkdir(parents=True, exist_ok=True)
    (out / "labels" / split).mkdir(parents=True, exist_ok=True)
    lines: dict[int, list[dict]] = {}
    for ann in coco["annotations"]:
        if ann.get("iscrowd"):
            continue
        lines.setdefault(ann["image_id"], []).append(ann)
    for info in sorted(coco["images"], key=lambda i: i["id"]):
        shutil.copyfile(images / info["file_name"], out / "images" / split / info["file_name"])
        rows = []
        for ann in lines.get(info["id"], []):
            x, y, w, h = ann["bbox"]
            rows.append(f"{index[ann['category_id']]} {(x + w / 2) / info['width']:.6f} "
                        f"{(y + h / 2) / info['height']:.6f} {w / info['width']:.6f} {h / info['height']:.6f}")
        if rows:
            label = out / "labels" / split / Path(info["file_name"]).with_suffix(".txt").name
            label.write_text("\n".join(rows) + "\n")
    names = "\n".join(f"  {k}: {c['name']}" for k, c in enumerate(categories))
    (out / "data.yaml").write_text(f"path: .\n{split}: images/{split}\nnames:\n{names}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--annotations", type=Path, required=True)
    parser.add_argument("--images", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--split", default="val")
    args = parser.parse_args()
    convert(args.annotations, args.images, args.out, args.split)


if __name__ == "__main__":
    main()
