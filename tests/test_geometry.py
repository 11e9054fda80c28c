"""masks <-> polygons: exact pixel-edge tracing, validity, round trips, simplification."""

from __future__ import annotations


import cv2
import numpy as np
import pytest
import shapely
from pycocotools import mask as mask_utils
from shapely.geometry import MultiPolygon, Polygon

from samcli import geometry
from samcli.config import DEFAULT_SIMPLIFY
from samcli.geometry import (
    geometry_to_mask,
    geometry_to_yolo_ring,
    mask_to_geometry,
    to_shapely,
)


def _mask(h: int, w: int, pixels=(), rects=()) -> np.ndarray:
    m = np.zeros((h, w), bool)
    for r, c in pixels:
        m[r, c] = True
    for r0, r1, c0, c1 in rects:
        m[r0:r1, c0:c1] = True
    return m


def _polygons(geom: dict) -> list:
    return [geom["coordinates"]] if geom["type"] == "Polygon" else geom["coordinates"]


def _n_vertices(geom: dict) -> int:
    return sum(len(r) - 1 for p in _polygons(geom) for r in p)


def _coco_rasterize(geom: dict, h: int, w: int) -> np.ndarray:
    """pycocotools polygon rasterization: union over parts of (exterior minus holes)."""
    out = np.zeros((h, w), bool)

    def ring(r):
        rle = mask_utils.frPyObjects([np.asarray(r, float).ravel().tolist()], h, w)
        return mask_utils.decode(mask_utils.merge(rle)).astype(bool)

    for poly in _polygons(geom):
        part = ring(poly[0])
        for hole in poly[1:]:
            part &= ~ring(hole)
        out |= part
    return out


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def _ring_ok(ring) -> bool:
    """Closed, >= 3 distinct points, no repeated consecutive or collinear vertices."""
    pts = np.asarray(ring, float)
    if len(pts) < 4 or np.any(pts[0] != pts[-1]):
        return False
    p = pts[:-1]
    if np.any(np.all(p == np.roll(p, 1, axis=0), axis=1)):
        return False
    a, b = p - np.roll(p, 1, axis=0), np.roll(p, -1, axis=0) - p
    return bool(np.all(a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0] != 0))


# --------------------------------------------------------------------------------------------
# labelled cases

CASES = {
    "single pixel": _mask(3, 3, pixels=[(0, 0)]),
    "single pixel centre": _mask(3, 3, pixels=[(1, 1)]),
    "10x10 square": _mask(12, 12, rects=[(1, 11, 1, 11)]),
    "square with hole": _mask(10, 10, rects=[(1, 9, 1, 9)]) & ~_mask(10, 10, rects=[(4, 6, 4, 6)]),
    "two parts": _mask(10, 12, rects=[(1, 4, 1, 4), (5, 9, 6, 11)]),
    "corner-touching pixels": _mask(3, 3, pixels=[(0, 0), (1, 1)]),
    "anti-diagonal touching": _mask(3, 3, pixels=[(0, 1), (1, 0)]),
    "checkerboard 4x4": (np.indices((4, 4)).sum(0) % 2 == 0),
    "horizontal stroke": _mask(5, 20, rects=[(2, 3, 1, 19)]),
    "vertical stroke": _mask(20, 5, rects=[(1, 19, 2, 3)]),
    "diagonal staircase 8-conn": np.eye(12, dtype=bool),
    "diagonal staircase 4-conn": np.eye(12, dtype=bool) | np.eye(12, k=1, dtype=bool),
    "annulus": (lambda yy, xx: ((yy - 15) ** 2 + (xx - 15) ** 2 <= 144)
                & ((yy - 15) ** 2 + (xx - 15) ** 2 > 36))(*np.mgrid[:31, :31]),
    "hole touching shell at a corner": _mask(4, 4, rects=[(0, 3, 0, 3)], pixels=[(3, 3)])
    & ~_mask(4, 4, pixels=[(1, 1), (2, 2)]),
    "island in hole": _mask(9, 9, rects=[(0, 9, 0, 9)]) & ~_mask(9, 9, rects=[(2, 7, 2, 7)])
    | _mask(9, 9, pixels=[(4, 4)]),
    "pinched ring (8-connected loop)": _mask(5, 5, pixels=[(0, 1), (1, 0), (1, 2), (2, 1)]),
    "full image": np.ones((6, 7), bool),
}


