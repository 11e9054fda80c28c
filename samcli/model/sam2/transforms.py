"""SAM 2's pre- and post-processing (``sam2.utils.transforms.SAM2Transforms``) as functions.

Frames: an original image of (H, W) pixels is *resized* (aspect ratio not kept, no padding)
to the S x S model input (S = 1024). Prompt coordinates therefore scale per axis: x by S / W,
y by S / H (computed in float32 as the reference: divide by W or H, then multiply by S). The
decoder's low-res logits (256 x 256) cover the whole S x S input and are upsampled straight to
(H, W).

Pre-processing matches the reference to the bit: uint8 RGB -> float32 / 255 (ToTensor), bilinear
resize with antialiasing (torchvision's tensor ``Resize``, skipped when the image is already
S x S), then ImageNet normalisation ((x - mean) / std, per channel).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

IMAGE_SIZE = 1024
PIXEL_MEAN = (0.485, 0.456, 0.406)  # ImageNet statistics of [0, 1] RGB values
PIXEL_STD = (0.229, 0.224, 0.225)
#: The image predictor returns its low-res logits clamped to this magnitude (they are fed back
#: as mask prompts); the full-size masks are upsampled from the unclamped logits.
LOW_RES_LOGIT_LIMIT = 32.0


def _as_hwc_uint8(image: np.ndarray | torch.Tensor, device: torch.device | str | None
                  ) -> torch.Tensor:
    if isinstance(image, np.ndarray):
        # a read-only array (decoded images may be) is copied: torch warns on those
        image = torch.from_numpy(np.require(image, requirements=("C", "W")))
    if image.dtype != torch.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(
            f"expected a uint8 (H, W, 3) RGB image, got {image.dtype} {tuple(image.shape)}"
        )
    return image.to(device) if device is not None else image


def preprocess_image(
    image: np.ndarray | torch.Tensor,
    image_size: int = IMAGE_SIZE,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """uint8 (H, W, 3) RGB (numpy or torch) -> normalised float32 (1, 3, S, S) model input.

    ``device``: where to do the work (the image is moved there as uint8 first).
    """
    x = _as_hwc_uint8(image, device).permute(2, 0, 1).contiguous()
    x = x.to(torch.float32).div(255)
    if tuple(x.shape[1:]) != (image_size, image_size):
        x = F.interpolate(x[None], size=(image_size, image_size), mode="bilinear",
                          align_corners=False, antialias=True)[0]
    mean = torch.as_tensor(PIXEL_MEAN, dtype=x.dtype, device=x.device).view(-1, 1, 1)
    std = torch.as_tensor(PIXEL_STD, dtype=x.dtype, device=x.device).view(-1, 1, 1)
    return ((x - mean) / std).unsqueeze(0)


def preprocess_images(
    images: Sequence[np.ndarray | torch.Tensor],
    image_size: int = IMAGE_SIZE,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Several images (any sizes) -> float32 (N, 3, S, S) (``SAM2Transforms.forward_batch``)."""
    return torch.cat([preprocess_image(im, image_size, device) for im in images], dim=0)


def transform_coords(
    coords: np.ndarray | torch.Tensor | Sequence,
    orig_hw: tuple[int, int],
    image_size: int = IMAGE_SIZE,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """(..., 2) (x, y) original-image pixels -> float32 model-input pixels (same shape)."""
    h, w = orig_hw
    out = torch.as_tensor(coords, dtype=torch.float32, device=device).clone()
    out[..., 0] = out[..., 0] / w
    out[..., 1] = out[..., 1] / h
    return out * image_size


def transform_boxes(
    boxes: np.ndarray | torch.Tensor | Sequence,
    orig_hw: tuple[int, int],
    image_size: int = IMAGE_SIZE,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """(B, 4) or (4,) xyxy original-image pixels -> float32 (B, 4) model-input pixels."""
    corners = torch.as_tensor(boxes, dtype=torch.float32, device=device).reshape(-1, 2, 2)
    return transform_coords(corners, orig_hw, image_size).reshape(-1, 4)


def clamp_low_res_logits(logits: torch.Tensor) -> torch.Tensor:
    """Clamp low-res logits to +-32, as the image predictor returns them."""
    return logits.clamp(-LOW_RES_LOGIT_LIMIT, LOW_RES_LOGIT_LIMIT)


def _small_components(binary: torch.Tensor, max_area: float) -> torch.Tensor:
    """Pixels of 8-connected components of area <= max_area: (N, h, w) bool -> bool.

    The reference computes this with a CUDA extension (``sam2._C``) and silently skips the step
    when the extension is missing; here OpenCV does it on the CPU.
    """
    import cv2  # samcli dependency; only needed when hole / sprinkle removal is on

    out = np.zeros(tuple(binary.shape), dtype=bool)
    for i, mask in enumerate(binary.cpu().numpy().astype(np.uint8)):
        _, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        small = stats[:, cv2.CC_STAT_AREA] <= max_area
        small[0] = False  # label 0: the pixels outside every component
        out[i] = small[labels]
    return torch.from_numpy(out).to(binary.device)


def fill_holes_and_sprinkles(
    masks: torch.Tensor,
    mask_threshold: float = 0.0,
    max_hole_area: float = 0.0,
    max_sprinkle_area: float = 0.0,
) -> torch.Tensor:
    """The reference's optional clean-up of low-res logits (B, M, h, w) (off by default).

    Background components (logits <= threshold) of area <= ``max_hole_area`` are set to
    threshold + 10; foreground components (> threshold) of area <= ``max_sprinkle_area`` to
    threshold - 10. Both are found on the input logits (as the reference does).
    """
    masks = masks.float()
    if max_hole_area <= 0 and max_sprinkle_area <= 0:
        return masks
    flat = masks.flatten(0, 1)
    out = masks
    if max_hole_area > 0:
        holes = _small_components(flat <= mask_threshold, max_hole_area).reshape_as(masks)
        out = torch.where(holes, mask_threshold + 10.0, out)
    if max_sprinkle_area > 0:
        sprinkles = _small_components(flat > mask_threshold, max_sprinkle_area).reshape_as(masks)
        out = torch.where(sprinkles, mask_threshold - 10.0, out)
    return out


def postprocess_masks(
    low_res_logits: torch.Tensor,
    orig_hw: tuple[int, int],
    mask_threshold: float = 0.0,
    max_hole_area: float = 0.0,
    max_sprinkle_area: float = 0.0,
) -> torch.Tensor:
    """Low-res logits (B, M, 256, 256) -> float32 logits (B, M, H, W) of the original image:
    optional hole / sprinkle clean-up, then bilinear upsampling (align_corners=False)."""
    masks = fill_holes_and_sprinkles(low_res_logits, mask_threshold, max_hole_area,
                                     max_sprinkle_area)
    return F.interpolate(masks, tuple(orig_hw), mode="bilinear", align_corners=False)
