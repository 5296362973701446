"""`quantflow zoo`: model-zoo entries (every precision, measured) built from configs, indexed and verified."""
