"""SAM 2's image encoder: the Hiera trunk, an FPN neck, and sine position encodings.

Shapes (S = 1024, d = ``d_model`` = 256)
----------------------------------------
trunk: four channels-first maps, highest resolution first, strides 4, 8, 16, 32.
neck: each level projected to d channels by a 1x1 convolution (``convs[0]`` serves the
lowest-resolution level); levels listed in ``fpn_top_down_levels`` (2 and 3 in SAM 2) also add
the level below them upsampled 2x (nearest), the others keep only their own projection.
``scalp`` drops that many of the lowest-resolution levels from the output (1 in SAM 2: the
stride-32 level only feeds level 2 through the top-down path). The encoder returns

    backbone_fpn:   [(B, d, S/4, S/4), (B, d, S/8, S/8), (B, d, S/16, S/16)]
    vision_pos_enc: the same shapes, float32 sine encodings (no parameters)

Parameter names follow the reference (``image_encoder.trunk.*``, ``image_encoder.neck.convs.N
.conv.*``).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .hiera import Hiera
from .position_encoding import PositionEmbeddingSine


class EncoderOutput(NamedTuple):
    """Multi-scale features, highest resolution first (see the module docstring).

    ``vision_pos_enc`` is None when the encoder was asked not to compute it.
    """

    backbone_fpn: list[torch.Tensor]
    vision_pos_enc: list[torch.Tensor] | None


class FpnNeck(nn.Module):
    """Feature pyramid without output convolutions (see the module docstring).

    Args:
        d_model: output channels of every level (256).
        backbone_channel_list: trunk widths, lowest resolution first, e.g. (768, 384, 192, 96).
        fpn_top_down_levels: levels (0 = highest resolution) that receive top-down features.
        fpn_interp_model: upsampling mode of the top-down path ("nearest" in SAM 2).
    """

    def __init__(
        self,
        d_model: int,
        backbone_channel_list: Sequence[int],
        fpn_top_down_levels: Sequence[int] | None = None,
        fpn_interp_model: str = "nearest",
    ) -> None:
        super().__init__()
        self.d_model = d_model
        self.backbone_channel_list = tuple(backbone_channel_list)
        self.position_encoding = PositionEmbeddingSine(d_model)
        self.convs = nn.ModuleList(
            nn.Sequential(OrderedDict(conv=nn.Conv2d(dim, d_model, kernel_size=1)))
            for dim in backbone_channel_list
        )
        n = len(self.convs)
        self.fpn_top_down_levels = tuple(range(n) if fpn_top_down_levels is None
                                         else fpn_top_down_levels)
        self.fpn_interp_model = fpn_interp_model

    def forward(self, xs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Trunk maps (highest resolution first) -> d_model-channel maps, same order."""
        n = len(self.convs)
        if len(xs) != n:
            raise ValueError(f"expected {n} feature maps, got {len(xs)}")
        out: list[torch.Tensor] = [xs[0]] * n
        prev = None
        for i in range(n - 1, -1, -1):  # lowest resolution first, as the top-down path runs
            lateral = self.convs[n - 1 - i](xs[i])
            if i in self.fpn_top_down_levels and prev is not None:
                # The reference upsamples in float32; nearest upsampling is a copy, so only the
                # dtype of the sum could differ in reduced precision (it stays the lateral's).
                top_down = F.interpolate(
                    prev, scale_factor=2.0, mode=self.fpn_interp_model,
                    align_corners=None if self.fpn_interp_model == "nearest" else False,
                )
                prev = lateral + top_down
            else:
                prev = lateral
            out[i] = prev
        return out


class ImageEncoder(nn.Module):
    """Trunk + neck (+ position encodings); see the module docstring for shapes."""

    def __init__(self, trunk: Hiera, neck: FpnNeck, scalp: int = 1) -> None:
        super().__init__()
        if tuple(trunk.channel_list) != tuple(neck.backbone_channel_list):
            raise ValueError(
                f"trunk widths {trunk.channel_list} do not match the neck's "
                f"{neck.backbone_channel_list}"
            )
        self.trunk = trunk
        self.neck = neck
        self.scalp = scalp

    def forward(self, x: torch.Tensor, *, with_pos: bool = True) -> EncoderOutput:
        """x: normalised float (B, 3, S, S) -> :class:`EncoderOutput`.

        ``with_pos=False`` skips the position encodings (the image predictor does not use
        them; the level-0 map alone is 64 MB per image in float32).
        """
        features = self.neck(self.trunk(x))
        if self.scalp > 0:
            features = features[: -self.scalp]
        pos = None
        if with_pos:
            pos = [self.neck.position_encoding(f).to(f.dtype) for f in features]
        return EncoderOutput(features, pos)
