"""Plain references for the geometry tests, written from the rules (SPEC, samcli.geometry's
docstrings) one ring at a time in plain Python. They share no code with samcli.geometry:
the package computes the same things for all rings at once in numpy arrays, and the tests
compare the two. Slow (pixel loops, GEOS' quadratic joint simplification): small masks only.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import shapely
import shapely.geometry
from shapely.geometry import MultiPolygon, Polygon

# --------------------------------------------------------------------------------------------
# one ring


def clean_ring(pts) -> list[tuple]:
    """Open ring -> without repeated or collinear vertices (cyclically), pass by pass: a pass
    drops every vertex equal to its predecessor if there is one, else every vertex collinear
    with both neighbours; until a pass drops nothing or fewer than 3 vertices are left."""
    pts = [tuple(float(v) for v in p) for p in pts]
    while len(pts) >= 3:
        n = len(pts)
        dup = [pts[i] == pts[i - 1] for i in range(n)]
        if any(dup):
            pts = [p for p, d in zip(pts, dup) if not d]
            continue
        col = []
        for i in range(n):
            (xp, yp), (x, y), (xn, yn) = pts[i - 1], pts[i], pts[(i + 1) % n]
            col.append((x - xp) * (yn - y) == (y - yp) * (xn - x))
        if not any(col):
            break
        pts = [p for p, c in zip(pts, col) if not c]
    return pts


def area2(pts) -> float:
    """Twice the signed shoelace area of an open ring."""
    n = len(pts)
    return sum(pts[i][0] * pts[(i + 1) % n][1] - pts[(i + 1) % n][0] * pts[i][1] for i in range(n))


def start_top_left(pts: list) -> list:
    """The ring rotated to start at its top-most, then left-most vertex (first occurrence)."""
    k = min(range(len(pts)), key=lambda i: (pts[i][1], pts[i][0]))
    return pts[k:] + pts[:k]


# --------------------------------------------------------------------------------------------
# exact tracing


def components(mask: np.ndarray) -> list[set]:
    """4-connected components of a bool mask, as sets of (x, y) pixels."""
    rows = np.asarray(mask, bool).tolist()
    h, w = len(rows), len(rows[0]) if rows else 0
    seen = [[False] * w for _ in range(h)]
    out = []
    for r in range(h):
        for c in range(w):
            if rows[r][c] and not seen[r][c]:
                seen[r][c] = True
                comp, stack = set(), [(c, r)]
                while stack:
                    x, y = stack.pop()
                    comp.add((x, y))
                    for xx, yy in ((x + 1, y), (x - 1, y), (x, y + 1), (x, y - 1)):
                        if 0 <= yy < h and 0 <= xx < w and rows[yy][xx] and not seen[yy][xx]:
                            seen[yy][xx] = True
                            stack.append((xx, yy))
                out.append(comp)
    return out


def component_loops(comp: set) -> list[list[tuple]]:
    """The boundary of one component as simple loops of unit edges, mask on the left in
    x-right/y-up terms (top edges run +x, right edges +y, bottom -x, left -y).

    The edges are walked into closed walks, whichever way a walk turns at a vertex with two
    ways out (a saddle: the component touches itself at a corner); a walk that comes back to
    a vertex is then cut there into loops, so no loop passes a vertex twice."""
    out_edges = defaultdict(list)
    for x, y in comp:
        if (x, y - 1) not in comp:
            out_edges[(x, y)].append((x + 1, y))
        if (x + 1, y) not in comp:
            out_edges[(x + 1, y)].append((x + 1, y + 1))
        if (x, y + 1) not in comp:
            out_edges[(x + 1, y + 1)].append((x, y + 1))
        if (x - 1, y) not in comp:
            out_edges[(x, y + 1)].append((x, y))
    loops = []
    for start in sorted(out_edges):
        while out_edges[start]:
            walk, v = [start], out_edges[start].pop()
            while v != start:
                walk.append(v)
                v = out_edges[v].pop()
            stack, where = [], {}
            for p in walk:
                if p in where:
                    k = where[p]
                    loops.append(stack[k:])
                    for q in stack[k + 1 :]:
                        del where[q]
                    del stack[k + 1 :]
                else:
                    where[p] = len(stack)
                    stack.append(p)
            loops.append(stack)
    return loops


def trace(mask: np.ndarray) -> list[tuple[list, list[list]]]:
    """Exact parts ``(shell, holes)`` of a bool mask in image pixel-corner coordinates, as
    samcli.geometry orders them: one part per 4-connected component, shell = its loop with
    positive area, holes = the negative ones sorted by start (y, x); rings open, corners only,
    starting top-left; parts by area (largest first), then by their shell's start (y, x)."""
    parts = []
    for comp in components(mask):
        shells, holes = [], []
        for loop in component_loops(comp):
            ring = [(int(x), int(y)) for x, y in start_top_left(clean_ring(loop))]
            (shells if area2(ring) > 0 else holes).append(ring)
        assert len(shells) == 1
        holes.sort(key=lambda r: (r[0][1], r[0][0]))
        parts.append((shells[0], holes))
    parts.sort(key=lambda p: (-(area2(p[0]) + sum(area2(h) for h in p[1])), p[0][0][1], p[0][0][0]))
    return parts


