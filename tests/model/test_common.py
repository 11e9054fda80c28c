"""samcli.model.common: building blocks shared by the encoders and decoders."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from samcli.model.common import activate


@pytest.mark.parametrize(
    "act, in_place",
    [
        pytest.param(nn.GELU(), True, id="exact GELU: in place"),
        pytest.param(nn.GELU(approximate="tanh"), True, id="tanh GELU: in place, tanh kept"),
        pytest.param(nn.ReLU(), True, id="ReLU: in place"),
        pytest.param(nn.SiLU(), False, id="another activation: called as it is"),
    ],
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["float32", "bfloat16"])
def test_activate_gives_the_activation_values(act, in_place, dtype):
    x = torch.randn(64, 48, generator=torch.Generator().manual_seed(0)).to(dtype)
    want = act(x.clone())
    with torch.inference_mode():
        given = x.clone()
        got = activate(act, given)
    assert torch.equal(got, want)  # bit for bit: the same kernel either way
    assert (got.data_ptr() == given.data_ptr()) is in_place


def test_activate_leaves_autograd_inputs_alone():
    """With autograd recording, the input is not overwritten and gradients flow."""
    x = torch.randn(8, 4, requires_grad=True)
    y = x * 2
    before = y.detach().clone()
    out = activate(nn.GELU(), y)
    assert out.data_ptr() != y.data_ptr() and torch.equal(y.detach(), before)
    out.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
