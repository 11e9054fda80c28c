"""geometry_to_mask: exact scanline rasterization at pixel centres."""

from __future__ import annotations

import pytest
import shapely

from samcli.geometry import geometry_to_mask


def test_geometry_to_mask_accepts_shapely_and_clips_to_image():
    poly = shapely.box(-2, -2, 3, 2)
    m = geometry_to_mask(poly, 4, 4)
    assert m.sum() == 3 * 2 and m[:2, :3].all()
    geom = {"type": "Polygon", "coordinates": [[[2.5, 0], [2.5, 3], [0, 3]]]}  # open ring
    m = geometry_to_mask(geom, 4, 4)
    assert m[2, 1] and not m[0, 0]
    with pytest.raises(ValueError):
        geometry_to_mask({"type": "Point", "coordinates": [0, 0]}, 3, 3)
