"""Boxes and RLEs of masks on a device: the same as the host's (OpenCV, pycocotools) ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from samcli.boxes import mask_boxes
from samcli.device_masks import encode_on_device, mask_boxes_on_device
from samcli.maskset import encode_masks


def _mask(h, w, pixels=(), rect=None):
    m = np.zeros((h, w), bool)
    for y, x in pixels:
        m[y, x] = True
    if rect is not None:
        y0, x0, y1, x1 = rect
        m[y0:y1, x0:x1] = True
    return m


CASES = [
    ("empty", _mask(7, 9)),
    ("full", ~_mask(7, 9)),
    ("first pixel only", _mask(7, 9, [(0, 0)])),
    ("last pixel only", _mask(7, 9, [(6, 8)])),
    ("one column", _mask(7, 9, rect=(0, 3, 7, 4))),
    ("one row", _mask(7, 9, rect=(2, 0, 3, 9))),
    ("rectangle and a pixel", _mask(7, 9, [(6, 0)], rect=(1, 2, 4, 6))),
    ("one by one image, on", ~_mask(1, 1)),
    ("one by one image, off", _mask(1, 1)),
]


@pytest.mark.parametrize("label, mask", CASES, ids=[c[0] for c in CASES])
def test_single_masks_match_the_host(label, mask):
    t = torch.from_numpy(mask)[None]
    assert encode_on_device(t) == encode_masks([np.asfortranarray(mask)])
    np.testing.assert_array_equal(mask_boxes_on_device(t), mask_boxes([mask]))


def test_a_batch_of_random_masks_matches_the_host():
    g = torch.Generator().manual_seed(3)
    coarse = torch.rand(12, 1, 6, 8, generator=g)
    logits = torch.nn.functional.interpolate(coarse, size=(45, 61), mode="bilinear")[:, 0]
    masks = logits > 0.6
    masks[0] = False  # an empty mask among the others
    host = [np.asfortranarray(m) for m in masks.numpy()]
    assert encode_on_device(masks) == encode_masks(host)
    np.testing.assert_array_equal(mask_boxes_on_device(masks), mask_boxes(host))


@pytest.mark.parametrize("label, box", [
    ("inner crop", (10, 5, 40, 30)),
    ("touching the far corner", (20, 15, 61, 45)),
    ("the whole image", (0, 0, 61, 45)),
])
def test_crop_masks_are_encoded_as_placed_in_the_image(label, box):
    x0, y0, x1, y1 = box
    g = torch.Generator().manual_seed(4)
    masks = torch.rand(5, y1 - y0, x1 - x0, generator=g) > 0.5
    placed = np.zeros((5, 45, 61), bool)
    placed[:, y0:y1, x0:x1] = masks.numpy()
    assert encode_on_device(masks, box, (45, 61)) == encode_masks(placed)


def test_no_masks_and_bad_shapes():
    assert encode_on_device(torch.zeros(0, 4, 5, dtype=torch.bool)) == []
    assert mask_boxes_on_device(torch.zeros(0, 4, 5, dtype=torch.bool)).shape == (0, 4)
    for fn in (encode_on_device, mask_boxes_on_device):
        with pytest.raises(ValueError, match=r"\(K, H, W\)"):
            fn(torch.zeros(4, 5, dtype=torch.bool))
