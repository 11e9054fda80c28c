"""SAM's ViT image encoder (ViTDet-style backbone: windowed + global attention, neck).

Frames and shapes
-----------------
Input: a normalised, padded image batch, float (B, 3, S, S) with S = ``img_size`` (1024).
Patch embedding gives a channels-last token grid (B, S/16, S/16, D) (64 x 64 for SAM).
Most blocks attend inside non-overlapping ``window_size`` x ``window_size`` windows (the grid
is zero-padded on the bottom/right to a multiple of the window size); the blocks listed in
``global_attn_indexes`` attend over the whole grid. Every attention adds the decomposed
relative-position term of MViTv2 (one table per axis). The neck maps the grid to the image
embedding, float (B, out_chans, S/16, S/16), channels-first.

In float32, attention is computed with :func:`torch.nn.functional.scaled_dot_product_attention`;
the relative-position term is handed to it as an additive mask, built per chunk of query rows so
the global blocks never hold the full (heads, 4096, 4096) term at once. In reduced precision on
the CPU the same chunks go through batched matrix products (see :class:`PreparedKeys`). Windows
are cut with one copy (zero padding included) and put back with one copy.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .common import LayerNorm2d, MLPBlock

# Query rows of the grid handled per attention call in global blocks. A (heads, rows*W, H*W)
# bias is built per call: 8 rows of a 64-wide grid, 12 heads, is 100 MB in float32 instead of
# 800 MB for the whole (heads, 4096, 4096) term.
_GLOBAL_ROWS_PER_CHUNK = 8


class PatchEmbed(nn.Module):
    """Non-overlapping patch projection: (B, C_in, H, W) -> channels-last (B, H/p, W/p, D)."""

    def __init__(
        self,
        kernel_size: tuple[int, int] = (16, 16),
        stride: tuple[int, int] = (16, 16),
        padding: tuple[int, int] = (0, 0),
        in_chans: int = 3,
        embed_dim: int = 768,
    ) -> None:
        super().__init__()
        self.proj = nn.Conv2d(
            in_chans, embed_dim, kernel_size=kernel_size, stride=stride, padding=padding
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).permute(0, 2, 3, 1)


def relative_position_table(q_size: int, k_size: int, rel_pos: torch.Tensor) -> torch.Tensor:
    """Gather the relative-position embedding for every (query, key) pair along one axis.

    Args:
        q_size: number of query positions along the axis.
        k_size: number of key positions along the axis.
        rel_pos: learned table (L, C); resized linearly when L != 2 * max(q_size, k_size) - 1.

    Returns:
        (q_size, k_size, C) tensor, entry [i, j] is the embedding of offset i - j (with the
        shorter side's coordinates stretched when the sizes differ, as in the reference).
    """
    span = int(2 * max(q_size, k_size) - 1)
    table = rel_pos
    if table.shape[0] != span:
        table = F.interpolate(
            table.reshape(1, table.shape[0], -1).permute(0, 2, 1), size=span, mode="linear"
        )
        table = table.reshape(-1, span).permute(1, 0)
    q_scale = max(k_size / q_size, 1.0)
    k_scale = max(q_size / k_size, 1.0)
    q_pos = torch.arange(q_size, device=rel_pos.device)[:, None] * q_scale
    k_pos = torch.arange(k_size, device=rel_pos.device)[None, :] * k_scale
    offsets = (q_pos - k_pos) + (k_size - 1) * k_scale
    return table[offsets.long()]


class Attention(nn.Module):
    """Multi-head self-attention over a (B, H, W, D) grid with decomposed relative positions.

    Parameters (reference names): ``qkv`` Linear(D, 3D) whose output is laid out
    (3, heads, head_dim); ``proj`` Linear(D, D); ``rel_pos_h`` (2H-1, head_dim) and
    ``rel_pos_w`` (2W-1, head_dim) when ``use_rel_pos``.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int = 8,
        qkv_bias: bool = True,
        use_rel_pos: bool = False,
        rel_pos_zero_init: bool = True,
        input_size: tuple[int, int] | None = None,
    ) -> None:
        super().__init__()
        self.num_heads = num_heads
        head_dim = dim // num_heads
        self.scale = head_dim**-0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.use_rel_pos = use_rel_pos
        if use_rel_pos:
            if input_size is None:
                raise ValueError("input_size is needed for relative positional embeddings")
            self.rel_pos_h = nn.Parameter(torch.zeros(2 * input_size[0] - 1, head_dim))
            self.rel_pos_w = nn.Parameter(torch.zeros(2 * input_size[1] - 1, head_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, H, W, D) -> (B, H, W, D)."""
        n, h, w, dim = x.shape
        heads = self.num_heads
        head_dim = dim // heads
        tokens = h * w
        # (n, tokens, 3, heads, head_dim) -> three (n, heads, tokens, head_dim) strided views.
        q, k, v = self.qkv(x).view(n, tokens, 3, heads, head_dim).permute(2, 0, 3, 1, 4).unbind(0)

        if not self.use_rel_pos:
            out = attend(q, k, v, None, self.scale)
        else:
            rel_h, rel_w = self._rel_terms(q, (h, w))
            rows = h if h * w <= 1024 else _GLOBAL_ROWS_PER_CHUNK
            if rows >= h:
                bias = _rel_bias(rel_h, rel_w, q.dtype)
                out = attend(q, k, v, bias, self.scale, bias_is_scratch=True)
            else:
                keys = PreparedKeys(k, v, self.scale)
                out = torch.empty(n, tokens, heads, head_dim, dtype=q.dtype, device=q.device)
                for r0 in range(0, h, rows):
                    r1 = min(r0 + rows, h)
                    bias = _rel_bias(rel_h[:, :, r0:r1], rel_w[:, :, r0:r1], q.dtype)
                    part = keys.attend(q[:, :, r0 * w : r1 * w], bias, bias_is_scratch=True)
                    out[:, r0 * w : r1 * w] = part.transpose(1, 2)
                out = out.transpose(1, 2)
        # (n, heads, tokens, head_dim) -> (n, h, w, dim)
        out = out.transpose(1, 2).reshape(n, h, w, dim)
        return self.proj(out)

    def _rel_terms(
        self, q: torch.Tensor, size: tuple[int, int]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Relative-position logits per axis for the (unscaled) queries.

        q: (n, heads, H*W, head_dim). Returns rel_h (n, heads, H, W, H) and
        rel_w (n, heads, H, W, W): rel_h[..., y, x, ky] = q[y, x] . R_h[y, ky].
        """
        h, w = size
        table_h = relative_position_table(h, h, self.rel_pos_h).to(q.dtype)
        table_w = relative_position_table(w, w, self.rel_pos_w).to(q.dtype)
        grid = q.reshape(q.shape[0], q.shape[1], h, w, q.shape[-1])
        rel_h = torch.einsum("bnyxc,ykc->bnyxk", grid, table_h)
        rel_w = torch.einsum("bnyxc,xkc->bnyxk", grid, table_w)
        return rel_h, rel_w


class PreparedKeys:
    """Keys and values (n, heads, Lk, d) laid out once for attention by several query chunks.

    float32 (or any non-CPU device) uses the fused SDPA kernel. Reduced precision on the CPU
    uses batched matrix products instead, which run on the bfloat16 matrix units (the fused
    kernel gains nothing over float32 there).
    """

    def __init__(self, k: torch.Tensor, v: torch.Tensor, scale: float) -> None:
        self.scale = scale
        self.fused = k.dtype == torch.float32 or k.device.type != "cpu"
        n, heads, lk, d = k.shape
        if self.fused:
            self.k, self.v = k.contiguous(), v.contiguous()
        else:
            self.kt = k.reshape(n * heads, lk, d).transpose(1, 2).contiguous()  # (nh, d, Lk)
            self.v = v.reshape(n * heads, lk, v.shape[-1])

    def attend(
        self, q: torch.Tensor, bias: torch.Tensor | None, bias_is_scratch: bool = False
    ) -> torch.Tensor:
        """softmax(q k^T * scale + bias) v: q (n, heads, Lq, d), bias (n, heads, Lq, Lk) or
        None -> (n, heads, Lq, dv). With ``bias_is_scratch`` the bias tensor (contiguous, owned
        by the caller and not needed afterwards) may be overwritten."""
        if self.fused:
            return F.scaled_dot_product_attention(
                q, self.k, self.v, attn_mask=bias, scale=self.scale
            )
        n, heads, lq, d = q.shape
        lk = self.kt.shape[-1]
        q3 = q.reshape(n * heads, lq, d)
        if bias is None:
            logits = torch.bmm(q3, self.kt).mul_(self.scale)
        elif bias_is_scratch and bias.is_contiguous():
            logits = bias.view(n * heads, lq, lk).baddbmm_(q3, self.kt, alpha=self.scale)
        else:
            logits = torch.baddbmm(bias.reshape(n * heads, lq, lk), q3, self.kt, alpha=self.scale)
        weights = torch.softmax(logits, dim=-1)
        return torch.bmm(weights, self.v).view(n, heads, lq, -1)


def attend(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    bias: torch.Tensor | None,
    scale: float,
    bias_is_scratch: bool = False,
) -> torch.Tensor:
    """softmax(q k^T * scale + bias) v for q (n, heads, Lq, d), k and v (n, heads, Lk, d);
    bias additive (n, heads, Lq, Lk) or None. Returns (n, heads, Lq, d). See PreparedKeys."""
    return PreparedKeys(k, v, scale).attend(q, bias, bias_is_scratch)


def _rel_bias(rel_h: torch.Tensor, rel_w: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Additive attention mask from per-axis terms.

    rel_h: (n, heads, Y, W, KH), rel_w: (n, heads, Y, W, KW) for Y query rows.
    Returns (n, heads, Y*W, KH*KW): entry [(y, x), (ky, kx)] = rel_h[y, x, ky] + rel_w[y, x, kx].
    """
    n, heads, y, w, kh = rel_h.shape
    kw = rel_w.shape[-1]
    bias = torch.empty(n, heads, y, w, kh, kw, dtype=dtype, device=rel_h.device)
    torch.add(rel_h.unsqueeze(-1), rel_w.unsqueeze(-2), out=bias)
    return bias.view(n, heads, y * w, kh * kw)


def window_partition(x: torch.Tensor, window_size: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Split a (B, H, W, C) grid into windows, zero-padding bottom/right as needed.

    Returns windows (B * nWin, ws, ws, C) (contiguous) and the padded size (Hp, Wp).
    """
    b, h, w, c = x.shape
    pad_h = (window_size - h % window_size) % window_size
    pad_w = (window_size - w % window_size) % window_size
    if pad_h or pad_w:
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
    hp, wp = h + pad_h, w + pad_w
    nh, nw = hp // window_size, wp // window_size
    windows = x.reshape(b, nh, window_size, nw, window_size, c).permute(0, 1, 3, 2, 4, 5)
    windows = windows.reshape(-1, window_size, window_size, c)
    return windows, (hp, wp)


def window_unpartition(
    windows: torch.Tensor, window_size: int, pad_hw: tuple[int, int], hw: tuple[int, int]
) -> torch.Tensor:
    """Inverse of :func:`window_partition`: (B * nWin, ws, ws, C) -> (B, H, W, C).

    The result is a cropped view of a (B, Hp, Wp, C) tensor when padding was used.
    """
    hp, wp = pad_hw
    h, w = hw
    nh, nw = hp // window_size, wp // window_size
    b = windows.shape[0] // (nh * nw)
    grid = windows.view(b, nh, nw, window_size, window_size, -1).permute(0, 1, 3, 2, 4, 5)
    grid = grid.reshape(b, hp, wp, -1)
    if hp > h or wp > w:
        grid = grid[:, :h, :w, :]
    return grid


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(norm1(x)), then x + mlp(norm2(x)); (B, H, W, D)."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        norm_layer: type[nn.Module] = nn.LayerNorm,
        act_layer: type[nn.Module] = nn.GELU,
        use_rel_pos: bool = False,
        rel_pos_zero_init: bool = True,
        window_size: int = 0,
        input_size: tuple[int, int] | None = None,
    ) -> None:
        super().__init__()
        self.norm1 = norm_layer(dim)
        self.attn = Attention(
            dim,
            num_heads=num_heads,
            qkv_bias=qkv_bias,
            use_rel_pos=use_rel_pos,
            rel_pos_zero_init=rel_pos_zero_init,
            input_size=input_size if window_size == 0 else (window_size, window_size),
        )
        self.norm2 = norm_layer(dim)
        self.mlp = MLPBlock(embedding_dim=dim, mlp_dim=int(dim * mlp_ratio), act=act_layer)
        self.window_size = window_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        if self.window_size > 0:
            size = (x.shape[1], x.shape[2])
            h, padded = window_partition(h, self.window_size)
            h = self.attn(h)
            h = window_unpartition(h, self.window_size, padded, size)
        else:
            h = self.attn(h)
        x = x + h
        return x + self.mlp(self.norm2(x))


class ImageEncoderViT(nn.Module):
    """SAM's ViT backbone plus neck: image (B, 3, S, S) -> embedding (B, out_chans, S/p, S/p).

    Hyper-parameters and parameter names follow the reference ``ImageEncoderViT``.
    """

    def __init__(
        self,
        img_size: int = 1024,
        patch_size: int = 16,
        in_chans: int = 3,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        out_chans: int = 256,
        qkv_bias: bool = True,
        norm_layer: type[nn.Module] = nn.LayerNorm,
        act_layer: type[nn.Module] = nn.GELU,
        use_abs_pos: bool = True,
        use_rel_pos: bool = False,
        rel_pos_zero_init: bool = True,
        window_size: int = 0,
        global_attn_indexes: tuple[int, ...] = (),
    ) -> None:
        super().__init__()
        self.img_size = img_size
        grid = img_size // patch_size
        self.patch_embed = PatchEmbed(
            kernel_size=(patch_size, patch_size),
            stride=(patch_size, patch_size),
            in_chans=in_chans,
            embed_dim=embed_dim,
        )
        self.pos_embed: nn.Parameter | None = None
        if use_abs_pos:
            self.pos_embed = nn.Parameter(torch.zeros(1, grid, grid, embed_dim))
        self.blocks = nn.ModuleList(
            Block(
                dim=embed_dim,
                num_heads=num_heads,
                mlp_ratio=mlp_ratio,
                qkv_bias=qkv_bias,
                norm_layer=norm_layer,
                act_layer=act_layer,
                use_rel_pos=use_rel_pos,
                rel_pos_zero_init=rel_pos_zero_init,
                window_size=0 if i in global_attn_indexes else window_size,
                input_size=(grid, grid),
            )
            for i in range(depth)
        )
        self.neck = nn.Sequential(
            nn.Conv2d(embed_dim, out_chans, kernel_size=1, bias=False),
            LayerNorm2d(out_chans),
            nn.Conv2d(out_chans, out_chans, kernel_size=3, padding=1, bias=False),
            LayerNorm2d(out_chans),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, 3, S, S) normalised and padded -> (B, out_chans, S/p, S/p)."""
        x = self.patch_embed(x)
        if self.pos_embed is not None:
            x = x + self.pos_embed
        for block in self.blocks:
            x = block(x)
        return self.neck(x.permute(0, 3, 1, 2))
