"""Hiera trunk of SAM 2's image encoder (hierarchical ViT with windowed attention, q-pooling).

Frames and shapes
-----------------
Input: a normalised image batch, float (B, 3, S, S) with S = 1024. A 7x7 stride-4 convolution
gives a channels-last token grid (B, S/4, S/4, D) (256 x 256, D = ``embed_dim``). Four stages
follow; the first block of stages 2-4 halves the grid by max-pooling its queries (and its
shortcut) with stride 2 and doubles the width and the heads. The output is the last block of
every stage, channels-first, highest resolution first:

    [(B, D, S/4, S/4), (B, 2D, S/8, S/8), (B, 4D, S/16, S/16), (B, 8D, S/32, S/32)]

Attention is local inside non-overlapping windows (the grid is zero-padded on the bottom/right
to a multiple of the window; padded tokens take part as keys, as in the reference), except in
``global_att_blocks``. The window size of a block is its stage's entry of ``window_spec``,
except that the first block of a stage still uses the previous stage's window (it pools its
queries inside those windows, so its output windows have the new stage's size).

Position: a learned background embedding (``pos_embed``, (1, D, 7, 7) or (1, D, 14, 14)),
bicubically resized to the token grid, plus a learned per-window embedding
(``pos_embed_window``, (1, D, w0, w0), w0 = ``window_spec[0]``) tiled over the grid.

Precision: with reduced-precision weights (``--dtype bfloat16``) the matrix products run in
the weights' dtype but the residual stream between blocks, and the LayerNorms that read it,
stay in float32; the outputs are returned in the weights' dtype. Rounding the residual stream
to bfloat16 after every block is where most of the reduced-precision error came from (see
BENCHMARKS.md); in float32 every cast is a no-op.

Parameter names follow the reference (``sam2.modeling.backbones.hieradet``), so checkpoints
load with ``strict=True``. There is no dropout or drop-path at inference.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..common import activate


class Mlp(nn.Module):
    """Linear layers with an activation between them, stored in ``layers`` (reference layout).

    (..., input_dim) -> (..., output_dim); ``num_layers`` linear layers, activation after
    every one but the last.
    """

    def __init__(
        self, input_dim: int, hidden_dim: int, output_dim: int, num_layers: int,
        activation: type[nn.Module] = nn.GELU,
    ) -> None:
        super().__init__()
        widths_in = [input_dim] + [hidden_dim] * (num_layers - 1)
        widths_out = [hidden_dim] * (num_layers - 1) + [output_dim]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths_in, widths_out))
        self.act = activation()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < last:
                x = activate(self.act, x)
        return x


class PatchEmbed(nn.Module):
    """Overlapping patch projection: (B, 3, S, S) -> channels-last (B, S/4, S/4, D)."""

    def __init__(self, embed_dim: int, in_chans: int = 3) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=7, stride=4, padding=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).permute(0, 2, 3, 1)


def _layer_norm(norm: nn.LayerNorm, x: torch.Tensor) -> torch.Tensor:
    """``norm(x)`` computed in ``x``'s dtype (float32 for the residual stream) whatever the
    dtype of ``norm``'s parameters."""
    return F.layer_norm(x, norm.normalized_shape, norm.weight.to(x.dtype),
                        norm.bias.to(x.dtype), norm.eps)


def _pool(x: torch.Tensor, stride: int) -> torch.Tensor:
    """Max-pool a channels-last grid (B, H, W, C) -> (B, H/stride, W/stride, C) (floor)."""
    x = F.max_pool2d(x.permute(0, 3, 1, 2), kernel_size=stride, stride=stride)
    return x.permute(0, 2, 3, 1)


