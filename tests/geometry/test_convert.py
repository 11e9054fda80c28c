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
