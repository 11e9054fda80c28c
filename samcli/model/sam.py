"""The Sam module: image encoder + prompt encoder + mask decoder, with pre/post-processing.

Coordinate frames used across samcli:

* original image: (H, W) pixels as read from disk;
* input frame: the image resized so its longest side is ``img_size`` (1024), size
  ``input_size`` = (h', w'), placed at the top-left of a 1024 x 1024 zero-padded canvas;
* low-res mask frame: the decoder's (256, 256) logits cover the whole padded canvas.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .image_encoder import ImageEncoderViT
from .mask_decoder import MaskDecoder
from .prompt_encoder import PromptEncoder
from .tiny_vit import TinyViT


class Sam(nn.Module):
    """Segment Anything model (state dict identical to the reference ``Sam``).

    ``pixel_mean`` / ``pixel_std`` are non-persistent (3, 1, 1) buffers, as in the reference,
    so they are not part of checkpoints.
    """

    mask_threshold: float = 0.0
    image_format: str = "RGB"

    def __init__(
        self,
        image_encoder: ImageEncoderViT | TinyViT,
        prompt_encoder: PromptEncoder,
        mask_decoder: MaskDecoder,
        pixel_mean: Sequence[float] = (123.675, 116.28, 103.53),
        pixel_std: Sequence[float] = (58.395, 57.12, 57.375),
    ) -> None:
        super().__init__()
        self.image_encoder = image_encoder
        self.prompt_encoder = prompt_encoder
        self.mask_decoder = mask_decoder
        self._pixel_stats = (tuple(pixel_mean), tuple(pixel_std))
        self.register_buffer(
            "pixel_mean", torch.tensor(list(pixel_mean), dtype=torch.float32).view(-1, 1, 1), False
        )
        self.register_buffer(
            "pixel_std", torch.tensor(list(pixel_std), dtype=torch.float32).view(-1, 1, 1), False
        )

    def reset_derived_buffers(self) -> None:
        """Refill the non-persistent buffers (``pixel_mean`` / ``pixel_std``, and the TinyViT
        attention index tables) after the module was materialised with ``to_empty``."""
        mean, std = self._pixel_stats
        device = self.pixel_mean.device
        self.pixel_mean = torch.tensor(mean, dtype=torch.float32, device=device).view(-1, 1, 1)
        self.pixel_std = torch.tensor(std, dtype=torch.float32, device=device).view(-1, 1, 1)
        for module in self.modules():
            if module is not self and hasattr(module, "reset_derived_buffers"):
                module.reset_derived_buffers()

    @property
    def device(self) -> Any:
        return self.pixel_mean.device

    @property
    def img_size(self) -> int:
        """Side of the square model input (1024)."""
        return int(self.image_encoder.img_size)

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise and zero-pad to a square model input.

        x: (B, 3, h', w') float or uint8 RGB in [0, 255], already resized so that
        max(h', w') <= img_size. Returns float32 (B, 3, img_size, img_size).
        """
        x = (x.to(torch.float32) - self.pixel_mean) / self.pixel_std
        h, w = x.shape[-2:]
        return F.pad(x, (0, self.img_size - w, 0, self.img_size - h))

    def postprocess_masks(
        self,
        masks: torch.Tensor,
        input_size: tuple[int, ...],
        original_size: tuple[int, ...],
    ) -> torch.Tensor:
        """Low-res logits (B, M, 256, 256) -> logits (B, M, H, W) in the original frame.

        Bilinear upsampling to img_size x img_size, crop of the unpadded ``input_size``
        (h', w'), bilinear resize to ``original_size`` (H, W); align_corners=False throughout.
        """
        masks = F.interpolate(
            masks, (self.img_size, self.img_size), mode="bilinear", align_corners=False
        )
        masks = masks[..., : input_size[0], : input_size[1]]
        return F.interpolate(masks, tuple(original_size), mode="bilinear", align_corners=False)