def window_partition(x: torch.Tensor, window: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """(B, H, W, C) -> windows (B * nW, window, window, C), zero-padding bottom/right first.

    Returns the windows and the padded grid size (Hp, Wp).
    """
    b, h, w, c = x.shape
    pad_h, pad_w = (-h) % window, (-w) % window
    if pad_h or pad_w:
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
    hp, wp = h + pad_h, w + pad_w
    x = x.view(b, hp // window, window, wp // window, window, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window, window, c), (hp, wp)


def window_unpartition(
    windows: torch.Tensor, window: int, padded: tuple[int, int], size: tuple[int, int]
) -> torch.Tensor:
    """Inverse of :func:`window_partition`: (B * nW, window, window, C) -> (B, H, W, C)."""
    hp, wp = padded
    h, w = size
    b = windows.shape[0] // ((hp // window) * (wp // window))
    x = windows.reshape(b, hp // window, wp // window, window, window, -1)
    x = x.permute(0, 1, 3, 2, 4, 5).reshape(b, hp, wp, -1)
    if hp > h or wp > w:
        x = x[:, :h, :w, :]
    return x


class MultiScaleAttention(nn.Module):
    """Multi-head self-attention over a channels-last grid, with optional query pooling.

    x (B, H, W, dim) -> (B, H', W', dim_out), with (H', W') = (H, W) / q_stride when the
    queries are pooled (keys and values keep the full grid). Parameters: ``qkv``
    (dim -> 3 dim_out), ``proj`` (dim_out -> dim_out).
    """

    def __init__(self, dim: int, dim_out: int, num_heads: int, q_stride: int | None) -> None:
        super().__init__()
        self.dim = dim
        self.dim_out = dim_out
        self.num_heads = num_heads
        self.q_stride = q_stride
        self.qkv = nn.Linear(dim, dim_out * 3)
        self.proj = nn.Linear(dim_out, dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, _ = x.shape
        qkv = self.qkv(x).reshape(b, h * w, 3, self.num_heads, -1)
        q, k, v = torch.unbind(qkv, 2)  # each (B, HW, heads, d)
        if self.q_stride:
            q = _pool(q.reshape(b, h, w, -1), self.q_stride)
            h, w = q.shape[1:3]
            q = q.reshape(b, h * w, self.num_heads, -1)
        x = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        x = x.transpose(1, 2).reshape(b, h, w, -1)
        return self.proj(x)


class MultiScaleBlock(nn.Module):
    """Pre-norm transformer block on a channels-last grid (B, H, W, dim) -> (B, H', W', dim_out).

    ``window_size`` 0 means global attention. With ``q_stride`` the block downsamples: its
    shortcut is ``proj`` (dim -> dim_out) of the normed input, max-pooled like the queries.
    """

    def __init__(
        self, dim: int, dim_out: int, num_heads: int, mlp_ratio: float = 4.0,
        q_stride: int | None = None, window_size: int = 0,
    ) -> None:
        super().__init__()
        self.dim = dim
        self.dim_out = dim_out
        self.window_size = window_size
        self.q_stride = q_stride
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = MultiScaleAttention(dim, dim_out, num_heads, q_stride)
        self.norm2 = nn.LayerNorm(dim_out, eps=1e-6)
        self.mlp = Mlp(dim_out, int(dim_out * mlp_ratio), dim_out, num_layers=2)
        if dim != dim_out:
            self.proj = nn.Linear(dim, dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: the residual stream (float32 unless the caller chose otherwise); the products
        run in the weights' dtype, their results are added to the stream in its dtype."""
        compute = self.attn.qkv.weight.dtype
        shortcut = x
        x = _layer_norm(self.norm1, x).to(compute)
        if self.dim != self.dim_out:
            shortcut = self.proj(x).to(shortcut.dtype)
            if self.q_stride:
                shortcut = _pool(shortcut, self.q_stride)
        window = self.window_size
        h, w = x.shape[1:3]
        padded = (h, w)
        if window > 0:
            x, padded = window_partition(x, window)
        x = self.attn(x)
        if self.q_stride:
            # the windows shrank with the pooled queries: reassemble at the output size
            window = self.window_size // self.q_stride
            h, w = shortcut.shape[1:3]
            padded = (h + (-h) % window, w + (-w) % window) if window > 0 else (h, w)
        if self.window_size > 0:
            x = window_unpartition(x, window, padded, (h, w))
        x = shortcut + x  # type promotion: the stream's dtype
        return x + self.mlp(_layer_norm(self.norm2, x).to(compute))


class Hiera(nn.Module):
    """The Hiera trunk (see the module docstring for shapes).

    Args:
        embed_dim / num_heads: width and heads of stage 1 (doubled at each later stage).
        stages: blocks per stage, e.g. (1, 2, 7, 2) for tiny.
        global_att_blocks: indexes (over all blocks) of the global-attention blocks.
        window_pos_embed_bkg_spatial_size: (h, w) of the background position embedding.
        window_spec: window size per stage.
        q_pool: number of stage transitions that pool (3: all of them).
        q_stride: pooling stride at those transitions (2).
    """

    def __init__(
        self,
        embed_dim: int = 96,
        num_heads: int = 1,
        stages: tuple[int, ...] = (2, 3, 16, 3),
        global_att_blocks: tuple[int, ...] = (12, 16, 20),
        window_pos_embed_bkg_spatial_size: tuple[int, int] = (14, 14),
        window_spec: tuple[int, ...] = (8, 4, 14, 7),
        q_pool: int = 3,
        q_stride: int = 2,
        dim_mul: float = 2.0,
        head_mul: float = 2.0,
    ) -> None:
        super().__init__()
        if len(stages) != len(window_spec):
            raise ValueError("stages and window_spec must have the same length")
        self.window_spec = tuple(window_spec)
        self.stage_ends = tuple(sum(stages[: i + 1]) - 1 for i in range(len(stages)))
        if not 0 <= q_pool <= len(stages) - 1:
            raise ValueError("q_pool must be between 0 and the number of stage transitions")
        q_pool_blocks = [end + 1 for end in self.stage_ends[:-1]][:q_pool]
        self.global_att_blocks = tuple(global_att_blocks)
        self.patch_embed = PatchEmbed(embed_dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, embed_dim, *window_pos_embed_bkg_spatial_size))
        self.pos_embed_window = nn.Parameter(
            torch.zeros(1, embed_dim, self.window_spec[0], self.window_spec[0])
        )
        self.blocks = nn.ModuleList()
        stage = 0
        dim = embed_dim
        for i in range(sum(stages)):
            dim_out = dim
            # the window lags a block behind the stage (see the module docstring)
            window = 0 if i in self.global_att_blocks else self.window_spec[stage]
            if i - 1 in self.stage_ends:
                dim_out = int(dim * dim_mul)
                num_heads = int(num_heads * head_mul)
                stage += 1
            self.blocks.append(MultiScaleBlock(
                dim, dim_out, num_heads,
                q_stride=q_stride if i in q_pool_blocks else None,
                window_size=window,
            ))
            dim = dim_out
        # output widths, lowest resolution first (the neck's backbone_channel_list)
        self.channel_list = tuple(self.blocks[i].dim_out for i in self.stage_ends[::-1])

    def _pos_embed(self, h: int, w: int) -> torch.Tensor:
        """Background + tiled window position embedding, channels-last (1, h, w, D)."""
        pos = F.interpolate(self.pos_embed, size=(h, w), mode="bicubic")
        win = self.pos_embed_window
        pos = pos + win.tile([1, 1, h // win.shape[2], w // win.shape[3]])
        return pos.permute(0, 2, 3, 1)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """(B, 3, S, S) -> four feature maps, highest resolution first (module docstring)."""
        x = self.patch_embed(x)
        compute = x.dtype
        # the residual stream in float32 (module docstring), whatever the weights' dtype
        x = x.to(torch.promote_types(compute, torch.float32))
        x = x + self._pos_embed(x.shape[1], x.shape[2])
        outputs = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in self.stage_ends:
                outputs.append(x.permute(0, 3, 1, 2).to(compute))
        return outputs
