"""Exact pixel-edge polygons: corners, holes, 4-connected parts, validity, round trips."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import shapely
from shapely.geometry import shape

from samcli.geometry import geometry_to_mask, mask_to_geometry
from samcli.geometry.tracing import _cycles, trace_flat
from tests.geometry import reference
from tests.geometry.masks import (
    BLOBS,
    CASES,
    EQUIVALENCE,
    FRAGMENTED,
    FRAGMENTED_SIZE,
    coco_rasterize,
    fragmented,
    iou,
    make_mask,
    polygons,
    random_masks,
    ring_ok,
)


@pytest.mark.parametrize("name", list(CASES))
def test_exact_round_trip(name):
    m = CASES[name]
    h, w = m.shape
    geom = mask_to_geometry(m)
    assert geom["type"] in ("Polygon", "MultiPolygon")
    shp = shape(geom)
    assert shapely.is_valid(shp), shapely.is_valid_reason(shp)
    assert shp.area == m.sum()
    assert all(ring_ok(r) for p in polygons(geom) for r in p)
    assert all(isinstance(v, int) for p in polygons(geom) for r in p for xy in r for v in xy)
    assert np.array_equal(geometry_to_mask(geom, h, w), m)
    assert np.array_equal(coco_rasterize(geom, h, w), m)


def test_single_pixel_ring_is_the_spec_ring():
    geom = mask_to_geometry(CASES["single pixel"])
    assert geom == {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}


def test_square_area_100_in_shapely_and_pycocotools():
    geom = mask_to_geometry(CASES["10x10 square"])
    assert geom["coordinates"] == [[[1, 1], [11, 1], [11, 11], [1, 11], [1, 1]]]
    assert shape(geom).area == 100
    assert coco_rasterize(geom, 12, 12).sum() == 100


def test_corner_touching_pixels_are_two_valid_squares():
    geom = mask_to_geometry(CASES["corner-touching pixels"])
    assert geom["type"] == "MultiPolygon"
    assert sorted(p[0][0] for p in geom["coordinates"]) == [[0, 0], [1, 1]]
    assert shapely.is_valid(shape(geom))


def test_background_leaking_through_a_corner_is_a_hole_touching_the_shell():
    # The ring of pixels around (1, 1) is 4-connected; (1, 1) reaches the outside only through
    # the corner (2, 2), so it is a hole that touches the shell at that point.
    m = make_mask(4, 4, rects=[(0, 3, 0, 3)]) & ~make_mask(4, 4, pixels=[(1, 1), (2, 2)])
    geom = mask_to_geometry(m)
    assert geom["type"] == "Polygon" and len(geom["coordinates"]) == 2
    assert geom["coordinates"][1] == [[1, 1], [1, 2], [2, 2], [2, 1], [1, 1]]
    assert shapely.is_valid(shape(geom))
    assert np.array_equal(geometry_to_mask(geom, 4, 4), m)


def test_parts_are_4_connected_components():
    m = CASES["pinched ring (8-connected loop)"]
    geom = mask_to_geometry(m)
    assert geom["type"] == "MultiPolygon" and len(geom["coordinates"]) == 4
    n4 = cv2.connectedComponents(CASES["checkerboard 4x4"].astype(np.uint8), connectivity=4)[0]
    assert len(mask_to_geometry(CASES["checkerboard 4x4"])["coordinates"]) == n4 - 1


def test_random_noise_round_trip_exact_and_valid():
    for m in random_masks(0, 400):
        geom = mask_to_geometry(m)
        if not m.any():
            assert geom is None
            continue
        shp = shape(geom)
        assert shapely.is_valid(shp)
        assert shp.area == m.sum()
        assert np.array_equal(geometry_to_mask(geom, *m.shape), m)


def test_blob_suite_exact_round_trip_both_rasterizers():
    for m in BLOBS[:40]:
        geom = mask_to_geometry(m)
        assert shapely.is_valid(shape(geom))
        assert np.array_equal(geometry_to_mask(geom, *m.shape), m)
        assert iou(coco_rasterize(geom, *m.shape), m) >= 0.995


def test_batched_tracer_equals_the_independent_tracer():
    """trace_flat (all rings at once, on the mask's box placed at its offset) gives the
    parts of the plain tracer (component by component, walking edges pixel by pixel)."""
    for name, m in EQUIVALENCE.items():
        rows, cols = np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))
        sub = np.ascontiguousarray(m[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1])
        fast = trace_flat(sub, int(cols[0]), int(rows[0]))
        parts = reference.trace(m)
        rings = [r for shell, holes in parts for r in [shell, *holes]]
        assert fast.pts.tolist() == [list(p) for r in rings for p in r], name
        assert np.diff(fast.off).tolist() == [len(r) for r in rings], name
        assert np.diff(fast.part_off).tolist() == [1 + len(h) for _, h in parts], name


def test_cycles_of_a_permutation():
    rng = np.random.default_rng(5)
    for n in (1, 2, 7, 100, 1000):
        succ = rng.permutation(n)
        head, rank = _cycles(succ)
        for i in range(n):
            walk, j = [i], succ[i]
            while j != i:
                walk.append(j)
                j = succ[j]
            assert head[i] == min(walk)
            assert walk[(len(walk) - rank[i]) % len(walk)] == head[i]


@pytest.mark.parametrize("kind", FRAGMENTED)
def test_fragmented_512_round_trip_exact_and_valid(kind):
    m = fragmented(kind, FRAGMENTED_SIZE.get(kind, 512))
    geom = mask_to_geometry(m)
    shp = shape(geom)
    assert shapely.is_valid(shp)
    assert shp.area == m.sum()
    assert np.array_equal(geometry_to_mask(geom, *m.shape), m)
    n4 = cv2.connectedComponents(m.astype(np.uint8), connectivity=4)[0] - 1
    assert len(polygons(geom)) == n4
    assert all(isinstance(v, int) for p in polygons(geom)[:50] for r in p for xy in r for v in xy)
