"""``--max-vertices``: fit a mask's parts to a budget of N vertices over all rings.

The rule (:func:`fit_vertices`; vertices are counted without closing points):

1. **As asked, if it fits**: the exact polygon (``simplify`` 0), else its edge-midpoint rings
   (:func:`~samcli.geometry.simplify.smoothed_flat`) simplified at ``simplify`` (unsimplified
   for ``simplify`` 0).
2. **Coarser**: the tolerance doubles, from ``max(2 * simplify, 0.25)`` px up to a ceiling
   ``T`` = twice the larger side of the parts' bounding box (there every ring is as simple as
   topology-preserving Douglas-Peucker makes it: 3 or 4 vertices), and the first tolerance
   that fits is refined by bisection against the last one that did not (at most 10 steps, to
   within 2 %): the result is the simplification at the smallest fitting tolerance found.
   Every part and hole is kept.
3. **Fewer rings**, when even at ``T`` they are too many for N (certainly when there are more
   than N / 3 of them, since a ring keeps at least 3 vertices; step 2 is then skipped, as it
   cannot succeed). The rings are ranked once: the parts' exterior rings by area, largest
   first, then the holes by area, largest first. The longest prefix of that ranking that fits
   at ``T`` survives, found by bisection on its length (between 1 and N // 3). So holes are
   dropped before any part, smaller ones first, then the smallest parts; the parts that
   survive are the largest ones, the largest always. A part that lies in a dropped hole (an
   island) goes with the hole: the shell around it covers it now. The surviving rings then go
   through steps 1 and 2 again: they are simplified at the smallest tolerance at which they
   fit (at most ``T``, where they do).
4. **One ring, too many vertices**: if the largest part alone does not fit at ``T`` (a ring
   that topology-preserving simplification cannot thin enough), plain Douglas-Peucker of it
   at 1, 3, 10, then 30 % of its size if that is a valid polygon within N, else its minimum
   rotated rectangle (4 vertices).

The result is valid polygons (repaired with ``make_valid`` where simplification needs it), at
least one part (the largest), at most N vertices. (Rounding coordinates for the output can
add a vertex where it has to repair; :func:`samcli.geometry.mask_to_geometry` then fits again
to a smaller budget.)

Cost: each try is one simplification of the parts (O(rings), ring by ring), and there are
O(log) tries: about 12 doublings and 10 bisection steps for step 2, and for step 3
log2(N / 3) simplifications of at most N / 3 rings, then step 2 again on those.

Before 2026-12, step 3 dropped one ring at a time and simplified all the rest again after
each drop (quadratic in the number of rings: a minute for a mask of 700 parts, hours for
16,000), kept the rings at ``T`` (each one as coarse as it gets, however much of N was
left), and kept islands of dropped holes as parts of their own, which the repair of the
overlap then turned into holes (the island's pixels came out as background). Steps 1, 2 and
4 are unchanged, and so is which rings survive step 3, islands aside (dropping them with
their hole can leave room for more parts), wherever the vertex count grows with the number
of rings kept (GEOS' topology checks can make it non-monotone; there the bisection may keep
fewer rings than dropping one at a time would have).
"""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import Polygon

from samcli.geometry.rings import Flat, count_vertices, polygonal_parts
from samcli.geometry.simplify import simplify_parts, smoothed_flat

_MIN_RING = 3  # vertices of the simplest ring any simplification can leave (a triangle)


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


