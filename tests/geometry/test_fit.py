"""--max-vertices: fitting parts to a vertex budget."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from shapely.geometry import shape

from samcli.geometry import geometry_to_mask, mask_to_geometry
from tests.geometry.masks import BLOBS, CASES, iou, n_vertices


@pytest.mark.parametrize("max_vertices", [4, 5, 8, 20, 60])
def test_max_vertices_respected(max_vertices):
    for m in [*BLOBS[:15], CASES["annulus"], CASES["two parts"], CASES["checkerboard 4x4"]]:
        geom = mask_to_geometry(m, 0.0, max_vertices)
        assert n_vertices(geom) <= max_vertices
        assert shapely.is_valid(shape(geom))


def test_max_vertices_uses_the_smallest_tolerance_that_fits():
    yy, xx = np.mgrid[:200, :200]
    disc = (yy - 100) ** 2 + (xx - 100) ** 2 < 90**2
    assert mask_to_geometry(disc, 0.0, 10_000) == mask_to_geometry(disc)  # fits: untouched
    geom = mask_to_geometry(disc, 0.0, 40)
    assert 30 <= n_vertices(geom) <= 40
    assert iou(geometry_to_mask(geom, 200, 200), disc) > 0.99
