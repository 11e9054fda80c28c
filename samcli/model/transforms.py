"""Resize-longest-side transform between the original image frame and SAM's input frame.

Matches the reference ``ResizeLongestSide`` exactly: the image is resized with Pillow's
bilinear filter (what torchvision's ``resize`` does for a PIL image), and coordinates are
scaled by new/old per axis, computed in float64.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image


def preprocess_shape(old_h: int, old_w: int, long_side: int) -> tuple[int, int]:
    """(h', w') of an (old_h, old_w) image scaled so its longest side is ``long_side``.

    Rounds half up, like the reference (``int(x + 0.5)``), but never to 0: a 3000 x 1 strip
    becomes 1024 x 1, where the reference's 1024 x 0 cannot be resized (it fails). Every image
    the reference handles gets the same size here.
    """
    scale = long_side * 1.0 / max(old_h, old_w)
    new_h, new_w = old_h * scale, old_w * scale
    return max(1, int(new_h + 0.5)), max(1, int(new_w + 0.5))


class ResizeLongestSide:
    """Resize images / coordinates so the longest image side becomes ``target_length``."""

    def __init__(self, target_length: int) -> None:
        self.target_length = target_length

    def input_size(self, original_size: tuple[int, int]) -> tuple[int, int]:
        """(h', w') in the model input frame for an original (H, W)."""
        return preprocess_shape(original_size[0], original_size[1], self.target_length)

    def apply_image(self, image: np.ndarray) -> np.ndarray:
        """uint8 (H, W, 3) RGB -> uint8 (h', w', 3), Pillow bilinear (antialiased) resize."""
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(
                f"expected a uint8 (H, W, 3) RGB image, got {image.dtype} {tuple(image.shape)}"
            )
        new_h, new_w = self.input_size(image.shape[:2])
        if (new_h, new_w) == tuple(image.shape[:2]):
            return image
        pil = Image.fromarray(np.ascontiguousarray(image))
        return np.array(pil.resize((new_w, new_h), Image.BILINEAR))

    def apply_coords(self, coords: np.ndarray, original_size: tuple[int, int]) -> np.ndarray:
        """(..., 2) (x, y) original-frame pixels -> float64 input-frame pixels."""
        old_h, old_w = original_size
        new_h, new_w = self.input_size(original_size)
        out = np.array(coords, dtype=np.float64, copy=True)
        out[..., 0] = out[..., 0] * (new_w / old_w)
        out[..., 1] = out[..., 1] * (new_h / old_h)
        return out

    def apply_boxes(self, boxes: np.ndarray, original_size: tuple[int, int]) -> np.ndarray:
        """(B, 4) xyxy original-frame pixels -> float64 (B, 4) input-frame pixels."""
        return self.apply_coords(np.asarray(boxes).reshape(-1, 2, 2), original_size).reshape(-1, 4)

    def apply_coords_torch(
        self, coords: torch.Tensor, original_size: tuple[int, int]
    ) -> torch.Tensor:
        """Tensor version of :meth:`apply_coords`: computed in float64, returned float32."""
        old_h, old_w = original_size
        new_h, new_w = self.input_size(original_size)
        scale = torch.tensor(
            [new_w / old_w, new_h / old_h], dtype=torch.float64, device=coords.device
        )
        return (coords.to(torch.float64) * scale).to(torch.float32)

    def apply_boxes_torch(
        self, boxes: torch.Tensor, original_size: tuple[int, int]
    ) -> torch.Tensor:
        """Tensor version of :meth:`apply_boxes`: (B, 4) -> float32 (B, 4)."""
        return self.apply_coords_torch(boxes.reshape(-1, 2, 2), original_size).reshape(-1, 4)
