"""Pure postprocess steps, as tables of labelled cases on synthetic masks."""

import numpy as np
import pytest

from samcli.config import AutomaskConfig, preset_config
from samcli.maskset import MaskSet, encode_masks
from samcli.postprocess import (drop_border, drop_contained, filter_area, merge_overlapping,
                                postprocess, top_k)

H, W = 40, 50


def rect(y0, y1, x0, x1):
    m = np.zeros((H, W), bool)
    m[y0:y1, x0:x1] = True
    return m


def maskset(masks, iou=None, stab=None):
    masks = np.stack(masks)
    n = len(masks)
    boxes = []
    for m in masks:
        ys, xs = np.nonzero(m)
        boxes.append([xs.min(), ys.min(), xs.max(), ys.max()])
    return MaskSet(
        image_size=(H, W), rles=encode_masks(masks), boxes=np.array(boxes, float),
        predicted_iou=np.array(iou if iou is not None else [0.9] * n),
        stability_score=np.array(stab if stab is not None else [0.9] * n),
        points=np.zeros((n, 2)), crop_boxes=np.tile([0, 0, W, H], (n, 1)),
    )


def test_filter_area_and_border_and_topk():
    ms = maskset([rect(0, 5, 0, 5), rect(10, 20, 10, 20), rect(15, 35, 15, 45)],
                 iou=[0.5, 0.9, 0.7], stab=[0.5, 0.9, 0.95])
    assert list(filter_area(ms, 26, 599).areas) == [100]
    assert list(filter_area(ms, 0, 10**9).areas) == [25, 100, 600]
    assert list(drop_border(ms).areas) == [100, 600]
    best = top_k(ms, 2)
    assert list(best.areas) == [100, 600]  # scores 0.9, 0.825


def test_merge_overlapping_unions_into_better_scored():
    a, b, c = rect(0, 10, 0, 10), rect(0, 10, 1, 11), rect(20, 30, 20, 30)
    ms = maskset([a, b, c], iou=[0.8, 0.95, 0.9])
    out = merge_overlapping(ms, 0.7)
    assert len(out) == 2
    assert out.predicted_iou[0] == pytest.approx(0.95)  # b survived, grown to a | b
    assert out.areas[0] == 110
    assert list(out.boxes[0]) == [0, 0, 10, 9]
    assert len(merge_overlapping(ms, 1.0)) == 3


@pytest.mark.parametrize("label, max_area, expected_areas", [
    ("no bound: grown to the union", None, [110, 100]),
    ("the union fits", 110, [110, 100]),
    ("the union would pass --max-area: the duplicate goes, the survivor stays", 109,
     [100, 100]),
])
def test_merge_never_grows_a_mask_past_max_area(label, max_area, expected_areas):
    a, b, c = rect(0, 10, 0, 10), rect(0, 10, 1, 11), rect(20, 30, 20, 30)
    out = merge_overlapping(maskset([a, b, c], iou=[0.8, 0.95, 0.9]), 0.7, max_area)
    assert list(out.areas) == expected_areas, label
    assert out.predicted_iou[0] == pytest.approx(0.95), label


def test_postprocess_keeps_max_area_after_merging():
    """--max-area 100 with --merge-iou: both 100-pixel masks pass the size filter; their
    union (110) is not made (it was, and a 110-pixel mask came out of --max-area 100)."""
    a, b = rect(0, 10, 0, 10), rect(0, 10, 1, 11)
    cfg = AutomaskConfig(max_area="100", merge_iou=0.7)
    out = postprocess(maskset([a, b], iou=[0.8, 0.95]), cfg)
    assert list(out.areas) == [100] and out.predicted_iou[0] == pytest.approx(0.95)


@pytest.mark.parametrize(
    "label, ratio, expected_n",
    [("inner fully inside: dropped", 0.9, 2), ("ratio above share: kept", 1.0, 2)],
)
def test_drop_contained(label, ratio, expected_n):
    big, inner, apart = rect(0, 30, 0, 30), rect(5, 10, 5, 10), rect(32, 40, 32, 40)
    out = drop_contained(maskset([inner, big, apart]), ratio)
    assert len(out) == expected_n, label
    assert 25 not in list(out.areas)


def test_drop_contained_partial_overlap_kept():
    big, half_in = rect(0, 20, 0, 20), rect(10, 30, 10, 30)
    assert len(drop_contained(maskset([big, half_in]), 0.9)) == 2


def test_postprocess_sam_preset_is_identity():
    ms = maskset([rect(0, 5, 0, 5), rect(0, 5, 0, 6), rect(10, 20, 10, 20)])
    out = postprocess(ms, preset_config("sam"))
    assert len(out) == 3


def test_postprocess_percent_area():
    ms = maskset([rect(0, 5, 0, 5), rect(10, 20, 10, 20)])  # 25 px and 100 px of 2000
    cfg = AutomaskConfig(min_area="2%")  # 40 px
    assert list(postprocess(ms, cfg).areas) == [100]
