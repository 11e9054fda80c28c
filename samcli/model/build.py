"""Builders for the supported SAM variants (random weights; load a checkpoint afterwards).

What to build comes from the model table (:mod:`samcli.model.specs`): a row's ``family``
picks the builder below and its ``arch`` gives the encoder's hyper-parameters (those of the
reference builders, so official checkpoints load with ``strict=True``). The parts every SAM 1
variant shares (prompt encoder, mask decoder, pixel statistics) are constants here; SAM 2's
builder is :func:`samcli.model.sam2.build.build_sam2` (imported when first needed).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
from torch import nn

from samcli.errors import ConfigError

from .image_encoder import ImageEncoderViT
from .mask_decoder import MaskDecoder
from .meta import on_meta
from .prompt_encoder import PromptEncoder
from .sam import Sam
from .specs import MODELS, ModelSpec, TinyVitArch, VitArch
from .tiny_vit import TinyViT
from .transformer import TwoWayTransformer

_IMAGE_SIZE = 1024
_PATCH = 16
_PROMPT_DIM = 256


def _vit_encoder(arch: VitArch) -> ImageEncoderViT:
    return ImageEncoderViT(
        img_size=_IMAGE_SIZE,
        patch_size=_PATCH,
        embed_dim=arch.embed_dim,
        depth=arch.depth,
        num_heads=arch.num_heads,
        mlp_ratio=4,
        out_chans=_PROMPT_DIM,
        qkv_bias=True,
        norm_layer=partial(nn.LayerNorm, eps=1e-6),
        use_rel_pos=True,
        global_attn_indexes=arch.global_attn_indexes,
        window_size=14,
    )


def _tiny_vit_encoder(arch: TinyVitArch) -> TinyViT:
    return TinyViT(
        img_size=_IMAGE_SIZE,
        in_chans=3,
        num_classes=1000,
        embed_dims=arch.embed_dims,
        depths=arch.depths,
        num_heads=arch.num_heads,
        window_sizes=arch.window_sizes,
        mlp_ratio=4.0,
        mbconv_expand_ratio=4.0,
        local_conv_size=3,
    )


def _build_sam(spec: ModelSpec) -> Sam:
    """SAM 1 (and MobileSAM): the encoder from ``spec.arch``, SAM's prompt encoder and decoder."""
    if isinstance(spec.arch, VitArch):
        encoder: nn.Module = _vit_encoder(spec.arch)
    elif isinstance(spec.arch, TinyVitArch):
        encoder = _tiny_vit_encoder(spec.arch)
    else:
        raise ConfigError(f"model {spec.name!r} has no SAM image encoder ({spec.arch!r})")
    grid = _IMAGE_SIZE // _PATCH
    return Sam(
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


def _build_sam2(spec: ModelSpec, skip_init: bool = False) -> nn.Module:
    """SAM 2 / 2.1: the image path of the row's :class:`~samcli.model.sam2.arch.Sam2Arch`."""
    from .sam2.build import build_sam2

    return build_sam2(spec.arch, skip_init=skip_init)


#: family -> builder of a randomly initialised network from its table row.
_BUILDERS: dict[str, Callable[[ModelSpec], nn.Module]] = {
    "sam": _build_sam,
    "mobile_sam": _build_sam,
    "sam2": _build_sam2,
}

#: The names :func:`build_model` accepts: the table's rows whose family has a builder.
MODEL_NAMES: tuple[str, ...] = tuple(n for n, s in MODELS.items() if s.family in _BUILDERS)


def build_model(name: str, *, skip_init: bool = False) -> nn.Module:
    """A randomly initialised model of the named variant, in eval mode: a :class:`Sam` (SAM 1
    families) or a :class:`~samcli.model.sam2.model.Sam2`.

    Names: those of :data:`MODEL_NAMES` (``vit_b``, ``vit_l``, ``vit_h``, ``mobile_sam``,
    ``sam2.1_hiera_tiny``, ...; table names only, no aliases). Build under
    ``with samcli.model.meta.on_meta():`` to get shapes without allocating weights.

    ``skip_init=True`` allocates the parameters on the CPU without initialising them (much
    faster for vit_h); use it only when a complete state dict is loaded right after.
    """
    spec = MODELS.get(name)
    if spec is not None and spec.family == "sam2":
        return _build_sam2(spec, skip_init=skip_init).eval()
    if skip_init:
        with on_meta():
            model = build_model(name)
        model = model.to_empty(device="cpu")
        model.reset_derived_buffers()
        return model.eval()
    builder = _BUILDERS.get(spec.family) if spec is not None else None
    if builder is None:
        raise ConfigError(
            f"unknown model {name!r}; choose one of: {', '.join(MODEL_NAMES)}"
        )
    model = builder(spec)
    model.eval()
    return model


def count_parameters(model: torch.nn.Module) -> int:
    """Number of parameters (works on meta-device models too)."""
    return sum(p.numel() for p in model.parameters())
