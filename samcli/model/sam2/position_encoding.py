"""Sine positional encoding of a feature grid (DETR style), as SAM 2's FPN neck attaches it.

The encoding has no parameters: it depends only on the grid size (H, W). For each cell
(row r, column c), 1-based and normalised to (0, 2*pi] by the grid's last index,

    pos_y[2i] = sin(y / T^(2i/F)),  pos_y[2i+1] = cos(y / T^(2i/F))     (F = channels / 2)

and likewise for x; the output stacks the y half first, then the x half: float32
(B, channels, H, W). The reference recomputes the same values per call (and caches them per
size); here one (channels, H, W) map per (size, device) is cached and broadcast.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class PositionEmbeddingSine(nn.Module):
    """Sine/cosine encoding of a (H, W) grid.

    Args:
        num_pos_feats: output channels (256 in SAM 2); half encode y, half x.
        temperature: frequency base T (10000).
        normalize: scale the 1-based positions to (0, ``scale``] (True in SAM 2).
        scale: the normalised range (2*pi when None).
    """

    def __init__(
        self,
        num_pos_feats: int,
        temperature: int = 10000,
        normalize: bool = True,
        scale: float | None = None,
    ) -> None:
        super().__init__()
        if num_pos_feats % 2:
            raise ValueError("num_pos_feats must be even")
        if scale is not None and not normalize:
            raise ValueError("normalize must be True if scale is passed")
        self.num_pos_feats = num_pos_feats // 2
        self.temperature = temperature
        self.normalize = normalize
        self.scale = 2 * math.pi if scale is None else scale
        self._cache: dict[tuple[int, int, torch.device], torch.Tensor] = {}

    def _axis(self, n: int, device: torch.device) -> torch.Tensor:
        """Encoding of positions 1..n along one axis: float32 (n, num_pos_feats).

        Same arithmetic, in the same order, as the reference's 2-D computation (each value
        depends only on its own row or column), so results agree to the bit.
        """
        pos = torch.arange(1, n + 1, dtype=torch.float32, device=device)
        if self.normalize:
            pos = pos / (pos[-1:] + 1e-6) * self.scale
        dim_t = torch.arange(self.num_pos_feats, dtype=torch.float32, device=device)
        dim_t = self.temperature ** (2 * (dim_t // 2) / self.num_pos_feats)
        angles = pos[:, None] / dim_t
        # channels interleave sin (even frequencies) and cos (odd frequencies)
        return torch.stack((angles[:, 0::2].sin(), angles[:, 1::2].cos()), dim=2).flatten(1)

    def encoding(self, h: int, w: int, device: torch.device) -> torch.Tensor:
        """The (2 * num_pos_feats, h, w) float32 map (cached per size and device)."""
        key = (h, w, torch.device(device))
        cached = self._cache.get(key)
        if cached is None:
            pos_y = self._axis(h, device)  # (h, F)
            pos_x = self._axis(w, device)  # (w, F)
            f = self.num_pos_feats
            cached = torch.cat(
                [pos_y.t()[:, :, None].expand(f, h, w), pos_x.t()[:, None, :].expand(f, h, w)],
                dim=0,
            )
            self._cache[key] = cached
        return cached

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, H, W) features (only its shape and device are used) -> float32
        (B, 2 * num_pos_feats, H, W), an expanded view of the cached map."""
        b, _, h, w = x.shape
        return self.encoding(h, w, x.device).unsqueeze(0).expand(b, -1, -1, -1)
