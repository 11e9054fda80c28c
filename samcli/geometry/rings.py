"""Rings: cleaning and orientation one ring at a time, and sets of rings as flat arrays.

A set of rings is ``(pts, off)``: the vertices of all rings one after the other (open rings, no
closing point) and offsets, ring ``i`` being ``pts[off[i]:off[i + 1]]``. Parts group
consecutive rings (shell first, then holes) by a second offset array (:class:`Flat`). The
functions on flat arrays work on every ring at once, without a Python loop over rings
(fragmented masks have tens of thousands of them): :func:`clean_rings` gives, ring by ring,
what :func:`clean_ring` gives. Also here: the shapely conversions both ways and the polygonal
pieces of a repaired geometry.
"""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon


# --------------------------------------------------------------------------------------------
# one ring


def _prev(a: np.ndarray) -> np.ndarray:
    """Cyclic predecessor of each row (np.roll(a, 1, axis=0), with less overhead)."""
    return np.concatenate((a[-1:], a[:-1]))


def _next(a: np.ndarray) -> np.ndarray:
    """Cyclic successor of each row (np.roll(a, -1, axis=0))."""
    return np.concatenate((a[1:], a[:1]))


def clean_ring(pts: np.ndarray) -> np.ndarray:
    """Open ring (n, 2) -> without repeated or collinear vertices (cyclically); may get < 3."""
    pts = np.asarray(pts)
    for _ in range(len(pts) + 1):
        if len(pts) < 3:
            return pts
        prev = _prev(pts)
        keep = (pts[:, 0] != prev[:, 0]) | (pts[:, 1] != prev[:, 1])
        if not keep.all():
            pts = pts[keep]
            continue
        d_prev = pts - prev
        d_next = _next(pts) - pts
        keep = d_prev[:, 0] * d_next[:, 1] != d_prev[:, 1] * d_next[:, 0]
        if keep.all():
            return pts
        pts = pts[keep]
    return pts


def _signed_area2(pts: np.ndarray) -> float:
    """Twice the shoelace area of an open ring (positive: counter-clockwise, y up)."""
    x, y = pts[:, 0].astype(np.float64), pts[:, 1].astype(np.float64)
    return float(np.dot(x, _next(y)) - np.dot(_next(x), y))


def normalize_ring(pts: np.ndarray, positive: bool) -> np.ndarray:
    """Open ring -> cleaned, oriented (positive or negative area), starting top-left, closed."""
    pts = clean_ring(pts)
    if len(pts) < 3:
        return pts[:0]
    if (_signed_area2(pts) > 0) != positive:
        pts = pts[::-1]
    start = int(np.lexsort((pts[:, 0], pts[:, 1]))[0])
    pts = np.roll(pts, -start, axis=0)
    return np.concatenate([pts, pts[:1]], axis=0)


# --------------------------------------------------------------------------------------------
# rings in flat arrays


def offsets(counts: np.ndarray) -> np.ndarray:
    off = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=off[1:])
    return off


def ring_ids(off: np.ndarray) -> np.ndarray:
    """Ring index of every vertex."""
    return np.repeat(np.arange(len(off) - 1), np.diff(off))


