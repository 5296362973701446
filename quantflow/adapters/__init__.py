"""Dataset adapters; importing this package registers the built-ins."""

from quantflow.adapters import coco_detection, coco_keypoints, image_folder, stereo_pairs  # noqa: F401
from quantflow.adapters.base import ADAPTERS, DatasetAdapter, read_image

__all__ = ["ADAPTERS", "DatasetAdapter", "read_image"]
