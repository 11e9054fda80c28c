"""samcli.model.mask_decoder helpers shared by the SAM 1 and SAM 2 decoders."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from samcli.model.mask_decoder import place_mask_pixels, upscale_extent


def _expected_pixels(proj: np.ndarray, rows: int, w: int) -> np.ndarray:
    """proj (n, M, rows * w * 16) in (i, j, a, c, e, f) order -> masks (n, M, 4 rows, 4 w),
    pixel (4i + 2a + e, 4j + 2c + f), written out index by index."""
    n, m, _ = proj.shape
    out = np.full((n, m, 4 * rows, 4 * w), np.nan, dtype=proj.dtype)
    for i in range(rows):
        for j in range(w):
            for a, c, e, f in np.ndindex(2, 2, 2, 2):
                col = ((((i * w + j) * 2 + a) * 2 + c) * 2 + e) * 2 + f
                out[:, :, 4 * i + 2 * a + e, 4 * j + 2 * c + f] = proj[:, :, col]
    return out


@pytest.mark.parametrize(
    "dtype, first_row",
    [
        pytest.param(torch.float32, 0, id="float32, first band (pairs as int64)"),
        pytest.param(torch.float32, 3, id="float32, a later band"),
        pytest.param(torch.bfloat16, 2, id="bfloat16 (pairs as int32)"),
        pytest.param(torch.float16, 1, id="float16"),
        pytest.param(torch.float64, 2, id="float64 (no wider integer: element copy)"),
    ],
)
def test_place_mask_pixels_puts_each_value_at_its_pixel(dtype, first_row):
    n, m, rows, w, h = 2, 3, 2, 5, 6
    proj = torch.randn(n, m, rows * w * 16, generator=torch.Generator().manual_seed(0)).to(dtype)
    out = torch.full((n, m, h, 2, 2, w, 2, 2), float("nan"), dtype=dtype)
    place_mask_pixels(out[:, :, first_row : first_row + rows], proj)
    got = out.view(n, m, 4 * h, 4 * w)[:, :, 4 * first_row : 4 * (first_row + rows)]
    want = _expected_pixels(proj.double().numpy(), rows, w)
    np.testing.assert_array_equal(got.double().numpy(), want)
    others = torch.ones(h, dtype=torch.bool)
    others[first_row : first_row + rows] = False
    assert out[:, :, others].isnan().all()  # nothing written outside the band


def test_place_mask_pixels_converts_another_dtype_by_value():
    """A product in another dtype than the masks is converted, not copied bit by bit."""
    proj = torch.arange(3 * 16, dtype=torch.bfloat16).view(1, 3, 16)  # pairs: 32 bits
    out = torch.zeros(1, 3, 1, 2, 2, 1, 2, 2, dtype=torch.float32)  # one float32: 32 bits
    place_mask_pixels(out, proj)
    want = _expected_pixels(proj.double().numpy(), 1, 1)
    np.testing.assert_array_equal(out.view(1, 3, 4, 4).double().numpy(), want)


@pytest.mark.parametrize("label, extent, grid", [
    ("no extent: the whole grid", None, (64, 64)),
    ("whole grid pixels", (172, 256), (43, 64)),
    ("a part of a grid pixel rounds up", (173, 256), (44, 64)),
    ("columns", (256, 1), (64, 1)),
    ("nothing asked still makes one", (0, 0), (1, 1)),
    ("more than the grid", (300, 999), (64, 64)),
])
def test_upscale_extent_covers_the_logits_read(label, extent, grid):
    """Each grid pixel makes a 4 x 4 block of low-res logits: the grid rows and columns to
    upscale are the fewest whose blocks cover the extent, within the grid."""
    assert upscale_extent(extent, 64, 64) == grid, label
