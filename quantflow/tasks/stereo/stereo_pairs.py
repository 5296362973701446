"""Rectified stereo pairs with ground-truth disparity, in the layouts the benchmarks ship.

- middlebury: scene folders holding im0.png, im1.png and disp0GT.pfm (or disp0.pfm); `root` is one scene or a
  folder of scenes.
- kitti: image_2/, image_3/ and disp_occ_0/ (KITTI 2015) or colored_0/, colored_1/ and disp_occ/ (KITTI 2012),
  matching file names.
- list: a text file of `left right disparity` lines, paths relative to the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field, ValidationInfo, field_validator

from quantflow.core.adapter import ADAPTERS, DatasetAdapter, fingerprint_files, read_image
from quantflow.core.config_base import ExistingPath, ProviderConfig
from quantflow.core.errors import UserInputError, shown
from quantflow.core.geometry import Geometry
from quantflow.tasks.stereo.disparity import Disparity, disparity_to_original
from quantflow.tasks.stereo.disparity_io import read_disparity
from quantflow.tasks.stereo.disparity_metric import ROW_WIDTH, error_counts

KITTI_FOLDERS = (("image_2", "image_3", "disp_occ_0"), ("colored_0", "colored_1", "disp_occ"))
MIDDLEBURY_TRUTH = ("disp0GT.pfm", "disp0.pfm")


@dataclass(frozen=True)
class StereoPair:
    left: Path
    right: Path
    truth: Path


def _middlebury(root: Path) -> list[StereoPair]:
    scenes = [root] if (root / "im0.png").is_file() else sorted(p for p in root.iterdir() if (p / "im0.png").is_file())
    pairs = []
    for scene in scenes:
        truth = next((scene / name for name in MIDDLEBURY_TRUTH if (scene / name).is_file()), None)
        if truth is None:
            raise UserInputError(f"dataset.root: scene {scene.name} has no {' or '.join(MIDDLEBURY_TRUTH)}")
        pairs.append(StereoPair(scene / "im0.png", scene / "im1.png", truth))
    return pairs


def _kitti(root: Path, truth_folder: str | None) -> list[StereoPair]:
    for left_name, right_name, default_truth in KITTI_FOLDERS:
        if (root / left_name).is_dir():
            truth_dir = root / (truth_folder or default_truth)
            if not truth_dir.is_dir():
                raise UserInputError(f"dataset.root: {root.name} has {left_name}/ but no {truth_dir.name}/")
            return [StereoPair(left, root / right_name / left.name, truth_dir / left.name)
                    for left in sorted((root / left_name).glob("*_10.png"))]
    expected = " or ".join(f"{a}/ + {b}/" for a, b, _ in KITTI_FOLDERS)
    raise UserInputError(f"dataset.root: {root} is not a KITTI folder (expected {expected})")


def _listed(path: Path) -> list[StereoPair]:
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise UserInputError(f"dataset.root: {shown(path.name)} is not a text file (not UTF-8)") from None
    pairs = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split()
        if len(fields) != 3:
            raise UserInputError(f"dataset.root: {path.name} line {number}: expected 'left right disparity'")
        pairs.append(StereoPair(*(path.parent / f for f in fields)))
    return pairs


@ADAPTERS.register("stereo_pairs")
class StereoPairs(DatasetAdapter):
    """One sample per pair: the left and right images (BGR) go through the same preprocessing; rows are the
    error counts of the predicted left disparity against the ground truth (see `disparity_metric`)."""

    task = "stereo"
    sample_noun = "stereo pairs"
    views = 2
    row_width = ROW_WIDTH
    where = "dataset.root"

    class Config(ProviderConfig):
        layout: Literal["middlebury", "kitti", "list"]
        root: ExistingPath = Field(description="Middlebury scene(s) folder, KITTI split folder, or list file.")
        truth_folder: str | None = Field(default=None, description="KITTI: disp_noc_0 to score non-occluded only.")

        @field_validator("root")
        @classmethod
        def _root_kind(cls, root: Path, info: ValidationInfo) -> Path:
            layout = info.data.get("layout")
            wanted = "file" if layout == "list" else "folder"
            if layout and root.is_file() != (wanted == "file"):
                raise ValueError(f"the {layout} layout expects a {wanted}, got {shown(root)}")
            return root

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        if config.layout == "list":
            self.pairs = _listed(config.root)
        elif config.layout == "kitti":
            self.pairs = _kitti(config.root, config.truth_folder)
        else:
            self.pairs = _middlebury(config.root)
        if not self.pairs:
            raise UserInputError(f"dataset.root: no stereo pairs found in {config.root} ({config.layout} layout)")
        missing = [p for pair in self.pairs for p in (pair.left, pair.right, pair.truth) if not p.is_file()]
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise UserInputError(f"dataset.root: file not found: {missing[0]}{more}")

    def ids(self) -> list[int]:
        return list(range(1, len(self.pairs) + 1))

    def file_of(self, sample_id: int) -> Path:
        return self.pairs[sample_id - 1].left

    def name_of(self, sample_id: int) -> str:
        """A readable name: the scene folder for Middlebury, the left file's stem otherwise."""
        left = self.pairs[sample_id - 1].left
        return left.parent.name if self.config.layout == "middlebury" else left.stem

    def load_sample(self, sample_id: int) -> tuple[tuple[np.ndarray, np.ndarray], None]:
        pair = self.pairs[sample_id - 1]
        left, right = read_image(pair.left, self.where), read_image(pair.right, self.where)
        if left.shape != right.shape:
            raise UserInputError(f"dataset.root: {pair.left.name} and {pair.right.name} differ in size "
                                 f"({left.shape[:2]} vs {right.shape[:2]}); pairs must be rectified, same size")
        return (left, right), None

    def truth(self, sample_id: int, size: tuple[int, int]) -> np.ndarray:
        """The pair's ground-truth disparity, which must cover the images' `size` (height, width)."""
        truth = read_disparity(self.pairs[sample_id - 1].truth)
        if truth.shape != tuple(size):
            raise UserInputError(f"dataset.root: ground truth {shown(self.pairs[sample_id - 1].truth.name)} is "
                                 f"{truth.shape}, the images are {tuple(size)}")
        return truth

    def check_sample(self, sample_id: int) -> None:
        (left, _), _ = self.load_sample(sample_id)
        self.truth(sample_id, left.shape[:2])

    def fingerprint(self) -> str:
        return fingerprint_files([p for pair in self.pairs for p in (pair.left, pair.right, pair.truth)])

    def ground_truth(self) -> None:
        """Ground truth is read per sample while evaluating; the metric pools the counts."""
        return None

    def rows(self, sample_id: int, decoded: Disparity, geometry: Geometry) -> np.ndarray:
        truth = self.truth(sample_id, geometry.orig_size)
        return error_counts(sample_id, disparity_to_original(decoded.disparity, geometry), truth)
