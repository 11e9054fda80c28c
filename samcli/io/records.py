"""Proposal records: the JSON Lines schema (README, "Output formats"), made in exactly one place.

:func:`proposal_records` is the one place where the JSON Lines records are made. Keys, in
this order: ``image, width, height, id, bbox, area, predicted_iou, stability_score, point,
crop_box, segmentation``, then ``tiles`` (tiled runs only: the tile boxes ``[x, y, w, h]`` the
proposal came from), then the ``ImageResult.extras`` keys in their order. Masks with no
pixels are dropped *before* numbering, so ids are always ``0..n-1`` (and
:func:`kept_indices` tells a writer which masks of the ``MaskSet`` the records are). Scores are
rounded to 6 decimals, ``point`` to 2 (``null`` when the mask had no point prompt), polygon
coordinates are ints for exact polygons and rounded to 2 decimals once simplified.

Geometry (``segmentation``) is made only when a writer needs it: :func:`proposal_records`
with ``polygon=None`` leaves the key out (COCO writes RLE, crops and previews draw masks), so
a run that writes only those never traces a polygon.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from samcli.config import PolygonOptions
from samcli.geometry import mask_to_geometry
from samcli.maskset import MaskSet

RECORD_KEYS = (
    "image",
    "width",
    "height",
    "id",
    "bbox",
    "area",
    "predicted_iou",
    "stability_score",
    "point",
    "crop_box",
    "segmentation",
)
_COMPACT = (",", ":")


def dumps(obj: Any) -> str:
    """Compact JSON, UTF-8 text kept as is, NaN refused (records hold only finite numbers)."""
    return json.dumps(obj, separators=_COMPACT, ensure_ascii=False, allow_nan=False)


def jsonable(v: Any) -> Any:
    """numpy scalars/arrays, tuples and NaN -> plain JSON values."""
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, np.ndarray):
        return jsonable(v.tolist())
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return None if not math.isfinite(f) else f
    if isinstance(v, Path):
        return v.as_posix()
    return v


def round_finite(v: Any, ndigits: int) -> float | None:
    f = float(v)
    return round(f, ndigits) if math.isfinite(f) else None


def proposal_score(mode: str, predicted_iou: float, stability_score: float,
                   box_confidence: float | None = None) -> float | None:
    """The one ``score`` of a proposal in COCO results and annotation-tool files (what
    COCOeval ranks detections by), rounded to 6 decimals.

    ``sam``: mean of predicted IoU and stability score (SAM's own quality; automask always);
    ``detector``: the box's confidence, 1 for a box without one (a ground-truth label is taken
    as certain, as ``--min-conf`` lets it pass); ``product``: the two multiplied (SAM's
    quality alone for a box without a confidence).
    """
    sam = (float(predicted_iou) + float(stability_score)) / 2
    conf = 1.0 if box_confidence is None else float(box_confidence)
    if mode == "sam":
        value = sam
    elif mode == "detector":
        value = conf
    elif mode == "product":
        value = conf * sam
    else:
        raise ValueError(f"unknown score {mode!r}")
    return round_finite(value, 6)


def kept_indices(masks: MaskSet) -> np.ndarray:
    """Indices into ``masks`` of the masks that get records (non-empty ones), in order.

    Record ``id`` k describes mask ``kept_indices(masks)[k]``.
    """
    return np.flatnonzero(np.asarray(masks.areas) > 0)


def proposal_records(image: str, width: int, height: int, masks: MaskSet,
                     extras: list[dict] | None = None,
                     polygon: PolygonOptions | None = PolygonOptions()) -> list[dict]:
    """The JSON Lines records of one image (see the module docstring for keys and rounding).

    ``polygon``: how ``segmentation`` is made (:func:`samcli.geometry.mask_to_geometry`
    with its ``simplify`` and ``max_vertices``, 0 meaning no limit); None leaves
    ``segmentation`` out. ``extras``: per-mask extra fields (empty or one dict per mask).
    Empty masks are dropped before numbering.
    """
    ms = masks
    max_vertices = (polygon.max_vertices or None) if polygon is not None else None
    bbox = ms.bbox_xywh
    records: list[dict] = []
    for i in kept_indices(ms):
        i = int(i)
        geom = None
        if polygon is not None:
            window, x0, y0 = ms.window(i)
            geom = mask_to_geometry(window, polygon.simplify, max_vertices, offset=(x0, y0))
            if geom is None:  # cannot happen for a non-empty mask; keep ids contiguous anyway
                continue
        px, py = (float(v) for v in ms.points[i])
        point = [round(px, 2), round(py, 2)] if math.isfinite(px) and math.isfinite(py) else None
        x1, y1, x2, y2 = (int(v) for v in ms.crop_boxes[i])
        rec = {
            "image": image,
            "width": int(width),
            "height": int(height),
            "id": len(records),
            "bbox": [int(v) for v in bbox[i]],
            "area": int(ms.areas[i]),
            "predicted_iou": round_finite(ms.predicted_iou[i], 6),
            "stability_score": round_finite(ms.stability_score[i], 6),
            "point": point,
            "crop_box": [x1, y1, x2 - x1, y2 - y1],
        }
        if polygon is not None:
            rec["segmentation"] = geom
        if ms.tiles is not None:  # tiled run: the tile boxes [x, y, w, h] it came from
            rec["tiles"] = [[t[0], t[1], t[2] - t[0], t[3] - t[1]] for t in ms.tiles[i]]
        if extras:
            for key, value in extras[i].items():
                if key in rec:
                    raise ValueError(f"extra field {key!r} would replace a standard record key")
                rec[key] = jsonable(value)
        records.append(rec)
    return records
