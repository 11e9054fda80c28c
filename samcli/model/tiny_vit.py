"""MobileSAM's image encoder: TinyViT-5M adapted to a 1024 x 1024 input and SAM's neck.

Frames and shapes (for the MobileSAM configuration)
---------------------------------------------------
Input: normalised, padded image (B, 3, 1024, 1024) float.

* ``patch_embed``: two stride-2 3x3 conv+BN (GELU between) -> (B, 64, 256, 256).
* ``layers[0]``: two MBConv blocks at 256 x 256, then patch merging (stride 2) -> tokens
  (B, 128*128, 128).
* ``layers[1]``: two attention blocks (4 heads, 7 x 7 windows) at 128 x 128, merging
  (stride 2) -> (B, 64*64, 160).
* ``layers[2]``: six blocks (5 heads, 14 x 14 windows) at 64 x 64, merging with stride 1
  (the MobileSAM change) -> (B, 64*64, 320).
* ``layers[3]``: two blocks (10 heads, 7 x 7 windows) at 64 x 64.
* ``neck``: as in SAM's ViT -> image embedding (B, 256, 64, 64).

Token tensors are (B, L, C) with L = H * W in row-major order; on the CPU the convolutions
run on channels-last maps (:func:`conv_layout`). Windowed attention pads the token grid with
zeros on the bottom/right (before the attention's own LayerNorm, like the
reference). Every attention adds a learned per-head bias indexed by the (|dy|, |dx|) offset
between query and key inside the window. ``norm_head`` and ``head`` (the ImageNet classifier)
are kept only so the official ``mobile_sam.pt`` state dict loads with ``strict=True``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .common import LayerNorm2d, activate
from .image_encoder import attend


def conv_layout(x: torch.Tensor) -> torch.Tensor:
    """A (B, C, H, W) map in the memory layout its convolution runs on: channels-last on the
    CPU, contiguous elsewhere (a copy only where ``x`` is in the other layout).

    oneDNN's depthwise and 1x1 convolutions are faster on channels-last maps than on
    contiguous ones (BENCHMARKS.md, "channels-last convolutions"), and a token grid
    (B, H, W, C) permuted to (B, C, H, W) is already laid out that way: no copy in or out of
    the attention stages' local convolutions. GPUs keep the contiguous layout (not measured
    there)."""
    if x.device.type == "cpu":
        return x.contiguous(memory_format=torch.channels_last)
    return x.contiguous()


class ConvNorm(nn.Module):
    """Conv2d without bias followed by BatchNorm2d (reference ``Conv2d_BN``; keys ``c``, ``bn``).

    (B, C_in, H, W) -> (B, C_out, H', W'). In eval mode the BatchNorm (running statistics)
    is folded into the convolution's weight and bias, saving a pass over the output.
    """

    def __init__(
        self,
        in_chans: int,
        out_chans: int,
        kernel_size: int = 1,
        stride: int = 1,
        padding: int = 0,
        dilation: int = 1,
        groups: int = 1,
        bn_weight_init: float = 1.0,
    ) -> None:
        super().__init__()
        self.c = nn.Conv2d(
            in_chans, out_chans, kernel_size, stride, padding, dilation, groups, bias=False
        )
        self.bn = nn.BatchNorm2d(out_chans)
        nn.init.constant_(self.bn.weight, bn_weight_init)
        nn.init.constant_(self.bn.bias, 0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            return self.bn(self.c(x))
        bn, conv = self.bn, self.c
        scale = bn.weight.float() * torch.rsqrt(bn.running_var.float() + bn.eps)
        weight = (conv.weight.float() * scale.view(-1, 1, 1, 1)).to(x.dtype)
        bias = (bn.bias.float() - bn.running_mean.float() * scale).to(x.dtype)
        return F.conv2d(x, weight, bias, conv.stride, conv.padding, conv.dilation, conv.groups)


class PatchEmbed(nn.Module):
    """Stem: (B, C_in, S, S) -> (B, embed_dim, S/4, S/4) with two stride-2 ConvNorm layers."""

    def __init__(
        self, in_chans: int, embed_dim: int, resolution: int, activation: type[nn.Module]
    ) -> None:
        super().__init__()
        self.patches_resolution = (resolution // 4, resolution // 4)
        self.in_chans = in_chans
        self.embed_dim = embed_dim
        self.seq = nn.Sequential(
            ConvNorm(in_chans, embed_dim // 2, 3, 2, 1),
            activation(),
            ConvNorm(embed_dim // 2, embed_dim, 3, 2, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.seq(x)


class MBConv(nn.Module):
    """Inverted residual block on (B, C, H, W): 1x1 expand, 3x3 depthwise, 1x1 project, + x."""

    def __init__(
        self,
        in_chans: int,
        out_chans: int,
        expand_ratio: float,
        activation: type[nn.Module],
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        hidden = int(in_chans * expand_ratio)
        self.in_chans = in_chans
        self.hidden_chans = hidden
        self.out_chans = out_chans
        self.conv1 = ConvNorm(in_chans, hidden, kernel_size=1)
        self.act1 = activation()
        self.conv2 = ConvNorm(hidden, hidden, kernel_size=3, stride=1, padding=1, groups=hidden)
        self.act2 = activation()
        self.conv3 = ConvNorm(hidden, out_chans, kernel_size=1, bn_weight_init=0.0)
        self.act3 = activation()
        # Stochastic depth is a training-time feature; at inference it is the identity.
        self.drop_path = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = activate(self.act1, self.conv1(x))
        y = activate(self.act2, self.conv2(y))
        y = self.conv3(y)
        return activate(self.act3, y + x)


class PatchMerging(nn.Module):
    """Downsampling between stages: tokens (B, H*W, C) or a map (B, C, H, W) -> (B, L', C_out).

    1x1 ConvNorm, GELU, 3x3 depthwise ConvNorm (stride 2, or 1 when C_out is 320/448/576 as in
    MobileSAM's last merge), GELU, 1x1 ConvNorm; flattened back to tokens.
    """

    def __init__(
        self,
        input_resolution: tuple[int, int],
        dim: int,
        out_dim: int,
        activation: type[nn.Module],
    ) -> None:
        super().__init__()
        self.input_resolution = input_resolution
        self.dim = dim
        self.out_dim = out_dim
        self.act = activation()
        self.conv1 = ConvNorm(dim, out_dim, 1, 1, 0)
        stride = 1 if out_dim in (320, 448, 576) else 2
        self.conv2 = ConvNorm(out_dim, out_dim, 3, stride, 1, groups=out_dim)
        self.conv3 = ConvNorm(out_dim, out_dim, 1, 1, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 3:
            h, w = self.input_resolution
            x = x.view(x.shape[0], h, w, -1).permute(0, 3, 1, 2)
        x = activate(self.act, self.conv1(x))
        x = activate(self.act, self.conv2(x))
        x = self.conv3(x)
        return x.flatten(2).transpose(1, 2)


class _Stage(nn.Module):
    """A stage: ``blocks`` in sequence, then the optional ``downsample`` (PatchMerging)."""

    blocks: nn.ModuleList
    downsample: nn.Module | None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        if self.downsample is not None:
            x = self.downsample(x)
        return x


class ConvLayer(_Stage):
    """First stage: ``depth`` MBConv blocks on a (B, C, H, W) map, then optional merging."""

    def __init__(
        self,
        dim: int,
        input_resolution: tuple[int, int],
        depth: int,
        activation: type[nn.Module],
        downsample: type[PatchMerging] | None = None,
        out_dim: int | None = None,
        conv_expand_ratio: float = 4.0,
    ) -> None:
        super().__init__()
        self.dim = dim
        self.input_resolution = input_resolution
        self.depth = depth
        self.blocks = nn.ModuleList(
            MBConv(dim, dim, conv_expand_ratio, activation) for _ in range(depth)
        )
        self.downsample = (
            downsample(input_resolution, dim=dim, out_dim=out_dim, activation=activation)
            if downsample is not None
            else None
        )


class TokenMlp(nn.Module):
    """Pre-norm MLP on tokens (B, L, C): LayerNorm, fc1, GELU, fc2 (reference ``Mlp``)."""

    def __init__(
        self, in_features: int, hidden_features: int, act_layer: type[nn.Module] = nn.GELU
    ) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(in_features)
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.fc2 = nn.Linear(hidden_features, in_features)
        self.act = act_layer()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(activate(self.act, self.fc1(self.norm(x))))


def offset_bias_index(rows: int, cols: int) -> torch.Tensor:
    """Index (N, N), N = rows * cols, of the bias column for each (query, key) pair.

    The reference numbers the distinct (|dy|, |dx|) offsets in order of first appearance
    while scanning query (0, 0) against all keys in row-major order, which gives
    index = |dy| * cols + |dx|.

    int64, on the default device (``meta`` when built under ``torch.device("meta")``). The
    arithmetic itself runs on the CPU: on the meta device it goes through PyTorch's Python
    reference ops, whose first use imports ``torch._dynamo`` (most of a second of every
    command's start-up).
    """
    cpu = torch.device("cpu")
    ys = torch.arange(rows, device=cpu).repeat_interleave(cols)
    xs = torch.arange(cols, device=cpu).repeat(rows)
    dy = (ys[:, None] - ys[None, :]).abs()
    dx = (xs[:, None] - xs[None, :]).abs()
    return (dy * cols + dx).to(torch.empty(()).device)


class WindowAttention(nn.Module):
    """Pre-norm multi-head attention on windows (B', N, C) with a learned offset bias.

    Keys follow the reference ``Attention``: ``norm``, ``qkv`` (output laid out as
    (heads, [q | k | v]) per token), ``proj``, ``attention_biases`` (heads, N offsets).
    """

    def __init__(
        self,
        dim: int,
        key_dim: int,
        num_heads: int = 8,
        attn_ratio: float = 4,
        resolution: tuple[int, int] = (14, 14),
    ) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.scale = key_dim**-0.5
        self.key_dim = key_dim
        self.d = int(attn_ratio * key_dim)
        self.dh = self.d * num_heads
        qkv_width = self.dh + 2 * key_dim * num_heads
        self.norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, qkv_width)
        self.proj = nn.Linear(self.dh, dim)
        self.resolution = resolution
        self.attention_biases = nn.Parameter(torch.zeros(num_heads, resolution[0] * resolution[1]))
        self.register_buffer(
            "attention_bias_idxs", offset_bias_index(*resolution), persistent=False
        )

    def reset_derived_buffers(self) -> None:
        """Recompute the non-persistent index buffer (after ``to_empty``)."""
        idx = offset_bias_index(*self.resolution).to(self.attention_bias_idxs.device)
        self.attention_bias_idxs = idx

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B', N, C) with N = window area -> (B', N, C)."""
        b, n, _ = x.shape
        x = self.norm(x)
        qkv = self.qkv(x).view(b, n, self.num_heads, -1)
        q, k, v = qkv.split([self.key_dim, self.key_dim, self.d], dim=3)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # (B', heads, N, d)
        bias = self.attention_biases[:, self.attention_bias_idxs].to(q.dtype)  # (heads, N, N)
        out = attend(q, k, v, bias.unsqueeze(0).expand(b, -1, -1, -1), self.scale)
        out = out.transpose(1, 2).reshape(b, n, self.dh)
        return self.proj(out)


class TinyViTBlock(nn.Module):
    """Windowed attention + depthwise 3x3 ConvNorm + MLP on tokens (B, H*W, C)."""

    def __init__(
        self,
        dim: int,
        input_resolution: tuple[int, int],
        num_heads: int,
        window_size: int = 7,
        mlp_ratio: float = 4.0,
        local_conv_size: int = 3,
        activation: type[nn.Module] = nn.GELU,
    ) -> None:
        super().__init__()
        if window_size <= 0:
            raise ValueError("window_size must be positive")
        if dim % num_heads:
            raise ValueError("dim must be divisible by num_heads")
        self.dim = dim
        self.input_resolution = input_resolution
        self.num_heads = num_heads
        self.window_size = window_size
        self.mlp_ratio = mlp_ratio
        self.drop_path = nn.Identity()
        self.attn = WindowAttention(
            dim, dim // num_heads, num_heads, attn_ratio=1, resolution=(window_size, window_size)
        )
        self.mlp = TokenMlp(dim, int(dim * mlp_ratio), act_layer=activation)
        self.local_conv = ConvNorm(
            dim,
            dim,
            kernel_size=local_conv_size,
            stride=1,
            padding=local_conv_size // 2,
            groups=dim,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = self.input_resolution
        b, tokens, c = x.shape
        if tokens != h * w:
            raise ValueError(f"expected {h * w} tokens, got {tokens}")
        ws = self.window_size
        if h == ws and w == ws:
            y = self.attn(x)
        else:
            pad_b = (ws - h % ws) % ws
            pad_r = (ws - w % ws) % ws
            grid = x.view(b, h, w, c)
            if pad_b or pad_r:
                grid = F.pad(grid, (0, 0, 0, pad_r, 0, pad_b))
            ph, pw = h + pad_b, w + pad_r
            nh, nw = ph // ws, pw // ws
            windows = (
                grid.view(b, nh, ws, nw, ws, c).transpose(2, 3).reshape(b * nh * nw, ws * ws, c)
            )
            y = self.attn(windows)
            y = y.view(b, nh, nw, ws, ws, c).transpose(2, 3).reshape(b, ph, pw, c)
            y = y[:, :h, :w].reshape(b, tokens, c)
        x = x + y
        x = self.local_conv(conv_layout(x.view(b, h, w, c).permute(0, 3, 1, 2)))
        x = x.permute(0, 2, 3, 1).reshape(b, tokens, c)  # a view when channels-last
        return x + self.mlp(x)


class BasicLayer(_Stage):
    """One attention stage: ``depth`` TinyViT blocks, then optional patch merging."""

    def __init__(
        self,
        dim: int,
        input_resolution: tuple[int, int],
        depth: int,
        num_heads: int,
        window_size: int,
        mlp_ratio: float = 4.0,
        downsample: type[PatchMerging] | None = None,
        local_conv_size: int = 3,
        activation: type[nn.Module] = nn.GELU,
        out_dim: int | None = None,
    ) -> None:
        super().__init__()
        self.dim = dim
        self.input_resolution = input_resolution
        self.depth = depth
        self.blocks = nn.ModuleList(
            TinyViTBlock(
                dim=dim,
                input_resolution=input_resolution,
                num_heads=num_heads,
                window_size=window_size,
                mlp_ratio=mlp_ratio,
                local_conv_size=local_conv_size,
                activation=activation,
            )
            for _ in range(depth)
        )
        self.downsample = (
            downsample(input_resolution, dim=dim, out_dim=out_dim, activation=activation)
            if downsample is not None
            else None
        )


class TinyViT(nn.Module):
    """TinyViT image encoder as MobileSAM builds it (``vit_t``).

    image (B, 3, S, S) -> embedding (B, 256, S/16, S/16).
    """

    def __init__(
        self,
        img_size: int = 1024,
        in_chans: int = 3,
        num_classes: int = 1000,
        embed_dims: tuple[int, ...] = (64, 128, 160, 320),
        depths: tuple[int, ...] = (2, 2, 6, 2),
        num_heads: tuple[int, ...] = (2, 4, 5, 10),
        window_sizes: tuple[int, ...] = (7, 7, 14, 7),
        mlp_ratio: float = 4.0,
        mbconv_expand_ratio: float = 4.0,
        local_conv_size: int = 3,
        out_chans: int = 256,
    ) -> None:
        super().__init__()
        self.img_size = img_size
        self.num_classes = num_classes
        self.depths = list(depths)
        self.num_layers = len(depths)
        self.mlp_ratio = mlp_ratio
        activation = nn.GELU
        self.patch_embed = PatchEmbed(in_chans, embed_dims[0], img_size, activation)
        res = self.patch_embed.patches_resolution
        self.patches_resolution = res

        self.layers = nn.ModuleList()
        for i in range(self.num_layers):
            # MobileSAM keeps the last stage at the third stage's resolution.
            shrink = 2 ** (i - 1 if i == 3 else i)
            stage_res = (res[0] // shrink, res[1] // shrink)
            downsample = PatchMerging if i < self.num_layers - 1 else None
            out_dim = embed_dims[min(i + 1, len(embed_dims) - 1)]
            if i == 0:
                layer: nn.Module = ConvLayer(
                    dim=embed_dims[i],
                    input_resolution=stage_res,
                    depth=depths[i],
                    activation=activation,
                    downsample=downsample,
                    out_dim=out_dim,
                    conv_expand_ratio=mbconv_expand_ratio,
                )
            else:
                layer = BasicLayer(
                    dim=embed_dims[i],
                    input_resolution=stage_res,
                    depth=depths[i],
                    num_heads=num_heads[i],
                    window_size=window_sizes[i],
                    mlp_ratio=mlp_ratio,
                    downsample=downsample,
                    local_conv_size=local_conv_size,
                    activation=activation,
                    out_dim=out_dim,
                )
            self.layers.append(layer)
        self.out_resolution = stage_res

        # Classifier head of the original TinyViT: unused, present for checkpoint keys.
        self.norm_head = nn.LayerNorm(embed_dims[-1])
        self.head = nn.Linear(embed_dims[-1], num_classes) if num_classes > 0 else nn.Identity()
        self.apply(_init_weights)

        self.neck = nn.Sequential(
            nn.Conv2d(embed_dims[-1], out_chans, kernel_size=1, bias=False),
            LayerNorm2d(out_chans),
            nn.Conv2d(out_chans, out_chans, kernel_size=3, padding=1, bias=False),
            LayerNorm2d(out_chans),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, 3, S, S) -> (B, 256, S/16, S/16)."""
        x = self.patch_embed(conv_layout(x))
        for layer in self.layers:
            x = layer(x)
        b, _, c = x.shape
        h, w = self.out_resolution
        # contiguous like the reference's embedding: the decoder's products then read it the
        # same way (the channels-last neck output is otherwise kept, 4 MiB)
        return self.neck(x.view(b, h, w, c).permute(0, 3, 1, 2)).contiguous()


def _init_weights(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.constant_(m.bias, 0.0)
    elif isinstance(m, nn.LayerNorm):
        nn.init.constant_(m.bias, 0.0)
        nn.init.constant_(m.weight, 1.0)
