"""Semantic segmentation: index-mask and COCO-instance datasets, class-map decoder, mean IoU."""
