"""geometry_to_mask: exact scanline rasterization at pixel centres; pycocotools_mask:
pycocotools' rule, ring by ring."""

from __future__ import annotations

import numpy as np
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


def _poly(*rings):
    return {"type": "Polygon", "coordinates": [list(map(list, r)) for r in rings]}


def _box(x0, y0, x1, y1):
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]


RASTER_CASES = {
    "unit pixel": _poly(_box(3, 2, 4, 3)),
    "square with hole": _poly(_box(2, 2, 30, 25), _box(8, 8, 12, 13)),
    "island in a hole": {"type": "MultiPolygon", "coordinates": [
        [_box(1, 1, 40, 30), _box(5, 5, 30, 25)], [_box(10, 10, 20, 20)]]},
    "ties on the 1/5 px grid": _poly([(2.3, 1.7), (25.7, 3.3), (20.1, 22.9), (4.5, 18.5),
                                      (2.3, 1.7)]),
    "sliver": _poly([(3, 3.5), (40, 20.46), (40.5, 21.2), (3.4, 4.1), (3, 3.5)]),
    "many small rings": {"type": "MultiPolygon", "coordinates": [
        [_box(x, y, x + 1 + x % 3, y + 1 + y % 2)] for x in range(0, 40, 5)
        for y in range(0, 30, 4)]},
    "touching the image's corner": _poly(_box(0, 0, 12, 9)),
}


def _pycocotools_whole(geom, h, w):
    """Each ring through pycocotools over the whole image, even-odd."""
    from pycocotools import mask as mask_utils

    polys = [geom["coordinates"]] if geom["type"] == "Polygon" else geom["coordinates"]
    count = np.zeros((h, w), np.uint8)
    for ring in (r for p in polys for r in p):
        flat = np.asarray(ring, float).ravel().tolist()
        count += mask_utils.decode(mask_utils.frPyObjects([flat], h, w))[:, :, 0]
    return (count & 1).astype(bool)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pycocotools' decode, NumPy 2
@pytest.mark.parametrize("label", list(RASTER_CASES))
@pytest.mark.parametrize("origin", [(0, 0), (4, 3), (-2, -1)])
def test_pycocotools_mask_equals_pycocotools_on_the_whole_image(label, origin):
    """Ring by ring in its own box, shifted on pycocotools' 1/5 px grid: the very pixels
    pycocotools gives on the whole image; and a window at ``origin`` is that image's slice
    (as for geometry_to_mask)."""
    from samcli.geometry.raster import pycocotools_mask

    geom, (h, w) = RASTER_CASES[label], (36, 48)
    whole = _pycocotools_whole(geom, h, w)
    assert whole.any()
    assert np.array_equal(pycocotools_mask(geom, h, w), whole), label
    x0, y0 = origin
    padded = np.zeros((h + 8, w + 8), bool)
    padded[4:4 + h, 4:4 + w] = whole
    window = padded[4 + y0 : 4 + y0 + 20, 4 + x0 : 4 + x0 + 30]
    assert np.array_equal(pycocotools_mask(geom, 20, 30, origin=origin), window), label
    whole = geometry_to_mask(geom, h, w)
    padded[4:4 + h, 4:4 + w] = whole
    window = padded[4 + y0 : 4 + y0 + 20, 4 + x0 : 4 + x0 + 30]
    assert np.array_equal(geometry_to_mask(geom, 20, 30, origin=origin), window), label
