"""Tolerance simplification of exact parts, ring by ring where GEOS would be quadratic.

Simplification (``simplify > 0``) first replaces each exact ring by the ring through the
midpoints of its unit pixel edges (:func:`edge_midpoint_rings`; corners between two edges of
2 px or more are kept, so rectangles stay rectangles), which rasterizes to the same mask but
turns pixel staircases into straight runs, then applies topology-preserving Douglas-Peucker
(``shapely.simplify``) to all parts together with the tolerance, and repairs with
``shapely.make_valid`` if needed (keeping only polygonal pieces). Simplified coordinates are
therefore multiples of 0.5 in general (rounded to 2 decimals in the output).

The joint simplification cannot simply be vectorized: GEOS tests every candidate shortcut
against every other ring (quadratic: about 15-30 s for 512x512 salt noise). Instead each ring
is simplified alone, and only the few groups of rings whose simplifications can interact are
simplified again together (:func:`simplify_rings`); the result is identical to the joint
simplification. A 512x512 mask of salt noise (17k parts, 22k rings) takes about 1 s at the
default tolerance (15-30 s as one GEOS call), a smooth 1000x1000 disc about 10 ms; a
2000x2000 mask with 180,000 one-pixel holes 6-8 s (GEOS alone: > 11 minutes).
"""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon

from samcli.geometry.rings import (
    Flat,
    clean_rings,
    first_per_ring,
    geom_array,
    make_valid_parts,
    offsets,
    open_rings,
    polygonal_parts,
    polygons_from_rings,
    ragged_closed,
    ring_ids,
    ring_neighbours,
    rotate_rings,
    select_rings,
)


# --------------------------------------------------------------------------------------------
# pixel staircases -> straight runs


def edge_midpoint_rings(pts: np.ndarray, off: np.ndarray):
    """Every exact pixel-edge ring (float64 open rings) -> the ring through the midpoints of
    its unit pixel edges, cleaned (:func:`~samcli.geometry.rings.clean_rings`).

    Corners between two edges at least 2 px long are kept (so rectangles stay rectangles);
    corners of 1-px steps are replaced by the midpoints around them, which turns pixel
    staircases into nearly straight lines. Every pixel centre stays on its side (the chamfer
    at a cut corner passes 0.35 px from the nearest centre), so the ring rasterizes exactly like
    the original one. Douglas-Peucker always keeps a ring's first point, so each ring then
    starts at an extreme vertex (the first one farthest from the ring's mean), which it would
    keep anyway. Rings that are not exact unit-grid rings (or have < 3 vertices) are only
    cleaned.
    """
    n_rings = len(off) - 1
    rid = ring_ids(off)
    prev, nxt = ring_neighbours(off)
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
    j = np.arange(len(e)) - np.repeat(offsets(n_out)[:-1], n_out)
    with np.errstate(divide="ignore", invalid="ignore"):
        dvec = (b - a) / length[:, None]
    k = np.where(j - keep[e] == 0, 0, unit[e] - 1)  # which midpoint: first or last
    out = a[e] + dvec[e] * (k[:, None] + 0.5)
    fixed = raw_e[e] | (keep[e] & (j == 0))
    out[fixed] = a[e[fixed]]
    out, moff = clean_rings(out, offsets(np.bincount(rid[e], minlength=n_rings)))
    # Start each ring at its vertex farthest from the ring's mean (the first such vertex).
    cnt = np.diff(moff)
    roll = ~raw & (cnt >= 3)
    if roll.any():
        rid = ring_ids(moff)
        safe = np.maximum(cnt, 1)
        mx = np.bincount(rid, weights=out[:, 0], minlength=n_rings) / safe
        my = np.bincount(rid, weights=out[:, 1], minlength=n_rings) / safe
        dist2 = (out[:, 0] - mx[rid]) ** 2 + (out[:, 1] - my[rid]) ** 2
        nonempty = cnt > 0
        best = np.full(n_rings, np.inf)
        best[nonempty] = np.maximum.reduceat(dist2, moff[:-1][nonempty])
        far = first_per_ring(dist2 == best[rid], moff)
        out = out[rotate_rings(moff, np.where(roll, far, 0))]
    return out, moff


