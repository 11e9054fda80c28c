"""Parts -> GeoJSON geometry dicts: ring order, orientation and start, number formatting.

Exterior rings have positive signed (shoelace) area, holes negative; every ring starts at its
top-most, then left-most vertex and is closed; holes are sorted by their start, parts by area,
largest first. Exact coordinates are ints; simplified ones are rounded to 2 decimals (ints
where integral), and a geometry that rounding made invalid is repaired once more.
"""

from __future__ import annotations

import gc

import numpy as np
import shapely
import shapely.geometry
from shapely.geometry import Polygon

from samcli.geometry.rings import (
    Flat,
    clean_rings,
    first_per_ring,
    geom_array,
    make_valid_parts,
    normalize_ring,
    offsets,
    open_rings,
    ring_ids,
    ring_neighbours,
    rotate_rings,
)


class _NoGC:
    """Cyclic garbage collection off while building large nested lists (it would otherwise
    rescan the growing heap again and again; the objects made here have no cycles)."""

    def __enter__(self) -> None:
        self.was_enabled = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc) -> None:
        if self.was_enabled:
            gc.enable()


def _num(v: float) -> float | int:
    """A coordinate for JSON: an int when integral, else rounded to 2 decimals."""
    r = round(float(v), 2)
    return int(r) if r == int(r) else r


def _is_integral(ring) -> bool:
    c = np.asarray(ring.coords)
    return bool(np.all(c == np.rint(c)))


def _nested_coords(flat_pairs: list, off: np.ndarray, part_off: np.ndarray) -> dict | None:
    """Flat list of [x, y] (open rings, ring ``i`` at ``off[i]:off[i + 1]``) -> GeoJSON dict,
    each ring closed by repeating its first point; parts at ``part_off`` (shell, holes)."""
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


def exact_geojson(flat: Flat) -> dict | None:
    """The GeoJSON dict of exact parts (int coordinates, as traced); None if there are none."""
    with _NoGC():
        return _nested_coords(flat.pts.tolist(), flat.off, flat.part_off)


def parts_to_geojson(parts: list[Polygon], integer: bool) -> dict | None:
    """Polygons -> GeoJSON dict, one part at a time (the general path, for what
    :func:`finish` cannot do in flat arrays): coordinates rounded (to ints with ``integer``,
    else to 2 decimals) before cleaning, rings normalized (orientation, top-left start), rings
    and parts that collapse dropped, holes by start, parts by area (largest first, then by
    start). None if no part survives."""
    def ring_of(r, positive: bool) -> np.ndarray:
        c = np.asarray(r.coords)[:-1]
        # Round first, so that cleaning also removes points that rounding made equal.
        return normalize_ring(np.rint(c) if integer else np.round(c, 2), positive)

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


def finish(out: list[Polygon], exact: Flat | list[Polygon], known_valid: bool = False):
    """Parts -> GeoJSON dict (ints if all integral, else 2 decimals), valid after rounding.

    ``known_valid``: the parts are known to form a valid MultiPolygon, so if rounding moves no
    coordinate the result is valid too and need not be checked again.
    """
    geom, integer, moved = _parts_to_geojson_flat(out)
    if geom is not None and not integer and (moved or not known_valid):
        shp = shapely.geometry.shape(geom)
        if not shapely.is_valid(shp):
            # Rounding to 2 decimals broke validity (rare): repair once more.
            fixed = make_valid_parts(shp)
            geom = parts_to_geojson(fixed, False) if fixed else None
    if geom is None:
        if isinstance(exact, Flat):
            exact = list(exact.polygons())
        geom = parts_to_geojson(exact, True)
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
    """:func:`parts_to_geojson` of all parts at once, with ``integer`` decided as
    :func:`finish` does (all coordinates integral); also whether rounding moved any
    coordinate."""
    if not len(parts):
        return None, True, False
    arr = geom_array(parts)
    if not np.all(shapely.get_type_id(arr) == shapely.GeometryType.POLYGON):
        integer = all(all(_is_integral(r) for r in [p.exterior, *p.interiors]) for p in parts)
        return parts_to_geojson(parts, integer), integer, True
    pts, off, part_off = open_rings(arr)
    integer = bool(np.all(pts == np.rint(pts)))
    rounded = np.rint(pts) if integer else np.round(pts, 2)
    moved = not np.array_equal(rounded, pts)
    pts, off = clean_rings(rounded, off)
    cnt = np.diff(off)
    n_rings = len(cnt)
    ring_part = ring_ids(part_off)
    is_shell = np.zeros(n_rings, bool)
    is_shell[part_off[:-1]] = True
    ok = cnt >= 3
    # Orientation: the sign of the shoelace area, exact on the grid of the rounded values.
    rid = ring_ids(off)
    _, nxt = ring_neighbours(off)
    grid = np.rint(pts if integer else pts * 100).astype(np.int64)
    cross = grid[:, 0] * grid[nxt, 1] - grid[nxt, 0] * grid[:, 1]
    nonempty = cnt > 0
    area_sign = np.zeros(n_rings, np.int64)
    area_sign[nonempty] = np.sign(np.add.reduceat(cross, off[:-1][nonempty]))
    reverse = (area_sign > 0) != is_shell
    # Start: the top-most, then left-most vertex (its first occurrence) after reversing.
    order_rev = rotate_rings(off, np.zeros(n_rings, np.int64), reverse)
    pts = pts[order_rev]
    y_min = np.full(n_rings, np.inf)
    y_min[nonempty] = np.minimum.reduceat(pts[:, 1], off[:-1][nonempty])
    at_top = pts[:, 1] == y_min[rid]
    x_min = np.full(n_rings, np.inf)
    xs = np.where(at_top, pts[:, 0], np.inf)
    x_min[nonempty] = np.minimum.reduceat(xs, off[:-1][nonempty])
    start = first_per_ring(at_top & (pts[:, 0] == x_min[rid]), off)
    pts = pts[rotate_rings(off, np.maximum(start, 0))]
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
    new_off = offsets(sel_cnt)
    gather = np.repeat(off[:-1][ro] - new_off[:-1], sel_cnt) + np.arange(int(new_off[-1]))
    final = pts[gather]
    new_part_off = offsets(np.bincount(part_rank[ring_part[ro]], minlength=len(parts_kept)))
    with _NoGC():
        if integer:
            flat_pairs = final.astype(np.int64).tolist()
        else:
            flat_pairs, exact_values = _json_numbers(final)
            moved = moved or not exact_values
        geom = _nested_coords(flat_pairs, new_off, new_part_off)
    return geom, integer, moved


def n_geojson_vertices(geom: dict | None) -> int:
    if geom is None:
        return 0
    polys = [geom["coordinates"]] if geom["type"] == "Polygon" else geom["coordinates"]
    return sum(len(r) - 1 for p in polys for r in p)