@pytest.mark.parametrize("name", list(CASES))
def test_exact_round_trip(name):
    m = CASES[name]
    h, w = m.shape
    geom = mask_to_geometry(m)
    assert geom["type"] in ("Polygon", "MultiPolygon")
    shp = to_shapely(geom)
    assert shapely.is_valid(shp), shapely.is_valid_reason(shp)
    assert shp.area == m.sum()
    assert all(_ring_ok(r) for p in _polygons(geom) for r in p)
    assert all(isinstance(v, int) for p in _polygons(geom) for r in p for xy in r for v in xy)
    assert np.array_equal(geometry_to_mask(geom, h, w), m)
    assert np.array_equal(_coco_rasterize(geom, h, w), m)


def test_single_pixel_ring_is_the_spec_ring():
    geom = mask_to_geometry(CASES["single pixel"])
    assert geom == {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}


def test_square_area_100_in_shapely_and_pycocotools():
    geom = mask_to_geometry(CASES["10x10 square"])
    assert geom["coordinates"] == [[[1, 1], [11, 1], [11, 11], [1, 11], [1, 1]]]
    assert to_shapely(geom).area == 100
    assert _coco_rasterize(geom, 12, 12).sum() == 100


def test_hole_is_an_interior_ring_with_opposite_orientation():
    geom = mask_to_geometry(CASES["square with hole"])
    assert geom["type"] == "Polygon" and len(geom["coordinates"]) == 2
    shp = to_shapely(geom)
    assert shp.exterior.is_ccw  # positive shoelace area (RFC 7946 in x-right/y-up terms)
    assert not shp.interiors[0].is_ccw
    assert shp.area == 64 - 4


def test_parts_make_a_multipolygon_largest_first():
    geom = mask_to_geometry(CASES["two parts"])
    assert geom["type"] == "MultiPolygon" and len(geom["coordinates"]) == 2
    areas = [shapely.Polygon(p[0]).area for p in geom["coordinates"]]
    assert areas == sorted(areas, reverse=True) == [20, 9]


def test_corner_touching_pixels_are_two_valid_squares():
    geom = mask_to_geometry(CASES["corner-touching pixels"])
    assert geom["type"] == "MultiPolygon"
    assert sorted(p[0][0] for p in geom["coordinates"]) == [[0, 0], [1, 1]]
    assert shapely.is_valid(to_shapely(geom))


def test_background_leaking_through_a_corner_is_a_hole_touching_the_shell():
    # The ring of pixels around (1, 1) is 4-connected; (1, 1) reaches the outside only through
    # the corner (2, 2), so it is a hole that touches the shell at that point.
    m = _mask(4, 4, rects=[(0, 3, 0, 3)]) & ~_mask(4, 4, pixels=[(1, 1), (2, 2)])
    geom = mask_to_geometry(m)
    assert geom["type"] == "Polygon" and len(geom["coordinates"]) == 2
    assert geom["coordinates"][1] == [[1, 1], [1, 2], [2, 2], [2, 1], [1, 1]]
    assert shapely.is_valid(to_shapely(geom))
    assert np.array_equal(geometry_to_mask(geom, 4, 4), m)


def test_parts_are_4_connected_components():
    m = CASES["pinched ring (8-connected loop)"]
    geom = mask_to_geometry(m)
    assert geom["type"] == "MultiPolygon" and len(geom["coordinates"]) == 4
    n4 = cv2.connectedComponents(CASES["checkerboard 4x4"].astype(np.uint8), connectivity=4)[0]
    assert len(mask_to_geometry(CASES["checkerboard 4x4"])["coordinates"]) == n4 - 1


