"""Proposal records (samcli.io.records): keys, types, ids, extras, geometry on demand."""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely

from samcli.config import PolygonOptions
from samcli.geometry import geometry_to_mask
from samcli.io.records import RECORD_KEYS, kept_indices, proposal_records
from tests.io.helpers import H, W, box_extras, make_result, records_of


def test_records_keys_types_and_ids():
    res = make_result()
    recs = records_of(res, 0.0, None)
    assert len(recs) == 4  # the empty mask is dropped before numbering
    assert [r["id"] for r in recs] == [0, 1, 2, 3]
    assert kept_indices(res.masks).tolist() == [0, 1, 2, 4]
    for r, i in zip(recs, kept_indices(res.masks)):
        assert tuple(r) == RECORD_KEYS
        assert r["image"] == "x/a.jpg" and (r["width"], r["height"]) == (W, H)
        assert all(type(v) is int for v in r["bbox"]) and len(r["bbox"]) == 4
        assert r["bbox"] == res.masks.bbox_xywh[i].tolist()
        assert type(r["area"]) is int and r["area"] == int(res.masks.mask(i).sum())
        assert type(r["predicted_iou"]) is float and type(r["stability_score"]) is float
        assert r["predicted_iou"] == round(float(res.masks.predicted_iou[i]), 6)
        assert r["crop_box"] == [0, 0, W, H]
        mask = geometry_to_mask(r["segmentation"], H, W)
        assert np.array_equal(mask, res.masks.mask(i))
    assert recs[1]["point"] is None  # NaN point
    assert all(type(v) is float for v in recs[0]["point"])
    assert recs[0]["segmentation"]["type"] == "Polygon"
    assert len(recs[0]["segmentation"]["coordinates"]) == 2  # hole
    assert recs[1]["segmentation"]["type"] == "MultiPolygon"
    json.dumps(recs, allow_nan=False)


def test_records_extras_follow_in_order_as_plain_json():
    res = make_result(extras=box_extras(5))
    recs = records_of(res, 0.4, 0)
    assert list(recs[0])[len(RECORD_KEYS):] == ["class", "box_confidence", "prompt_box", "box_iou"]
    assert recs[0]["class"] == 3 and type(recs[0]["class"]) is int
    assert recs[0]["box_confidence"] is None
    assert recs[1]["box_confidence"] == pytest.approx(0.5)
    assert recs[3]["class"] == 3  # extras of mask 4 (mask 3 was empty)
    assert recs[0]["prompt_box"] == [1.0, 2.0, 30.0, 20.0]
    json.dumps(recs, allow_nan=False)


def test_records_extras_may_not_shadow_standard_keys():
    res = make_result(extras=[{"area": 1} for _ in range(5)])
    with pytest.raises(ValueError):
        records_of(res, 0.0, None)


def test_records_simplified_coordinates_and_max_vertices():
    res = make_result()
    recs = records_of(res, 1.0, 8)
    for r in recs:
        g = r["segmentation"]
        polys = [g["coordinates"]] if g["type"] == "Polygon" else g["coordinates"]
        assert sum(len(ring) - 1 for p in polys for ring in p) <= 8
        assert shapely.is_valid(shapely.geometry.shape(g))


def test_records_of_an_image_without_masks():
    res = make_result(masks=np.zeros((0, H, W), bool))
    assert records_of(res, 0.0, None) == []


def test_records_without_geometry_leave_segmentation_out():
    """polygon=None (no writer reads polygons): the same records, minus ``segmentation``."""
    res = make_result(extras=box_extras(5))
    full = records_of(res, 0.0)
    bare = proposal_records(res.image, res.width, res.height, res.masks, res.extras, None)
    assert [{k: v for k, v in r.items() if k != "segmentation"} for r in full] == bare
    assert all("segmentation" not in r for r in bare)
    assert "segmentation" in full[0]
    assert proposal_records(res.image, W, H, res.masks, res.extras, PolygonOptions()) \
        == records_of(res, 0.4)
