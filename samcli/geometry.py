"""Masks <-> polygons in pixel space.

Conventions (the SPEC's; every function here keeps them):

- **Pixel corners.** Pixel ``(col, row)`` is the unit square ``[col, col+1] x [row, row+1]``,
  x to the right, y down. A mask of the single pixel ``(0, 0)`` is the ring
  ``(0,0) (1,0) (1,1) (0,1) (0,0)``. Polygons from :func:`mask_to_geometry` with
  ``simplify=0`` follow pixel edges exactly, so :func:`geometry_to_mask` (a pixel is inside when
  its centre is inside) gives back the very same mask.
- **GeoJSON geometry dicts**: ``{"type": "Polygon", "coordinates": [ring, hole, ...]}`` or
  ``{"type": "MultiPolygon", "coordinates": [[ring, hole, ...], ...]}``; rings are closed (last
  point = first), exterior rings have positive signed (shoelace) area, i.e. counter-clockwise in
  the usual x-right/y-up sense of RFC 7946 (clockwise on screen, where y points down), holes the
  opposite. Every ring starts at its top-most, then left-most vertex. Parts are sorted by area,
  largest first. No two consecutive vertices are equal and no vertex is collinear with its
  neighbours (exact pixel-edge polygons therefore only have corner vertices).
- **Connectivity.** Each part of a MultiPolygon is one 4-connected component of the mask
  (pixels sharing an edge). Two pixels that meet only at a corner belong to different parts,
  which touch at that point: the mask of pixels (0, 0) and (1, 1) is a MultiPolygon of two unit
  squares. A background region that reaches the outside only through such a corner is a hole
  touching its shell at that point. Every geometry returned is ``shapely.is_valid`` (touching
  at isolated points is allowed by the OGC rules shapely checks).

The exact tracer (:func:`_trace_parts`) does not use OpenCV contours, whose vertices are pixel
*centres* (a 10x10 square would come back as 81 pixels when rasterized). It takes every unit
pixel edge between mask and background as a directed edge with the mask on its left, links the
edges into rings (at a corner shared by two diagonal pixels it turns toward the mask, which is
what makes parts 4-connected), splits any ring that touches itself at such a corner into simple
loops, and groups rings by component: one positive ring (the shell) per component plus its
negative rings (holes). The result is valid by construction, 1-pixel-wide strokes included.

Simplification (``simplify > 0``) first replaces each exact ring by the ring through the
midpoints of its unit pixel edges (corners between two edges of 2 px or more are kept, so
rectangles stay rectangles), which rasterizes to the same mask but turns pixel staircases into
straight runs, then applies topology-preserving Douglas-Peucker (``shapely.simplify``) to all
parts together with the tolerance, and repairs with ``shapely.make_valid`` if needed (keeping
only polygonal pieces). Simplified coordinates are therefore multiples of 0.5 in general
(rounded to 2 decimals in the output).

**Speed on fragmented masks.** SAM output on texture (grass, text, noise) and masks from
random-weight models can have tens of thousands of tiny parts. Everything above is therefore
done for all rings at once in numpy arrays (:func:`_trace_flat`, :func:`_edge_midpoint_rings`,
:func:`_clean_rings`, :func:`_parts_to_geojson_flat`), with shapely's vectorized functions;
the per-ring functions remain as the reference and the fallback. The joint simplification is
the one step that cannot simply be vectorized: GEOS tests every candidate shortcut against
every other ring (quadratic: about 15-30 s for 512x512 salt noise). Instead each ring is
simplified alone, and only the few groups of rings whose simplifications can interact are
simplified again together (:func:`_simplify_rings`); the result is identical to the joint
simplification. A 512x512 mask of salt noise (17k parts, 22k rings) takes about 0.1 s exact and
1 s at the default tolerance (it took 0.7 s and 15-30 s before), a smooth 1000x1000 disc about
10 ms; a 2000x2000 mask with 180,000 one-pixel holes 6-8 s (GEOS alone: > 11 minutes).
"""

from __future__ import annotations

import gc
from typing import Any

import cv2
import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon

_MAX_CHUNK = 1 << 22  # elements per block in the closest-pair search


# --------------------------------------------------------------------------------------------
# mask -> geometry: single rings (the general path, also used where the batched one bails out)


def _prev(a: np.ndarray) -> np.ndarray:
    """Cyclic predecessor of each row (np.roll(a, 1, axis=0), with less overhead)."""
    return np.concatenate((a[-1:], a[:-1]))


def _next(a: np.ndarray) -> np.ndarray:
    """Cyclic successor of each row (np.roll(a, -1, axis=0))."""
    return np.concatenate((a[1:], a[:1]))


def _clean_ring(pts: np.ndarray) -> np.ndarray:
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


def _normalize_ring(pts: np.ndarray, positive: bool) -> np.ndarray:
    """Open ring -> cleaned, oriented (positive or negative area), starting top-left, closed."""
    pts = _clean_ring(pts)
    if len(pts) < 3:
        return pts[:0]
    if (_signed_area2(pts) > 0) != positive:
        pts = pts[::-1]
    start = int(np.lexsort((pts[:, 0], pts[:, 1]))[0])
    pts = np.roll(pts, -start, axis=0)
    return np.concatenate([pts, pts[:1]], axis=0)


def _polygonal_parts(geom) -> list[Polygon]:
    """The non-empty Polygons in any geometry (lines and points that make_valid may leave out)."""
    out: list[Polygon] = []
    for part in shapely.get_parts(geom):
        if isinstance(part, Polygon):
            if not part.is_empty and part.area > 0:
                out.append(part)
        elif isinstance(part, MultiPolygon) or part.geom_type == "GeometryCollection":
            out.extend(_polygonal_parts(part))
    return out


def _make_valid_parts(geom) -> list[Polygon]:
    if shapely.is_valid(geom):
        return _polygonal_parts(geom)
    return _polygonal_parts(shapely.make_valid(geom))


_STEP = np.array([[1, 0], [0, 1], [-1, 0], [0, -1]], np.int64)  # +x, +y, -x, -y
# Offset from a unit edge's start vertex (x, y) to the pixel on its left, by direction.
_LEFT = np.array([[0, 0], [-1, 0], [-1, -1], [0, -1]], np.int64)


