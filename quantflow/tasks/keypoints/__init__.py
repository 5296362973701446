"""Top-down pose: COCO keypoints, heatmap and coordinate decoders, OKS AP."""
