"""geometry -> mask: exact scanline rasterization at pixel centres."""

from __future__ import annotations

from typing import Any

import numpy as np

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


def geometry_to_mask(geometry: Any, height: int, width: int) -> np.ndarray:
    """Rasterize a Polygon/MultiPolygon (GeoJSON dict or shapely) to a bool (height, width) mask.

    A pixel is inside when its centre ``(col + 0.5, row + 0.5)`` is inside (even-odd rule over
    all rings, which equals "exterior minus holes" for valid geometries); a centre exactly on a
    non-horizontal edge counts as inside when the edge is its left boundary. Exact (scanline,
    no supersampling), so an exact pixel-edge polygon gives back its mask exactly.
    """
    height, width = int(height), int(width)
    out = np.zeros((height, width), bool)
    rings = [r for r in _rings_of(geometry) if len(r) >= 2]
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
