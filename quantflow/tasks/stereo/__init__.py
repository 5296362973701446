"""Stereo disparity: stereo-pair layouts, disparity decoder, EPE/D1/bad-N."""
