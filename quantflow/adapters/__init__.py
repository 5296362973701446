"""Dataset adapters; the registry imports every module here, so a new provider is one new file."""

from quantflow.adapters.base import ADAPTERS, DatasetAdapter, read_image

__all__ = ["ADAPTERS", "DatasetAdapter", "read_image"]
