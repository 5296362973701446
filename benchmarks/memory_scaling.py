"""Peak RSS of one evaluation (predict with the COCO metric alongside) over 100 and 1000 images, each in its own
process: whether memory stays flat as the dataset grows.

    python benchmarks/memory_scaling.py [--config configs/ssd.yml] [--set key=value ...] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import parser, spread

from quantflow.config import load_config

TARGET = 0.10
SIZES = (100, 1000)


def rss_mb() -> float:
    """Resident set size now (ru_maxrss only gives the peak)."""
    resident_pages = int(Path("/proc/self/statm").read_text().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cycled_annotations(source: Path, image_folder: Path, images: int, target: Path) -> Path:
    """A COCO json of `images` entries cycling through the source images (new ids, and new file names linked to
    the same files in target's folder: a COCO file may not name one file twice)."""
    data = json.loads(source.read_text())
    by_image: dict[int, list[dict]] = {}
    for annotation in data["annotations"]:
        by_image.setdefault(annotation["image_id"], []).append(annotation)
    entries, annotations = [], []
    folder = target.parent / "images"
    folder.mkdir(exist_ok=True)
    for new_id in range(1, images + 1):
        image = data["images"][(new_id - 1) % len(data["images"])]
        name = f"{new_id:06d}_{image['file_name']}"
        if not (folder / name).exists():
            (folder / name).symlink_to((image_folder / image["file_name"]).resolve())
        entries.append({**image, "id": new_id, "file_name": name})
        for annotation in by_image.get(image["id"], []):
            annotations.append({**annotation, "id": len(annotations) + 1, "image_id": new_id})
    target.write_text(json.dumps({**data, "images": entries, "annotations": annotations}))
    return target


def median(runs: list[dict], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def child(config: Path, overrides: list[str]) -> None:
    """One evaluation as `quantflow quantize` does it; prints RSS before it and the process's peak after."""
    from quantflow.pipeline.workflow import Run, prepare_model

    settings = load_config(config, overrides)
    run = Run(settings)
    model = prepare_model(settings, run.stages)
    ground_truth, _ = run.labels()
    before = rss_mb()
    predictions, _ = run.evaluate(model, run.stages.evaluation_ids, "evaluation", ground_truth)
    print(json.dumps({"images": len(run.stages.evaluation_ids), "detections": len(predictions.rows),
                      "rss_before_mb": before, "peak_mb": peak_mb()}))


def main() -> None:
    args = parser(__doc__.split("\n\n")[0], repeat=3)
    args.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    options = args.parse_args()
    if options.child:
        child(options.config, options.overrides)
        return
    config = load_config(options.config, options.overrides)
    with tempfile.TemporaryDirectory() as tmp:
        annotations = {n: cycled_annotations(config.dataset.annotations, config.dataset.images, n,
                                             Path(tmp) / f"val_{n}.json") for n in SIZES}
        results: dict[int, list[dict]] = {n: [] for n in SIZES}
        for rep in range(options.repeat):
            for n in (SIZES if rep % 2 == 0 else SIZES[::-1]):
                command = [sys.executable, __file__, "--child", "--config", str(options.config),
                           *(f"--set={o}" for o in options.overrides), f"--set=dataset.annotations={annotations[n]}",
                           f"--set=dataset.images={Path(tmp) / 'images'}", "--set=evaluation.cache_dir=null",
                           "--set=evaluation.max_images=null"]
                result = subprocess.run(command, capture_output=True, text=True)
                if result.returncode:
                    raise RuntimeError(f"evaluation of {n} images failed:\n{result.stderr[-3000:]}")
                results[n].append(json.loads(result.stdout.strip().splitlines()[-1]))
    for n in SIZES:
        r = results[n]
        peaks = spread([x["peak_mb"] for x in r], " MB", 1)
        print(f"{n:5d} images ({r[0]['detections']} detections): peak RSS {peaks}")
        print(f"      RSS before evaluating {median(r, 'rss_before_mb'):.1f} MB, peak {median(r, 'peak_mb'):.1f} MB")
    peaks = [median(results[n], "peak_mb") for n in SIZES]
    growth = peaks[1] / peaks[0] - 1
    print(f"growth of peak RSS {SIZES[0]} → {SIZES[1]} images: {100 * growth:+.1f} % "
          f"({peaks[1] - peaks[0]:+.1f} MB)  target <= {100 * TARGET:.0f} %: {'met' if growth <= TARGET else 'MISSED'}")


if __name__ == "__main__":
    main()