def test_empty_mask_gives_none():
    assert mask_to_geometry(np.zeros((5, 5), bool)) is None
    assert mask_to_geometry(np.zeros((0, 0), bool)) is None


def test_bad_arguments():
    with pytest.raises(ValueError):
        mask_to_geometry(np.ones((2, 2, 2), bool))
    with pytest.raises(ValueError):
        mask_to_geometry(np.ones((2, 2), bool), simplify=-1)
    with pytest.raises(ValueError):
        mask_to_geometry(np.ones((2, 2), bool), max_vertices=3)


def test_accepts_uint8_masks():
    m = CASES["annulus"]
    assert mask_to_geometry(m.astype(np.uint8)) == mask_to_geometry(m)


# --------------------------------------------------------------------------------------------
# random masks


def _random_masks(seed: int, n: int):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        h, w = (int(v) for v in rng.integers(1, 24, 2))
        yield rng.random((h, w)) < rng.uniform(0.05, 0.95)


def test_random_noise_round_trip_exact_and_valid():
    for m in _random_masks(0, 400):
        geom = mask_to_geometry(m)
        if not m.any():
            assert geom is None
            continue
        shp = to_shapely(geom)
        assert shapely.is_valid(shp)
        assert shp.area == m.sum()
        assert np.array_equal(geometry_to_mask(geom, *m.shape), m)


