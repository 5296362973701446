"""Where each model-input pixel came from, so predictions can be mapped back to the original image."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Geometry:
    """Affine map original image → current image: ``current = original * scale + pad`` per axis.

    orig_size, size: (height, width) of the original and of the current image.
    scale: (sy, sx); pad: (top, left) in pixels of the current image.
    """

    orig_size: tuple[int, int]
    size: tuple[int, int]
    scale: tuple[float, float] = (1.0, 1.0)
    pad: tuple[float, float] = (0.0, 0.0)

    @classmethod
    def identity(cls, height: int, width: int) -> "Geometry":
        return cls((height, width), (height, width))

    def then(self, size: tuple[int, int], scale: tuple[float, float], pad: tuple[float, float]) -> "Geometry":
        """Compose with a further resize/pad applied to the current image."""
        return Geometry(
            self.orig_size,
            size,
            (self.scale[0] * scale[0], self.scale[1] * scale[1]),
            (self.pad[0] * scale[0] + pad[0], self.pad[1] * scale[1] + pad[1]),
        )

    @classmethod
    def crop(cls, orig_size: tuple[int, int], size: tuple[int, int], top: float, left: float) -> "Geometry":
        """A region of `size` whose corner sits at (top, left) of the original (sub-pixel, may lie outside)."""
        return cls(orig_size, size, (1.0, 1.0), (-top, -left))

    def points_to_original(self, points: np.ndarray) -> np.ndarray:
        """Map [..., 2] points (x, y) normalized to the model input into original pixels (not clipped)."""
        height, width = self.size
        out = np.asarray(points, dtype=np.float64).copy()
        out[..., 0] = (out[..., 0] * width - self.pad[1]) / self.scale[1]
        out[..., 1] = (out[..., 1] * height - self.pad[0]) / self.scale[0]
        return out

    def boxes_to_original(self, boxes: np.ndarray) -> np.ndarray:
        """Map [N,4] boxes (x1, y1, x2, y2) normalized to the model input into clipped original pixels."""
        out = self.points_to_original(np.asarray(boxes).reshape(-1, 2, 2)).reshape(-1, 4)
        out[:, 0::2] = out[:, 0::2].clip(0, self.orig_size[1])
        out[:, 1::2] = out[:, 1::2].clip(0, self.orig_size[0])
        return out

    def map_to_original(self, values: np.ndarray, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
        """Resample a map on the model's output grid ([H, W] or [H, W, C], which may be coarser than the model
        input) onto the original image: padding is cut away and the preprocessing's scaling undone."""
        out_h, out_w = values.shape[:2]
        in_h, in_w = self.size
        to_input = (in_h / out_h, in_w / out_w)
        orig_h, orig_w = self.orig_size
        # original pixel centre (x + 0.5) → output grid coordinate, per axis (cv2 samples pixel centres at integers)
        ax, ay = self.scale[1] / to_input[1], self.scale[0] / to_input[0]
        bx = (0.5 * self.scale[1] + self.pad[1]) / to_input[1] - 0.5
        by = (0.5 * self.scale[0] + self.pad[0]) / to_input[0] - 0.5
        matrix = np.array([[ax, 0.0, bx], [0.0, ay, by]])
        resampled = cv2.warpAffine(values, matrix, (orig_w, orig_h), flags=interpolation | cv2.WARP_INVERSE_MAP,
                                   borderMode=cv2.BORDER_REPLICATE)
        return resampled.reshape(orig_h, orig_w, *values.shape[2:])
