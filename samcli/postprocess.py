"""samcli's postprocessing of a MaskSet: size filters, border, merge, containment, top-K.

Each step is a pure function ``MaskSet -> MaskSet``; :func:`postprocess` runs the ones a config
turns on, in this order:

1. ``--min-area`` / ``--max-area``: drop whole masks by pixel count (or % of the image).
2. ``--drop-border``: drop masks touching the image edge.
3. ``--merge-iou``: masks overlapping more than this mask IoU become one: the better-scored mask
   survives, grown to the union (its scores and point are kept); never past ``--max-area``:
   where the union would be larger, the duplicate is dropped and the survivor kept as it was.
4. ``--containment drop``: drop a mask when at least ``--containment-ratio`` of its area lies
   inside one bigger kept mask.
5. ``--max-proposals K``: keep the K best by ranking score (mean of predicted IoU and stability).

Masks stay in their incoming order (generation order: best predicted IoU first) except that
top-K returns the K best in ranking order. With the ``sam`` preset every step is off, so the
output is exactly the reference generator's.
"""

from __future__ import annotations

import numpy as np
from pycocotools import mask as mask_utils

from samcli.config import AutomaskConfig, area_pixels
from samcli.maskset import MaskSet, rle_boxes


def filter_area(masks: MaskSet, min_px: float, max_px: float) -> MaskSet:
    """Keep masks with ``min_px <= area <= max_px``."""
    return masks[(masks.areas >= min_px) & (masks.areas <= max_px)]


def drop_border(masks: MaskSet) -> MaskSet:
    """Drop masks whose tight box touches the image edge."""
    h, w = masks.image_size
    b = masks.boxes
    touches = (b[:, 0] <= 0) | (b[:, 1] <= 0) | (b[:, 2] >= w - 1) | (b[:, 3] >= h - 1)
    return masks[~touches]


def merge_overlapping(masks: MaskSet, iou_threshold: float,
                      max_area: int | None = None) -> MaskSet:
    """Fold each mask whose mask IoU with a better-scored survivor is ``> iou_threshold`` into it.

    Visits masks best score first; the survivor keeps its scores, point and crop box; its mask
    becomes the union, its box and area are recomputed. Output keeps the incoming order.
    ``max_area`` (pixels; ``--max-area``): a union larger than it is not made, so that no
    mask the size filter let through grows past it; the duplicate is dropped and the
    survivor kept as it was.
    """
    if len(masks) < 2 or iou_threshold >= 1.0:
        return masks
    order = np.argsort(-masks.score(), kind="stable")
    survivors: list[int] = []
    rles = list(masks.rles)
    tiles = None if masks.tiles is None else list(masks.tiles)
    for i in order:
        if survivors:
            ious = mask_utils.iou([rles[i]], [rles[j] for j in survivors], [0] * len(survivors))[0]
            best = int(np.argmax(ious))
            if ious[best] > iou_threshold:
                j = survivors[best]
                union = mask_utils.merge([rles[j], rles[i]])
                if max_area is not None and mask_utils.area(union) > max_area:
                    continue  # a duplicate all the same: dropped, the survivor unchanged
                rles[j] = union
                if tiles is not None:
                    tiles[j] = tuple(sorted(set(tiles[j]) | set(tiles[i]),
                                            key=lambda t: (t[1], t[0])))
                continue
        survivors.append(int(i))
    keep = np.sort(np.array(survivors))
    xyxy = rle_boxes([rles[i] for i in keep])
    return MaskSet(
        image_size=masks.image_size, rles=[rles[i] for i in keep], boxes=xyxy,
        predicted_iou=masks.predicted_iou[keep], stability_score=masks.stability_score[keep],
        points=masks.points[keep], crop_boxes=masks.crop_boxes[keep],
        tiles=None if tiles is None else [tiles[i] for i in keep],
    )


def drop_contained(masks: MaskSet, ratio: float) -> MaskSet:
    """Drop a mask when ``>= ratio`` of its area lies inside one bigger kept mask.

    Visits masks largest first, so a mask is only tested against kept masks larger than it.
    """
    if len(masks) < 2:
        return masks
    order = np.argsort(-masks.areas, kind="stable")
    kept: list[int] = []
    for i in order:
        if kept:
            # iscrowd=1 makes pycocotools return |a & b| / |a|: the share of mask i inside each
            inside = mask_utils.iou([masks.rles[i]], [masks.rles[j] for j in kept], [1] * len(kept))
            bigger = masks.areas[kept] > masks.areas[i]
            if np.any((inside[0] >= ratio) & bigger):
                continue
        kept.append(int(i))
    return masks[np.sort(np.array(kept, dtype=np.int64))]


def top_k(masks: MaskSet, k: int) -> MaskSet:
    """The ``k`` best masks by ranking score (mean of predicted IoU and stability), best first."""
    if k <= 0 or len(masks) <= k:
        return masks
    return masks[np.argsort(-masks.score(), kind="stable")[:k]]


def postprocess(masks: MaskSet, cfg: AutomaskConfig) -> MaskSet:
    """Apply the samcli steps ``cfg`` turns on (see module docstring for the order)."""
    h, w = masks.image_size
    # Size filters
    min_px = area_pixels(cfg.min_area, "--min-area", h * w)
    max_px = area_pixels(cfg.max_area, "--max-area", h * w)
    if min_px > 0 or max_px < h * w:
        masks = filter_area(masks, min_px, max_px)
    # Border
    if cfg.drop_border:
        masks = drop_border(masks)
    # Duplicates
    masks = merge_overlapping(masks, cfg.merge_iou, max_px if max_px < h * w else None)
    # Nested masks
    if cfg.containment == "drop":
        masks = drop_contained(masks, cfg.containment_ratio)
    # Top-K
    return top_k(masks, cfg.max_proposals)