def _closed(ring: list) -> list:
    return [list(p) for p in ring] + [list(ring[0])]


def exact_geojson(parts) -> dict | None:
    coords = [[_closed(shell)] + [_closed(h) for h in holes] for shell, holes in parts]
    if not coords:
        return None
    if len(coords) == 1:
        return {"type": "Polygon", "coordinates": coords[0]}
    return {"type": "MultiPolygon", "coordinates": coords}


# --------------------------------------------------------------------------------------------
# simplification


def edge_midpoint_ring(closed_coords) -> list[tuple]:
    """Exact pixel-edge ring (closed coordinates) -> the ring through the midpoints of its
    unit edges, keeping corners between two edges of >= 2 px, cleaned, and started at its
    first vertex farthest from the mean of its vertices (a ring that is not on the unit grid,
    or has < 3 vertices, is only cleaned)."""
    c = [tuple(float(v) for v in p) for p in closed_coords]
    a, b = c[:-1], c[1:]
    n = len(a)
    lengths = [abs(b[i][0] - a[i][0]) + abs(b[i][1] - a[i][1]) for i in range(n)]
    if n < 3 or any(L != round(L) or L <= 0 for L in lengths):
        return clean_ring(a)
    pts = []
    for i in range(n):
        L = int(round(lengths[i]))
        if L >= 2 and int(round(lengths[i - 1])) >= 2:
            pts.append(a[i])
        dx, dy = (b[i][0] - a[i][0]) / lengths[i], (b[i][1] - a[i][1]) / lengths[i]
        pts.extend((a[i][0] + dx * (k + 0.5), a[i][1] + dy * (k + 0.5)) for k in range(L))
    pts = clean_ring(pts)
    if len(pts) >= 3:
        mx = sum(p[0] for p in pts) / len(pts)
        my = sum(p[1] for p in pts) / len(pts)
        d = [(x - mx) ** 2 + (y - my) ** 2 for x, y in pts]
        far = d.index(max(d))
        pts = pts[far:] + pts[:far]
    return pts


def valid_parts(geom) -> list[Polygon]:
    """The polygons of positive area in a geometry, after shapely.make_valid if it is invalid."""
    if not shapely.is_valid(geom):
        geom = shapely.make_valid(geom)
    out = []
    for part in shapely.get_parts(geom):
        if isinstance(part, Polygon):
            if not part.is_empty and part.area > 0:
                out.append(part)
        elif part.geom_type in ("MultiPolygon", "GeometryCollection"):
            out.extend(valid_parts(part))
    return out


def _number(v: float) -> float | int:
    r = round(float(v), 2)
    return int(r) if r == int(r) else r


