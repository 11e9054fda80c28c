"""The YOLO ring bridge: parts and holes joined into one ring."""

from __future__ import annotations

import numpy as np
import pytest

from samcli.geometry import geometry_to_mask, geometry_to_yolo_ring, mask_to_geometry
from tests.geometry.masks import CASES, n_vertices, polygons


def test_yolo_ring_single_polygon_is_its_exterior():
    ring = geometry_to_yolo_ring(mask_to_geometry(CASES["10x10 square"]))
    assert ring.tolist() == [[1, 1], [11, 1], [11, 11], [1, 11]]


@pytest.mark.parametrize("name", ["square with hole", "two parts", "annulus", "island in hole"])
def test_yolo_ring_bridges_parts_and_holes(name):
    m = CASES[name]
    geom = mask_to_geometry(m)
    ring = geometry_to_yolo_ring(geom)
    n_rings = sum(len(p) for p in polygons(geom))
    assert ring.ndim == 2 and ring.shape[1] == 2 and len(ring) >= 3
    assert len(ring) == n_vertices(geom) + 2 * (n_rings - 1)  # each bridge adds 2 points
    # The bridges have zero width: filling the one ring (even-odd, pixel centres) gives back
    # exactly the mask, holes included.
    closed = np.concatenate([ring, ring[:1]]).tolist()
    filled = geometry_to_mask({"type": "Polygon", "coordinates": [closed]}, *m.shape)
    assert np.array_equal(filled, m)


def test_yolo_ring_empty():
    assert geometry_to_yolo_ring({"type": "MultiPolygon", "coordinates": []}).shape == (0, 2)
