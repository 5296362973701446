"""Salient-object and matting masks: image + grey-mask datasets, foreground-map decoder, MAE / max F / IoU."""
