"""Object detection: COCO boxes, box decoders, COCO AP."""
