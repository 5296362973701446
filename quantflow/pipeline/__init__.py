"""The quantize flow: stages built up front, evaluation passes, the FP32 cache, embedded-processing and benchmark
passes."""