def parts_geojson(parts: list[Polygon], integer: bool) -> dict | None:
    """Polygons -> GeoJSON dict: coordinates rounded (ints, or 2 decimals), rings cleaned,
    shells positive and holes negative, started top-left, closed; collapsed rings and parts
    dropped; holes by start, parts by area (largest first), then by start."""

    def ring_of(r, positive: bool) -> list:
        c = np.asarray(r.coords)[:-1]
        c = np.rint(c) if integer else np.round(c, 2)
        pts = clean_ring(c.tolist())
        if len(pts) < 3:
            return []
        if (area2(pts) > 0) != positive:
            pts = pts[::-1]
        return start_top_left(pts)

    polys = []
    for poly in parts:
        ext = ring_of(poly.exterior, True)
        if not ext:
            continue
        holes = [h for h in (ring_of(r, False) for r in poly.interiors) if h]
        holes.sort(key=lambda r: (r[0][1], r[0][0]))
        polys.append((abs(poly.area), ext, holes))
    if not polys:
        return None
    polys.sort(key=lambda p: (-p[0], p[1][0][1], p[1][0][0]))

    def conv(ring):
        if integer:
            return [[int(x), int(y)] for x, y in ring + ring[:1]]
        return [[_number(x), _number(y)] for x, y in ring + ring[:1]]

    coords = [[conv(p[1])] + [conv(h) for h in p[2]] for p in polys]
    if len(coords) == 1:
        return {"type": "Polygon", "coordinates": coords[0]}
    return {"type": "MultiPolygon", "coordinates": coords}


def smoothed(parts: list[Polygon]) -> list[Polygon]:
    """Each part with every ring replaced by its edge-midpoint ring; a part whose exterior
    collapses stays as it is, holes that collapse go, and a part the new rings make invalid is
    repaired (or else stays as it is)."""
    smooth = []
    for p in parts:
        ext = edge_midpoint_ring(p.exterior.coords)
        if len(ext) < 3:
            smooth.append(p)
            continue
        holes = [h for h in (edge_midpoint_ring(r.coords) for r in p.interiors) if len(h) >= 3]
        smooth.extend(valid_parts(Polygon(ext, holes)) or [p])
    return smooth


def simplified(smooth: list[Polygon], tolerance: float) -> list[Polygon]:
    """One joint topology-preserving ``shapely.simplify`` of all parts, repaired."""
    if tolerance <= 0 or not smooth:
        return list(smooth)
    joint = smooth[0] if len(smooth) == 1 else MultiPolygon(smooth)
    return valid_parts(shapely.simplify(joint, tolerance, preserve_topology=True)) or smooth


def finish(out: list[Polygon], exact: list[Polygon]) -> dict | None:
    """Parts -> GeoJSON (ints if every coordinate is integral); repaired once more if rounding
    made it invalid; the exact parts if nothing is left."""
    integer = all(
        np.all(np.asarray(r.coords) == np.rint(np.asarray(r.coords)))
        for p in out for r in [p.exterior, *p.interiors]
    )
    geom = parts_geojson(out, integer)
    if geom is not None and not integer:
        shp = shapely.geometry.shape(geom)
        if not shapely.is_valid(shp):
            fixed = valid_parts(shp)
            geom = parts_geojson(fixed, False) if fixed else None
    return geom if geom is not None else parts_geojson(exact, True)


def centre_mask(geom: dict, h: int, w: int) -> np.ndarray:
    """Pixels whose centre is inside by the crossing rule, row by row: (col, row) is inside
    when an odd number of ring edges cross the line y = row + 0.5 at x <= col + 0.5 (an edge
    covers the rows whose centre y lies in [its lower y, its upper y))."""
    rings = [np.asarray(r, float) for poly in _polygons(geom) for r in poly]
    a = np.concatenate([r[:-1] for r in rings])
    b = np.concatenate([r[1:] for r in rings])
    out = np.zeros((h, w), bool)
    centres = np.arange(w) + 0.5
    for row in range(h):
        y = row + 0.5
        on = (np.minimum(a[:, 1], b[:, 1]) <= y) & (y < np.maximum(a[:, 1], b[:, 1]))
        xa, ya, xb, yb = a[on, 0], a[on, 1], b[on, 0], b[on, 1]
        xs = np.sort(xa + (y - ya) * (xb - xa) / (yb - ya))
        out[row] = np.searchsorted(xs, centres, side="right") % 2 == 1
    return out