def _blob_suite(seed: int = 0):
    """Masks of >= 200 px: discs, rotated ellipses, smooth random blobs, strokes, polygons."""
    rng = np.random.default_rng(seed)
    out = []
    k = 0
    while len(out) < 100:
        h, w = int(rng.integers(30, 160)), int(rng.integers(30, 160))
        m = np.zeros((h, w), np.uint8)
        kind = k % 5
        k += 1
        if kind == 0:
            cv2.circle(m, (w // 2, h // 2), int(rng.uniform(8, min(h, w) / 2 - 1)), 1, -1)
        elif kind == 1:
            axes = (int(rng.uniform(5, w / 2 - 1)), int(rng.uniform(3, h / 2 - 1)))
            cv2.ellipse(m, (w // 2, h // 2), axes, rng.uniform(0, 180), 0, 360, 1, -1)
        elif kind == 2:
            noise = cv2.resize(rng.random((h // 4 + 2, w // 4 + 2)), (w, h),
                               interpolation=cv2.INTER_CUBIC)
            m = (noise > np.quantile(noise, rng.uniform(0.3, 0.9))).astype(np.uint8)
        elif kind == 3:
            p1 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            p2 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            cv2.line(m, p1, p2, 1, int(rng.integers(1, 4)))
        else:
            pts = rng.uniform([0, 0], [w, h], (int(rng.integers(3, 9)), 2)).astype(np.int32)
            cv2.fillPoly(m, [pts], 1)
        if m.sum() >= 200:
            out.append(m.astype(bool))
    return out


BLOBS = _blob_suite()


def test_blob_suite_exact_round_trip_both_rasterizers():
    for m in BLOBS[:40]:
        geom = mask_to_geometry(m)
        assert shapely.is_valid(to_shapely(geom))
        assert np.array_equal(geometry_to_mask(geom, *m.shape), m)
        assert _iou(_coco_rasterize(geom, *m.shape), m) >= 0.995


def test_default_simplify_keeps_iou_and_saves_vertices():
    ious, ratios = [], []
    for m in BLOBS:
        exact = mask_to_geometry(m)
        geom = mask_to_geometry(m, DEFAULT_SIMPLIFY)
        assert shapely.is_valid(to_shapely(geom))
        iou = _iou(geometry_to_mask(geom, *m.shape), m)
        assert iou >= 0.97
        assert _iou(_coco_rasterize(geom, *m.shape), m) >= 0.97
        ious.append(iou)
        ratios.append(_n_vertices(geom) / _n_vertices(exact))
    assert min(ious) >= 0.975
    assert np.mean(ratios) < 0.75  # it does simplify


def test_simplify_up_to_035_px_is_lossless():
    for m in BLOBS[:30]:
        geom = mask_to_geometry(m, 0.35)
        assert np.array_equal(geometry_to_mask(geom, *m.shape), m)


def test_simplify_rounds_coordinates_and_stays_valid_for_noise():
    for m in _random_masks(1, 150):
        if not m.any():
            continue
        for tol in (0.4, 1.0, 3.0):
            geom = mask_to_geometry(m, tol)
            assert shapely.is_valid(to_shapely(geom))
            for p in _polygons(geom):
                for r in p:
                    assert _ring_ok(r)
                    assert all(round(v, 2) == v for xy in r for v in xy)


@pytest.mark.parametrize("max_vertices", [4, 5, 8, 20, 60])
def test_max_vertices_respected(max_vertices):
    for m in [*BLOBS[:15], CASES["annulus"], CASES["two parts"], CASES["checkerboard 4x4"]]:
        geom = mask_to_geometry(m, 0.0, max_vertices)
        assert _n_vertices(geom) <= max_vertices
        assert shapely.is_valid(to_shapely(geom))


def test_max_vertices_uses_the_smallest_tolerance_that_fits():
    yy, xx = np.mgrid[:200, :200]
    disc = (yy - 100) ** 2 + (xx - 100) ** 2 < 90**2
    assert mask_to_geometry(disc, 0.0, 10_000) == mask_to_geometry(disc)  # fits: untouched
    geom = mask_to_geometry(disc, 0.0, 40)
    assert 30 <= _n_vertices(geom) <= 40
    assert _iou(geometry_to_mask(geom, 200, 200), disc) > 0.99


# --------------------------------------------------------------------------------------------
# fragmented masks: the batched path against the per-ring reference


def _reference_mask_to_geometry(mask: np.ndarray, simplify: float = 0.0) -> dict | None:
    """What mask_to_geometry computed before it was batched (no max_vertices): the general
    tracer, then ring by ring, and one joint shapely.simplify of all parts. The fast path must
    give exactly the same dict."""
    m = np.asarray(mask, bool)
    rows = np.flatnonzero(m.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(m.any(axis=0))
    sub = np.ascontiguousarray(m[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1])
    exact = geometry._trace_parts(sub, int(cols[0]), int(rows[0]))
    if simplify == 0:
        return geometry._exact_geojson(exact)
    parts = [Polygon(shell, holes) for _, shell, holes in exact]
    smooth = []
    for p in parts:
        ext = geometry._edge_midpoint_ring(p.exterior)
        if len(ext) < 3:
            smooth.append(p)
            continue
        holes = [h for h in (geometry._edge_midpoint_ring(r) for r in p.interiors) if len(h) >= 3]
        smooth.extend(geometry._make_valid_parts(Polygon(ext, holes)) or [p])
    joint = smooth[0] if len(smooth) == 1 else MultiPolygon(smooth)
    out = geometry._make_valid_parts(shapely.simplify(joint, simplify, preserve_topology=True))
    out = out or smooth
    integer = all(geometry._is_integral(r) for p in out for r in [p.exterior, *p.interiors])
    geom = geometry._parts_to_geojson(out, integer)
    if geom is not None and not integer and not shapely.is_valid(to_shapely(geom)):
        fixed = geometry._make_valid_parts(to_shapely(geom))
        geom = geometry._parts_to_geojson(fixed, False) if fixed else None
    return geom if geom is not None else geometry._parts_to_geojson(parts, True)


def _fragmented(kind: str, size: int = 512, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind.startswith("noise"):
        return rng.random((size, size)) < float(kind.split()[1])
    if kind == "checkerboard":  # (with a few defects when seeded)
        return (np.indices((size, size)).sum(0) % 2 == 0) ^ (rng.random((size, size)) < seed / 50)
    if kind == "blobs + noise":
        coarse = cv2.resize(rng.random((size // 16 + 2, size // 16 + 2)), (size, size),
                            interpolation=cv2.INTER_CUBIC)
        return (coarse > 0.5) ^ (rng.random((size, size)) < 0.05)
    if kind == "thick noise":  # 2x2 blocks, opened: many small parts with holes and pinches
        m = np.kron(rng.random((size // 2, size // 2)) < 0.55, np.ones((2, 2), bool))
        return m ^ (rng.random((size, size)) < 0.03)
    raise ValueError(kind)


def _equivalence_masks():
    """Small masks for the (quadratic) reference: the labelled cases, random noise of every
    density, blobs with salt, checkerboards with defects, pinches and holes touching."""
    out = dict(CASES)
    rng = np.random.default_rng(7)
    for i in range(24):
        h, w = (int(v) for v in rng.integers(4, 56, 2))
        out[f"noise {i}"] = rng.random((h, w)) < rng.uniform(0.05, 0.95)
    for kind in ("noise 0.1", "noise 0.5", "checkerboard", "blobs + noise", "thick noise"):
        for seed in range(3):
            out[f"{kind} #{seed}"] = _fragmented(kind, 24 if kind == "checkerboard" else 40, seed)
    for m in BLOBS[::10]:
        out[f"blob {len(out)}"] = m & ~(rng.random(m.shape) < 0.05)
    return out


EQUIVALENCE = _equivalence_masks()


def test_batched_tracer_equals_the_general_tracer():
    for name, m in EQUIVALENCE.items():
        rows, cols = np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))
        sub = np.ascontiguousarray(m[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1])
        fast = geometry._trace_flat(sub, int(cols[0]), int(rows[0]))
        ref = geometry._Flat.from_parts(geometry._trace_parts(sub, int(cols[0]), int(rows[0])))
        assert np.array_equal(fast.pts, ref.pts), name
        assert np.array_equal(fast.off, ref.off), name
        assert np.array_equal(fast.part_off, ref.part_off), name


@pytest.mark.parametrize("simplify", [0.0, DEFAULT_SIMPLIFY, 1.0, 3.0])
def test_fast_path_equals_the_per_ring_reference(simplify):
    for name, m in EQUIVALENCE.items():
        assert mask_to_geometry(m, simplify) == _reference_mask_to_geometry(m, simplify), name


def test_batched_simplify_equals_one_joint_simplify():
    """Each part alone, then the interacting groups together, is exactly GEOS' simplification
    of the whole MultiPolygon (which costs seconds on these masks at full size)."""
    for kind in ("noise 0.5", "blobs + noise", "thick noise"):
        m = _fragmented(kind, 96, seed=3)
        flat = geometry._trace_flat(m, 0, 0)
        arr = geometry._geom_array(geometry._smoothed_flat(flat))
        for tol in (DEFAULT_SIMPLIFY, 0.8, 2.0):
            simp, valid = geometry._simplify_batched(arr, tol)
            joint = shapely.simplify(MultiPolygon(list(arr)), tol, preserve_topology=True)
            parts = shapely.get_parts(joint)
            assert len(parts) == len(simp)
            assert np.all(shapely.equals_exact(parts, simp, tolerance=0.0)), (kind, tol)
            assert valid == shapely.is_valid(joint)


def _speckled(size: int, holes: float, seed: int) -> np.ndarray:
    """A near-full mask with one-pixel (and clustered) holes: one part with many rings."""
    rng = np.random.default_rng(seed)
    m = ~(rng.random((size, size)) < holes)
    m[:, : size // 10] = False  # a straight edge, and a notch the shell must go round
    m[size // 3 : size // 2, size // 2 :] = False
    return m


def _blob_with_pinholes(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    size = int(rng.integers(12, 40))
    coarse = cv2.resize(rng.random((4, 4)), (size, size), interpolation=cv2.INTER_CUBIC)
    return (coarse > 0.5) & ~(rng.random((size, size)) < rng.uniform(0.02, 0.15))


@pytest.mark.parametrize(
    "label, mask",
    [
        # (found by search: an unchanged ring that refuses a moving ring's shortcut)
        ("pinholes that block shell shortcuts #1", _blob_with_pinholes(932)),
        ("pinholes that block shell shortcuts #2", _blob_with_pinholes(787)),
        ("one part, 5% one-pixel holes", _speckled(100, 0.05, 1)),
        ("one part, 20% holes (clusters)", _speckled(90, 0.2, 2)),
        ("blobs with salt: parts with holes", _fragmented("blobs + noise", 120, 4)),
        ("thick noise: small parts, pinches", _fragmented("thick noise", 96, 5)),
        ("salt noise: thousands of parts", _fragmented("noise 0.5", 80, 6)),
    ],
)
def test_ring_by_ring_simplify_equals_one_joint_simplify(label, mask):
    """Every ring alone, then the interacting groups with the rings they touch, is exactly
    GEOS' simplification of the whole geometry (which is quadratic in the number of rings)."""
    arr = geometry._geom_array(geometry._smoothed_flat(geometry._trace_flat(mask, 0, 0)))
    for tol in (DEFAULT_SIMPLIFY, 1.0, 2.5):
        simp, changed, groups = geometry._simplify_rings(arr, tol)
        whole = arr[0] if len(arr) == 1 else MultiPolygon(list(arr))
        parts = shapely.get_parts(shapely.simplify(whole, tol, preserve_topology=True))
        assert len(parts) == len(simp), (label, tol)
        assert np.all(shapely.equals_exact(parts, simp, tolerance=0.0)), (label, tol)
        moved = np.flatnonzero(~shapely.equals_exact(arr, simp, tolerance=0.0))
        assert set(moved) <= set(changed), (label, tol)
        assert all(len(g) >= 2 for g in groups)


def test_many_holes_go_ring_by_ring_and_match_the_reference(monkeypatch):
    calls = []
    real = geometry._simplify_rings
    monkeypatch.setattr(geometry, "_simplify_rings", lambda *a: calls.append(1) or real(*a))
    m = _speckled(100, 0.05, 3)
    assert mask_to_geometry(m, 1.0) == _reference_mask_to_geometry(m, 1.0)
    assert calls  # one part with hundreds of holes: not one GEOS call
    calls.clear()
    few = np.zeros((60, 60), bool)
    few[5:55, 5:55] = True
    few[20, 20] = few[30, 40] = False
    assert mask_to_geometry(few, 1.0) == _reference_mask_to_geometry(few, 1.0)
    assert not calls  # two holes: one GEOS call is quicker


def test_batched_ring_helpers_equal_the_single_ring_ones():
    m = _fragmented("thick noise", 64, seed=1)
    exact = geometry._trace_parts(m, 0, 0)
    rings = [r for _, shell, holes in exact for r in [shell, *holes]]
    polys = [Polygon(r) for r in rings]
    pts = np.concatenate(rings).astype(np.float64)
    off = geometry._offsets(np.array([len(r) for r in rings]))
    mid, moff = geometry._edge_midpoint_rings(pts, off)
    for i, poly in enumerate(polys):
        expected = geometry._edge_midpoint_ring(poly.exterior)
        assert np.array_equal(mid[moff[i] : moff[i + 1]], expected)
    # Cleaning: rings with repeated and collinear points, degenerate ones included.
    rng = np.random.default_rng(2)
    raw = [rng.integers(0, 3, (int(k), 2)).astype(float) for k in rng.integers(0, 9, 300)]
    flat = np.concatenate(raw) if raw else np.zeros((0, 2))
    cleaned, coff = geometry._clean_rings(flat, geometry._offsets(np.array([len(r) for r in raw])))
    for i, r in enumerate(raw):
        assert np.array_equal(cleaned[coff[i] : coff[i + 1]], geometry._clean_ring(r))


def test_cycles_of_a_permutation():
    rng = np.random.default_rng(5)
    for n in (1, 2, 7, 100, 1000):
        succ = rng.permutation(n)
        head, rank = geometry._cycles(succ)
        for i in range(n):
            walk, j = [i], succ[i]
            while j != i:
                walk.append(j)
                j = succ[j]
            assert head[i] == min(walk)
            assert walk[(len(walk) - rank[i]) % len(walk)] == head[i]


FRAGMENTED = ["noise 0.1", "noise 0.5", "checkerboard", "blobs + noise", "thick noise"]
FRAGMENTED_SIZE = {"checkerboard": 256}  # 32k parts; 512 (131k parts) only slows the checks


@pytest.mark.parametrize("kind", FRAGMENTED)
def test_fragmented_512_round_trip_exact_and_valid(kind):
    m = _fragmented(kind, FRAGMENTED_SIZE.get(kind, 512))
    geom = mask_to_geometry(m)
    shp = to_shapely(geom)
    assert shapely.is_valid(shp)
    assert shp.area == m.sum()
    assert np.array_equal(geometry_to_mask(geom, *m.shape), m)
    n4 = cv2.connectedComponents(m.astype(np.uint8), connectivity=4)[0] - 1
    assert len(_polygons(geom)) == n4
    assert all(isinstance(v, int) for p in _polygons(geom)[:50] for r in p for xy in r for v in xy)


@pytest.mark.parametrize("kind", FRAGMENTED)
def test_fragmented_512_default_simplify_valid_and_close(kind):
    m = _fragmented(kind, FRAGMENTED_SIZE.get(kind, 512))
    geom = mask_to_geometry(m, DEFAULT_SIMPLIFY)
    assert shapely.is_valid(to_shapely(geom))
    assert _iou(geometry_to_mask(geom, *m.shape), m) >= 0.99
    rings = [r for p in _polygons(geom) for r in p]
    assert all(_ring_ok(r) for r in rings[:: max(1, len(rings) // 3000)])


# --------------------------------------------------------------------------------------------
# rasterization, YOLO ring


def test_geometry_to_mask_accepts_shapely_and_clips_to_image():
    poly = shapely.box(-2, -2, 3, 2)
    m = geometry_to_mask(poly, 4, 4)
    assert m.sum() == 3 * 2 and m[:2, :3].all()
    geom = {"type": "Polygon", "coordinates": [[[2.5, 0], [2.5, 3], [0, 3]]]}  # open ring
    m = geometry_to_mask(geom, 4, 4)
    assert m[2, 1] and not m[0, 0]
    with pytest.raises(ValueError):
        geometry_to_mask({"type": "Point", "coordinates": [0, 0]}, 3, 3)


def test_yolo_ring_single_polygon_is_its_exterior():
    ring = geometry_to_yolo_ring(mask_to_geometry(CASES["10x10 square"]))
    assert ring.tolist() == [[1, 1], [11, 1], [11, 11], [1, 11]]


@pytest.mark.parametrize("name", ["square with hole", "two parts", "annulus", "island in hole"])
def test_yolo_ring_bridges_parts_and_holes(name):
    m = CASES[name]
    geom = mask_to_geometry(m)
    ring = geometry_to_yolo_ring(geom)
    n_rings = sum(len(p) for p in _polygons(geom))
    assert ring.ndim == 2 and ring.shape[1] == 2 and len(ring) >= 3
    assert len(ring) == _n_vertices(geom) + 2 * (n_rings - 1)  # each bridge adds 2 points
    # The bridges have zero width: filling the one ring (even-odd, pixel centres) gives back
    # exactly the mask, holes included.
    closed = np.concatenate([ring, ring[:1]]).tolist()
    filled = geometry_to_mask({"type": "Polygon", "coordinates": [closed]}, *m.shape)
    assert np.array_equal(filled, m)


def test_yolo_ring_empty():
    assert geometry_to_yolo_ring({"type": "MultiPolygon", "coordinates": []}).shape == (0, 2)
