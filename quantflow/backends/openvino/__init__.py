"""OpenVINO: model sources, the runner, in-graph processing, speed."""
