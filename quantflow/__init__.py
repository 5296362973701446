"""quantflow: post-training INT8 quantization with the dataset's own metric."""

__version__ = "0.1.0"
