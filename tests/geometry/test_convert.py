"""mask_to_geometry as a whole: arguments, empty masks, windows, and the plain reference."""

from __future__ import annotations

import numpy as np
import pytest

from samcli.config import DEFAULT_SIMPLIFY
from samcli.geometry import mask_to_geometry
from tests.geometry import reference
from tests.geometry.masks import CASES, EQUIVALENCE


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


@pytest.mark.parametrize("simplify", [0.0, DEFAULT_SIMPLIFY, 1.0])
def test_a_window_at_its_offset_gives_the_whole_image_geometry(simplify):
    m = EQUIVALENCE["blobs + noise #1"]
    image = np.zeros((m.shape[0] + 9, m.shape[1] + 4), bool)
    image[9:, 4:] = m
    assert mask_to_geometry(m, simplify, offset=(4, 9)) == mask_to_geometry(image, simplify)


@pytest.mark.parametrize("simplify", [0.0, DEFAULT_SIMPLIFY, 1.0, 3.0])
def test_mask_to_geometry_equals_the_plain_reference(simplify):
    """The batched path (all rings at once, simplified ring by ring) gives exactly the dict of
    the plain one (traced pixel by pixel, one joint shapely.simplify of all parts)."""
    for name, m in EQUIVALENCE.items():
        assert mask_to_geometry(m, simplify) == reference.mask_to_geometry(m, simplify), name


@pytest.mark.parametrize("label, mask", [
    ("single pixel", np.ones((1, 1), bool)),
    ("two pixels", np.ones((1, 2), bool)),
    ("diagonal pair", np.eye(2, dtype=bool)),
    ("thin line", np.ones((1, 40), bool)),
    ("3x3 plus", np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], bool)),
])
@pytest.mark.parametrize("simplify", [DEFAULT_SIMPLIFY, 1.0, 3.0])
@pytest.mark.parametrize("max_vertices", [None, 8])
def test_simplified_tiny_masks_keep_their_pixels(label, mask, simplify, max_vertices):
    """A simplified polygon never covers less than max(1, half the mask's pixels): a pixel
    stays a unit square, not a diamond of area 0.5 (issue 14.13)."""
    import shapely.geometry

    geom = mask_to_geometry(mask, simplify, max_vertices)
    assert shapely.geometry.shape(geom).is_valid, label
    exact = mask_to_geometry(mask, 0.0)
    if max_vertices is not None and sum(len(r) - 1 for r in exact["coordinates"][0]) \
            > max_vertices:
        return  # the exact polygon does not fit the budget: the budget wins
    area = shapely.geometry.shape(geom).area
    assert area >= max(1.0, 0.5 * mask.sum()), (label, geom)
