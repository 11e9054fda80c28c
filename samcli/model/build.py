"""Builders for the supported SAM variants (random weights; load a checkpoint afterwards).

Hyper-parameters are those of the reference builders (``segment_anything.build_sam`` and
MobileSAM's ``build_sam_vit_t``), so official checkpoints load with ``strict=True``.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import nn

from samcli.errors import ConfigError

from .image_encoder import ImageEncoderViT
from .mask_decoder import MaskDecoder
from .prompt_encoder import PromptEncoder
from .sam import Sam
from .tiny_vit import TinyViT
from .transformer import TwoWayTransformer

MODEL_NAMES: tuple[str, ...] = ("vit_b", "vit_l", "vit_h", "mobile_sam")

_IMAGE_SIZE = 1024
_PATCH = 16
_PROMPT_DIM = 256

# name -> (embed_dim, depth, heads, global attention block indexes)
_VIT_CONFIGS: dict[str, tuple[int, int, int, tuple[int, ...]]] = {
    "vit_b": (768, 12, 12, (2, 5, 8, 11)),
    "vit_l": (1024, 24, 16, (5, 11, 17, 23)),
    "vit_h": (1280, 32, 16, (7, 15, 23, 31)),
}


def _vit_encoder(name: str) -> ImageEncoderViT:
    dim, depth, heads, global_idx = _VIT_CONFIGS[name]
    return ImageEncoderViT(
        img_size=_IMAGE_SIZE,
        patch_size=_PATCH,
        embed_dim=dim,
        depth=depth,
        num_heads=heads,
        mlp_ratio=4,
        out_chans=_PROMPT_DIM,
        qkv_bias=True,
        norm_layer=partial(nn.LayerNorm, eps=1e-6),
        use_rel_pos=True,
        global_attn_indexes=global_idx,
        window_size=14,
    )


def _tiny_vit_encoder() -> TinyViT:
    return TinyViT(
        img_size=_IMAGE_SIZE,
        in_chans=3,
        num_classes=1000,
        embed_dims=(64, 128, 160, 320),
        depths=(2, 2, 6, 2),
        num_heads=(2, 4, 5, 10),
        window_sizes=(7, 7, 14, 7),
        mlp_ratio=4.0,
        mbconv_expand_ratio=4.0,
        local_conv_size=3,
    )


def build_model(name: str, *, skip_init: bool = False) -> Sam:
    """A randomly initialised SAM of the named variant, in eval mode.

    Names: ``vit_b``, ``vit_l``, ``vit_h``, ``mobile_sam``. Build under
    ``with torch.device("meta"):`` to get shapes without allocating weights.

    ``skip_init=True`` allocates the parameters on the CPU without initialising them (much
    faster for vit_h); use it only when a complete state dict is loaded right after.
    """
    if skip_init:
        with torch.device("meta"):
            model = build_model(name)
        model = model.to_empty(device="cpu")
        model.reset_derived_buffers()
        return model.eval()
    if name in _VIT_CONFIGS:
        encoder: nn.Module = _vit_encoder(name)
    elif name == "mobile_sam":
        encoder = _tiny_vit_encoder()
    else:
        raise ConfigError(
            f"unknown model {name!r}; choose one of: {', '.join(MODEL_NAMES)}"
        )
    grid = _IMAGE_SIZE // _PATCH
    model = Sam(
        image_encoder=encoder,
        prompt_encoder=PromptEncoder(
            embed_dim=_PROMPT_DIM,
            image_embedding_size=(grid, grid),
            input_image_size=(_IMAGE_SIZE, _IMAGE_SIZE),
            mask_in_chans=16,
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(
                depth=2, embedding_dim=_PROMPT_DIM, mlp_dim=2048, num_heads=8
            ),
            transformer_dim=_PROMPT_DIM,
            iou_head_depth=3,
            iou_head_hidden_dim=256,
        ),
        pixel_mean=(123.675, 116.28, 103.53),
        pixel_std=(58.395, 57.12, 57.375),
    )
    model.eval()
    return model


def count_parameters(model: torch.nn.Module) -> int:
    """Number of parameters (works on meta-device models too)."""
    return sum(p.numel() for p in model.parameters())