def _cycles(succ: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For a permutation ``succ`` (disjoint cycles): per element, the smallest index in its
    cycle (the cycle's head) and its distance along the cycle from the head.

    Vectorized pointer jumping, O(n log L) for cycles of at most L elements: after k rounds,
    ``key[i] = head << 32 | ahead`` holds the smallest of the 2**k elements from i on and how
    many steps from i it first comes. A round that changes nothing means each cycle's minimum
    is everywhere (the windows from i, i + 2**k, i + 2 * 2**k, ... then agree, and together
    they cover the cycle).
    """
    n = len(succ)
    if n >= 2**31:
        raise ValueError("too many boundary edges")
    key = np.arange(n, dtype=np.int64) << 32
    nxt = succ.astype(np.int32)
    span = 1
    for _ in range(40):
        k2 = key[nxt]
        k2 += span
        if not (k2 < key).any():
            break
        np.minimum(key, k2, out=key)
        nxt = nxt[nxt]
        span *= 2
    else:
        raise AssertionError("not a permutation")
    head = key >> 32
    length = np.bincount(head, minlength=n)[head]
    return head, (length - (key & 0xFFFFFFFF)) % length


def _split_pinches(ring: np.ndarray) -> list[np.ndarray]:
    """Split an open ring that passes a vertex more than once into simple loops."""
    stack: list[tuple] = []
    where: dict[tuple, int] = {}
    loops = []
    for pt in map(tuple, ring.tolist()):
        k = where.get(pt)
        if k is None:
            where[pt] = len(stack)
            stack.append(pt)
            continue
        loops.append(stack[k:])
        for q in stack[k + 1 :]:
            del where[q]
        del stack[k + 1 :]
    loops.append(stack)
    return [np.array(lp, np.int64) for lp in loops if len(lp) >= 3]


def _boundary_edges(sub: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The padded mask and its directed unit boundary edges (start x, start y, direction), in
    padded corner coordinates: top edges run +x, right edges +y, bottom edges -x, left -y."""
    h, w = sub.shape
    p = np.zeros((h + 2, w + 2), bool)
    p[1:-1, 1:-1] = sub
    found = []
    r, c = _nonzero(p[1:, :] & ~p[:-1, :])
    found.append((c, r + 1))
    r, c = _nonzero(p[:, :-1] & ~p[:, 1:])
    found.append((c + 1, r))
    r, c = _nonzero(p[:-1, :] & ~p[1:, :])
    found.append((c + 1, r + 1))
    r, c = _nonzero(p[:, 1:] & ~p[:, :-1])
    found.append((c + 1, r + 1))
    sx = np.concatenate([f[0] for f in found]).astype(np.int64)
    sy = np.concatenate([f[1] for f in found]).astype(np.int64)
    d = np.repeat(np.arange(4, dtype=np.int64), [len(f[0]) for f in found])
    return p, sx, sy, d


def _trace_parts(sub: np.ndarray, x0: int, y0: int) -> list[tuple[int, np.ndarray, list]]:
    """Exact pixel-edge polygons of the bool mask ``sub`` whose top-left pixel is (x0, y0).

    Returns parts ``(twice_area, shell, holes)``, largest first; rings are open (k, 2) int64
    arrays without repeated or collinear vertices, shells with positive and holes with negative
    shoelace area, each starting at its top-most then left-most vertex; holes sorted by start.

    Method: every unit pixel edge between the mask and the background becomes a directed edge
    with the mask on its left; at each corner the next edge is the one turning toward the mask,
    else straight on, else turning away. At a saddle (two pixels meeting only at a corner) this
    keeps the two pixels apart, so each ring bounds one 4-connected component of the mask on
    its left. A ring that touches itself at a saddle is split there into simple loops; each
    component then has exactly one positive ring (its shell) and zero or more negative rings
    (holes, which may touch the shell or each other at single points). That is a valid polygon
    by construction, with no ``make_valid`` needed.

    This is the general (per-ring) version; :func:`_trace_flat` computes the same parts for all
    rings at once and falls back to this one only in cases that should not occur.
    """
    h, w = sub.shape
    p, sx, sy, d = _boundary_edges(sub)
    n = len(d)
    if n == 0:
        return []
    stride = w + 3
    key = (sy * stride + sx) * 4 + d
    order = np.argsort(key, kind="stable")
    skey = key[order]
    end = (sy + _STEP[d, 1]) * stride + (sx + _STEP[d, 0])
    succ = np.full(n, -1, np.int64)
    for turn in (1, 0, 3):
        want = end * 4 + (d + turn) % 4
        pos = np.minimum(np.searchsorted(skey, want), n - 1)
        hit = (skey[pos] == want) & (succ < 0)
        succ[hit] = order[pos[hit]]
    head, rank = _cycles(succ)
    o = np.lexsort((rank, head))
    head, d, sx, sy = head[o], d[o], sx[o], sy[o]
    first = np.flatnonzero(np.r_[True, head[1:] != head[:-1]])
    last = np.r_[first[1:] - 1, n - 1]
    prev_d = np.roll(d, 1)
    prev_d[first] = d[last]
    corner = d != prev_d
    ring = np.repeat(np.arange(len(first)), np.diff(np.r_[first, n]))[corner]
    cx, cy, cd = sx[corner], sy[corner], d[corner]
    n_rings = len(first)
    count = np.bincount(ring, minlength=n_rings)
    rstart = np.r_[0, np.cumsum(count)[:-1]]

    # Rings through some vertex twice (they touch themselves at a saddle).
    vkey = ring * ((h + 3) * stride) + cy * stride + cx
    sk = np.sort(vkey)
    pinched = np.zeros(n_rings, bool)
    pinched[sk[1:][sk[1:] == sk[:-1]] // ((h + 3) * stride)] = True

    # Per ring: twice the signed area, the component on its left, the top-left start vertex.
    nxt = np.arange(len(cx)) + 1
    nxt[rstart + count - 1] = rstart
    area2 = np.bincount(ring, weights=cx * cy[nxt] - cx[nxt] * cy, minlength=n_rings)
    labels_img = cv2.connectedComponents(p.view(np.uint8), connectivity=4)[1]
    lx, ly = cx[rstart] + _LEFT[cd[rstart], 0], cy[rstart] + _LEFT[cd[rstart], 1]
    label = labels_img[ly, lx]
    top_left = np.lexsort((cx, cy, ring))[rstart]  # sorted by ring first: group starts
    pos = np.arange(len(cx)) - rstart[ring]
    pos = (pos - (top_left - rstart)[ring]) % count[ring]
    o = np.lexsort((pos, ring))
    pts = np.stack([cx[o], cy[o]], axis=1)
    offset = np.array([x0 - 1, y0 - 1], np.int64)

    rings: list[np.ndarray] = []
    labels: list[int] = []
    areas: list[int] = []
    for i, rg in enumerate(np.split(pts, np.cumsum(count)[:-1])):
        if not pinched[i]:
            rings.append(rg + offset)
            labels.append(int(label[i]))
            areas.append(int(round(area2[i])))
            continue
        for lp in _split_pinches(rg):
            lp = _clean_ring(lp)
            if len(lp) < 3:
                continue
            k = int(np.flatnonzero((_STEP == np.sign(lp[1] - lp[0])).all(axis=1))[0])
            px, py = lp[0] + _LEFT[k]
            a2 = int(round(_signed_area2(lp)))
            start = int(np.lexsort((lp[:, 0], lp[:, 1]))[0])
            rings.append(np.roll(lp, -start, axis=0) + offset)
            labels.append(int(labels_img[py, px]))
            areas.append(a2)

    shells: dict[int, list[int]] = {}
    holes: dict[int, list[int]] = {}
    for i, (lab, a2) in enumerate(zip(labels, areas)):
        (shells if a2 > 0 else holes).setdefault(lab, []).append(i)
    parts = []
    for lab, sh in shells.items():
        hs = sorted(holes.get(lab, []), key=lambda j: (rings[j][0, 1], rings[j][0, 0]))
        if len(sh) == 1:
            parts.append((areas[sh[0]] + sum(areas[j] for j in hs), rings[sh[0]],
                          [rings[j] for j in hs]))
            continue
        # Not expected to happen; resolve with shapely to stay valid regardless.
        geom = shapely.difference(
            shapely.union_all([Polygon(rings[j]) for j in sh]),
            shapely.union_all([Polygon(rings[j]) for j in hs]) if hs else Polygon(),
        )
        for poly in _polygonal_parts(geom):
            ext = _normalize_ring(np.asarray(poly.exterior.coords)[:-1], True)[:-1]
            ins = [_normalize_ring(np.asarray(r.coords)[:-1], False)[:-1] for r in poly.interiors]
            parts.append((int(round(2 * poly.area)), ext.astype(np.int64),
                          [r.astype(np.int64) for r in ins]))
    parts.sort(key=lambda t: (-t[0], t[1][0, 1], t[1][0, 0]))
    return parts


def _trace(sub: np.ndarray, x0: int, y0: int) -> list[Polygon]:
    """:func:`_trace_parts` as shapely Polygons."""
    return [Polygon(shell, holes) for _, shell, holes in _trace_parts(sub, x0, y0)]


def _exact_geojson(parts: list[tuple[int, np.ndarray, list]]) -> dict | None:
    def closed(r: np.ndarray) -> list:
        out = r.tolist()
        out.append(out[0])
        return out

    coords = [[closed(shell)] + [closed(h) for h in holes] for _, shell, holes in parts]
    if not coords:
        return None
    if len(coords) == 1:
        return {"type": "Polygon", "coordinates": coords[0]}
    return {"type": "MultiPolygon", "coordinates": coords}


def _parts_to_geojson(parts: list[Polygon], integer: bool) -> dict | None:
    def ring_of(r, positive: bool) -> np.ndarray:
        c = np.asarray(r.coords)[:-1]
        # Round first, so that cleaning also removes points that rounding made equal.
        return _normalize_ring(np.rint(c) if integer else np.round(c, 2), positive)

    polys = []
    for poly in parts:
        ext = ring_of(poly.exterior, True)
        if len(ext) < 4:
            continue
        holes = [ring_of(r, False) for r in poly.interiors]
        holes = [r for r in holes if len(r) >= 4]
        holes.sort(key=lambda r: (r[0, 1], r[0, 0]))
        polys.append((abs(poly.area), ext, holes))
    if not polys:
        return None
    polys.sort(key=lambda p: (-p[0], p[1][0, 1], p[1][0, 0]))

    def conv(ring: np.ndarray) -> list[list]:
        if integer:
            return np.rint(ring).astype(np.int64).tolist()
        return [[_num(x), _num(y)] for x, y in ring.tolist()]

    coords = [[conv(p[1])] + [conv(h) for h in p[2]] for p in polys]
    if len(coords) == 1:
        return {"type": "Polygon", "coordinates": coords[0]}
    return {"type": "MultiPolygon", "coordinates": coords}


def _num(v: float) -> float | int:
    """A coordinate for JSON: an int when integral, else rounded to 2 decimals."""
    r = round(float(v), 2)
    return int(r) if r == int(r) else r


def _is_integral(ring) -> bool:
    c = np.asarray(ring.coords)
    return bool(np.all(c == np.rint(c)))


def _edge_midpoint_ring(ring) -> np.ndarray:
    """Exact pixel-edge ring -> ring through the midpoints of its unit pixel edges.

    Corners between two edges at least 2 px long are kept (so rectangles stay rectangles);
    corners of 1-px steps are replaced by the midpoints around them, which turns pixel
    staircases into nearly straight lines. Every pixel centre stays on its side (the chamfer
    at a cut corner passes 0.35 px from the nearest centre), so the ring rasterizes exactly like
    the original one. (One ring at a time; :func:`_edge_midpoint_rings` does all at once.)
    """
    c = np.asarray(ring.coords, np.float64)
    a, b = c[:-1], c[1:]
    length = np.abs(b - a).sum(axis=1)
    unit = np.rint(length).astype(np.int64)
    if len(a) < 3 or np.any(unit != length) or np.any(unit <= 0):
        return _clean_ring(a)  # not an exact unit-grid ring: leave it as it is
    d = (b - a) / length[:, None]
    idx = np.repeat(np.arange(len(a)), unit)
    k = np.arange(int(unit.sum())) - np.repeat(np.cumsum(unit) - unit, unit)
    pts = a[idx] + d[idx] * (k[:, None] + 0.5)
    keep = np.flatnonzero((_prev(unit) >= 2) & (unit >= 2))
    if keep.size:
        pts = np.insert(pts, (np.cumsum(unit) - unit)[keep], a[keep], axis=0)
    pts = _clean_ring(pts)
    if len(pts) >= 3:
        # Douglas-Peucker always keeps a ring's first point: start at an extreme vertex (the
        # one farthest from the mean), which it would keep anyway.
        far = int(np.argmax(((pts - pts.mean(axis=0)) ** 2).sum(axis=1)))
        pts = np.concatenate((pts[far:], pts[:far]))
    return pts


# --------------------------------------------------------------------------------------------
# mask -> geometry, batched: all rings of a mask at once in flat arrays
#
# A set of rings is ``(pts, off)``: the vertices of all rings one after the other (open rings,
# no closing point) and offsets, ring ``i`` being ``pts[off[i]:off[i + 1]]``. Parts group
# consecutive rings (shell first, then holes) by a second offset array. Every function below
# computes exactly what its single-ring counterpart above computes, ring by ring, without a
# Python loop over rings (fragmented masks have tens of thousands of them).


class _NoGC:
    """Cyclic garbage collection off while building large nested lists (it would otherwise
    rescan the growing heap again and again; the objects made here have no cycles)."""

    def __enter__(self) -> None:
        self.was_enabled = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc) -> None:
        if self.was_enabled:
            gc.enable()


def _offsets(counts: np.ndarray) -> np.ndarray:
    off = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=off[1:])
    return off


def _ring_ids(off: np.ndarray) -> np.ndarray:
    """Ring index of every vertex."""
    return np.repeat(np.arange(len(off) - 1), np.diff(off))


def _ring_neighbours(off: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the cyclic predecessor and successor of every vertex within its ring."""
    n = int(off[-1])
    prev = np.arange(-1, n - 1)
    nxt = np.arange(1, n + 1)
    nonempty = off[1:] > off[:-1]
    first, last = off[:-1][nonempty], off[1:][nonempty] - 1
    prev[first] = last
    nxt[last] = first
    return prev, nxt


def _rotate_rings(off: np.ndarray, start: np.ndarray, reverse: np.ndarray | None = None):
    """Gather index that makes local vertex ``start[i]`` the first of ring ``i`` (after
    reversing the rings where ``reverse`` is set)."""
    rid = _ring_ids(off)
    cnt = np.diff(off)[rid]
    local = np.arange(int(off[-1])) - off[:-1][rid]
    src_local = (local + start[rid]) % np.maximum(cnt, 1)
    if reverse is not None:
        src_local = np.where(reverse[rid], cnt - 1 - src_local, src_local)
    return off[:-1][rid] + src_local


def _first_per_ring(mask: np.ndarray, off: np.ndarray) -> np.ndarray:
    """Per ring, the local index of its first vertex where ``mask`` is set (-1 if none)."""
    n = len(mask)
    idx = np.where(mask, np.arange(n), n)
    out = np.full(len(off) - 1, -1, np.int64)
    nonempty = off[1:] > off[:-1]
    if nonempty.any():
        first = np.minimum.reduceat(idx, off[:-1][nonempty])
        out[nonempty] = np.where(first < off[1:][nonempty], first - off[:-1][nonempty], -1)
    return out


def _select_rings(pts: np.ndarray, off: np.ndarray, keep: np.ndarray):
    """The rings where ``keep`` is set."""
    return pts[keep[_ring_ids(off)]], _offsets(np.diff(off)[keep])


def _clean_rings(pts: np.ndarray, off: np.ndarray, depth: int = 0):
    """:func:`_clean_ring` on every ring: same passes, same result. Rings that a pass leaves
    unchanged are final; only the others go on to the next pass."""
    n_rings = len(off) - 1
    cnt = np.diff(off)
    live = cnt >= 3
    if not live.any():
        return pts, off
    if depth > 32:  # (pathological rings: one at a time)
        rings = [_clean_ring(pts[a:b]) for a, b in zip(off[:-1], off[1:])]
        return np.concatenate(rings), _offsets(np.array([len(r) for r in rings], np.int64))
    rid = _ring_ids(off)
    prev, nxt = _ring_neighbours(off)
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
    off = _offsets(cnt)
    again = np.flatnonzero(changed)
    sub_pts, sub_off = _clean_rings(*_select_rings(pts, off, changed), depth + 1)
    # Put the rings of the next passes back in place.
    new_cnt = cnt.copy()
    new_cnt[again] = np.diff(sub_off)
    new_off = _offsets(new_cnt)
    src_start = off[:-1].copy()
    src_start[again] = len(pts) + sub_off[:-1]
    gather = np.repeat(src_start - new_off[:-1], new_cnt) + np.arange(int(new_off[-1]))
    return np.concatenate([pts, sub_pts])[gather], new_off


class _Flat:
    """Exact parts of a mask: int64 vertices ``pts`` of open rings, ring offsets ``off``, part
    offsets ``part_off`` into the rings (shell first, holes sorted by start), parts largest
    first, every ring starting at its top-most then left-most vertex (see :func:`_trace_parts`)."""

    __slots__ = ("pts", "off", "part_off", "_polys")

    def __init__(self, pts: np.ndarray, off: np.ndarray, part_off: np.ndarray):
        self.pts, self.off, self.part_off = pts, off, part_off
        self._polys = None

    @classmethod
    def from_parts(cls, parts: list[tuple[int, np.ndarray, list]]) -> "_Flat":
        rings = [r for _, shell, holes in parts for r in [shell, *holes]]
        pts = np.concatenate(rings).astype(np.int64) if rings else np.zeros((0, 2), np.int64)
        off = _offsets(np.array([len(r) for r in rings], np.int64))
        part_off = _offsets(np.array([1 + len(holes) for _, _, holes in parts], np.int64))
        return cls(pts, off, part_off)

    @property
    def n_parts(self) -> int:
        return len(self.part_off) - 1

    def polygons(self) -> np.ndarray:
        """The parts as an object array of shapely Polygons (as ``Polygon(shell, holes)``)."""
        if self._polys is None:
            self._polys = _polygons(self.pts.astype(np.float64), self.off, self.part_off)
        return self._polys


def _polygons(pts: np.ndarray, off: np.ndarray, part_off: np.ndarray) -> np.ndarray:
    """Object array of Polygons from open rings (closed here), as ``Polygon(shell, holes)``."""
    n_rings = len(off) - 1
    closed_off = off + np.arange(n_rings + 1)
    coords = np.empty((len(pts) + n_rings, 2), np.float64)
    coords[np.arange(len(pts)) + _ring_ids(off)] = pts
    coords[closed_off[1:] - 1] = pts[off[:-1]]
    return shapely.from_ragged_array(
        shapely.GeometryType.POLYGON, coords, (closed_off, np.asarray(part_off, np.int64))
    )


def _open_rings(geoms: np.ndarray):
    """Object array of Polygons -> (coords of open rings, ring offsets, part offsets)."""
    _, coords, (closed_off, part_off) = shapely.to_ragged_array(geoms)
    closed_off = closed_off.astype(np.int64)
    keep = np.ones(len(coords), bool)
    keep[closed_off[1:] - 1] = False
    return coords[keep], closed_off - np.arange(len(closed_off)), part_off.astype(np.int64)


def _geom_array(parts) -> np.ndarray:
    arr = np.empty(len(parts), object)
    arr[:] = list(parts)
    return arr


def _nonzero(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.nonzero`` of a 2-D bool array (same order), via the much faster ``flatnonzero``."""
    a = np.ascontiguousarray(a)
    idx = np.flatnonzero(a)
    r = idx // a.shape[1]
    return r, idx - r * a.shape[1]


def _trace_flat(sub: np.ndarray, x0: int, y0: int) -> _Flat | None:
    """:func:`_trace_parts` for all rings at once (same parts, same order); None if empty.

    Isolated mask pixels (no 4-neighbour in the mask) are parts of their own, unit squares;
    the rest is traced at once: the unit edges are numbered so that each straight run is a
    block of consecutive numbers (horizontal edges row by row, vertical ones column by column),
    successors come from a lookup by (vertex, direction), and rings are the cycles
    (:func:`_cycles`) of the permutation of the corners only. A ring passes a saddle vertex
    twice exactly when the two diagonal mask pixels there belong to the same component (a ring
    bounds one mask component and one 8-connected background region, and the two background
    pixels of a saddle touch); there the successors of the two incoming edges are swapped up
    front, which splits the ring into the same simple loops as :func:`_split_pinches`.
    """
    h, w = sub.shape
    p = np.zeros((h + 2, w + 2), bool)
    p[1:-1, 1:-1] = sub
    inner = p[1:-1, 1:-1]
    lone = inner & ~(p[:-2, 1:-1] | p[2:, 1:-1] | p[1:-1, :-2] | p[1:-1, 2:])
    iso_r = iso_c = np.zeros(0, np.int64)
    if lone.any():
        iso_r, iso_c = _nonzero(lone)
        inner &= ~lone  # trace the rest (their rings are exactly the rings they had before)
        iso_r, iso_c = iso_r + 1, iso_c + 1  # padded pixel = padded corner coordinates
    rings = _trace_rings(p, h, w)
    if rings is None:
        return _Flat.from_parts(_trace_parts(sub, x0, y0))  # not expected: general path
    cx, cy, coff, area2, label, start = rings
    n_rings = len(area2)

    shell = area2 > 0
    n_labels = int(label.max()) + 1 if n_rings else 0
    if np.any(np.bincount(label[shell], minlength=n_labels) > 1):
        return _Flat.from_parts(_trace_parts(sub, x0, y0))  # not expected: general path
    c0 = coff[:-1]
    sx0, sy0 = cx[c0 + start], cy[c0 + start]
    part_of_label = np.full(n_labels, -1, np.int64)
    part_of_label[label[shell]] = np.arange(int(shell.sum()))
    ring_part = part_of_label[label]
    kept = np.flatnonzero(ring_part >= 0)  # holes of a label without a shell: none expected
    n_parts = int(shell.sum())
    part_area2 = np.zeros(n_parts, np.int64)
    np.add.at(part_area2, ring_part[kept], area2[kept])
    shell_ring = np.flatnonzero(shell)
    # Isolated pixels: one more part and ring each, (x, y) (x+1, y) (x+1, y+1) (x, y+1).
    n_iso = len(iso_r)
    if n_iso:
        cx = np.concatenate([cx, (iso_c[:, None] + [0, 1, 1, 0]).ravel()])
        cy = np.concatenate([cy, (iso_r[:, None] + [0, 0, 1, 1]).ravel()])
        coff = np.concatenate([coff, coff[-1] + 4 * np.arange(1, n_iso + 1)])
        c0 = coff[:-1]
        start = np.concatenate([start, np.zeros(n_iso, np.int64)])
        sx0, sy0 = np.concatenate([sx0, iso_c]), np.concatenate([sy0, iso_r])
        shell = np.concatenate([shell, np.ones(n_iso, bool)])
        iso_rings = np.arange(n_rings, n_rings + n_iso)
        ring_part = np.concatenate([ring_part, n_parts + np.arange(n_iso)])
        kept = np.concatenate([kept, iso_rings])
        part_area2 = np.concatenate([part_area2, np.full(n_iso, 2, np.int64)])
        shell_ring = np.concatenate([shell_ring, iso_rings])
        n_parts += n_iso
    part_rank = np.empty(n_parts, np.int64)
    part_rank[np.lexsort((sx0[shell_ring], sy0[shell_ring], -part_area2))] = np.arange(n_parts)
    rp = part_rank[ring_part[kept]]
    ro = kept[np.lexsort((sx0[kept], sy0[kept], ~shell[kept], rp))]
    cnt = np.diff(coff)[ro]
    off = _offsets(cnt)
    # Gather ring by ring in output order, each rotated to start at its top-left vertex.
    rid = np.repeat(np.arange(len(ro)), cnt)
    local = np.arange(int(off[-1])) - off[:-1][rid]
    gather = c0[ro][rid] + (local + start[ro][rid]) % cnt[rid]
    pts = np.stack([cx[gather] + (x0 - 1), cy[gather] + (y0 - 1)], axis=1)
    part_off = _offsets(np.bincount(rp, minlength=n_parts))
    return _Flat(pts, off, part_off)


def _trace_rings(p: np.ndarray, h: int, w: int):
    """The rings of the padded mask ``p`` (see :func:`_trace_flat`): corner vertices ``cx, cy``
    ring after ring (offsets ``coff``), and per ring twice its signed area, the label of its
    component (``cv2.connectedComponents``, 4-connected) and the local index of its top-most,
    then left-most vertex. None if a ring still passes a vertex twice (not expected)."""
    empty = np.zeros(0, np.int64)
    # Top edges run +x (row-major), right edges +y (column-major), bottom edges -x
    # (row-major), left edges -y (column-major): a straight step is +1 or -1 in the numbering.
    r, c = _nonzero(p[1:, :] & ~p[:-1, :])
    found = [(c, r + 1)]
    c, r = _nonzero((p[:, :-1] & ~p[:, 1:]).T)
    found.append((c + 1, r))
    r, c = _nonzero(p[:-1, :] & ~p[1:, :])
    found.append((c + 1, r + 1))
    c, r = _nonzero((p[:, 1:] & ~p[:, :-1]).T)
    found.append((c + 1, r + 1))
    sizes = [len(f[0]) for f in found]
    n = sum(sizes)
    if n == 0:
        return empty, empty, np.zeros(1, np.int64), empty, empty, empty
    sx = np.concatenate([f[0] for f in found]).astype(np.int64)
    sy = np.concatenate([f[1] for f in found]).astype(np.int64)
    d = np.repeat(np.arange(4, dtype=np.int64), sizes)
    block = _offsets(np.array(sizes, np.int64))
    stride = w + 3
    vstart = sy * stride + sx
    n_keys = (h + 3) * stride * 4
    if n_keys <= 8 * n + (1 << 16):  # dense lookup table
        table = np.full(n_keys, -1, np.int32 if n < 2**31 - 1 else np.int64)
        table[vstart * 4 + d] = np.arange(n)

        def find(want: np.ndarray) -> np.ndarray:
            return table[want]

    else:  # sparse: binary search in the sorted keys
        key = vstart * 4 + d
        order = np.argsort(key, kind="stable")
        skey = key[order]

        def find(want: np.ndarray) -> np.ndarray:
            pos = np.minimum(np.searchsorted(skey, want), n - 1)
            return np.where(skey[pos] == want, order[pos], -1)

    succ = np.full(n, -1, np.int64)
    for k in range(4):  # the edge after each edge: toward the mask, else straight, else away
        lo, hi = block[k], block[k + 1]
        end4 = (vstart[lo:hi] + int(_STEP[k, 1] * stride + _STEP[k, 0])) * 4
        out = succ[lo:hi]
        for turn in (1, 0, 3):
            np.copyto(out, find(end4 + (k + turn) % 4), where=(out < 0))
    pred = np.empty(n, np.int64)
    pred[succ] = np.arange(n)

    # Saddles whose two mask pixels are one component: split the ring there.
    labels_img = cv2.connectedComponents(p.view(np.uint8), connectivity=4)[1]
    tl = p[:-1, :-1]
    saddle = (tl != p[:-1, 1:]) & (tl != p[1:, :-1]) & (tl == p[1:, 1:])
    vy = vx = empty
    if saddle.any():
        vy, vx = _nonzero(saddle)
        a = np.where(tl[vy, vx], labels_img[vy, vx], labels_img[vy, vx + 1])
        b = np.where(tl[vy, vx], labels_img[vy + 1, vx + 1], labels_img[vy + 1, vx])
        vy, vx = vy[a == b], vx[a == b]
    f1 = f2 = empty
    if len(vy):
        v4 = ((vy + 1) * stride + (vx + 1)) * 4
        out_edges = np.sort(np.stack([find(v4 + k) for k in range(4)], axis=1), axis=1)
        f1, f2 = out_edges[:, 2].astype(np.int64), out_edges[:, 3].astype(np.int64)
        e1, e2 = pred[f1], pred[f2]
        succ[e1], succ[e2] = f2, f1
        pred[f2], pred[f1] = e1, e2

    # Corners (first edge of each straight run) and the corner that follows each.
    step = np.where(d < 2, 1, -1)
    straight = (succ == np.arange(n) + step) & (d[succ] == d)
    corner = ~straight[pred]
    cidx = np.cumsum(corner) - 1
    ce = np.flatnonzero(corner)
    n_c = len(ce)
    dc = d[ce]
    last = np.where(dc < 2, np.minimum(np.r_[ce[1:], n], block[dc + 1]) - 1,
                    np.maximum(np.r_[-1, ce[:-1]] + 1, block[dc]))
    head, rank = _cycles(cidx[succ[last]])
    if len(f1) and np.any(head[cidx[f1]] == head[cidx[f2]]):
        return None

    # Corners in ring order (rings numbered by head).
    is_head = head == np.arange(n_c)
    ring = (np.cumsum(is_head) - 1)[head]
    n_rings = int(is_head.sum())
    coff = _offsets(np.bincount(ring, minlength=n_rings))
    co = np.empty(n_c, np.int64)
    co[coff[ring] + rank] = ce
    cx, cy, cd = sx[co], sy[co], d[co]
    _, cnext = _ring_neighbours(coff)
    c0 = coff[:-1]
    area2 = np.add.reduceat(cx * cy[cnext] - cx[cnext] * cy, c0)
    label = labels_img[cy[c0] + _LEFT[cd[c0], 1], cx[c0] + _LEFT[cd[c0], 0]]
    vkey = cy * stride + cx
    start = _first_per_ring(vkey == np.minimum.reduceat(vkey, c0)[_ring_ids(coff)], coff)
    return cx, cy, coff, area2, label, start


def _nested_coords(flat_pairs: list, off: np.ndarray, part_off: np.ndarray) -> dict | None:
    """Flat list of [x, y] (open rings, ring ``i`` at ``off[i]:off[i + 1]``) -> GeoJSON dict,
    each ring closed by repeating its first point (as :func:`_exact_geojson` does)."""
    bounds = off.tolist()
    rings = [flat_pairs[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    for ring in rings:
        ring.append(ring[0])
    pb = part_off.tolist()
    coords = [rings[a:b] for a, b in zip(pb[:-1], pb[1:])]
    if not coords:
        return None
    if len(coords) == 1:
        return {"type": "Polygon", "coordinates": coords[0]}
    return {"type": "MultiPolygon", "coordinates": coords}


def _exact_geojson_flat(flat: _Flat) -> dict | None:
    """:func:`_exact_geojson` of the flat parts."""
    with _NoGC():
        return _nested_coords(flat.pts.tolist(), flat.off, flat.part_off)


def _count_vertices(parts) -> int:
    """Vertices over all rings of the Polygons, closing points not counted."""
    if len(parts) == 0:
        return 0
    arr = _geom_array(parts)
    n = shapely.get_num_coordinates(arr) - 1 - shapely.get_num_interior_rings(arr)
    return int(n.sum())


def _edge_midpoint_rings(pts: np.ndarray, off: np.ndarray):
    """:func:`_edge_midpoint_ring` of every ring (float64 open rings): same result."""
    n_rings = len(off) - 1
    rid = _ring_ids(off)
    prev, nxt = _ring_neighbours(off)
    a = pts
    b = pts[nxt]
    length = np.abs(b - a).sum(axis=1)
    unit = np.rint(length).astype(np.int64)
    bad = (unit != length) | (unit <= 0)
    raw = (np.diff(off) < 3) | (np.bincount(rid[bad], minlength=n_rings) > 0)
    raw_e = raw[rid]
    keep = ~raw_e & (unit[prev] >= 2) & (unit >= 2)
    # Of the midpoints of an edge, only the first and the last: the ones in between lie on a
    # straight line with both neighbours, so the first cleaning pass would drop them, and
    # without them it drops the same other points (their neighbours keep their directions).
    n_out = np.where(raw_e, 1, np.minimum(unit, 2) + keep)
    e = np.repeat(np.arange(len(a)), n_out)
    j = np.arange(len(e)) - np.repeat(_offsets(n_out)[:-1], n_out)
    with np.errstate(divide="ignore", invalid="ignore"):
        dvec = (b - a) / length[:, None]
    k = np.where(j - keep[e] == 0, 0, unit[e] - 1)  # which midpoint: first or last
    out = a[e] + dvec[e] * (k[:, None] + 0.5)
    fixed = raw_e[e] | (keep[e] & (j == 0))
    out[fixed] = a[e[fixed]]
    out, moff = _clean_rings(out, _offsets(np.bincount(rid[e], minlength=n_rings)))
    # Start each ring at its vertex farthest from the ring's mean (the first such vertex).
    cnt = np.diff(moff)
    roll = ~raw & (cnt >= 3)
    if roll.any():
        rid = _ring_ids(moff)
        safe = np.maximum(cnt, 1)
        mx = np.bincount(rid, weights=out[:, 0], minlength=n_rings) / safe
        my = np.bincount(rid, weights=out[:, 1], minlength=n_rings) / safe
        dist2 = (out[:, 0] - mx[rid]) ** 2 + (out[:, 1] - my[rid]) ** 2
        nonempty = cnt > 0
        best = np.full(n_rings, np.inf)
        best[nonempty] = np.maximum.reduceat(dist2, moff[:-1][nonempty])
        far = _first_per_ring(dist2 == best[rid], moff)
        out = out[_rotate_rings(moff, np.where(roll, far, 0))]
    return out, moff


def _smoothed_flat(flat: _Flat) -> list[Polygon]:
    """:func:`_smoothed` of the exact parts: every ring replaced by its edge-midpoint ring."""
    mid, moff = _edge_midpoint_rings(flat.pts.astype(np.float64), flat.off)
    mcnt = np.diff(moff)
    ring_part = _ring_ids(flat.part_off)
    shell_ok = mcnt[flat.part_off[:-1]] >= 3
    use = (mcnt >= 3) & shell_ok[ring_part]
    sel_pts, sel_off = _select_rings(mid, moff, use)
    polys = _polygons(sel_pts, sel_off, _offsets(np.bincount(ring_part[use],
                                                             minlength=flat.n_parts)[shell_ok]))
    good = shapely.is_valid(polys) & (shapely.area(polys) > 0)
    if shell_ok.all() and good.all():
        return list(polys)
    exact = flat.polygons()
    out: list[Polygon] = []
    k = 0
    for i in range(flat.n_parts):
        if not shell_ok[i]:
            out.append(exact[i])
            continue
        poly = polys[k]
        if good[k]:
            out.append(poly)
        else:
            out.extend(_make_valid_parts(poly) or [exact[i]])
        k += 1
    return out


def _smoothed(parts: list[Polygon]) -> list[Polygon]:
    """The parts with every ring replaced by its edge-midpoint ring (valid, same raster)."""
    if not len(parts):
        return []
    pts, off, part_off = _open_rings(_geom_array(parts))
    flat = _Flat(pts, off, part_off)
    flat._polys = _geom_array(parts)
    return _smoothed_flat(flat)


def _point_segment_distance(px, py, ax, ay, bx, by) -> np.ndarray:
    """GEOS' ``Distance::pointToSegment``, operation for operation (same doubles)."""
    dx, dy = bx - ax, by - ay
    len2 = dx * dx + dy * dy
    degenerate = len2 == 0
    len2 = np.where(degenerate, 1.0, len2)
    r = ((px - ax) * dx + (py - ay) * dy) / len2
    s = ((ay - py) * dx - (ax - px) * dy) / len2
    to_a = np.sqrt((px - ax) * (px - ax) + (py - ay) * (py - ay))
    to_b = np.sqrt((px - bx) * (px - bx) + (py - by) * (py - by))
    out = np.abs(s) * np.sqrt(len2)
    out = np.where(r >= 1.0, to_b, out)
    return np.where(degenerate | (r <= 0.0), to_a, out)


def _reach_pieces(coords: np.ndarray, off: np.ndarray, tolerance: float):
    """Where topology-preserving Douglas-Peucker of these closed rings can look.

    GEOS splits a section of a ring at its farthest vertex while that is farther than the
    tolerance from the section's chord, exactly as plain Douglas-Peucker does; every test
    against other geometry (a candidate segment crossing another segment, or a section and its
    chord enclosing another ring's first point) is for a chord of a section at or below such a
    stop, or for the chord that cuts out a ring's closing vertex, which lies within the first
    and last of those sections. So every such test lies inside the convex hull of one of the
    sections returned here (start and end index into ``coords``, inclusive), each of >= 3
    vertices. Ties and borderline distances stop the splitting early: the hulls only grow.
    """
    n_rings = len(off) - 1
    x, y = coords[:, 0], coords[:, 1]
    half = np.all(coords * 2 == np.rint(coords * 2), axis=1)
    exact_ring = np.bincount(_ring_ids(off)[~half], minlength=n_rings) == 0
    lo = off[:-1].copy()
    hi = off[1:] - 1
    first_cut = hi.copy()  # end of each ring's first section
    last_cut = lo.copy()  # start of each ring's last section
    si, sj, sr = lo, hi, np.arange(n_rings)
    keep = sj - si >= 2
    si, sj, sr = si[keep], sj[keep], sr[keep]
    out_i, out_j = [], []
    for _ in range(200):
        if len(si) == 0:
            break
        n_mid = sj - si - 1
        moff = _offsets(n_mid)
        sec = np.repeat(np.arange(len(si)), n_mid)
        k = si[sec] + 1 + (np.arange(int(moff[-1])) - moff[:-1][sec])
        a, b = si[sec], sj[sec]
        dist = _point_segment_distance(x[k], y[k], x[a], y[a], x[b], y[b])
        top = np.maximum.reduceat(dist, moff[:-1])
        is_top = dist == top[sec]
        k_top = np.minimum.reduceat(np.where(is_top, k, len(coords)), moff[:-1])
        near = ~is_top & (dist >= top[sec] - 1e-9 * np.maximum(1.0, top[sec]))
        stop = (top <= tolerance + 1e-9) | (np.bincount(sec[near], minlength=len(si)) > 0)
        stop |= ~exact_ring[sr]
        out_i.append(si[stop])
        out_j.append(sj[stop])
        go = ~stop
        si, sj, sr, k_top = si[go], sj[go], sr[go], k_top[go]
        at_lo = si == lo[sr]
        np.minimum.at(first_cut, sr[at_lo], k_top[at_lo])
        at_hi = sj == hi[sr]
        np.maximum.at(last_cut, sr[at_hi], k_top[at_hi])
        si, sj, sr = np.concatenate([si, k_top]), np.concatenate([k_top, sj]), np.r_[sr, sr]
        keep = sj - si >= 2
        si, sj, sr = si[keep], sj[keep], sr[keep]
    out_i.append(si)  # (only if the loop ran out: stop where we are)
    out_j.append(sj)
    si, sj = np.concatenate(out_i), np.concatenate(out_j)
    # The closing vertex: from the start of the last section round to the end of the first.
    return si, sj, first_cut < hi, first_cut, last_cut, lo


def _hulls(coords: np.ndarray, idx: np.ndarray, grp: np.ndarray, n_grp: int) -> np.ndarray:
    """Convex hulls of groups of coordinates ``coords[idx]`` (group ``grp``, sorted)."""
    out = np.empty(n_grp, object)
    size = np.bincount(grp, minlength=n_grp)
    tri = size == 3  # three consecutive vertices of a cleaned ring: a proper triangle
    if tri.any():
        out[tri] = shapely.polygons(coords[idx[tri[grp]]].reshape(-1, 3, 2))
    rest = ~tri
    if rest.any():
        sel = rest[grp]
        _, local = np.unique(grp[sel], return_inverse=True)
        out[rest] = shapely.convex_hull(shapely.multipoints(coords[idx[sel]], indices=local))
    return out


def _reach_geometries(arr: np.ndarray, tolerance: float) -> tuple[np.ndarray, np.ndarray]:
    """Convex hulls that contain every test a topology-preserving simplification of the
    Polygons ``arr`` makes against other geometry (see :func:`_reach_pieces`), and for each
    the index of its polygon."""
    coords, closed_off, part_off = _ragged_closed(arr)
    ring_part = _ring_ids(part_off)
    si, sj, split, first_cut, last_cut, lo = _reach_pieces(coords, closed_off, tolerance)
    n_sec = sj - si + 1
    sec = np.repeat(np.arange(len(si)), n_sec)
    idx = si[sec] + (np.arange(int(n_sec.sum())) - _offsets(n_sec)[:-1][sec])
    owner = [ring_part[np.searchsorted(closed_off, si, side="right") - 1]]
    # Pieces round each split ring's closing vertex: last section + first section.
    rings = np.flatnonzero(split)
    hi = closed_off[1:] - 1
    n_a = hi[rings] - last_cut[rings] + 1
    n_b = first_cut[rings] - lo[rings] + 1
    n_e = n_a + n_b
    eoff = _offsets(n_e)
    esec = np.repeat(np.arange(len(rings)), n_e)
    local = np.arange(int(eoff[-1])) - eoff[:-1][esec]
    eidx = np.where(local < n_a[esec], last_cut[rings][esec] + local,
                    lo[rings][esec] + local - n_a[esec])
    owner.append(ring_part[rings])
    all_idx = np.concatenate([idx, eidx])
    all_grp = np.concatenate([sec, esec + len(si)])
    return _hulls(coords, all_idx, all_grp, len(si) + len(rings)), np.concatenate(owner)


def _ragged_closed(arr: np.ndarray):
    _, coords, (closed_off, part_off) = shapely.to_ragged_array(arr)
    return coords, closed_off.astype(np.int64), part_off.astype(np.int64)


def _components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Connected components of the graph with edges (a, b): the smallest node of each."""
    lab = np.arange(n)
    while True:
        la, lb = lab[a], lab[b]
        if np.array_equal(la, lb):
            return lab
        m = np.minimum(la, lb)
        np.minimum.at(lab, la, m)
        np.minimum.at(lab, lb, m)
        while True:
            jumped = lab[lab]
            if np.array_equal(jumped, lab):
                break
            lab = jumped


def _boundary_chunks(arr: np.ndarray, size: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """The rings of the Polygons ``arr`` cut into LineStrings of at most ``size`` segments,
    and the index of the polygon of each."""
    coords, closed_off, part_off = _ragged_closed(arr)
    ring_part = _ring_ids(part_off)
    n_seg = np.diff(closed_off) - 1
    n_chunks = -(-n_seg // size)
    chunk_ring = np.repeat(np.arange(len(n_seg)), n_chunks)
    first = _offsets(n_chunks)[:-1]
    k = np.arange(int(n_chunks.sum())) - first[chunk_ring]
    lo = closed_off[:-1][chunk_ring] + k * size
    hi = np.minimum(lo + size, closed_off[1:][chunk_ring] - 1)
    n_pts = hi - lo + 1
    cid = np.repeat(np.arange(len(lo)), n_pts)
    idx = lo[cid] + (np.arange(int(n_pts.sum())) - _offsets(n_pts)[:-1][cid])
    return shapely.linestrings(coords[idx], indices=cid), ring_part[chunk_ring]


def _simplify_rings(arr: np.ndarray, tolerance: float):
    """The parts of ``shapely.simplify(MultiPolygon(arr), tolerance, preserve_topology=True)``
    (of ``arr[0]`` alone when there is one part), computed ring by ring, with the indices of
    the parts that changed and the groups of parts (arrays, >= 2 parts each) whose rings were
    simplified together; None if the joint result would not come out as one Polygon per part.
    Parts in different groups cannot meet: each ring stays inside its own hulls.

    Every ring (shell or hole) is first simplified alone, as a polygon of its own, in one
    vectorized call. A ring that this leaves unchanged (a pixel-sized hole, a straight-sided
    one) stays unchanged in company: the checks against other rings can only refuse
    shortcuts. A ring that does change can only be affected by geometry inside the convex hulls
    of its sections that Douglas-Peucker stops at (:func:`_reach_geometries`): its own
    shortcuts, and the segments they are tested against, lie there. So the moving rings are
    grouped when a hull of one meets another's boundary or hulls (an unchanged ring that two
    of them touch does not link them: it is the same in either's simplification), and each
    group is simplified again together with the unchanged rings its hulls touch, in the
    original ring order. That is what the joint simplification gives those rings, at the cost
    of the group's size instead of the square of the number of rings (GEOS checks each
    shortcut against every ring: a speckled mask with 16,000 holes took 2.5 s, one with
    180,000 did not finish in 11 minutes; now 0.4 s and 3 s for this step). Tests compare the
    result with the joint simplification on hundreds of masks.
    """
    coords, closed_off, part_off = _ragged_closed(arr)
    n_rings = len(closed_off) - 1
    ring_polys = shapely.polygons(shapely.linearrings(coords, indices=_ring_ids(closed_off)))
    alone = shapely.simplify(ring_polys, tolerance, preserve_topology=True)
    if not np.all(shapely.get_type_id(alone) == shapely.GeometryType.POLYGON):
        return None
    moving = np.flatnonzero(~shapely.equals_exact(ring_polys, alone, tolerance=0.0))
    ring_part = _ring_ids(part_off)
    part_groups = []
    if len(moving) and n_rings > 1:
        # Which rings each moving ring's hulls meet (their boundaries, or a moving ring's hulls)
        hulls, owner = _reach_geometries(ring_polys[moving], tolerance)
        owner = moving[owner]
        chunks, chunk_owner = _boundary_chunks(ring_polys)
        hi, cj = shapely.STRtree(chunks).query(hulls)
        other = owner[hi] != chunk_owner[cj]
        hi, cj = hi[other], cj[other]
        hit = shapely.intersects(hulls[hi], chunks[cj])
        touch_a, touch_b = owner[hi[hit]], chunk_owner[cj[hit]]
        h1, h2 = shapely.STRtree(hulls).query(hulls)
        other = owner[h1] < owner[h2]
        h1, h2 = h1[other], h2[other]
        hit = shapely.intersects(hulls[h1], hulls[h2])
        is_moving = np.zeros(n_rings, bool)
        is_moving[moving] = True
        # Groups: moving rings linked through one another (an unchanged ring they both touch
        # does not link them: it is the same in either's simplification)
        link = is_moving[touch_b]
        a = np.concatenate([touch_a[link], owner[h1[hit]], moving])
        b = np.concatenate([touch_b[link], owner[h2[hit]], moving])
        lab = _components(n_rings, a, b)
        # Each group with the unchanged rings it touches, simplified together (a moving ring
        # alone and untouched already has its joint result)
        ring = np.concatenate([moving, touch_b[~link]])
        group = lab[np.concatenate([moving, touch_a[~link]])]
        group, ring = np.unique(np.stack([group, ring]), axis=1)
        cuts = np.flatnonzero(np.diff(group)) + 1
        for ring_ids in np.split(ring, cuts):
            if len(ring_ids) == 1:
                continue
            joint = shapely.get_parts(shapely.simplify(
                shapely.multipolygons(ring_polys[ring_ids]), tolerance, preserve_topology=True))
            if len(joint) != len(ring_ids) or not np.all(
                shapely.get_type_id(joint) == shapely.GeometryType.POLYGON
            ) or np.any(shapely.get_num_interior_rings(joint) != 0):
                return None
            alone[ring_ids] = joint
            parts = np.unique(ring_part[ring_ids])
            if len(parts) > 1:
                part_groups.append(parts)
    # Rebuild the parts: shell then holes, as they came
    out = shapely.polygons(shapely.get_exterior_ring(alone), indices=ring_part)
    return out, np.unique(ring_part[moving]), part_groups


# Holes from which one polygon is simplified ring by ring (below, one GEOS call is quicker:
# a smooth 1000x1000 disc takes 10 ms that way and 14 ms ring by ring).
_RINGS_ALONE_FROM = 32


def _simplify_batched(arr: np.ndarray, tolerance: float, inputs_valid: bool = False):
    """``shapely.simplify(MultiPolygon(arr), tolerance, preserve_topology=True)`` part by part
    (None if the result did not come out as one Polygon per part), and whether that
    MultiPolygon is valid; computed ring by ring (:func:`_simplify_rings`).

    The MultiPolygon is valid iff each part is, and the parts of all groups together (parts
    in different groups cannot meet; one check for all groups, since a group often holds the
    one large part with the most rings). With ``inputs_valid``, only the parts that changed
    need a check.
    """
    res = _simplify_rings(arr, tolerance)
    if res is None:
        return None
    simp, changed, groups = res
    grouped = np.unique(np.concatenate(groups)) if groups else np.zeros(0, np.int64)
    check = np.union1d(changed, grouped) if inputs_valid else slice(None)
    valid = bool(np.all(shapely.is_valid(simp[check]))) and (
        len(grouped) == 0 or bool(shapely.is_valid(shapely.multipolygons(simp[grouped])))
    )
    return simp, valid


def _simplify(
    smooth: list[Polygon], tolerance: float, info: dict | None = None, inputs_valid: bool = False
) -> list[Polygon]:
    """Topology-preserving Douglas-Peucker of all parts together (so that simplified parts
    cannot cross one another either), made valid. ``info["valid"]`` tells whether no repair
    was needed; ``inputs_valid``: each part of ``smooth`` is known to be valid."""
    if info is not None:
        info["valid"] = False
    if tolerance <= 0 or not len(smooth):
        return list(smooth)
    if len(smooth) > 1:
        res = _simplify_batched(_geom_array(smooth), tolerance, inputs_valid)
        if res is not None:
            simp, valid = res
            simp = simp[~shapely.is_empty(simp)]  # GEOS leaves empty parts out of a Multi*
            if valid:
                out = list(simp[shapely.area(simp) > 0])
                if info is not None:
                    info["valid"] = bool(out)
            else:
                out = _polygonal_parts(shapely.make_valid(MultiPolygon(list(simp))))
            return out or list(smooth)
    # One part: ring by ring once it has holes enough for GEOS' quadratic cost to show
    many_holes = len(smooth) == 1 and len(smooth[0].interiors) >= _RINGS_ALONE_FROM
    res = _simplify_rings(_geom_array(smooth), tolerance) if many_holes else None
    if res is not None:
        return _make_valid_parts(res[0][0]) or list(smooth)
    geom = smooth[0] if len(smooth) == 1 else MultiPolygon(list(smooth))
    return _make_valid_parts(shapely.simplify(geom, tolerance, preserve_topology=True)) or list(
        smooth
    )


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
            if _count_vertices([s]) <= max_vertices:
                return [s]
    return _polygonal_parts(shapely.oriented_envelope(poly)) or [poly]


def _fit_vertices(parts: list[Polygon], simplify: float, max_vertices: int) -> list[Polygon]:
    """Simplified parts with at most ``max_vertices`` vertices, at the smallest tolerance
    >= ``simplify`` that achieves it (doubling, then bisection to within 2%)."""
    if simplify <= 0 and _count_vertices(parts) <= max_vertices:
        return parts
    smooth = _smoothed(parts)
    lo = simplify
    best = _simplify(smooth, simplify) if simplify > 0 else smooth
    if _count_vertices(best) <= max_vertices:
        return best
    minx, miny, maxx, maxy = MultiPolygon(list(parts)).bounds
    limit = 2.0 * max(maxx - minx, maxy - miny, 1.0)
    hi = max(2 * simplify, 0.25)
    best = None
    while best is None:
        cand = _simplify(smooth, hi)
        if _count_vertices(cand) <= max_vertices:
            best = cand
        elif hi >= limit:
            # Even a tolerance as large as the shape keeps too many rings: drop the smallest
            # holes, then the smallest parts, until it fits.
            while _count_vertices(cand) > max_vertices:
                fewer = _drop_smallest_ring(smooth)
                if fewer is None:
                    return _coarsest(cand[0], max_vertices)
                smooth = fewer
                cand = _simplify(smooth, hi)
            return cand
        else:
            lo, hi = hi, min(2 * hi, limit)
    for _ in range(10):  # bisection between a failing lo and a fitting hi
        if hi - lo <= 0.02 * hi:
            break
        mid = (lo + hi) / 2
        cand = _simplify(smooth, mid)
        if _count_vertices(cand) <= max_vertices:
            best, hi = cand, mid
        else:
            lo = mid
    return best


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
    is exceeded the tolerance is raised (doubling, then bisection) until the
    geometry fits; if rings alone are too many even then, the smallest holes and parts are
    dropped. Simplified coordinates are rounded to 2 decimals (ints where integral). The result
    is always ``shapely``-valid; see the module docstring for the conventions.
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
    flat = _trace_flat(sub, c0 + int(offset[0]), r0 + int(offset[1]))
    if flat is None or flat.n_parts == 0:
        return None
    n_exact = len(flat.pts)
    if simplify == 0 and (max_vertices is None or n_exact <= max_vertices):
        return _exact_geojson_flat(flat)
    if max_vertices is None:
        info: dict = {}
        out = _simplify(_smoothed_flat(flat), float(simplify), info, inputs_valid=True)
        return _finish(out, flat, known_valid=info["valid"])
    parts = list(flat.polygons())
    limit = int(max_vertices)
    for _ in range(4):
        geom = _finish(_fit_vertices(parts, float(simplify), limit), flat)
        excess = _n_geojson_vertices(geom) - int(max_vertices)
        if excess <= 0:
            break
        limit = max(4, limit - excess)  # the final repair added vertices: aim lower
    return geom


def _finish(out: list[Polygon], exact: _Flat | list[Polygon], known_valid: bool = False):
    """Parts -> GeoJSON dict (ints if all integral, else 2 decimals), valid after rounding.

    ``known_valid``: the parts are known to form a valid MultiPolygon, so if rounding moves no
    coordinate the result is valid too and need not be checked again.
    """
    geom, integer, moved = _parts_to_geojson_flat(out)
    if geom is not None and not integer and (moved or not known_valid):
        if not shapely.is_valid(to_shapely(geom)):
            # Rounding to 2 decimals broke validity (rare): repair once more.
            fixed = _make_valid_parts(to_shapely(geom))
            geom = _parts_to_geojson(fixed, False) if fixed else None
    if geom is None:
        if isinstance(exact, _Flat):
            exact = list(exact.polygons())
        geom = _parts_to_geojson(exact, True)
    return geom


def _json_numbers(values: np.ndarray) -> tuple[list, bool]:
    """``values.tolist()`` with every number as :func:`_num` makes it, and whether that left
    every value unchanged. Values on the half-pixel grid (the usual case) go through a table
    indexed by ``2 * value``; others through ``np.unique``."""
    if values.size == 0:
        return values.tolist(), True
    twice = values * 2
    if np.all(twice == np.rint(twice)) and np.ptp(twice) <= max(4 * values.size, 1 << 12):
        k = np.rint(twice).astype(np.int64)
        lo = int(k.min())
        grid = (np.arange(lo, int(k.max()) + 1) / 2).tolist()
        table = np.empty(len(grid), object)
        table[:] = [_num(v) for v in grid]
        return table[k - lo].tolist(), all(float(a) == b for a, b in zip(table, grid))
    uniq, inverse = np.unique(values, return_inverse=True)
    table = np.empty(len(uniq), object)
    table[:] = [_num(v) for v in uniq.tolist()]
    return table[inverse.reshape(values.shape)].tolist(), all(
        float(a) == b for a, b in zip(table, uniq.tolist())
    )


def _parts_to_geojson_flat(parts: list[Polygon]) -> tuple[dict | None, bool, bool]:
    """:func:`_parts_to_geojson` of all parts at once, with ``integer`` decided as
    :func:`_finish` does (all coordinates integral); also whether rounding moved any
    coordinate."""
    if not len(parts):
        return None, True, False
    arr = _geom_array(parts)
    if not np.all(shapely.get_type_id(arr) == shapely.GeometryType.POLYGON):
        integer = all(all(_is_integral(r) for r in [p.exterior, *p.interiors]) for p in parts)
        return _parts_to_geojson(parts, integer), integer, True
    pts, off, part_off = _open_rings(arr)
    integer = bool(np.all(pts == np.rint(pts)))
    rounded = np.rint(pts) if integer else np.round(pts, 2)
    moved = not np.array_equal(rounded, pts)
    pts, off = _clean_rings(rounded, off)
    cnt = np.diff(off)
    n_rings = len(cnt)
    ring_part = _ring_ids(part_off)
    is_shell = np.zeros(n_rings, bool)
    is_shell[part_off[:-1]] = True
    ok = cnt >= 3
    # Orientation: the sign of the shoelace area, exact on the grid of the rounded values.
    rid = _ring_ids(off)
    _, nxt = _ring_neighbours(off)
    grid = np.rint(pts if integer else pts * 100).astype(np.int64)
    cross = grid[:, 0] * grid[nxt, 1] - grid[nxt, 0] * grid[:, 1]
    nonempty = cnt > 0
    area_sign = np.zeros(n_rings, np.int64)
    area_sign[nonempty] = np.sign(np.add.reduceat(cross, off[:-1][nonempty]))
    reverse = (area_sign > 0) != is_shell
    # Start: the top-most, then left-most vertex (its first occurrence) after reversing.
    order_rev = _rotate_rings(off, np.zeros(n_rings, np.int64), reverse)
    pts = pts[order_rev]
    y_min = np.full(n_rings, np.inf)
    y_min[nonempty] = np.minimum.reduceat(pts[:, 1], off[:-1][nonempty])
    at_top = pts[:, 1] == y_min[rid]
    x_min = np.full(n_rings, np.inf)
    xs = np.where(at_top, pts[:, 0], np.inf)
    x_min[nonempty] = np.minimum.reduceat(xs, off[:-1][nonempty])
    start = _first_per_ring(at_top & (pts[:, 0] == x_min[rid]), off)
    pts = pts[_rotate_rings(off, np.maximum(start, 0))]
    sx, sy = pts[off[:-1][nonempty], 0], pts[off[:-1][nonempty], 1]
    start_x = np.zeros(n_rings)
    start_y = np.zeros(n_rings)
    start_x[nonempty], start_y[nonempty] = sx, sy
    # Parts whose exterior survives, holes that survive; holes by start, parts by area.
    part_ok = ok[part_off[:-1]]
    if not part_ok.any():
        return None, integer, moved
    keep_ring = ok & part_ok[ring_part]
    area = np.abs(shapely.area(arr))
    parts_kept = np.flatnonzero(part_ok)
    shell_rings = part_off[:-1][parts_kept]
    part_rank = np.full(len(arr), -1, np.int64)
    part_rank[parts_kept[np.lexsort((start_x[shell_rings], start_y[shell_rings],
                                     -area[parts_kept]))]] = np.arange(len(parts_kept))
    rings = np.flatnonzero(keep_ring)
    ro = rings[np.lexsort((rings, start_x[rings], start_y[rings], ~is_shell[rings],
                           part_rank[ring_part[rings]]))]
    sel_cnt = cnt[ro]
    new_off = _offsets(sel_cnt)
    gather = np.repeat(off[:-1][ro] - new_off[:-1], sel_cnt) + np.arange(int(new_off[-1]))
    final = pts[gather]
    new_part_off = _offsets(np.bincount(part_rank[ring_part[ro]], minlength=len(parts_kept)))
    with _NoGC():
        if integer:
            flat_pairs = final.astype(np.int64).tolist()
        else:
            flat_pairs, exact_values = _json_numbers(final)
            moved = moved or not exact_values
        geom = _nested_coords(flat_pairs, new_off, new_part_off)
    return geom, integer, moved


def _n_geojson_vertices(geom: dict | None) -> int:
    if geom is None:
        return 0
    polys = [geom["coordinates"]] if geom["type"] == "Polygon" else geom["coordinates"]
    return sum(len(r) - 1 for p in polys for r in p)


# --------------------------------------------------------------------------------------------
# geometry -> mask


def _rings_of(geometry: Any) -> list[np.ndarray]:
    """All rings (exteriors and holes) of a GeoJSON Polygon/MultiPolygon dict or shapely geometry."""
    if hasattr(geometry, "geom_type"):
        rings = []
        for p in _polygonal_parts(geometry):
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
    b = np.concatenate([_next(r) if o else r[1:] for r, o in zip(rings, is_open)])
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


def to_shapely(geometry: dict):
    """GeoJSON geometry dict -> shapely geometry."""
    return shapely.geometry.shape(geometry)


# --------------------------------------------------------------------------------------------
# YOLO: one ring per object


def _closest_pair(a: np.ndarray, b: np.ndarray) -> tuple[int, int]:
    """Indices (i, j) minimising |a[i] - b[j]| (first such pair), in bounded-memory blocks."""
    best = (np.inf, 0, 0)
    step = max(1, _MAX_CHUNK // max(len(b), 1))
    for s in range(0, len(a), step):
        blk = a[s : s + step]
        d = ((blk[:, None, :] - b[None, :, :]) ** 2).sum(-1)
        k = int(np.argmin(d))
        i, j = divmod(k, len(b))
        if d[i, j] < best[0]:
            best = (float(d[i, j]), s + i, j)
    return best[1], best[2]


def geometry_to_yolo_ring(geometry: Any) -> np.ndarray:
    """One ring (K, 2) float64, open (no repeated closing point), for a YOLO segment label.

    YOLO segment labels hold one polygon per object, so parts and holes are joined into a single
    ring by *bridging*, as ultralytics does for its own multi-part labels
    (``merge_multi_segment``; re-implemented here, not copied): start from the exterior ring of
    the largest part; for each further ring, in order (that part's holes, then the next part's
    exterior and holes, ...), find the closest pair of vertices between the ring built so far
    (vertex ``i``) and the new ring (vertex ``j``), go out from ``i`` to ``j``, walk the whole
    new ring back to ``j`` and return to ``i``. The bridges are zero-width, so filling the ring
    (cv2.fillPoly, even-odd or non-zero: holes run the opposite way) reproduces the parts and
    holes up to the bridge lines. Returns an empty (0, 2) array for an empty geometry.
    """
    if hasattr(geometry, "geom_type"):
        polys = [
            [np.asarray(p.exterior.coords)] + [np.asarray(r.coords) for r in p.interiors]
            for p in _polygonal_parts(geometry)
        ]
    else:
        kind = geometry.get("type") if isinstance(geometry, dict) else None
        coords = geometry.get("coordinates") or [] if kind else []
        if kind == "Polygon":
            polys = [coords]
        elif kind == "MultiPolygon":
            polys = list(coords)
        else:
            raise ValueError(f"expected a Polygon or MultiPolygon geometry, got {kind!r}")
        polys = [[np.asarray(r, np.float64).reshape(-1, 2) for r in p] for p in polys]
    rings: list[np.ndarray] = []
    for p in polys:
        for r in p:
            r = np.asarray(r, np.float64)
            if len(r) >= 2 and np.all(r[0] == r[-1]):
                r = r[:-1]
            if len(r) >= 3:
                rings.append(r)
    if not rings:
        return np.zeros((0, 2), np.float64)
    merged = rings[0]
    for ring in rings[1:]:
        i, j = _closest_pair(merged, ring)
        walk = np.concatenate([ring[j:], ring[: j + 1]])  # j ... back to j
        merged = np.concatenate([merged[: i + 1], walk, merged[i:]])
    return merged
