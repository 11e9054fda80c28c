"""MaskSet: the typed container of masks that flows between pipeline stages.

Masks are held as COCO compressed RLE (pycocotools dicts with ``size=[h, w]`` and ``counts``
bytes), one per mask, all at the full image size, so a large image with hundreds of masks costs
kilobytes rather than gigabytes. Per-mask arrays are numpy:

- ``boxes``: float64 (N, 4), tight box of the mask, **xyxy** in image pixels where x2/y2 are the
  last covered column/row (inclusive), exactly as the reference ``batched_mask_to_box``;
  (the records' ``bbox`` is derived as ``[x1, y1, x2 - x1 + 1, y2 - y1 + 1]``).
- ``predicted_iou``: float32 (N,), the decoder's IoU estimate.
- ``stability_score``: float32 (N,).
- ``points``: float64 (N, 2), the prompt point (x, y) in image pixels, NaN when there is none.
- ``crop_boxes``: int64 (N, 4), the crop the mask came from, xyxy (exclusive end) in image pixels.
- ``tiles``: None (no tiling), or per mask a tuple of the tile boxes it came from, each xyxy
  (exclusive end) in image pixels (several when an object cut by tile seams was merged).

Indexing with a boolean or integer array returns a new MaskSet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from pycocotools import mask as mask_utils

from samcli.rle import decode_mask, decode_window, rle_areas


def _as(a, dtype, shape_tail: tuple[int, ...], name: str, n: int) -> np.ndarray:
    arr = np.asarray(a, dtype=dtype)
    if arr.shape != (n, *shape_tail):
        raise ValueError(f"MaskSet.{name} has shape {arr.shape}, expected {(n, *shape_tail)}")
    return arr


@dataclass
class MaskSet:
    """N masks over one image of size ``image_size = (h, w)``; see the module docstring."""

    image_size: tuple[int, int]
    rles: list[dict]
    boxes: np.ndarray
    predicted_iou: np.ndarray
    stability_score: np.ndarray
    points: np.ndarray
    crop_boxes: np.ndarray
    areas: np.ndarray = field(default=None)  # int64 (N,), pixel counts; computed if not given
    tiles: list[tuple[tuple[int, int, int, int], ...]] | None = None

    def __post_init__(self) -> None:
        n = len(self.rles)
        self.image_size = (int(self.image_size[0]), int(self.image_size[1]))
        self.boxes = _as(self.boxes, np.float64, (4,), "boxes", n)
        self.predicted_iou = _as(self.predicted_iou, np.float32, (), "predicted_iou", n)
        self.stability_score = _as(self.stability_score, np.float32, (), "stability_score", n)
        self.points = _as(self.points, np.float64, (2,), "points", n)
        self.crop_boxes = _as(self.crop_boxes, np.int64, (4,), "crop_boxes", n)
        if self.areas is None:
            self.areas = rle_areas(self.rles)
        self.areas = _as(self.areas, np.int64, (), "areas", n)
        if self.tiles is not None and len(self.tiles) != n:
            raise ValueError(f"MaskSet.tiles has {len(self.tiles)} entries for {n} masks")
        for r in self.rles:
            if list(r["size"]) != [self.image_size[0], self.image_size[1]]:
                raise ValueError(f"RLE size {r['size']} != image size {self.image_size}")

    def __len__(self) -> int:
        return len(self.rles)

    def __getitem__(self, index) -> "MaskSet":
        idx = np.asarray(index)
        if idx.dtype == bool:
            if idx.shape != (len(self),):
                raise ValueError(f"boolean index of shape {idx.shape} for {len(self)} masks")
            idx = np.flatnonzero(idx)
        idx = idx.astype(np.int64).reshape(-1)
        return MaskSet(
            image_size=self.image_size,
            rles=[self.rles[i] for i in idx],
            boxes=self.boxes[idx],
            predicted_iou=self.predicted_iou[idx],
            stability_score=self.stability_score[idx],
            points=self.points[idx],
            crop_boxes=self.crop_boxes[idx],
            areas=self.areas[idx],
            tiles=None if self.tiles is None else [self.tiles[i] for i in idx],
        )

    @classmethod
    def empty(cls, image_size: tuple[int, int]) -> "MaskSet":
        return cls(
            image_size=image_size,
            rles=[],
            boxes=np.zeros((0, 4)),
            predicted_iou=np.zeros(0),
            stability_score=np.zeros(0),
            points=np.zeros((0, 2)),
            crop_boxes=np.zeros((0, 4)),
        )

    @classmethod
    def concat(cls, sets: Sequence["MaskSet"], image_size: tuple[int, int]) -> "MaskSet":
        sets = [s for s in sets if len(s)]
        if not sets:
            return cls.empty(image_size)
        tiled = [s.tiles is not None for s in sets]
        if any(tiled) and not all(tiled):
            raise ValueError("cannot concatenate tiled and untiled MaskSets")
        return cls(
            image_size=image_size,
            rles=[r for s in sets for r in s.rles],
            boxes=np.concatenate([s.boxes for s in sets]),
            predicted_iou=np.concatenate([s.predicted_iou for s in sets]),
            stability_score=np.concatenate([s.stability_score for s in sets]),
            points=np.concatenate([s.points for s in sets]),
            crop_boxes=np.concatenate([s.crop_boxes for s in sets]),
            areas=np.concatenate([s.areas for s in sets]),
            tiles=[t for s in sets for t in s.tiles] if all(tiled) else None,
        )

    def mask(self, i: int) -> np.ndarray:
        """Mask ``i`` as a bool (h, w) array."""
        return decode_mask(self.rles[i])

    def window(self, i: int) -> tuple[np.ndarray, int, int]:
        """Mask ``i`` inside its tight box: (bool (bh, bw) window, x0, y0) of its top-left
        pixel. Costs the box, not the image (see :mod:`samcli.rle`); (0, 0) window if empty."""
        if self.areas[i] == 0:
            return np.zeros((0, 0), bool), 0, 0
        x0, y0, x1, y1 = (int(v) for v in self.boxes[i])
        return decode_window(self.rles[i], (x0, y0, x1 + 1, y1 + 1)), x0, y0

    def score(self) -> np.ndarray:
        """Ranking score: mean of predicted IoU and stability score (float32, (N,))."""
        return (self.predicted_iou + self.stability_score) / 2

    @property
    def bbox_xywh(self) -> np.ndarray:
        """Tight boxes as COCO ``[x, y, w, h]`` (int64, (N, 4))."""
        b = self.boxes.astype(np.int64)
        return np.stack([b[:, 0], b[:, 1], b[:, 2] - b[:, 0] + 1, b[:, 3] - b[:, 1] + 1], axis=1)


def rle_boxes(rles: Sequence[dict]) -> np.ndarray:
    """Tight boxes of RLE masks, float64 (N, 4) xyxy inclusive (the MaskSet convention)."""
    if len(rles) == 0:
        return np.zeros((0, 4))
    b = mask_utils.toBbox(list(rles))  # xywh, exact for masks
    return np.stack([b[:, 0], b[:, 1], b[:, 0] + b[:, 2] - 1, b[:, 1] + b[:, 3] - 1], axis=1)


def encode_masks(masks: np.ndarray | Sequence[np.ndarray]) -> list[dict]:
    """Compressed RLE -> list of pycocotools dicts, for a bool/uint8 array (N, h, w) or a
    sequence of 2-D (h, w) masks (column-major ones, as :func:`samcli.decode.binary_masks`
    makes, are encoded without a copy)."""
    if isinstance(masks, np.ndarray):
        if masks.ndim != 3:
            raise ValueError(f"encode_masks expects (N, h, w), got {masks.shape}")
        if len(masks) == 0:
            return []
        return mask_utils.encode(np.asfortranarray(masks.transpose(1, 2, 0).astype(np.uint8)))
    out = []
    for m in masks:
        if m.ndim != 2:
            raise ValueError(f"encode_masks expects 2-D masks, got shape {m.shape}")
        as_u8 = m.view(np.uint8) if m.dtype == np.bool_ else m.astype(np.uint8)
        out.append(mask_utils.encode(np.asfortranarray(as_u8[:, :, None]))[0])
    return out

