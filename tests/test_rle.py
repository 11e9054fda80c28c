"""RLE through a window: equal to pycocotools on whole masks, byte for byte; RLE <-> JSON."""

from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from samcli.maskset import MaskSet
from samcli.rle import (counts_of, decode_window, encode_window, rle_areas, rle_from_json,
                        rle_to_json)


def _coco(m: np.ndarray) -> dict:
    return mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))


def _masks():
    """(label, mask) pairs covering the run shapes that matter."""
    rng = np.random.default_rng(0)
    cases = [("empty", np.zeros((7, 5), bool)), ("full", np.ones((7, 5), bool))]
    m = np.zeros((7, 5), bool)
    m[6, 4] = True
    cases.append(("last pixel only", m))
    m = np.zeros((7, 5), bool)
    m[0, 0] = True
    cases.append(("first pixel only", m))
    m = np.zeros((7, 5), bool)
    m[3:, 1:] = True
    cases.append(("runs joining across columns", m))
    m = np.zeros((9, 6), bool)
    m[:, 2:4] = True
    cases.append(("full-height columns", m))
    cases.append(("noise", rng.random((23, 31)) < 0.5))
    big = np.zeros((300, 200), bool)
    big[10:290, 3:197] = rng.random((280, 194)) < 0.97  # counts > 31: multi-group numbers
    cases.append(("large counts", big))
    return cases


MASKS = _masks()


@pytest.mark.parametrize("label, mask", MASKS, ids=[c[0] for c in MASKS])
def test_counts_of_decodes_pycocotools_strings(label, mask):
    counts = counts_of(_coco(mask))
    flat = np.repeat(np.arange(len(counts)) % 2, counts).astype(bool)
    assert np.array_equal(flat, mask.T.reshape(-1)), label


@pytest.mark.parametrize("label, mask", MASKS, ids=[c[0] for c in MASKS])
def test_windows_round_trip(label, mask):
    h, w = mask.shape
    rng = np.random.default_rng(1)
    rle = _coco(mask)
    for _ in range(20):
        x0, x1 = sorted(rng.integers(0, w + 1, 2))
        y0, y1 = sorted(rng.integers(0, h + 1, 2))
        window = decode_window(rle, (x0, y0, x1, y1))
        assert np.array_equal(window, mask[y0:y1, x0:x1]), (label, x0, y0, x1, y1)
        placed = np.zeros_like(mask)
        placed[y0:y1, x0:x1] = window
        assert encode_window(window, x0, y0, (h, w))["counts"] == _coco(placed)["counts"], label


def test_encode_window_refuses_a_window_outside_the_image():
    with pytest.raises(ValueError, match="does not fit"):
        encode_window(np.ones((3, 3), bool), 8, 0, (10, 10))


def test_maskset_window_is_the_tight_box():
    m = np.zeros((2, 40, 50), bool)
    m[0, 5:9, 10:30] = True
    m[0, 20, 12] = True
    ms = MaskSet(image_size=(40, 50), rles=[_coco(x) for x in m],
                 boxes=[[10, 5, 29, 20], [0, 0, 0, 0]], predicted_iou=[1, 1],
                 stability_score=[1, 1], points=np.zeros((2, 2)), crop_boxes=np.zeros((2, 4)))
    window, x0, y0 = ms.window(0)
    assert (x0, y0) == (10, 5)
    assert np.array_equal(window, m[0, 5:21, 10:30])
    window, x0, y0 = ms.window(1)  # empty mask
    assert window.shape == (0, 0)


def test_rle_json_round_trip():
    yy, xx = np.mgrid[:31, :31]
    d2 = (yy - 15) ** 2 + (xx - 15) ** 2
    m = (d2 <= 144) & (d2 > 36)  # an annulus
    rle = _coco(m)
    js = rle_to_json(rle)
    assert isinstance(js["counts"], str) and js["size"] == [31, 31]
    back = rle_from_json(js)
    assert np.array_equal(mask_utils.decode(back).astype(bool), m)
    uncompressed = {"size": [2, 2], "counts": [1, 2, 1]}
    assert mask_utils.decode(rle_from_json(uncompressed)).sum() == 2
    assert isinstance(rle_to_json(uncompressed)["counts"], str)


@pytest.mark.parametrize("n", [0, 1, 255, 256, 600])
def test_areas_of_any_number_of_masks(n):
    """pycocotools 2.0.11's ``area`` fails for more than 255 RLEs under NumPy 2 (its output
    is sized with a uint8): a MaskSet of 768 candidates (``--points-per-batch 256``) ended the
    run with OverflowError. Areas go in chunks; a MaskSet computes them the same way."""
    masks = np.zeros((n, 12, 10), bool)
    for i in range(n):
        masks[i, : 1 + i % 12, : 1 + i % 10] = True
    rles = [mask_utils.encode(np.asfortranarray(m.astype(np.uint8))) for m in masks]
    expected = masks.sum(axis=(1, 2))
    assert rle_areas(rles).tolist() == expected.tolist()
    ms = MaskSet(image_size=(12, 10), rles=rles, boxes=np.zeros((n, 4)),
                 predicted_iou=np.zeros(n), stability_score=np.zeros(n),
                 points=np.zeros((n, 2)), crop_boxes=np.zeros((n, 4)))
    assert ms.areas.dtype == np.int64 and ms.areas.tolist() == expected.tolist()