class _RingRanking:
    """The rings of smoothed parts ranked once (step 3 of the module's rule): exteriors by
    area, largest first (ties: in part order), then holes by area, largest first (ties: later
    parts and later holes first). :meth:`prefix` rebuilds the parts of the first ``k`` rings:
    all parts in their order with their kept holes (in their order) when ``k`` covers every
    exterior, else the ``k`` largest parts, largest first, without holes; either way without
    the parts that lie in a dropped hole. (An island is smaller than the hole it lies in,
    which is smaller than that hole's part: the island is dropped before that part, and a
    hole inside it before the hole around it.)"""

    def __init__(self, smooth: list[Polygon]):
        self.smooth = smooth
        arr = np.empty(len(smooth), object)
        arr[:] = smooth
        self.exteriors = shapely.get_exterior_ring(arr)
        shell_area = shapely.area(shapely.polygons(self.exteriors))
        self.part_order = np.argsort(-shell_area, kind="stable")
        n_holes = shapely.get_num_interior_rings(arr)
        self.hole_part = np.repeat(np.arange(len(smooth)), n_holes)
        self.hole_index = np.arange(len(self.hole_part)) - np.repeat(
            np.cumsum(n_holes) - n_holes, n_holes)
        holes = shapely.get_interior_ring(arr[self.hole_part], self.hole_index)
        self.holes = holes
        hole_area = shapely.area(shapely.polygons(holes)) if len(holes) else np.zeros(0)
        # Dropped first: the smallest hole (ties: first part, first hole); so kept first:
        self.hole_order = np.lexsort((-self.hole_index, -self.hole_part, -hole_area))
        # Islands: parts (a point inside each) that lie in another part's hole
        self.island_part = self.island_hole = np.zeros(0, np.int64)
        if len(holes):
            tree = shapely.STRtree(shapely.polygons(holes))
            part, hole = tree.query(shapely.point_on_surface(arr), predicate="within")
            other = self.hole_part[hole] != part
            self.island_part, self.island_hole = part[other], hole[other]

    def __len__(self) -> int:
        return len(self.smooth) + len(self.holes)

    def prefix(self, k: int) -> list[Polygon]:
        n_parts = len(self.smooth)
        if k >= len(self):
            return list(self.smooth)
        if k < n_parts:  # no hole is left: no island either
            covered = set(self.island_part.tolist())
            return [Polygon(self.exteriors[i]) for i in self.part_order[:k] if i not in covered]
        kept = np.sort(self.hole_order[: k - n_parts])
        dropped = np.ones(len(self.holes), bool)
        dropped[kept] = False
        covered = set(self.island_part[dropped[self.island_hole]].tolist())
        by_part: dict[int, list] = {}
        for h in kept:
            by_part.setdefault(int(self.hole_part[h]), []).append(self.holes[h])
        return [Polygon(self.exteriors[i], by_part.get(i, []))
                for i in range(n_parts) if i not in covered]


def _search(
    smooth: list[Polygon], simplify: float, limit: float, max_vertices: int
) -> list[Polygon] | None:
    """Steps 1 (after the exact polygon) and 2 of the module's rule: the parts simplified at
    the smallest tolerance found that fits, or None if not even ``limit`` fits."""
    best = simplify_parts(smooth, simplify) if simplify > 0 else smooth
    if count_vertices(best) <= max_vertices:
        return best
    lo, hi = simplify, max(2 * simplify, 0.25)
    while True:
        cand = simplify_parts(smooth, hi)
        if count_vertices(cand) <= max_vertices:
            best = cand
            break
        if hi >= limit:
            return None
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


def _fewer_rings(
    smooth: list[Polygon], tolerance: float, max_vertices: int
) -> tuple[list[Polygon], bool]:
    """Step 3 of the module's rule at the ceiling ``tolerance``: the smoothed parts of the
    surviving rings and False; or step 4's result and True if even the largest part alone
    does not fit."""
    ranking = _RingRanking(smooth)
    kept = ranking.prefix(1)
    cand = simplify_parts(kept, tolerance)
    if count_vertices(cand) > max_vertices:
        return _coarsest(cand[0], max_vertices), True
    # Bisection on the number of rings kept: ``lo`` fits, ``hi`` does not (known: more than
    # max_vertices // 3 rings cannot fit, and all of them did not).
    lo, hi = 1, min(len(ranking), max_vertices // _MIN_RING + 1)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        cand = ranking.prefix(mid)
        if count_vertices(simplify_parts(cand, tolerance)) <= max_vertices:
            lo, kept = mid, cand
        else:
            hi = mid
    return kept, False


def fit_vertices(flat: Flat, simplify: float, max_vertices: int) -> list[Polygon]:
    """The exact parts ``flat`` fitted to at most ``max_vertices`` vertices by the module's
    rule: simplified at the smallest tolerance >= ``simplify`` that achieves it (doubling, then
    bisection to within 2 %), dropping rings (smallest holes, then smallest parts) only when
    even the coarsest tolerance keeps too many."""
    if simplify <= 0 and len(flat.pts) <= max_vertices:
        return list(flat.polygons())
    smooth = smoothed_flat(flat)
    n_rings = len(smooth) + int(np.sum(shapely.get_num_interior_rings(smooth)))
    pts = flat.pts
    limit = 2.0 * float(max(np.ptp(pts[:, 0]), np.ptp(pts[:, 1]), 1))
    if n_rings * _MIN_RING <= max_vertices:  # else steps 1 and 2 cannot fit
        best = _search(smooth, simplify, limit, max_vertices)
        if best is not None:
            return best
    top = max(2 * simplify, 0.25, limit)  # the tolerance step 2 ended at
    kept, final = _fewer_rings(smooth, top, max_vertices)
    if final:
        return kept
    best = _search(kept, simplify, top, max_vertices)
    assert best is not None  # the kept rings fit at ``top`` (_fewer_rings checked)
    return best