def smoothed_flat(flat: Flat) -> list[Polygon]:
    """The exact parts with every ring replaced by its edge-midpoint ring
    (:func:`edge_midpoint_rings`): valid, same raster. A part whose shell collapses keeps its
    exact polygon; holes that collapse are dropped; a part the new rings make invalid is
    repaired (``make_valid``), or else keeps its exact polygon."""
    mid, moff = edge_midpoint_rings(flat.pts.astype(np.float64), flat.off)
    mcnt = np.diff(moff)
    ring_part = ring_ids(flat.part_off)
    shell_ok = mcnt[flat.part_off[:-1]] >= 3
    use = (mcnt >= 3) & shell_ok[ring_part]
    sel_pts, sel_off = select_rings(mid, moff, use)
    polys = polygons_from_rings(sel_pts, sel_off, offsets(np.bincount(ring_part[use],
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
            out.extend(make_valid_parts(poly) or [exact[i]])
        k += 1
    return out


def smoothed(parts: list[Polygon]) -> list[Polygon]:
    """:func:`smoothed_flat` of exact parts given as shapely Polygons."""
    if not len(parts):
        return []
    pts, off, part_off = open_rings(geom_array(parts))
    flat = Flat(pts, off, part_off)
    flat._polys = geom_array(parts)
    return smoothed_flat(flat)


# --------------------------------------------------------------------------------------------
# where a ring's simplification can reach


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
    exact_ring = np.bincount(ring_ids(off)[~half], minlength=n_rings) == 0
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
        moff = offsets(n_mid)
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
    coords, closed_off, part_off = ragged_closed(arr)
    ring_part = ring_ids(part_off)
    si, sj, split, first_cut, last_cut, lo = _reach_pieces(coords, closed_off, tolerance)
    n_sec = sj - si + 1
    sec = np.repeat(np.arange(len(si)), n_sec)
    idx = si[sec] + (np.arange(int(n_sec.sum())) - offsets(n_sec)[:-1][sec])
    owner = [ring_part[np.searchsorted(closed_off, si, side="right") - 1]]
    # Pieces round each split ring's closing vertex: last section + first section.
    rings = np.flatnonzero(split)
    hi = closed_off[1:] - 1
    n_a = hi[rings] - last_cut[rings] + 1
    n_b = first_cut[rings] - lo[rings] + 1
    n_e = n_a + n_b
    eoff = offsets(n_e)
    esec = np.repeat(np.arange(len(rings)), n_e)
    local = np.arange(int(eoff[-1])) - eoff[:-1][esec]
    eidx = np.where(local < n_a[esec], last_cut[rings][esec] + local,
                    lo[rings][esec] + local - n_a[esec])
    owner.append(ring_part[rings])
    all_idx = np.concatenate([idx, eidx])
    all_grp = np.concatenate([sec, esec + len(si)])
    return _hulls(coords, all_idx, all_grp, len(si) + len(rings)), np.concatenate(owner)


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
    coords, closed_off, part_off = ragged_closed(arr)
    ring_part = ring_ids(part_off)
    n_seg = np.diff(closed_off) - 1
    n_chunks = -(-n_seg // size)
    chunk_ring = np.repeat(np.arange(len(n_seg)), n_chunks)
    first = offsets(n_chunks)[:-1]
    k = np.arange(int(n_chunks.sum())) - first[chunk_ring]
    lo = closed_off[:-1][chunk_ring] + k * size
    hi = np.minimum(lo + size, closed_off[1:][chunk_ring] - 1)
    n_pts = hi - lo + 1
    cid = np.repeat(np.arange(len(lo)), n_pts)
    idx = lo[cid] + (np.arange(int(n_pts.sum())) - offsets(n_pts)[:-1][cid])
    return shapely.linestrings(coords[idx], indices=cid), ring_part[chunk_ring]


# --------------------------------------------------------------------------------------------
# simplification ring by ring


def simplify_rings(arr: np.ndarray, tolerance: float):
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
    coords, closed_off, part_off = ragged_closed(arr)
    n_rings = len(closed_off) - 1
    ring_polys = shapely.polygons(shapely.linearrings(coords, indices=ring_ids(closed_off)))
    alone = shapely.simplify(ring_polys, tolerance, preserve_topology=True)
    if not np.all(shapely.get_type_id(alone) == shapely.GeometryType.POLYGON):
        return None
    moving = np.flatnonzero(~shapely.equals_exact(ring_polys, alone, tolerance=0.0))
    ring_part = ring_ids(part_off)
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
        for members in np.split(ring, cuts):
            if len(members) == 1:
                continue
            joint = shapely.get_parts(shapely.simplify(
                shapely.multipolygons(ring_polys[members]), tolerance, preserve_topology=True))
            if len(joint) != len(members) or not np.all(
                shapely.get_type_id(joint) == shapely.GeometryType.POLYGON
            ) or np.any(shapely.get_num_interior_rings(joint) != 0):
                return None
            alone[members] = joint
            parts = np.unique(ring_part[members])
            if len(parts) > 1:
                part_groups.append(parts)
    # Rebuild the parts: shell then holes, as they came
    out = shapely.polygons(shapely.get_exterior_ring(alone), indices=ring_part)
    return out, np.unique(ring_part[moving]), part_groups


# Holes from which one polygon is simplified ring by ring (below, one GEOS call is quicker:
# a smooth 1000x1000 disc takes 10 ms that way and 14 ms ring by ring).
_RINGS_ALONE_FROM = 32


def simplify_batched(arr: np.ndarray, tolerance: float, inputs_valid: bool = False):
    """``shapely.simplify(MultiPolygon(arr), tolerance, preserve_topology=True)`` part by part
    (None if the result did not come out as one Polygon per part), and whether that
    MultiPolygon is valid; computed ring by ring (:func:`simplify_rings`).

    The MultiPolygon is valid iff each part is, and the parts of all groups together (parts
    in different groups cannot meet; one check for all groups, since a group often holds the
    one large part with the most rings). With ``inputs_valid``, only the parts that changed
    need a check.
    """
    res = simplify_rings(arr, tolerance)
    if res is None:
        return None
    simp, changed, groups = res
    grouped = np.unique(np.concatenate(groups)) if groups else np.zeros(0, np.int64)
    check = np.union1d(changed, grouped) if inputs_valid else slice(None)
    valid = bool(np.all(shapely.is_valid(simp[check]))) and (
        len(grouped) == 0 or bool(shapely.is_valid(shapely.multipolygons(simp[grouped])))
    )
    return simp, valid


def simplify_parts(
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
        res = simplify_batched(geom_array(smooth), tolerance, inputs_valid)
        if res is not None:
            simp, valid = res
            simp = simp[~shapely.is_empty(simp)]  # GEOS leaves empty parts out of a Multi*
            if valid:
                out = list(simp[shapely.area(simp) > 0])
                if info is not None:
                    info["valid"] = bool(out)
            else:
                out = polygonal_parts(shapely.make_valid(MultiPolygon(list(simp))))
            return out or list(smooth)
    # One part: ring by ring once it has holes enough for GEOS' quadratic cost to show
    many_holes = len(smooth) == 1 and len(smooth[0].interiors) >= _RINGS_ALONE_FROM
    res = simplify_rings(geom_array(smooth), tolerance) if many_holes else None
    if res is not None:
        return make_valid_parts(res[0][0]) or list(smooth)
    geom = smooth[0] if len(smooth) == 1 else MultiPolygon(list(smooth))
    return make_valid_parts(shapely.simplify(geom, tolerance, preserve_topology=True)) or list(
        smooth
    )