def _polygons(geom: dict) -> list:
    return [geom["coordinates"]] if geom["type"] == "Polygon" else geom["coordinates"]


def rasterizes_back(geom: dict, mask: np.ndarray) -> bool:
    """SPEC's round trip at IoU >= 0.97, by pixel centres and by pycocotools."""
    from tests.geometry.masks import coco_rasterize, iou

    h, w = mask.shape
    return min(iou(centre_mask(geom, h, w), mask), iou(coco_rasterize(geom, h, w), mask)) >= 0.97


def mask_to_geometry(mask: np.ndarray, simplify: float = 0.0) -> dict | None:
    """What samcli.geometry.mask_to_geometry returns (without max_vertices), the slow way:
    trace, replace each ring by its edge-midpoint ring (part by part, repaired if that made
    it invalid), one joint topology-preserving ``shapely.simplify`` of all parts, repair,
    format; a result that rounding made invalid is repaired once more, and if nothing is left,
    the exact parts are returned. A simplified result covering less than half the mask's
    pixels, or less than one pixel, is replaced by the exact parts; so is one that does not
    rasterize back (:func:`rasterizes_back`) when the tolerance is under 1 px."""
    exact = trace(mask)
    if simplify == 0 or not exact:
        return exact_geojson(exact)
    parts = [Polygon(shell, holes) for shell, holes in exact]
    simple = simplified(smoothed(parts), simplify)
    if sum(p.area for p in simple) < max(1.0, 0.5 * int(np.asarray(mask, bool).sum())):
        return exact_geojson(exact)
    geom = finish(simple, parts)
    if simplify < 1 and not rasterizes_back(geom, np.asarray(mask, bool)):
        return exact_geojson(exact)
    return geom


# --------------------------------------------------------------------------------------------
# --max-vertices


def count(polys: list[Polygon]) -> int:
    """Vertices over all rings, closing points not counted."""
    return sum(len(r.coords) - 1 for p in polys for r in [p.exterior, *p.interiors])


def _drop_smallest_ring(parts: list[Polygon]) -> list[Polygon] | None:
    """Without the smallest hole (ties: first part, first hole) and the parts inside it, else
    without the smallest part (ties: the last one); None when one ring is left."""
    holes = [
        (Polygon(r).area, i, k) for i, p in enumerate(parts) for k, r in enumerate(p.interiors)
    ]
    if holes:
        _, i, k = min(holes)
        p = parts[i]
        hole = Polygon(p.interiors[k])
        kept = [r for j, r in enumerate(p.interiors) if j != k]
        out = parts[:i] + [Polygon(p.exterior, kept)] + parts[i + 1 :]
        inside = [hole.contains(q.representative_point()) for q in out]
        return [q for j, q in enumerate(out) if j == i or not inside[j]]
    if len(parts) > 1:
        return sorted(parts, key=lambda p: -p.area)[:-1]
    return None


def _coarsest(poly: Polygon, max_vertices: int) -> list[Polygon]:
    size = max(poly.bounds[2] - poly.bounds[0], poly.bounds[3] - poly.bounds[1], 1.0)
    for frac in (0.01, 0.03, 0.1, 0.3):
        s = shapely.simplify(poly, frac * size, preserve_topology=False)
        if isinstance(s, Polygon) and not s.is_empty and s.is_valid and s.area > 0:
            if count([s]) <= max_vertices:
                return [s]
    return valid_parts(shapely.oriented_envelope(poly)) or [poly]


