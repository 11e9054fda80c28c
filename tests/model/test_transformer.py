"""samcli.model.transformer: the image keys of the mixed-precision decoder."""

from __future__ import annotations

import pytest
import torch

from samcli.model import transformer


@pytest.mark.parametrize("label, batch, keys_batch, hw, dtype, grad", [
    ("per-prompt, bfloat16, whole bands", 3, 3, 2048, torch.bfloat16, False),
    ("per-prompt, bfloat16, a short last band", 2, 2, 1500, torch.bfloat16, False),
    ("per-prompt, bfloat16, fewer rows than a band", 2, 2, 100, torch.bfloat16, False),
    ("per-prompt, float16", 2, 2, 1100, torch.float16, False),
    ("per-prompt, bfloat16, autograd on", 2, 2, 1100, torch.bfloat16, True),
    ("shared image keeps the keys' dtype", 4, 1, 1100, torch.bfloat16, False),
    ("no product dtype", 2, 2, 1100, None, False),
])
def test_image_keys_are_the_rounded_sum(label, batch, keys_batch, hw, dtype, grad):
    """The keys plus their encoding, summed in float32 and then rounded once: the values of
    ``(keys + key_pe).to(dtype)``, bit for bit, whatever the banding."""
    gen = torch.Generator().manual_seed(0)
    keys = torch.randn(keys_batch, hw, 32, generator=gen) * 3
    key_pe = torch.randn(1, hw, 32, generator=gen)
    with torch.set_grad_enabled(grad):
        got = transformer._image_keys(keys, key_pe, batch, dtype)
    rounded = keys_batch == batch and dtype is not None
    want = (keys + key_pe).to(dtype) if rounded else keys + key_pe
    assert got.dtype == want.dtype and got.shape == want.shape
    assert torch.equal(got, want), label


def test_image_keys_band_boundaries_do_not_mix_rows(monkeypatch):
    """Bands of 7 rows over 20 (a short last band), two prompts: each row gets its own
    encoding row."""
    monkeypatch.setattr(transformer, "_ROUNDING_ROWS", 7)
    keys = torch.arange(2 * 20 * 4, dtype=torch.float32).view(2, 20, 4)
    key_pe = 1000 * torch.arange(20 * 4, dtype=torch.float32).view(1, 20, 4)
    got = transformer._image_keys(keys, key_pe, 2, torch.bfloat16)
    assert torch.equal(got, (keys + key_pe).to(torch.bfloat16))
