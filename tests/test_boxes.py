"""box_nms must make torchvision's decisions; masks_to_boxes the reference's boxes."""

import numpy as np
import pytest
import torch

from samcli.boxes import box_nms, masks_to_boxes, near_crop_edge

torchvision = pytest.importorskip("torchvision")


@pytest.mark.parametrize(
    "label, n, thresh, tie_scores",
    [
        ("few boxes", 8, 0.5, False),
        ("many boxes", 400, 0.7, False),
        ("all scores tied (crop NMS prefers input order)", 200, 0.7, True),
        ("threshold 1 drops nothing but sorts", 50, 1.0, False),
        ("threshold 0 keeps only disjoint", 60, 0.0, False),
    ],
)
def test_box_nms_matches_torchvision(label, n, thresh, tie_scores):
    g = torch.Generator().manual_seed(n)
    xy = (torch.rand(n, 2, generator=g) * 200).round()
    wh = (torch.rand(n, 2, generator=g) * 80 + 1).round()
    boxes = torch.cat([xy, xy + wh], 1)
    scores = torch.zeros(n) if tie_scores else torch.rand(n, generator=g)
    ref = torchvision.ops.batched_nms(boxes, scores, torch.zeros(n), thresh).numpy()
    ours = box_nms(boxes.numpy(), scores.numpy(), thresh)
    np.testing.assert_array_equal(ours, ref, err_msg=label)


def test_box_nms_empty():
    assert box_nms(np.zeros((0, 4)), np.zeros(0), 0.5).shape == (0,)


def test_masks_to_boxes_inclusive_and_empty():
    m = torch.zeros(3, 10, 12, dtype=torch.bool)
    m[0, 2:5, 3:9] = True
    m[1, 9, 11] = True
    boxes = masks_to_boxes(m).tolist()
    assert boxes == [[3, 2, 8, 4], [11, 9, 11, 9], [0, 0, 0, 0]]


@pytest.mark.parametrize(
    "label, box, expected",
    [
        ("centre of crop", [150, 150, 200, 200], False),
        ("near inner crop edge", [150, 150, 285, 200], True),
        ("near crop edge that is also the image edge", [5, 150, 50, 200], False),
        ("exactly 20 px from the inner edge counts as near", [100, 150, 280, 200], True),
    ],
)
def test_near_crop_edge(label, box, expected):
    crop, image = (0, 0, 300, 300), (0, 0, 1000, 1000)
    assert bool(near_crop_edge(np.array([box]), crop, image)[0]) is expected, label
    # also from the other side: crop starting at 100
    crop2 = (100, 0, 400, 300)
    assert near_crop_edge(np.array([[101, 10, 150, 50]]), crop2, image)[0]