def _search(smooth: list[Polygon], simplify: float, limit: float, max_vertices: int):
    """At ``simplify``, else the tolerance doubled from max(2 * simplify, 0.25) up to
    ``limit`` until it fits, then bisection (10 steps at most, to 2 %); None if none fits."""
    best = simplified(smooth, simplify) if simplify > 0 else smooth
    if count(best) <= max_vertices:
        return best
    lo, hi = simplify, max(2 * simplify, 0.25)
    while True:
        cand = simplified(smooth, hi)
        if count(cand) <= max_vertices:
            best = cand
            break
        if hi >= limit:
            return None
        lo, hi = hi, min(2 * hi, limit)
    for _ in range(10):
        if hi - lo <= 0.02 * hi:
            break
        mid = (lo + hi) / 2
        cand = simplified(smooth, mid)
        if count(cand) <= max_vertices:
            best, hi = cand, mid
        else:
            lo = mid
    return best


def _fit(parts: list[Polygon], simplify: float, max_vertices: int) -> list[Polygon]:
    """The fitting rule, step by step: the tolerance grows up to twice the extent; if even
    that keeps too many vertices, one ring is dropped at a time (the smallest hole with the
    parts inside it, else the smallest part) and everything simplified again at that
    ceiling after each drop, until it fits; then the tolerance is searched again for the
    rings that are left."""
    if simplify <= 0 and count(parts) <= max_vertices:
        return parts
    smooth = smoothed(parts)
    minx, miny, maxx, maxy = MultiPolygon(parts).bounds
    limit = 2.0 * max(maxx - minx, maxy - miny, 1.0)
    best = _search(smooth, simplify, limit, max_vertices)
    if best is not None:
        return best
    top = max(2 * simplify, 0.25, limit)
    cand = simplified(smooth, top)
    while count(cand) > max_vertices:
        fewer = _drop_smallest_ring(smooth)
        if fewer is None:
            return _coarsest(cand[0], max_vertices)
        smooth = fewer
        cand = simplified(smooth, top)
    return _search(smooth, simplify, top, max_vertices)


def _n_vertices(geom: dict | None) -> int:
    if geom is None:
        return 0
    polys = [geom["coordinates"]] if geom["type"] == "Polygon" else geom["coordinates"]
    return sum(len(r) - 1 for p in polys for r in p)


def fit_to_vertices(mask: np.ndarray, simplify: float, max_vertices: int) -> dict | None:
    """mask_to_geometry(mask, simplify, max_vertices) as the rule defines it, the slow way
    (quadratic in the rings: small masks only). If formatting the result added vertices, the
    fitting runs again with the budget lowered by the excess (at most 4 times)."""
    exact = trace(mask)
    if not exact:
        return None
    parts = [Polygon(shell, holes) for shell, holes in exact]
    if simplify == 0 and count(parts) <= max_vertices:
        return exact_geojson(exact)
    limit = max_vertices
    for _ in range(4):
        geom = finish(_fit(parts, simplify, limit), parts)
        excess = _n_vertices(geom) - max_vertices
        if excess <= 0:
            break
        limit = max(4, limit - excess)
    return geom


# --------------------------------------------------------------------------------------------
# YOLO ring


def yolo_ring(geom: dict) -> np.ndarray:
    """The bridged ring, built as the rule says, pair by pair: start with the first ring;
    for each next ring, the first closest pair (vertex i of the ring so far, in its order,
    then vertex j of the new ring) by squared distance dx**2 + dy**2; insert the new ring's
    walk from j round to j again after vertex i, then a copy of vertex i."""
    polys = [geom["coordinates"]] if geom["type"] == "Polygon" else geom["coordinates"]
    rings = []
    for p in polys:
        for r in p:
            r = [tuple(float(v) for v in pt) for pt in r]
            if len(r) >= 2 and r[0] == r[-1]:
                r = r[:-1]
            if len(r) >= 3:
                rings.append(r)
    if not rings:
        return np.zeros((0, 2))
    merged = list(rings[0])
    for ring in rings[1:]:
        best = None
        for i, (ax, ay) in enumerate(merged):
            for j, (bx, by) in enumerate(ring):
                d = (ax - bx) ** 2 + (ay - by) ** 2
                if best is None or d < best[0]:
                    best = (d, i, j)
        _, i, j = best
        merged[i + 1 : i + 1] = ring[j:] + ring[: j + 1] + [merged[i]]
    return np.array(merged, float)