def ring_neighbours(off: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the cyclic predecessor and successor of every vertex within its ring."""
    n = int(off[-1])
    prev = np.arange(-1, n - 1)
    nxt = np.arange(1, n + 1)
    nonempty = off[1:] > off[:-1]
    first, last = off[:-1][nonempty], off[1:][nonempty] - 1
    prev[first] = last
    nxt[last] = first
    return prev, nxt


def rotate_rings(off: np.ndarray, start: np.ndarray, reverse: np.ndarray | None = None):
    """Gather index that makes local vertex ``start[i]`` the first of ring ``i`` (after
    reversing the rings where ``reverse`` is set)."""
    rid = ring_ids(off)
    cnt = np.diff(off)[rid]
    local = np.arange(int(off[-1])) - off[:-1][rid]
    src_local = (local + start[rid]) % np.maximum(cnt, 1)
    if reverse is not None:
        src_local = np.where(reverse[rid], cnt - 1 - src_local, src_local)
    return off[:-1][rid] + src_local


def first_per_ring(mask: np.ndarray, off: np.ndarray) -> np.ndarray:
    """Per ring, the local index of its first vertex where ``mask`` is set (-1 if none)."""
    n = len(mask)
    idx = np.where(mask, np.arange(n), n)
    out = np.full(len(off) - 1, -1, np.int64)
    nonempty = off[1:] > off[:-1]
    if nonempty.any():
        first = np.minimum.reduceat(idx, off[:-1][nonempty])
        out[nonempty] = np.where(first < off[1:][nonempty], first - off[:-1][nonempty], -1)
    return out


def select_rings(pts: np.ndarray, off: np.ndarray, keep: np.ndarray):
    """The rings where ``keep`` is set."""
    return pts[keep[ring_ids(off)]], offsets(np.diff(off)[keep])


def clean_rings(pts: np.ndarray, off: np.ndarray, depth: int = 0):
    """:func:`clean_ring` on every ring: same passes, same result. Rings that a pass leaves
    unchanged are final; only the others go on to the next pass."""
    n_rings = len(off) - 1
    cnt = np.diff(off)
    live = cnt >= 3
    if not live.any():
        return pts, off
    if depth > 32:  # (pathological rings: one at a time)
        rings = [clean_ring(pts[a:b]) for a, b in zip(off[:-1], off[1:])]
        return np.concatenate(rings), offsets(np.array([len(r) for r in rings], np.int64))
    rid = ring_ids(off)
    prev, nxt = ring_neighbours(off)
    x, y = pts[:, 0], pts[:, 1]
    xp, yp = x[prev], y[prev]
    dup = (x == xp) & (y == yp)
    has_dup = np.bincount(rid[dup], minlength=n_rings) > 0
    # A ring with repeated points loses those in this pass, any other its collinear points.
    col = (x - xp) * (y[nxt] - y) == (y - yp) * (x[nxt] - x)
    drop = live[rid] & np.where(has_dup[rid], dup, col)
    if not drop.any():
        return pts, off
    changed = np.bincount(rid[drop], minlength=n_rings) > 0
    keep = ~drop
    pts, rid = pts[keep], rid[keep]
    cnt = np.bincount(rid, minlength=n_rings)
    off = offsets(cnt)
    again = np.flatnonzero(changed)
    sub_pts, sub_off = clean_rings(*select_rings(pts, off, changed), depth + 1)
    # Put the rings of the next passes back in place.
    new_cnt = cnt.copy()
    new_cnt[again] = np.diff(sub_off)
    new_off = offsets(new_cnt)
    src_start = off[:-1].copy()
    src_start[again] = len(pts) + sub_off[:-1]
    gather = np.repeat(src_start - new_off[:-1], new_cnt) + np.arange(int(new_off[-1]))
    return np.concatenate([pts, sub_pts])[gather], new_off


# --------------------------------------------------------------------------------------------
# parts: flat arrays <-> shapely


class Flat:
    """Exact parts of a mask: int64 vertices ``pts`` of open rings, ring offsets ``off``, part
    offsets ``part_off`` into the rings (shell first, holes sorted by start), parts largest
    first, every ring starting at its top-most then left-most vertex (see
    :func:`samcli.geometry.tracing.trace_flat`)."""

    __slots__ = ("pts", "off", "part_off", "_polys")

    def __init__(self, pts: np.ndarray, off: np.ndarray, part_off: np.ndarray):
        self.pts, self.off, self.part_off = pts, off, part_off
        self._polys = None

    @property
    def n_parts(self) -> int:
        return len(self.part_off) - 1

    def polygons(self) -> np.ndarray:
        """The parts as an object array of shapely Polygons (as ``Polygon(shell, holes)``)."""
        if self._polys is None:
            self._polys = polygons_from_rings(self.pts.astype(np.float64), self.off, self.part_off)
        return self._polys


def polygons_from_rings(pts: np.ndarray, off: np.ndarray, part_off: np.ndarray) -> np.ndarray:
    """Object array of Polygons from open rings (closed here), as ``Polygon(shell, holes)``."""
    n_rings = len(off) - 1
    closed_off = off + np.arange(n_rings + 1)
    coords = np.empty((len(pts) + n_rings, 2), np.float64)
    coords[np.arange(len(pts)) + ring_ids(off)] = pts
    coords[closed_off[1:] - 1] = pts[off[:-1]]
    return shapely.from_ragged_array(
        shapely.GeometryType.POLYGON, coords, (closed_off, np.asarray(part_off, np.int64))
    )


def open_rings(geoms: np.ndarray):
    """Object array of Polygons -> (coords of open rings, ring offsets, part offsets)."""
    _, coords, (closed_off, part_off) = shapely.to_ragged_array(geoms)
    closed_off = closed_off.astype(np.int64)
    keep = np.ones(len(coords), bool)
    keep[closed_off[1:] - 1] = False
    return coords[keep], closed_off - np.arange(len(closed_off)), part_off.astype(np.int64)


def ragged_closed(arr: np.ndarray):
    _, coords, (closed_off, part_off) = shapely.to_ragged_array(arr)
    return coords, closed_off.astype(np.int64), part_off.astype(np.int64)


def geom_array(parts) -> np.ndarray:
    arr = np.empty(len(parts), object)
    arr[:] = list(parts)
    return arr


def count_vertices(parts) -> int:
    """Vertices over all rings of the Polygons, closing points not counted."""
    if len(parts) == 0:
        return 0
    arr = geom_array(parts)
    n = shapely.get_num_coordinates(arr) - 1 - shapely.get_num_interior_rings(arr)
    return int(n.sum())


def polygonal_parts(geom) -> list[Polygon]:
    """The non-empty Polygons in any geometry (lines and points that make_valid may leave out)."""
    out: list[Polygon] = []
    for part in shapely.get_parts(geom):
        if isinstance(part, Polygon):
            if not part.is_empty and part.area > 0:
                out.append(part)
        elif isinstance(part, MultiPolygon) or part.geom_type == "GeometryCollection":
            out.extend(polygonal_parts(part))
    return out


def make_valid_parts(geom) -> list[Polygon]:
    if shapely.is_valid(geom):
        return polygonal_parts(geom)
    return polygonal_parts(shapely.make_valid(geom))
