"""Small building blocks shared by the SAM encoders and decoder.

Every module here keeps the parameter names of Meta's reference implementation, so that
official checkpoints load with ``strict=True``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LayerNorm2d(nn.Module):
    """Layer normalisation over the channel axis of a channels-first feature map.

    Input and output: float tensor (B, C, H, W). Each pixel's C values are normalised to
    zero mean and unit (biased) variance, then scaled by ``weight`` and shifted by ``bias``
    (both (C,)). ``eps`` is added to the variance (1e-6, as in SAM).
    """

    def __init__(self, num_channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=1, keepdim=True)
        centred = x - mean
        var = centred.square().mean(dim=1, keepdim=True)
        normed = centred * torch.rsqrt(var + self.eps)
        return torch.addcmul(self.bias[:, None, None], normed, self.weight[:, None, None])


def activate(act: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``act(x)`` for ``x`` a fresh result that nothing else holds (a layer's output).

    Without autograd a GELU or ReLU overwrites ``x`` (the same kernel, the same values)
    instead of allocating a second tensor of its size: the encoders' MLP hidden layers are
    50-150 MB on the first grids, and each new one of those is fresh pages faulted in.
    """
    if not (torch.is_grad_enabled() and x.requires_grad):
        if type(act) is nn.GELU:
            return torch.ops.aten.gelu_(x, approximate=act.approximate)
        if type(act) is nn.ReLU:
            return x.relu_()
    return act(x)


class MLPBlock(nn.Module):
    """Two linear layers with an activation between them: (..., D) -> (..., mlp_dim) -> (..., D).

    Parameter names ``lin1`` / ``lin2`` follow the reference.
    """

    def __init__(self, embedding_dim: int, mlp_dim: int, act: type[nn.Module] = nn.GELU) -> None:
        super().__init__()
        self.lin1 = nn.Linear(embedding_dim, mlp_dim)
        self.lin2 = nn.Linear(mlp_dim, embedding_dim)
        self.act = act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin2(activate(self.act, self.lin1(x)))


class MLP(nn.Module):
    """A plain multi-layer perceptron with ReLU between layers (none after the last).

    ``num_layers`` linear layers map input_dim -> hidden_dim -> ... -> output_dim; they are
    stored in ``layers`` (a ModuleList), the reference's parameter layout.
    """

    def __init__(
        self,
        input_dim: int,
        hidden_dim: int,
        output_dim: int,
        num_layers: int,
        sigmoid_output: bool = False,
    ) -> None:
        super().__init__()
        self.num_layers = num_layers
        widths_in = [input_dim] + [hidden_dim] * (num_layers - 1)
        widths_out = [hidden_dim] * (num_layers - 1) + [output_dim]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths_in, widths_out))
        self.sigmoid_output = sigmoid_output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < last:
                x = F.relu(x)
        if self.sigmoid_output:
            x = torch.sigmoid(x)
        return x
