"""Shared by the io tests: a synthetic ImageResult with a few telling masks."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Sequence

import numpy as np

from samcli.config import PolygonOptions
from samcli.io.records import proposal_records
from samcli.maskset import MaskSet, encode_masks
from samcli.results import ImageResult

H, W = 40, 60


def _masks(seed: int = 0) -> np.ndarray:
    """A few masks: a square with a hole, two parts, a disc, an empty one, a 1-px stroke."""
    m = np.zeros((5, H, W), bool)
    m[0, 5:25, 5:25] = True
    m[0, 12:16, 12:16] = False
    m[1, 2:6, 30:40] = True
    m[1, 30:38, 45:58] = True
    yy, xx = np.mgrid[:H, :W]
    m[2] = (yy - 20) ** 2 + (xx - 40) ** 2 < 8**2 + seed
    m[4, 35, 3:30] = True  # m[3] stays empty
    return m


def _boxes(masks: np.ndarray) -> np.ndarray:
    out = np.zeros((len(masks), 4))
    for i, m in enumerate(masks):
        if m.any():
            ys, xs = np.nonzero(m)
            out[i] = [xs.min(), ys.min(), xs.max(), ys.max()]
    return out


def make_result(image: str = "x/a.jpg", masks: np.ndarray | None = None, extras=None,
                with_rgb: bool = False, seed: int = 0) -> ImageResult:
    masks = _masks(seed) if masks is None else masks
    n, h, w = masks.shape
    rng = np.random.default_rng(seed)
    points = rng.uniform(0, [w, h], (n, 2))
    points[1:2] = np.nan
    ms = MaskSet(
        image_size=(h, w),
        rles=encode_masks(masks),
        boxes=_boxes(masks),
        predicted_iou=rng.uniform(0.85, 1.0, n),
        stability_score=rng.uniform(0.9, 1.0, n),
        points=points,
        crop_boxes=np.tile([0, 0, w, h], (n, 1)),
    )
    rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8) if with_rgb else None
    return ImageResult(image=image, source=Path(image), width=w, height=h, masks=ms,
                       extras=extras or [], rgb=rgb)


def box_extras(n: int) -> list[dict]:
    return [
        {"class": np.int64(i % 2 + 3), "box_confidence": np.float32(0.5) if i else None,
         "prompt_box": np.array([1.0, 2.0, 30.0, 20.0]), "box_iou": 0.91234567}
        for i in range(n)
    ]


def files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def records_of(res: ImageResult, simplify: float = 0.4, max_vertices: int | None = None
               ) -> list[dict]:
    """``res``'s records with polygons simplified at ``simplify`` (``max_vertices`` None or
    0: no limit)."""
    return proposal_records(res.image, res.width, res.height, res.masks, res.extras,
                            PolygonOptions(simplify=simplify, max_vertices=max_vertices or 0))


def with_records(res: ImageResult, records: Sequence[dict]) -> ImageResult:
    """``res`` carrying ``records`` (what the unit of work hands the writers)."""
    return dataclasses.replace(res, records=list(records))
