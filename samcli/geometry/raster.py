"""geometry -> mask: exact scanline rasterization at pixel centres, and pycocotools' rule."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from samcli.geometry.rings import polygonal_parts


def _rings_of(geometry: Any) -> list[np.ndarray]:
    """All rings (exteriors and holes) of a GeoJSON Polygon/MultiPolygon dict or shapely geometry."""
    if hasattr(geometry, "geom_type"):
        rings = []
        for p in polygonal_parts(geometry):
            rings.append(np.asarray(p.exterior.coords, np.float64))
            rings.extend(np.asarray(r.coords, np.float64) for r in p.interiors)
        return rings
    if not isinstance(geometry, dict) or "type" not in geometry:
        raise ValueError("expected a GeoJSON geometry dict with 'type' and 'coordinates'")
    kind = geometry["type"]
    coords = geometry.get("coordinates") or []
    if kind == "Polygon":
        polys = [coords]
    elif kind == "MultiPolygon":
        polys = coords
    else:
        raise ValueError(f"cannot rasterize a {kind!r} geometry (Polygon or MultiPolygon only)")
    return [np.asarray(r, np.float64).reshape(-1, 2) for poly in polys for r in poly if len(r)]


def geometry_to_mask(
    geometry: Any, height: int, width: int, origin: tuple[int, int] = (0, 0),
) -> np.ndarray:
    """Rasterize a Polygon/MultiPolygon (GeoJSON dict or shapely) to a bool (height, width) mask.

    A pixel is inside when its centre ``(col + 0.5, row + 0.5)`` is inside (even-odd rule over
    all rings, which equals "exterior minus holes" for valid geometries); a centre exactly on a
    non-horizontal edge counts as inside when the edge is its left boundary. Exact (scanline,
    no supersampling), so an exact pixel-edge polygon gives back its mask exactly.

    ``origin`` = (x0, y0), integers: the mask is the window of the image whose top-left pixel
    is (x0, y0) (the geometry's coordinates stay image coordinates).
    """
    height, width = int(height), int(width)
    out = np.zeros((height, width), bool)
    shift = np.asarray(origin, np.float64)
    rings = [r - shift for r in _rings_of(geometry) if len(r) >= 2]
    if not rings or height <= 0 or width <= 0:
        return out
    # Edges a -> b of every ring, closing rings that were given open.
    is_open = [bool(np.any(r[0] != r[-1])) for r in rings]
    a = np.concatenate([r if o else r[:-1] for r, o in zip(rings, is_open)])
    b = np.concatenate([np.roll(r, -1, axis=0) if o else r[1:] for r, o in zip(rings, is_open)])
    ymin = np.minimum(a[:, 1], b[:, 1])
    ymax = np.maximum(a[:, 1], b[:, 1])
    # Rows whose centre y = r + 0.5 lies in [ymin, ymax).
    r_lo = np.clip(np.ceil(ymin - 0.5), 0, height).astype(np.int64)
    r_hi = np.clip(np.ceil(ymax - 0.5), 0, height).astype(np.int64)
    n = np.maximum(r_hi - r_lo, 0)
    total = int(n.sum())
    if total == 0:
        return out
    edge = np.repeat(np.arange(len(n)), n)
    starts = np.cumsum(n) - n
    rows = r_lo[edge] + (np.arange(total) - starts[edge])
    yc = rows + 0.5
    xa, ya, xb, yb = a[edge, 0], a[edge, 1], b[edge, 0], b[edge, 1]
    xc = xa + (yc - ya) * (xb - xa) / (yb - ya)
    # A crossing at x toggles every column whose centre is >= x: columns >= ceil(x - 0.5).
    col = np.clip(np.ceil(xc - 0.5), 0, width).astype(np.int64)
    r_min, r_max = int(rows.min()), int(rows.max())
    toggles = np.zeros((r_max - r_min + 1, width + 1), np.uint8)
    np.add.at(toggles, (rows - r_min, col), 1)
    inside = (np.cumsum(toggles, axis=1, dtype=np.uint8) & 1).astype(bool)
    out[r_min : r_max + 1] = inside[:, :width]
    return out


#: Rings whose box fits SMALL x SMALL pixels are rasterized in one pycocotools call.
_SMALL = 16


def pycocotools_mask(
    geometry: Any, height: int, width: int, origin: tuple[int, int] = (0, 0),
) -> np.ndarray:
    """The bool (height, width) mask that ``pycocotools.mask.frPyObjects`` makes of the
    geometry's rings (the rasterizer COCO tools apply to polygon annotations), even-odd over
    the rings as :func:`geometry_to_mask`; ``origin`` as there.

    pycocotools rounds coordinates to 1/5 px (``(int)(5 * v + 0.5)``) and samples each pixel
    a little up and left of its centre, so a boundary within about 0.1 px of a pixel centre
    can fall either way here and the other way in :func:`geometry_to_mask`. Each ring is
    rasterized in its own bounding box, so the cost follows the rings' sizes, not their number
    times the window's: its coordinates are rounded as pycocotools rounds image coordinates
    and shifted by whole pixels on that 1/5 px grid, where pycocotools' rule does not change.
    """
    height, width = int(height), int(width)
    count = np.zeros((height, width), np.uint8)
    rings = [r for r in _rings_of(geometry) if len(r) >= 3]
    if not rings:
        return count.astype(bool)
    starts = np.cumsum([0] + [len(r) for r in rings])[:-1]
    grid = np.trunc(5.0 * np.concatenate(rings) + 0.5)  # pycocotools' C cast truncates
    lo = np.floor(np.minimum.reduceat(grid, starts) / 5).astype(np.int64)  # whole px, (x, y)
    local = grid / 5 - np.repeat(lo, np.diff(np.append(starts, len(grid))), axis=0)
    size = np.ceil(np.maximum.reduceat(local, starts)).astype(np.int64) + 1  # (w, h)
    pieces = np.split(local, starts[1:])
    small = np.flatnonzero((size <= _SMALL).all(axis=1))
    for k in np.flatnonzero((size > _SMALL).any(axis=1)):
        w, h = int(size[k, 0]), int(size[k, 1])
        part = _decode(mask_utils.frPyObjects([pieces[k].ravel().tolist()], h, w))
        # The ring's box in the window, clipped to it
        bx, by = int(lo[k, 0]) - int(origin[0]), int(lo[k, 1]) - int(origin[1])
        y0, x0, y1, x1 = max(by, 0), max(bx, 0), min(by + h, height), min(bx + w, width)
        if y0 < y1 and x0 < x1:
            count[y0:y1, x0:x1] += part[y0 - by : y1 - by, x0 - bx : x1 - bx, 0]
    if small.size:
        flat = [pieces[k].ravel().tolist() for k in small]
        ys, xs, k = np.nonzero(_decode(mask_utils.frPyObjects(flat, _SMALL, _SMALL)))
        rows, cols = ys + (lo[small[k], 1] - origin[1]), xs + (lo[small[k], 0] - origin[0])
        keep = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
        np.add.at(count, (rows[keep], cols[keep]), 1)
    return (count & 1).astype(bool)


def _decode(rles: list) -> np.ndarray:
    """pycocotools' ``decode`` (h, w, n uint8) without the DeprecationWarning it emits under
    NumPy 2 (as :func:`samcli.rle.decode_mask`, which this package may not import)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return mask_utils.decode(rles)
