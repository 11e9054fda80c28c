"""mask -> GeoJSON geometry: trace, simplify, fit to a vertex budget, format."""

from __future__ import annotations

import numpy as np
import shapely

from samcli.geometry.fit import fit_vertices
from samcli.geometry.geojson import exact_geojson, finish, n_geojson_vertices
from samcli.geometry.raster import geometry_to_mask, pycocotools_mask
from samcli.geometry.simplify import simplify_parts, smoothed_flat
from samcli.geometry.tracing import trace_flat

#: Below this tolerance (px) simplification promises pixel fidelity: a simplified geometry
#: that rasterizes to IoU < ROUND_TRIP_IOU with its mask, at pixel centres or as pycocotools
#: does, is replaced by the exact one (if it fits ``max_vertices``). Tolerances of a pixel
#: and more ask for coarser shapes, and only the half-the-pixels floor holds there.
FAITHFUL_BELOW = 1.0
#: SPEC's polygon -> mask round-trip bound at the default simplification.
ROUND_TRIP_IOU = 0.97


def mask_to_geometry(
    mask: np.ndarray, simplify: float = 0.0, max_vertices: int | None = None,
    offset: tuple[int, int] = (0, 0),
) -> dict | None:
    """A bool mask (h, w) -> GeoJSON Polygon / MultiPolygon dict in pixel space, or None if empty.

    ``offset`` = (x0, y0): where the mask's top-left pixel lies in the image, when ``mask`` is a
    window of it (integers; the output is the same as for the whole-image mask).

    ``simplify`` is a Douglas-Peucker tolerance in pixels (``shapely.simplify`` with
    ``preserve_topology=True``; 0 keeps the exact pixel-edge polygon, whose coordinates are
    ints). ``max_vertices`` caps the total vertex count over all rings (closing points not
    counted; at least 4, the fewest a topology-preserving simplification keeps for a ring): if it
    is exceeded the tolerance is raised (doubling, then bisection) until the geometry fits; if
    rings alone are too many even then, the smallest holes, then the smallest parts are
    dropped (the rule: :mod:`samcli.geometry.fit`). Simplified coordinates are rounded to 2
    decimals (ints where integral). The result is always ``shapely``-valid; see
    :mod:`samcli.geometry` for the conventions.

    A simplified geometry never covers less than half the mask's pixels nor less than one
    pixel: for tiny or thin masks, where smoothing and Douglas-Peucker shrink a pixel to a
    diamond of area 0.5 or a line to a sliver, the exact polygon is returned instead (within
    ``max_vertices`` when that fits). Below ``FAITHFUL_BELOW`` (1 px) the bound is fidelity:
    the simplified geometry must rasterize back to the mask at IoU >= 0.97, both by pixel
    centres (:func:`~samcli.geometry.raster.geometry_to_mask`) and as pycocotools does, or
    the exact polygon is returned instead. Ordinary shapes pass with room to spare (IoU >=
    0.99 at 0.4 px); the bound catches strokes one or two pixels wide, whose smoothed outline
    passes 0.35 px from the pixel centres, so that a 0.4 px tolerance may cut them off.
    """
    m = np.asarray(mask)
    if m.ndim != 2:
        raise ValueError(f"mask_to_geometry expects a (h, w) mask, got shape {m.shape}")
    if simplify is None or not np.isfinite(simplify) or simplify < 0:
        raise ValueError(f"simplify must be a finite number >= 0, got {simplify!r}")
    if max_vertices is not None and max_vertices < 4:
        raise ValueError(f"max_vertices must be at least 4, got {max_vertices!r}")
    m = m.astype(bool, copy=False)
    rows = np.flatnonzero(m.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(m.any(axis=0))
    r0, r1, c0, c1 = int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])
    sub = np.ascontiguousarray(m[r0 : r1 + 1, c0 : c1 + 1])
    flat = trace_flat(sub, c0 + int(offset[0]), r0 + int(offset[1]))
    if flat.n_parts == 0:
        return None
    n_exact = len(flat.pts)
    if simplify == 0 and (max_vertices is None or n_exact <= max_vertices):
        return exact_geojson(flat)
    pixels = int(np.count_nonzero(sub))
    window = (sub, c0 + int(offset[0]), r0 + int(offset[1]))
    if max_vertices is None:
        info: dict = {}
        out = simplify_parts(smoothed_flat(flat), float(simplify), info, inputs_valid=True)
        if _too_small(out, pixels):
            return exact_geojson(flat)
        geom = finish(out, flat, known_valid=info["valid"])
        return geom if _faithful(geom, simplify, *window) else exact_geojson(flat)
    limit = int(max_vertices)
    for _ in range(4):
        out = fit_vertices(flat, float(simplify), limit)
        if _too_small(out, pixels) and n_exact <= max_vertices:
            return exact_geojson(flat)
        geom = finish(out, flat)
        excess = n_geojson_vertices(geom) - int(max_vertices)
        if excess <= 0:
            break
        limit = max(4, limit - excess)  # the final repair added vertices: aim lower
    if n_exact <= max_vertices and not _faithful(geom, simplify, *window):
        return exact_geojson(flat)
    return geom


def _too_small(parts: list, pixels: int) -> bool:
    """Whether simplified ``parts`` cover less than half of ``pixels`` or less than one."""
    area = float(shapely.area(np.asarray(parts, dtype=object)).sum()) if len(parts) else 0.0
    return area < max(1.0, 0.5 * pixels)


def _faithful(geom: dict, simplify: float, sub: np.ndarray, x0: int, y0: int) -> bool:
    """Whether ``geom`` keeps the round-trip bound with the mask window ``sub`` (its top-left
    pixel at image (x0, y0)); always true from ``FAITHFUL_BELOW`` on. The check covers the
    window grown by a pixel each side, where a tolerance under 1 px can reach."""
    if simplify >= FAITHFUL_BELOW:
        return True
    h, w = sub.shape[0] + 2, sub.shape[1] + 2
    mask = np.zeros((h, w), bool)
    mask[1:-1, 1:-1] = sub
    pixels = int(np.count_nonzero(sub))
    for rasterize in (geometry_to_mask, pycocotools_mask):
        drawn = rasterize(geom, h, w, origin=(x0 - 1, y0 - 1))
        both = int(np.count_nonzero(drawn & mask))
        if both < ROUND_TRIP_IOU * (pixels + int(np.count_nonzero(drawn)) - both):
            return False
    return True
