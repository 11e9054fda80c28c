"""--max-vertices: fitting parts to a vertex budget (the rule: samcli.geometry.fit)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import shapely
from shapely.geometry import shape

from samcli.geometry import geometry_to_mask, mask_to_geometry
from tests.geometry import reference
from tests.geometry.masks import (
    BLOBS,
    CASES,
    fragmented,
    iou,
    make_mask,
    n_vertices,
    polygons,
    speckled,
)


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


def _disc(size: int, r: float, cx: float, cy: float) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    return (yy - cy) ** 2 + (xx - cx) ** 2 < r**2


def _discs_and_specks(seed: int = 0) -> np.ndarray:
    """Three discs of clearly different sizes with pinholes, and about 700 one-pixel specks
    around them."""
    rng = np.random.default_rng(seed)
    m = _disc(160, 30, 45, 45) | _disc(160, 20, 115, 50) | _disc(160, 12, 60, 120)
    m &= ~(rng.random(m.shape) < 0.01)  # pinholes in the discs
    specks = np.zeros_like(m)
    specks[::4, ::4] = rng.random((40, 40)) < 0.5
    grown = cv2.dilate(m.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    return m | (specks & ~grown)


FIT_CASES = [
    # label, mask, simplify, max_vertices: each equals the rule applied one ring at a time
    ("disc, exact, room for 40", _disc(60, 25, 30, 30), 0.0, 40),
    ("disc, simplify 1.5, room for 8", _disc(60, 25, 30, 30), 1.5, 8),
    ("annulus, 8: both rings kept, coarser", CASES["annulus"], 0.0, 8),
    ("annulus, 6: the hole goes", CASES["annulus"], 0.0, 6),
    ("annulus, 4: the shell alone", CASES["annulus"], 0.0, 4),
    ("two parts, 4: the larger survives", CASES["two parts"], 0.0, 4),
    ("island in hole, 8", CASES["island in hole"], 0.0, 8),
    ("square with hole, 5", CASES["square with hole"], 0.0, 5),
    ("checkerboard 4x4, 12: equal parts, ties", CASES["checkerboard 4x4"], 0.0, 12),
    ("pinched ring, 9", CASES["pinched ring (8-connected loop)"], 0.0, 9),
    ("blob with pinholes, 30: smallest holes go first", speckled(30, 0.03, 1), 0.0, 30),
    ("blob with pinholes, simplify 1, 60", speckled(30, 0.03, 2), 1.0, 60),
    ("blobs + salt 40, 20", fragmented("blobs + noise", 40, 1), 0.0, 20),
    ("blobs + salt 40, simplify 1.5, 64", fragmented("blobs + noise", 40, 2), 1.5, 64),
    ("thick noise 32, 50", fragmented("thick noise", 32, 3), 0.0, 50),
    ("salt noise 16, 12", fragmented("noise 0.4", 16, 4), 0.0, 12),
    ("salt noise 16, simplify 0.4, 100", fragmented("noise 0.4", 16, 5), 0.4, 100),
    ("a long stroke, 4", make_mask(6, 40, rects=[(2, 4, 1, 39)]), 0.0, 4),
]


@pytest.mark.parametrize("label, mask, simplify, max_vertices", FIT_CASES,
                         ids=[c[0] for c in FIT_CASES])
def test_max_vertices_equals_the_rule_applied_one_ring_at_a_time(label, mask, simplify,
                                                                 max_vertices):
    """The one-pass fitting (rings ranked once, bisection on how many to keep) gives what the
    rule gives step by step: the tolerance grown, then one ring dropped at a time and
    everything simplified again (quadratic; what samcli did before)."""
    geom = mask_to_geometry(mask, simplify, max_vertices)
    assert geom == reference.fit_to_vertices(mask, simplify, max_vertices)
    assert n_vertices(geom) <= max_vertices
    assert shapely.is_valid(shape(geom))


@pytest.mark.parametrize(
    "label, mask, max_vertices, expected",
    [
        # (Before: the first two came out as triangles, half of the rectangle, simplified at
        # the ceiling tolerance; the island came out as a triangular hole.)
        ("two parts, 4: the larger one, still its rectangle", CASES["two parts"], 4,
         [[[6, 5], [11, 5], [11, 9], [6, 9], [6, 5]]]),
        ("square with hole, 4: the hole goes, the square stays a square",
         CASES["square with hole"], 4, [[[1, 1], [9, 1], [9, 9], [1, 9], [1, 1]]]),
        ("island in hole, 8: the island goes with its hole (it does not become a hole)",
         CASES["island in hole"], 8, [[[0, 0], [9, 0], [9, 9], [0, 9], [0, 0]]]),
    ],
)
def test_rings_that_survive_get_the_finest_tolerance_that_fits(label, mask, max_vertices,
                                                               expected):
    assert mask_to_geometry(mask, 0.0, max_vertices) == {"type": "Polygon",
                                                         "coordinates": expected}


def _component_areas(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n, labels, stats, _ = cv2.connectedComponentsWithStats(m.astype(np.uint8), connectivity=4)
    return labels, stats[1:, cv2.CC_STAT_AREA]


def _kept_components(geom: dict, m: np.ndarray) -> list[int]:
    """For each output part, the mask component it covers most (by pixel centres)."""
    labels, _ = _component_areas(m)
    kept = []
    for part in polygons(geom):
        inside = geometry_to_mask({"type": "Polygon", "coordinates": [part[0]]}, *m.shape)
        hit = np.bincount(labels[inside], minlength=labels.max() + 1)[1:]
        kept.append(int(np.argmax(hit)))
    return kept


@pytest.mark.parametrize(
    "label, mask, simplify, max_vertices",
    [
        ("3 discs + 700 specks, README's 1.5 / 64", _discs_and_specks(0), 1.5, 64),
        ("3 discs + 700 specks, exact / 30", _discs_and_specks(1), 0.0, 30),
        ("3 discs + 700 specks, 1.0 / 500", _discs_and_specks(2), 1.0, 500),
    ],
)
def test_fragmented_mask_keeps_the_biggest_parts(label, mask, simplify, max_vertices):
    geom = mask_to_geometry(mask, simplify, max_vertices)
    assert 1 <= n_vertices(geom) <= max_vertices
    assert shapely.is_valid(shape(geom))
    _, areas = _component_areas(mask)
    kept = _kept_components(geom, mask)
    assert len(set(kept)) == len(kept)  # one output part per kept component
    dropped = np.setdiff1d(np.arange(len(areas)), kept)
    assert areas[kept].min() >= areas[dropped].max() if len(dropped) else True
    assert set(np.argsort(-areas)[:3]) <= set(kept)  # the three discs
    if len(dropped):
        assert all(len(p) == 1 for p in polygons(geom))  # holes go before any part


def _fragmented_300x200() -> np.ndarray:
    """The benchmark's fragmented proposal: blobs with 2.7% of the pixels flipped (715
    parts, about 430 holes)."""
    rng = np.random.default_rng(0)
    coarse = cv2.resize(rng.random((34, 50)), (300, 200), interpolation=cv2.INTER_CUBIC)
    return (coarse > 0.55) ^ (rng.random((200, 300)) < 0.027)


@pytest.mark.parametrize(
    "label, mask, simplify, max_vertices",
    [
        ("715 parts, README's 1.5 / 64", _fragmented_300x200(), 1.5, 64),
        ("715 parts, exact / 1000", _fragmented_300x200(), 0.0, 1000),
        ("16k parts (salt noise), 1.5 / 64", fragmented("noise 0.5", 500, 0), 1.5, 64),
    ],
)
def test_many_parts_fit_valid_with_the_largest_part(label, mask, simplify, max_vertices):
    geom = mask_to_geometry(mask, simplify, max_vertices)
    assert 1 <= n_vertices(geom) <= max_vertices
    assert shapely.is_valid(shape(geom))
    _, areas = _component_areas(mask)
    assert int(np.argmax(areas)) in _kept_components(geom, mask)
    assert len(polygons(geom)) < len(areas)
    assert all(len(p) == 1 for p in polygons(geom))  # parts were dropped, so no holes are left
