"""The decoding rules shared by every mask stage (samcli.decode), against the reference's own
functions where it has them (``segment_anything.utils.amg``) and tables of labelled cases."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from samcli.decode import binary_masks, clean_mask, remove_small_regions, stability_score


def _amg():
    """The reference's ``utils.amg`` (imported lazily: ``segment_anything`` pulls in
    torchvision)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from segment_anything.utils import amg
    return amg


def rect(h, w, y0, y1, x0, x1):
    m = np.zeros((h, w), bool)
    m[y0:y1, x0:x1] = True
    return m


@pytest.mark.parametrize(
    "threshold, offset",
    [pytest.param(0.0, 1.0, id="default"), pytest.param(0.0, 0.5, id="half-offset"),
     pytest.param(0.3, 2.0, id="shifted"), pytest.param(-1.0, 0.0, id="no-offset")],
)
def test_stability_score_matches_reference(threshold, offset):
    amg = _amg()
    gen = torch.Generator().manual_seed(3)
    logits = 4 * torch.randn(6, 37, 53, generator=gen)
    logits[0] = -10.0  # empty at every threshold: 0 / 0 on both sides
    logits[1] = 10.0  # full
    logits[2, :3] = threshold + offset  # exactly at the thresholds (as float32): not counted
    logits[3, :3] = threshold - offset
    ref = amg.calculate_stability_score(logits, threshold, offset)
    ours = stability_score(logits, threshold, offset)  # float32 on the CPU: numpy counts
    assert ours.dtype == ref.dtype
    np.testing.assert_array_equal(ours.numpy(), ref.numpy())
    # Leading dimensions and the torch route (other dtypes) give the same numbers
    grouped = stability_score(logits.view(2, 3, 37, 53), threshold, offset)
    np.testing.assert_array_equal(grouped.flatten().numpy(), ref.numpy())
    via_torch = stability_score(logits.double(), threshold, offset)
    np.testing.assert_array_equal(via_torch.numpy(), ref.numpy())


def _random_masks(seed: int, n: int, h: int = 60, w: int = 80) -> np.ndarray:
    """Blobby random masks with small holes and islands: smoothed noise, thresholded."""
    import cv2

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        noise = rng.standard_normal((h, w)).astype(np.float32)
        smooth = cv2.GaussianBlur(noise, (0, 0), float(rng.uniform(1.0, 3.0)))
        out.append(smooth > rng.uniform(-0.1, 0.2))
    return np.stack(out)


@pytest.mark.parametrize("mode", ["holes", "islands"])
@pytest.mark.parametrize("area", [1, 10, 50, 400, 10_000])
def test_remove_small_regions_matches_reference(mode, area):
    amg = _amg()
    masks = _random_masks(seed=area, n=12)
    masks[0] = False  # empty
    masks[1] = True  # full
    masks[2, 5:7, 5:7] = True  # a lone 4-px island / hole
    for m in masks:
        ours, ours_changed = remove_small_regions(m, area, mode)
        ref, ref_changed = amg.remove_small_regions(m, area, mode)
        assert ours_changed == ref_changed
        np.testing.assert_array_equal(ours, ref)


@pytest.mark.parametrize(
    "label, mode, min_area, expect_changed, expect_area",
    [
        ("small hole filled", "holes", 5, True, 100),
        ("big hole kept", "holes", 4, False, 96),
        ("small island removed", "islands", 5, True, 96),
        ("island large enough kept", "islands", 1, False, 97),
        ("all islands small: largest kept", "islands", 1000, True, 96),
    ],
)
def test_remove_small_regions(label, mode, min_area, expect_changed, expect_area):
    m = rect(40, 50, 0, 10, 0, 10)
    m[4:6, 4:6] = False  # a 4 px hole
    if mode == "islands":
        m[30, 30] = True  # a 1 px island
    out, changed = remove_small_regions(m, min_area, mode)
    assert changed is expect_changed, label
    assert out.sum() == expect_area, label


@pytest.mark.parametrize("min_area", [1, 10, 50, 400])
def test_clean_mask_is_holes_then_islands_of_the_reference(min_area):
    """One mask's cleanup as the reference's ``postprocess_small_regions`` does it: holes
    filled first, then islands removed, each by ``remove_small_regions``."""
    amg = _amg()
    for m in _random_masks(seed=min_area + 7, n=8):
        ref, filled = amg.remove_small_regions(m, min_area, "holes")
        ref, removed = amg.remove_small_regions(ref, min_area, "islands")
        ours, changed = clean_mask(m, min_area)
        assert changed == (filled or removed)
        np.testing.assert_array_equal(ours, ref)


@pytest.mark.parametrize("threshold", [0.0, 1.0, -0.3])
def test_binary_masks_are_the_threshold_column_major(threshold):
    g = torch.Generator().manual_seed(5)
    logits = torch.randn(4, 37, 53, generator=g)
    logits[:, 0, :4] = threshold  # exactly at the threshold: not in the mask
    masks = binary_masks(logits, threshold)
    assert len(masks) == 4
    for m, lg in zip(masks, logits):
        assert m.dtype == np.bool_ and m.shape == (37, 53) and m.flags.f_contiguous
        np.testing.assert_array_equal(m, (lg > threshold).numpy())
        assert not m[0, :4].any()
    picked = binary_masks(logits, threshold, np.array([3, 1]))
    assert [np.array_equal(a, b) for a, b in zip(picked, (masks[3], masks[1]))] == [True, True]
    assert binary_masks(logits, threshold, []) == []
    with pytest.raises(ValueError, match=r"\(K, H, W\)"):
        binary_masks(logits[0], threshold)
