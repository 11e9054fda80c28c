"""``--max-vertices``: simplify parts until they have at most N vertices in all."""

from __future__ import annotations

import shapely
from shapely.geometry import MultiPolygon, Polygon

from samcli.geometry.rings import count_vertices, polygonal_parts
from samcli.geometry.simplify import simplify_parts, smoothed


def _drop_smallest_ring(parts: list[Polygon]) -> list[Polygon] | None:
    """The parts without their smallest hole, or else without the smallest part; None if
    only one ring is left."""
    holes = [
        (Polygon(r).area, i, k) for i, p in enumerate(parts) for k, r in enumerate(p.interiors)
    ]
    if holes:
        _, i, k = min(holes)
        p = parts[i]
        kept = [r for j, r in enumerate(p.interiors) if j != k]
        return parts[:i] + [Polygon(p.exterior, kept)] + parts[i + 1 :]
    if len(parts) > 1:
        return sorted(parts, key=lambda p: -p.area)[:-1]
    return None


def _coarsest(poly: Polygon, max_vertices: int) -> list[Polygon]:
    """Last resort for one ring that topology-preserving simplification cannot bring down to
    ``max_vertices``: plain Douglas-Peucker if it stays a valid polygon, else the polygon's
    minimum rotated rectangle (4 vertices)."""
    size = max(poly.bounds[2] - poly.bounds[0], poly.bounds[3] - poly.bounds[1], 1.0)
    for frac in (0.01, 0.03, 0.1, 0.3):
        s = shapely.simplify(poly, frac * size, preserve_topology=False)
        if isinstance(s, Polygon) and not s.is_empty and s.is_valid and s.area > 0:
            if count_vertices([s]) <= max_vertices:
                return [s]
    return polygonal_parts(shapely.oriented_envelope(poly)) or [poly]


def fit_vertices(parts: list[Polygon], simplify: float, max_vertices: int) -> list[Polygon]:
    """Simplified parts with at most ``max_vertices`` vertices, at the smallest tolerance
    >= ``simplify`` that achieves it (doubling, then bisection to within 2%)."""
    if simplify <= 0 and count_vertices(parts) <= max_vertices:
        return parts
    smooth = smoothed(parts)
    lo = simplify
    best = simplify_parts(smooth, simplify) if simplify > 0 else smooth
    if count_vertices(best) <= max_vertices:
        return best
    minx, miny, maxx, maxy = MultiPolygon(list(parts)).bounds
    limit = 2.0 * max(maxx - minx, maxy - miny, 1.0)
    hi = max(2 * simplify, 0.25)
    best = None
    while best is None:
        cand = simplify_parts(smooth, hi)
        if count_vertices(cand) <= max_vertices:
            best = cand
        elif hi >= limit:
            # Even a tolerance as large as the shape keeps too many rings: drop the smallest
            # holes, then the smallest parts, until it fits.
            while count_vertices(cand) > max_vertices:
                fewer = _drop_smallest_ring(smooth)
                if fewer is None:
                    return _coarsest(cand[0], max_vertices)
                smooth = fewer
                cand = simplify_parts(smooth, hi)
            return cand
        else:
            lo, hi = hi, min(2 * hi, limit)
    for _ in range(10):  # bisection between a failing lo and a fitting hi
        if hi - lo <= 0.02 * hi:
            break
        mid = (lo + hi) / 2
        cand = simplify_parts(smooth, mid)
        if count_vertices(cand) <= max_vertices:
            best, hi = cand, mid
        else:
            lo = mid
    return best
