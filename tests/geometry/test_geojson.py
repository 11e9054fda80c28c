"""GeoJSON dicts: ring orientation and order, part order, number formatting."""

from __future__ import annotations

import shapely
from shapely.geometry import shape

from samcli.geometry import mask_to_geometry
from tests.geometry.masks import CASES, polygons, random_masks, ring_ok


def test_hole_is_an_interior_ring_with_opposite_orientation():
    geom = mask_to_geometry(CASES["square with hole"])
    assert geom["type"] == "Polygon" and len(geom["coordinates"]) == 2
    shp = shape(geom)
    assert shp.exterior.is_ccw  # positive shoelace area (RFC 7946 in x-right/y-up terms)
    assert not shp.interiors[0].is_ccw
    assert shp.area == 64 - 4


def test_parts_make_a_multipolygon_largest_first():
    geom = mask_to_geometry(CASES["two parts"])
    assert geom["type"] == "MultiPolygon" and len(geom["coordinates"]) == 2
    areas = [shapely.Polygon(p[0]).area for p in geom["coordinates"]]
    assert areas == sorted(areas, reverse=True) == [20, 9]


def test_simplify_rounds_coordinates_and_stays_valid_for_noise():
    for m in random_masks(1, 150):
        if not m.any():
            continue
        for tol in (0.4, 1.0, 3.0):
            geom = mask_to_geometry(m, tol)
            assert shapely.is_valid(shape(geom))
            for p in polygons(geom):
                for r in p:
                    assert ring_ok(r)
                    assert all(round(v, 2) == v for xy in r for v in xy)
