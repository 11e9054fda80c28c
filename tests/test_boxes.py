"""box_nms must make torchvision's decisions; mask_boxes the reference's boxes, and
binary_masks the thresholded masks, column-major."""

import numpy as np
import pytest
import torch

from samcli.boxes import box_nms, mask_boxes, near_crop_edge

torchvision = pytest.importorskip("torchvision")
amg = pytest.importorskip("segment_anything.utils.amg")


@pytest.mark.parametrize(
    "label, n, thresh, tie_scores, min_size",
    [
        ("few boxes", 8, 0.5, False, 1),
        ("many boxes", 400, 0.7, False, 1),
        ("several blocks of candidates", 2000, 0.7, False, 1),
        ("all scores tied (crop NMS prefers input order)", 200, 0.7, True, 1),
        ("threshold 1 drops nothing but sorts", 50, 1.0, False, 1),
        ("threshold 0 keeps only disjoint", 60, 0.0, False, 1),
        ("empty boxes among them (0 / 0 IoU)", 300, 0.5, False, 0),
    ],
)
def test_box_nms_matches_torchvision(label, n, thresh, tie_scores, min_size):
    g = torch.Generator().manual_seed(n)
    xy = (torch.rand(n, 2, generator=g) * 200).round()
    wh = (torch.rand(n, 2, generator=g) * 80 + min_size).round()
    if min_size == 0:
        wh[::7] = 0.0
    boxes = torch.cat([xy, xy + wh], 1)
    scores = torch.zeros(n) if tie_scores else torch.rand(n, generator=g)
    ref = torchvision.ops.batched_nms(boxes, scores, torch.zeros(n), thresh).numpy()
    ours = box_nms(boxes.numpy(), scores.numpy(), thresh)
    assert ours.dtype == np.int64
    np.testing.assert_array_equal(ours, ref, err_msg=label)


def test_box_nms_empty():
    assert box_nms(np.zeros((0, 4)), np.zeros(0), 0.5).shape == (0,)


def test_mask_boxes_inclusive_and_empty():
    m = np.zeros((3, 10, 12), dtype=bool)
    m[0, 2:5, 3:9] = True
    m[1, 9, 11] = True
    boxes = mask_boxes(list(m)).tolist()
    assert boxes == [[3, 2, 8, 4], [11, 9, 11, 9], [0, 0, 0, 0]]


def _blob(h, w, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.nn.functional.interpolate(
        torch.randn(1, 1, 4, 5, generator=g), (h, w), mode="bilinear")[0, 0] > 0.8


@pytest.mark.parametrize(
    "label, mask",
    [
        ("empty", torch.zeros(10, 12, dtype=torch.bool)),
        ("full", torch.ones(10, 12, dtype=torch.bool)),
        ("one pixel in the last corner", torch.zeros(10, 12, dtype=torch.bool).index_put_(
            (torch.tensor([9]), torch.tensor([11])), torch.tensor(True))),
        ("one pixel at the origin", torch.zeros(7, 9, dtype=torch.bool).index_put_(
            (torch.tensor([0]), torch.tensor([0])), torch.tensor(True))),
        ("one row image", torch.tensor([[False, True, True, False, True]])),
        ("one column image", torch.tensor([[False], [True], [False]])),
        ("two columns (not a point list to OpenCV)", torch.tensor([[0, 1], [0, 0], [1, 0]]) > 0),
        ("blob", _blob(61, 83, 1)),
        ("tall blob", _blob(203, 17, 2)),
    ],
)
@pytest.mark.parametrize("order", ["C", "F"])
def test_mask_boxes_match_the_reference(label, mask, order):
    m = np.asarray(mask.numpy(), order=order)
    expected = amg.batched_mask_to_box(mask[None]).numpy()
    np.testing.assert_array_equal(mask_boxes([m]), expected, err_msg=label)
    np.testing.assert_array_equal(mask_boxes([m.astype(np.uint8)]), expected, err_msg=label)


def test_mask_boxes_of_many_and_none():
    masks = [_blob(40, 50, s).numpy() for s in range(6)]
    np.testing.assert_array_equal(
        mask_boxes(masks), amg.batched_mask_to_box(torch.from_numpy(np.stack(masks))).numpy())
    assert mask_boxes([]).shape == (0, 4)
    with pytest.raises(ValueError, match="2-D"):
        mask_boxes([np.zeros((2, 3, 4), bool)])


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
