"""Simplification: IoU and vertex savings, losslessness up to 0.35 px, and the ring-by-ring
computation against GEOS' joint simplification and against the plain reference."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from shapely.geometry import MultiPolygon, shape

from samcli.config import DEFAULT_SIMPLIFY
from samcli.geometry import geometry_to_mask, mask_to_geometry
from samcli.geometry import simplify as simplify_mod
from samcli.geometry.rings import geom_array, offsets
from samcli.geometry.simplify import edge_midpoint_rings, simplify_batched, smoothed_flat
from samcli.geometry.tracing import trace_flat
from tests.geometry import reference
from tests.geometry.masks import (
    BLOBS,
    FRAGMENTED,
    FRAGMENTED_SIZE,
    blob_with_pinholes,
    coco_rasterize,
    fragmented,
    iou,
    n_vertices,
    polygons,
    ring_ok,
    speckled,
    thin_strokes,
)


def test_default_simplify_keeps_iou_and_saves_vertices():
    ious, ratios = [], []
    for m in BLOBS:
        exact = mask_to_geometry(m)
        geom = mask_to_geometry(m, DEFAULT_SIMPLIFY)
        assert shapely.is_valid(shape(geom))
        v = iou(geometry_to_mask(geom, *m.shape), m)
        assert v >= 0.97
        assert iou(coco_rasterize(geom, *m.shape), m) >= 0.97
        ious.append(v)
        ratios.append(n_vertices(geom) / n_vertices(exact))
    assert min(ious) >= 0.975
    assert np.mean(ratios) < 0.75  # it does simplify


THIN = thin_strokes()


@pytest.mark.parametrize("label", list(THIN))
@pytest.mark.parametrize("max_vertices", [None, 100_000])
def test_default_simplify_keeps_thin_strokes(label, max_vertices):
    """SPEC's 0.97 round trip holds for strokes one or two pixels wide too, by pixel centres
    and by pycocotools: where simplifying cuts centres off, the exact polygon is kept."""
    m = THIN[label]
    geom = mask_to_geometry(m, DEFAULT_SIMPLIFY, max_vertices)
    assert shapely.is_valid(shape(geom))
    assert iou(geometry_to_mask(geom, *m.shape), m) >= 0.97, label
    assert iou(coco_rasterize(geom, *m.shape), m) >= 0.97, label


def test_thin_strokes_keep_being_simplified_where_that_is_faithful():
    """The fallback is per mask, not a blanket: most strokes still lose vertices."""
    simplified = [n_vertices(mask_to_geometry(m, DEFAULT_SIMPLIFY)) < n_vertices(
        mask_to_geometry(m)) for m in THIN.values()]
    assert sum(simplified) >= len(simplified) // 2


def test_simplify_up_to_035_px_is_lossless():
    for m in BLOBS[:30]:
        geom = mask_to_geometry(m, 0.35)
        assert np.array_equal(geometry_to_mask(geom, *m.shape), m)


def test_edge_midpoint_rings_equal_the_reference():
    m = fragmented("thick noise", 64, seed=1)
    rings = [r for shell, holes in reference.trace(m) for r in [shell, *holes]]
    pts = np.concatenate(rings).astype(np.float64)
    off = offsets(np.array([len(r) for r in rings]))
    mid, moff = edge_midpoint_rings(pts, off)
    for i, ring in enumerate(rings):
        expected = reference.edge_midpoint_ring(ring + ring[:1])
        assert mid[moff[i] : moff[i + 1]].tolist() == [list(p) for p in expected]


def test_batched_simplify_equals_one_joint_simplify():
    """Each part alone, then the interacting groups together, is exactly GEOS' simplification
    of the whole MultiPolygon (which costs seconds on these masks at full size)."""
    for kind in ("noise 0.5", "blobs + noise", "thick noise"):
        m = fragmented(kind, 96, seed=3)
        arr = geom_array(smoothed_flat(trace_flat(m, 0, 0)))
        for tol in (DEFAULT_SIMPLIFY, 0.8, 2.0):
            simp, valid = simplify_batched(arr, tol)
            joint = shapely.simplify(MultiPolygon(list(arr)), tol, preserve_topology=True)
            parts = shapely.get_parts(joint)
            assert len(parts) == len(simp)
            assert np.all(shapely.equals_exact(parts, simp, tolerance=0.0)), (kind, tol)
            assert valid == shapely.is_valid(joint)


@pytest.mark.parametrize(
    "label, mask",
    [
        # (found by search: an unchanged ring that refuses a moving ring's shortcut)
        ("pinholes that block shell shortcuts #1", blob_with_pinholes(932)),
        ("pinholes that block shell shortcuts #2", blob_with_pinholes(787)),
        ("one part, 5% one-pixel holes", speckled(100, 0.05, 1)),
        ("one part, 20% holes (clusters)", speckled(90, 0.2, 2)),
        ("blobs with salt: parts with holes", fragmented("blobs + noise", 120, 4)),
        ("thick noise: small parts, pinches", fragmented("thick noise", 96, 5)),
        ("salt noise: thousands of parts", fragmented("noise 0.5", 80, 6)),
    ],
)
def test_ring_by_ring_simplify_equals_one_joint_simplify(label, mask):
    """Every ring alone, then the interacting groups with the rings they touch, is exactly
    GEOS' simplification of the whole geometry (which is quadratic in the number of rings)."""
    arr = geom_array(smoothed_flat(trace_flat(mask, 0, 0)))
    for tol in (DEFAULT_SIMPLIFY, 1.0, 2.5):
        simp, changed, groups = simplify_mod.simplify_rings(arr, tol)
        whole = arr[0] if len(arr) == 1 else MultiPolygon(list(arr))
        parts = shapely.get_parts(shapely.simplify(whole, tol, preserve_topology=True))
        assert len(parts) == len(simp), (label, tol)
        assert np.all(shapely.equals_exact(parts, simp, tolerance=0.0)), (label, tol)
        moved = np.flatnonzero(~shapely.equals_exact(arr, simp, tolerance=0.0))
        assert set(moved) <= set(changed), (label, tol)
        assert all(len(g) >= 2 for g in groups)


def test_many_holes_go_ring_by_ring_and_match_the_reference(monkeypatch):
    calls = []
    real = simplify_mod.simplify_rings
    monkeypatch.setattr(simplify_mod, "simplify_rings", lambda *a: calls.append(1) or real(*a))
    m = speckled(100, 0.05, 3)
    assert mask_to_geometry(m, 1.0) == reference.mask_to_geometry(m, 1.0)
    assert calls  # one part with hundreds of holes: not one GEOS call
    calls.clear()
    few = np.zeros((60, 60), bool)
    few[5:55, 5:55] = True
    few[20, 20] = few[30, 40] = False
    assert mask_to_geometry(few, 1.0) == reference.mask_to_geometry(few, 1.0)
    assert not calls  # two holes: one GEOS call is quicker


@pytest.mark.parametrize("kind", FRAGMENTED)
def test_fragmented_512_default_simplify_valid_and_close(kind):
    m = fragmented(kind, FRAGMENTED_SIZE.get(kind, 512))
    geom = mask_to_geometry(m, DEFAULT_SIMPLIFY)
    assert shapely.is_valid(shape(geom))
    assert iou(geometry_to_mask(geom, *m.shape), m) >= 0.99
    rings = [r for p in polygons(geom) for r in p]
    assert all(ring_ok(r) for r in rings[:: max(1, len(rings) // 3000)])
