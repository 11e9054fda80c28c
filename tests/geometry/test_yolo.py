"""The YOLO ring bridge: parts and holes joined into one ring."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from shapely.geometry import shape

from samcli.geometry import geometry_to_mask, geometry_to_yolo_ring, mask_to_geometry
from samcli.geometry import yolo
from tests.geometry import reference
from tests.geometry.masks import CASES, fragmented, make_mask, n_vertices, polygons


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


def test_yolo_ring_of_two_squares_is_the_recorded_one():
    # Equal distances everywhere between the squares' facing sides: the first vertex of the
    # ring so far wins, then the first vertex of the new ring.
    geom = mask_to_geometry(make_mask(4, 7, rects=[(1, 3, 1, 3), (1, 3, 4, 6)]))
    assert geometry_to_yolo_ring(geom).tolist() == [
        [1, 1], [3, 1], [4, 1], [6, 1], [6, 3], [4, 3], [4, 1], [3, 1], [3, 3], [1, 3]]


def _dots(rows: int, cols: int, gap: int) -> np.ndarray:
    """Single pixels on a grid: every dot has equally close earlier dots (ties everywhere)."""
    m = np.zeros((rows * gap, cols * gap), bool)
    m[::gap, ::gap] = True
    return m


def _yolo_cases():
    rng = np.random.default_rng(11)
    out = [(name, m, 0.0) for name, m in CASES.items()]
    out += [("annulus, simplified", CASES["annulus"], 1.0)]
    out += [(f"noise {i}", rng.random((int(h), int(w))) < rng.uniform(0.1, 0.9), s)
            for i, (h, w, s) in enumerate(zip(rng.integers(3, 30, 24), rng.integers(3, 30, 24),
                                              [0.0, 0.4, 1.0] * 8))]
    out += [("dots 8x9, gap 2 (ties)", _dots(8, 9, 2), 0.0),
            ("dots 6x6, gap 3 (ties)", _dots(6, 6, 3), 0.0),
            ("checkerboard 12 (corners touch)", np.indices((12, 12)).sum(0) % 2 == 0, 0.0),
            ("thick noise 32 (holes, pinches)", fragmented("thick noise", 32, 2), 0.0),
            ("blobs + salt 40, simplified", fragmented("blobs + noise", 40, 3), 0.4)]
    return out


YOLO_CASES = _yolo_cases()


@pytest.mark.parametrize("max_pairs", [None, 1, 40])
@pytest.mark.parametrize("label, mask, simplify", YOLO_CASES, ids=[c[0] for c in YOLO_CASES])
def test_yolo_ring_equals_bridging_pair_by_pair(label, mask, simplify, max_pairs, monkeypatch):
    """The same ring as attaching each ring in turn at the first closest pair of vertices
    with the ring so far; with tiny blocks, the grid search (rather than the direct one it
    uses for small inputs) is what runs."""
    if max_pairs is not None:
        monkeypatch.setattr(yolo, "_MAX_PAIRS", max_pairs)
    geom = mask_to_geometry(mask, simplify)
    if geom is None:
        return
    assert np.array_equal(geometry_to_yolo_ring(geom), reference.yolo_ring(geom)), label


@pytest.mark.parametrize("max_pairs", [None, 1])
def test_yolo_ring_of_shapely_scaled_and_far_apart_parts(max_pairs, monkeypatch):
    if max_pairs is not None:
        monkeypatch.setattr(yolo, "_MAX_PAIRS", max_pairs)
    shp = shape(mask_to_geometry(fragmented("noise 0.4", 20, 1)))
    cases = {
        "normalized coordinates": shapely.affinity.scale(shp, 1 / 20, 1 / 20, origin=(0, 0)),
        "one part far away": shapely.MultiPolygon([*shp.geoms, shapely.box(900, 900, 901, 902)]),
    }
    for label, geom in cases.items():
        expected = reference.yolo_ring(shapely.geometry.mapping(geom))
        assert np.array_equal(geometry_to_yolo_ring(geom), expected), label


def test_yolo_ring_of_a_fragmented_mask_fills_back_to_the_mask():
    m = fragmented("noise 0.5", 128, 4)  # about a thousand parts
    geom = mask_to_geometry(m)
    ring = geometry_to_yolo_ring(geom)
    n_rings = sum(len(p) for p in polygons(geom))
    assert len(ring) == n_vertices(geom) + 2 * (n_rings - 1)
    closed = np.concatenate([ring, ring[:1]]).tolist()
    filled = geometry_to_mask({"type": "Polygon", "coordinates": [closed]}, *m.shape)
    assert np.array_equal(filled, m)
